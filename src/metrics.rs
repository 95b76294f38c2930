//! The registry and metric families, and the exposition served on the telemetry path.
//!
//! Values change only when a poll ends, so the exposition is encoded once per poll into
//! [`Bytes`], not once per scrape: a scrape clones a reference-counted buffer. The `process_*`
//! metrics are the one part that changes between polls; they are appended to that buffer at
//! most once per [`PROCESS_METRICS_MAX_AGE`], and the gzip copy is made from the result, once,
//! on the first scrape that accepts gzip.
//!
//! The per-category families (`smartlead_category_info`,
//! `smartlead_category_created_timestamp_seconds`) can hold 100,000 series, so they are
//! written straight from the snapshot in the text format instead of going through the
//! registry's per-series objects; everything else uses the `prometheus` crate.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use prometheus::core::Collector;
use prometheus::{
    GaugeVec, Histogram, HistogramOpts, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use tracing::error;

use crate::smartlead::client::{FailureReason, ENDPOINT};
use crate::smartlead::model::{Origin, Sentiment};
use crate::snapshot::{Attempt, Snapshot};

/// The `Content-Type` of the exposition (text format 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Buckets of `smartlead_api_request_duration_seconds`: from 25 ms to SmartLead's slowest
/// useful answer (Cloudflare gives up after about 100 s; the default timeout is 10 s).
pub const LATENCY_BUCKETS: [f64; 11] =
    [0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0];

/// How long a rendering of the `process_*` metrics is reused. Prometheus scrapes every 15 s or
/// more; reusing them within a second keeps a scrape to a buffer clone under load.
pub const PROCESS_METRICS_MAX_AGE: Duration = Duration::from_secs(1);

/// Said in every HELP string of a polled value, as the exporter-writing guide asks of cached
/// metrics.
const REFRESHED: &str = "Refreshed every poll interval, not at scrape time.";

/// The label values of the families that only carry const labels.
const NO_LABELS: &[&str] = &[];

/// Static facts about the binary, for `smartlead_exporter_build_info`.
#[derive(Debug, Clone)]
pub struct BuildInfo {
    /// The crate version.
    pub version: String,
    /// The git revision.
    pub revision: String,
    /// The compiler version.
    pub rust_version: String,
}

impl BuildInfo {
    /// This binary's build facts.
    pub fn current() -> Self {
        Self {
            version: crate::VERSION.to_owned(),
            revision: crate::REVISION.to_owned(),
            rust_version: crate::RUST_VERSION.to_owned(),
        }
    }
}

/// A metric family could not be registered (a programming error, caught at start-up).
#[derive(Debug, thiserror::Error)]
#[error("cannot register the metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

/// The families, and the encoded exposition of the latest snapshot.
pub struct Metrics {
    /// The `account` label value, written into the per-category families.
    account: String,
    /// Every family except the per-category ones and `process_*`.
    registry: Registry,
    /// Only the process collector, gathered at scrape time.
    process: Registry,
    /// `smartlead_up`.
    up: IntGauge,
    /// `smartlead_categories{sentiment,origin}`.
    categories: IntGaugeVec,
    /// `smartlead_api_request_duration_seconds`.
    latency: Histogram,
    /// `smartlead_api_requests_total{code}`.
    requests: IntCounterVec,
    /// `smartlead_api_request_failures_total{reason}`.
    failures: IntCounterVec,
    /// `smartlead_last_success_timestamp_seconds`, absent before the first success.
    last_success: GaugeVec,
    /// `smartlead_api_rate_limit_limit`, absent until an answer carries the header.
    rate_limit_limit: IntGaugeVec,
    /// `smartlead_api_rate_limit_remaining`, absent until an answer carries the header.
    rate_limit_remaining: IntGaugeVec,
    /// `smartlead_poll_consecutive_failures`.
    consecutive_failures: IntGauge,
    /// The published state; the lock is held only to swap or clone buffers.
    state: Mutex<State>,
}

/// What a scrape reads.
struct State {
    /// The latest snapshot, for the landing page and readiness.
    snapshot: Arc<Snapshot>,
    /// The exposition of everything but `process_*`, encoded when the snapshot was published.
    polled: Bytes,
    /// Bumped on every publish, to invalidate `scrape`.
    generation: u64,
    /// The full exposition as last served.
    scrape: Option<Rendered>,
}

/// A full exposition, with its gzip copy once one was asked for.
struct Rendered {
    /// The `State::generation` it was built from.
    generation: u64,
    /// When the `process_*` part was gathered.
    built: Instant,
    /// Plain text.
    plain: Bytes,
    /// Gzip of `plain`, made on the first scrape that accepts gzip.
    gzip: Option<Bytes>,
}

impl Metrics {
    /// Registers every family, labelled with `account`.
    ///
    /// # Errors
    /// [`MetricsError`] when a family cannot be registered.
    pub fn new(account: &str, build: &BuildInfo) -> Result<Self, MetricsError> {
        let registry = Registry::new();
        let opts = |name: &str, help: String| Opts::new(name, help).const_label("account", account);
        let api =
            |name: &str, help: &str| opts(name, help.to_owned()).const_label("endpoint", ENDPOINT);

        let up = IntGauge::with_opts(opts(
            "smartlead_up",
            format!("1 if the latest poll of SmartLead succeeded, else 0. {REFRESHED}"),
        ))?;
        let categories = IntGaugeVec::new(
            opts(
                "smartlead_categories",
                format!(
                    "Number of lead categories by sentiment and origin; withdrawn when stale. \
                     {REFRESHED}"
                ),
            ),
            &["sentiment", "origin"],
        )?;
        let latency = Histogram::with_opts(
            HistogramOpts::from(api(
                "smartlead_api_request_duration_seconds",
                "Duration of SmartLead API requests, from sending to the last body byte. \
                 Observed once per poll, not at scrape time.",
            ))
            .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        let requests = IntCounterVec::new(
            api(
                "smartlead_api_requests_total",
                "SmartLead API responses received, by HTTP status code. Counted once per poll.",
            ),
            &["code"],
        )?;
        let failures = IntCounterVec::new(
            api(
                "smartlead_api_request_failures_total",
                "Failed polls of SmartLead by reason (timeout, transport, status, decode, \
                 too_large). Counted once per poll.",
            ),
            &["reason"],
        )?;
        for reason in FailureReason::ALL {
            failures.with_label_values(&[reason.as_str()]);
        }
        let last_success = GaugeVec::new(
            opts(
                "smartlead_last_success_timestamp_seconds",
                format!("Unix time of the latest successful poll. {REFRESHED}"),
            ),
            &[],
        )?;
        let rate_limit_limit = IntGaugeVec::new(
            opts(
                "smartlead_api_rate_limit_limit",
                format!(
                    "X-RateLimit-Limit of the latest SmartLead answer that had it: the key's \
                     budget, shared with every integration using the key. {REFRESHED}"
                ),
            ),
            &[],
        )?;
        let rate_limit_remaining = IntGaugeVec::new(
            opts(
                "smartlead_api_rate_limit_remaining",
                format!(
                    "X-RateLimit-Remaining of the latest SmartLead answer that had it. \
                     {REFRESHED}"
                ),
            ),
            &[],
        )?;
        let consecutive_failures = IntGauge::with_opts(opts(
            "smartlead_poll_consecutive_failures",
            format!("Failed polls since the latest success; drives the backoff. {REFRESHED}"),
        ))?;
        let build_info = IntGauge::with_opts(
            Opts::new(
                "smartlead_exporter_build_info",
                "A metric with a constant '1' value labelled by version, revision and \
                 rustversion from which smartlead_exporter was built.",
            )
            .const_label("version", &build.version)
            .const_label("revision", &build.revision)
            .const_label("rustversion", &build.rust_version),
        )?;
        build_info.set(1);

        let collectors: [Box<dyn Collector>; 10] = [
            Box::new(up.clone()),
            Box::new(categories.clone()),
            Box::new(latency.clone()),
            Box::new(requests.clone()),
            Box::new(failures.clone()),
            Box::new(last_success.clone()),
            Box::new(rate_limit_limit.clone()),
            Box::new(rate_limit_remaining.clone()),
            Box::new(consecutive_failures.clone()),
            Box::new(build_info),
        ];
        for collector in collectors {
            registry.register(collector)?;
        }
        let process = Registry::new();
        process.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;

        let metrics = Self {
            account: account.to_owned(),
            registry,
            process,
            up,
            categories,
            latency,
            requests,
            failures,
            last_success,
            rate_limit_limit,
            rate_limit_remaining,
            consecutive_failures,
            state: Mutex::new(State {
                snapshot: Arc::new(Snapshot::default()),
                polled: Bytes::new(),
                generation: 0,
                scrape: None,
            }),
        };
        let polled = metrics.encode_polled(&Snapshot::default());
        metrics.lock().polled = polled;
        Ok(metrics)
    }

    /// Counts one poll attempt: its status code, latency and failure reason.
    pub fn record(&self, attempt: &Attempt) {
        if let Some(status) = attempt.exchange.status {
            let mut code = itoa::Buffer::new();
            self.requests
                .with_label_values(&[code.format(status)])
                .inc();
        }
        if let Some(elapsed) = attempt.exchange.elapsed {
            self.latency.observe(elapsed.as_secs_f64());
        }
        if let Some(reason) = attempt.failure {
            self.failures.with_label_values(&[reason.as_str()]).inc();
        }
    }

    /// Sets the gauges from `snapshot` and encodes the exposition that scrapes will serve.
    pub fn publish(&self, snapshot: &Snapshot) {
        let polled = self.encode_polled(snapshot);
        let mut state = self.lock();
        state.snapshot = Arc::new(snapshot.clone());
        state.polled = polled;
        state.generation += 1;
        state.scrape = None;
    }

    /// The latest published snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.lock().snapshot)
    }

    /// The exposition to serve, gzip-compressed when `gzip` is set.
    pub fn exposition(&self, gzip: bool) -> Bytes {
        let mut state = self.lock();
        let generation = state.generation;
        let fresh = state.scrape.as_ref().is_some_and(|r| {
            r.generation == generation && r.built.elapsed() < PROCESS_METRICS_MAX_AGE
        });
        if !fresh {
            let mut plain = Vec::with_capacity(state.polled.len() + 2048);
            plain.extend_from_slice(&state.polled);
            plain.extend_from_slice(self.encode(&self.process.gather()).as_bytes());
            state.scrape = Some(Rendered {
                generation,
                built: Instant::now(),
                plain: plain.into(),
                gzip: None,
            });
        }
        let Some(rendered) = state.scrape.as_mut() else {
            return Bytes::new();
        };
        if !gzip {
            return rendered.plain.clone();
        }
        rendered
            .gzip
            .get_or_insert_with(|| gzip_bytes(&rendered.plain))
            .clone()
    }

    /// Encodes everything but `process_*` for `snapshot`.
    fn encode_polled(&self, snapshot: &Snapshot) -> Bytes {
        self.up.set(i64::from(snapshot.up));
        self.consecutive_failures
            .set(i64::from(snapshot.consecutive_failures));
        if let Some(at) = snapshot.last_success {
            self.last_success
                .with_label_values(NO_LABELS)
                .set(unix_seconds(at));
        }
        if let Some(limit) = snapshot.rate_limit.limit {
            self.rate_limit_limit
                .with_label_values(NO_LABELS)
                .set(saturating_i64(limit));
        }
        if let Some(remaining) = snapshot.rate_limit.remaining {
            self.rate_limit_remaining
                .with_label_values(NO_LABELS)
                .set(saturating_i64(remaining));
        }
        match &snapshot.categories {
            Some(categories) => {
                let counts = categories.counts();
                for sentiment in Sentiment::ALL {
                    for origin in Origin::ALL {
                        self.categories
                            .with_label_values(&[sentiment.as_str(), origin.as_str()])
                            .set(saturating_i64(counts[sentiment.index()][origin.index()]));
                    }
                }
            }
            None => self.categories.reset(),
        }
        let mut text = self.encode(&self.registry.gather());
        if let Some(categories) = &snapshot.categories {
            render_categories(&mut text, &self.account, categories);
        }
        Bytes::from(text)
    }

    fn encode(&self, families: &[prometheus::proto::MetricFamily]) -> String {
        let mut text = String::new();
        if let Err(e) = TextEncoder::new().encode_utf8(families, &mut text) {
            error!(error = %e, "cannot encode metrics; serving what was encoded");
        }
        text
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code holding the lock can panic on input; if it ever did, the buffers are
        // still whole, so serving them beats failing every scrape from then on.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// Writes `smartlead_category_info` and `smartlead_category_created_timestamp_seconds` in the
/// text format, straight from the snapshot.
pub fn render_categories(
    out: &mut String,
    account: &str,
    categories: &crate::snapshot::Categories,
) {
    out.reserve(categories.list.len() * 160);
    let _ = write!(
        out,
        "# HELP smartlead_category_info A SmartLead lead category, value 1. {REFRESHED}\n\
         # TYPE smartlead_category_info gauge\n"
    );
    for category in categories.list.iter() {
        out.push_str("smartlead_category_info{account=\"");
        push_label_value(out, account);
        let _ = write!(out, "\",id=\"{}\",name=\"", category.id);
        push_label_value(out, &category.name);
        let origin = Origin::of(category.id, categories.global_max_id);
        let _ = writeln!(
            out,
            "\",origin=\"{}\",sentiment=\"{}\"}} 1",
            origin.as_str(),
            category.sentiment.as_str()
        );
    }
    let _ = write!(
        out,
        "# HELP smartlead_category_created_timestamp_seconds Unix time a SmartLead lead \
         category was created. {REFRESHED}\n\
         # TYPE smartlead_category_created_timestamp_seconds gauge\n"
    );
    for category in categories.list.iter() {
        if let Some(created) = category.created_unix {
            out.push_str("smartlead_category_created_timestamp_seconds{account=\"");
            push_label_value(out, account);
            let _ = writeln!(out, "\",id=\"{}\"}} {created}", category.id);
        }
    }
}

/// Escapes a label value as the text format requires: backslash, double quote, newline.
fn push_label_value(out: &mut String, value: &str) {
    let mut rest = value;
    while let Some(at) = rest.find(['\\', '"', '\n']) {
        out.push_str(&rest[..at]);
        out.push_str(match rest.as_bytes()[at] {
            b'\\' => "\\\\",
            b'"' => "\\\"",
            _ => "\\n",
        });
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
}

fn gzip_bytes(plain: &[u8]) -> Bytes {
    let mut encoder = GzEncoder::new(Vec::with_capacity(plain.len() / 4), Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(plain);
    encoder.finish().map(Bytes::from).unwrap_or_default()
}

fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smartlead::client::Exchange;
    use crate::smartlead::model::Category;
    use crate::snapshot::Categories;

    fn text(metrics: &Metrics) -> String {
        String::from_utf8(metrics.exposition(false).to_vec()).unwrap()
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            categories: Some(Categories {
                list: vec![
                    Category {
                        id: 1,
                        name: "Interested".into(),
                        sentiment: Sentiment::Positive,
                        created_unix: Some(1_705_314_600.5),
                    },
                    Category {
                        id: 789,
                        name: "Say \"hi\"\\\n".into(),
                        sentiment: Sentiment::Other,
                        created_unix: None,
                    },
                ]
                .into(),
                global_max_id: 99,
            }),
            up: true,
            attempts: 1,
            last_success: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            ..Snapshot::default()
        }
    }

    #[test]
    fn category_families_are_written_with_escaped_labels() {
        let metrics = Metrics::new("acme", &BuildInfo::current()).unwrap();
        metrics.publish(&snapshot());
        let text = text(&metrics);
        assert!(text.contains(
            "smartlead_category_info{account=\"acme\",id=\"1\",name=\"Interested\",\
             origin=\"global\",sentiment=\"positive\"} 1\n"
        ));
        assert!(text.contains(
            "smartlead_category_info{account=\"acme\",id=\"789\",name=\"Say \\\"hi\\\"\\\\\\n\",\
             origin=\"user\",sentiment=\"other\"} 1\n"
        ));
        assert!(text.contains(
            "smartlead_category_created_timestamp_seconds{account=\"acme\",id=\"1\"} 1705314600.5\n"
        ));
        assert!(!text
            .contains("smartlead_category_created_timestamp_seconds{account=\"acme\",id=\"789\"}"));
        assert!(text.contains(
            "smartlead_categories{account=\"acme\",origin=\"global\",sentiment=\"positive\"} 1\n"
        ));
        assert!(text.contains(
            "smartlead_categories{account=\"acme\",origin=\"user\",sentiment=\"none\"} 0\n"
        ));
        assert_eq!(text.matches("smartlead_categories{").count(), 10);
        assert!(text.contains("smartlead_up{account=\"acme\"} 1\n"));
        assert!(text
            .contains("smartlead_last_success_timestamp_seconds{account=\"acme\"} 1700000000\n"));
        assert!(text.contains("process_resident_memory_bytes "));
    }

    #[test]
    fn stale_snapshot_withdraws_category_series_only() {
        let metrics = Metrics::new("acme", &BuildInfo::current()).unwrap();
        metrics.publish(&snapshot());
        metrics.publish(&Snapshot {
            categories: None,
            up: false,
            ..snapshot()
        });
        let text = text(&metrics);
        assert!(!text.contains("smartlead_categories{"));
        assert!(!text.contains("smartlead_category_info{"));
        assert!(text.contains("smartlead_up{account=\"acme\"} 0\n"));
        assert!(text
            .contains("smartlead_last_success_timestamp_seconds{account=\"acme\"} 1700000000\n"));
    }

    #[test]
    fn attempts_are_counted_by_code_and_reason() {
        let metrics = Metrics::new("acme", &BuildInfo::current()).unwrap();
        let before = text(&metrics);
        for reason in ["timeout", "transport", "status", "decode", "too_large"] {
            assert!(before.contains(&format!(
                "smartlead_api_request_failures_total{{account=\"acme\",endpoint=\"fetch-categories\",reason=\"{reason}\"}} 0\n"
            )));
        }
        assert!(!before.contains("smartlead_last_success_timestamp_seconds{"));
        metrics.record(&Attempt {
            exchange: Exchange {
                status: Some(429),
                elapsed: Some(Duration::from_millis(30)),
                ..Exchange::default()
            },
            failure: Some(FailureReason::Status),
        });
        metrics.publish(&Snapshot::default());
        let after = text(&metrics);
        assert!(after.contains(
            "smartlead_api_requests_total{account=\"acme\",code=\"429\",endpoint=\"fetch-categories\"} 1\n"
        ));
        assert!(after.contains(
            "smartlead_api_request_failures_total{account=\"acme\",endpoint=\"fetch-categories\",reason=\"status\"} 1\n"
        ));
        assert!(after.contains(
            "smartlead_api_request_duration_seconds_bucket{account=\"acme\",endpoint=\"fetch-categories\",le=\"0.05\"} 1\n"
        ));
        assert!(after.contains(
            "smartlead_api_request_duration_seconds_bucket{account=\"acme\",endpoint=\"fetch-categories\",le=\"0.025\"} 0\n"
        ));
    }

    #[test]
    fn gzip_copy_decodes_to_the_plain_text() {
        use std::io::Read as _;
        let metrics = Metrics::new("acme", &BuildInfo::current()).unwrap();
        metrics.publish(&snapshot());
        let plain = metrics.exposition(false);
        let gzip = metrics.exposition(true);
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&gzip[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, plain);
    }
}
