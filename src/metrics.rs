//! The registry and metric families, and the exposition served on the telemetry path.
//!
//! Values change only when a poll ends, so the exposition is encoded once per poll, not once
//! per scrape, on the poller's thread: straight into gzip, which Prometheus always asks for
//! and which is an eighth of the size. The text is written and compressed in batches of
//! [`ENCODE_BATCH_BYTES`], so at 100,000 categories the 20 MB of text never exist at once. The
//! first plain scrape after a poll inflates the text once and keeps it for the next ones.
//!
//! The `process_*` metrics are the one part that changes between polls: they are gathered at
//! most once per [`PROCESS_METRICS_MAX_AGE`] into a second, small buffer. A scrape is an
//! [`Exposition`]: the two buffers, sent one after the other, so neither is copied.
//!
//! The gzip answer is one gzip member made of the two parts' deflate streams; the private `gzip`
//! submodule owns that framing.
//!
//! The per-category families (`smartlead_category_info`,
//! `smartlead_category_created_timestamp_seconds`) can hold 100,000 series, so they are
//! written straight from the snapshot in the text format instead of going through the
//! registry's per-series objects; everything else uses the `prometheus` crate.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use flate2::{Crc, FlushCompress};
use prometheus::core::Collector;
use prometheus::{
    GaugeVec, Histogram, HistogramOpts, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use tracing::error;

use self::gzip::{gzip_tail, inflate, Deflater, EXPECTED_RATIO, GZIP_HEADER};

mod gzip;

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

/// Text is handed to the compressor whenever this much has been written: large enough that
/// the compressor works on long runs, small enough to stay in the CPU cache.
pub const ENCODE_BATCH_BYTES: usize = 64 * 1024;

/// Bytes of text per category in `smartlead_category_info` and
/// `smartlead_category_created_timestamp_seconds`, beyond the account and the name: reserving
/// this up front means a buffer of 100,000 categories is allocated once, not regrown.
const CATEGORY_TEXT_OVERHEAD: usize = 200;

/// Time stamps below this many seconds (about 30 million years) are whole numbers that an
/// `i64` holds exactly.
const MAX_EXACT_SECONDS: f64 = 1e15;

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
    /// The published state; the lock is held only to swap or clone buffers, and to gather the
    /// small `process_*` part when it is older than [`PROCESS_METRICS_MAX_AGE`].
    state: Mutex<State>,
}

/// What a scrape reads.
struct State {
    /// The latest snapshot, for the landing page and readiness.
    snapshot: Arc<Snapshot>,
    /// Everything but `process_*`, encoded when the snapshot was published.
    polled: Polled,
    /// The text of `polled`, inflated on the first plain scrape after a publish.
    plain: Option<Bytes>,
    /// Bumped on every publish, so that a gzip tail is never paired with another poll's head.
    generation: u64,
    /// The `process_*` part as last gathered.
    process: Option<Process>,
}

/// The per-poll part of the exposition, compressed.
struct Polled {
    /// The gzip header and the deflated text, ending on a sync flush: the start of a gzip
    /// member that a [`Process`] tail finishes.
    gzip_head: Bytes,
    /// CRC-32 and length of the text, to be combined with the tail's for the gzip trailer.
    crc: Crc,
    /// Length of the text, to inflate it into a buffer of the right size.
    len: usize,
}

/// The `process_*` part of the exposition, gathered at most once per
/// [`PROCESS_METRICS_MAX_AGE`].
struct Process {
    /// When it was gathered.
    built: Instant,
    /// The text.
    plain: Bytes,
    /// The deflated text and the gzip trailer for the head of `State::generation` this names,
    /// made on the first gzip scrape that needs it.
    gzip_tail: Option<(u64, Bytes)>,
}

/// One scrape's answer: two buffers to send back to back, each a reference-counted clone.
///
/// Plain: the per-poll text, then the `process_*` text. Gzip: the start of the gzip member
/// (header and the per-poll part's deflate stream), then its end (the `process_*` part's
/// deflate stream and the trailer). Either way the concatenation is the whole answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exposition {
    /// Encoded once per poll.
    pub head: Bytes,
    /// Made at most once per [`PROCESS_METRICS_MAX_AGE`] (gzip: and per poll).
    pub tail: Bytes,
}

impl Exposition {
    /// The length of the whole answer, for `Content-Length`.
    pub fn len(&self) -> usize {
        self.head.len() + self.tail.len()
    }

    /// Whether the answer is empty (it never is once [`Metrics::new`] returned).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole answer in one buffer (a copy), for `--once` and tests.
    pub fn to_bytes(&self) -> Bytes {
        let mut whole = Vec::with_capacity(self.len());
        whole.extend_from_slice(&self.head);
        whole.extend_from_slice(&self.tail);
        whole.into()
    }
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
                polled: Polled {
                    gzip_head: Bytes::new(),
                    crc: Crc::new(),
                    len: 0,
                },
                plain: None,
                generation: 0,
                process: None,
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

    /// Sets the gauges from `snapshot` and encodes the exposition that scrapes will serve, on
    /// the caller's thread (the poller's), outside the lock.
    ///
    /// The snapshot is swapped in first, so that the previous poll's categories are freed
    /// before the new text is built rather than after: at 100,000 categories that is 9 MB
    /// less at the peak. The landing page may show the new poll a few milliseconds before
    /// `/metrics` does.
    pub fn publish(&self, snapshot: &Snapshot) {
        let previous = std::mem::replace(&mut self.lock().snapshot, Arc::new(snapshot.clone()));
        drop(previous);
        let polled = self.encode_polled(snapshot);
        let mut state = self.lock();
        state.polled = polled;
        state.plain = None;
        state.generation += 1;
    }

    /// The latest published snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.lock().snapshot)
    }

    /// What a scrape serves, gzip-compressed when `gzip` is set: two buffer clones, plus a
    /// fresh gathering of `process_*` when the last is older than [`PROCESS_METRICS_MAX_AGE`].
    pub fn scrape(&self, gzip: bool) -> Exposition {
        let mut guard = self.lock();
        let state = &mut *guard;
        let fresh = state
            .process
            .as_ref()
            .is_some_and(|p| p.built.elapsed() < PROCESS_METRICS_MAX_AGE);
        if !fresh {
            state.process = Some(Process {
                built: Instant::now(),
                plain: Bytes::from(self.encode(&self.process.gather())),
                gzip_tail: None,
            });
        }
        let Some(process) = state.process.as_mut() else {
            return Exposition::default();
        };
        if !gzip {
            let polled = &state.polled;
            return Exposition {
                head: state.plain.get_or_insert_with(|| inflate(polled)).clone(),
                tail: process.plain.clone(),
            };
        }
        let generation = state.generation;
        let tail = match &process.gzip_tail {
            Some((made_for, tail)) if *made_for == generation => tail.clone(),
            _ => {
                let tail = gzip_tail(&state.polled, &process.plain);
                process.gzip_tail = Some((generation, tail.clone()));
                tail
            }
        };
        Exposition {
            head: state.polled.gzip_head.clone(),
            tail,
        }
    }

    /// The whole exposition in one buffer, gzip-compressed when `gzip` is set: what
    /// [`Metrics::scrape`] serves, copied together (for `--once` and tests).
    pub fn exposition(&self, gzip: bool) -> Bytes {
        self.scrape(gzip).to_bytes()
    }

    /// Encodes everything but `process_*` for `snapshot` as the start of a gzip member.
    fn encode_polled(&self, snapshot: &Snapshot) -> Polled {
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
        let expected = text.len()
            + snapshot
                .categories
                .as_ref()
                .map_or(0, |c| category_text_len(&self.account, c));
        let mut deflater = Deflater::new(&GZIP_HEADER, expected / EXPECTED_RATIO);
        if let Some(categories) = &snapshot.categories {
            text.reserve(ENCODE_BATCH_BYTES);
            write_categories(&mut text, &self.account, categories, &mut |batch| {
                deflater.write(batch.as_bytes());
                batch.clear();
            });
        }
        deflater.write(text.as_bytes());
        drop(text);
        let (gzip_head, crc) = deflater.finish(FlushCompress::Sync);
        Polled {
            len: usize::try_from(crc.amount()).unwrap_or(expected),
            gzip_head: Bytes::from(gzip_head),
            crc,
        }
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
    out.reserve(category_text_len(account, categories));
    write_categories(out, account, categories, &mut |_| {});
}

/// About how many bytes [`render_categories`] writes, a little more rather than less.
fn category_text_len(account: &str, categories: &crate::snapshot::Categories) -> usize {
    let names: usize = categories.list.iter().map(|c| c.name.len()).sum();
    categories.list.len() * (CATEGORY_TEXT_OVERHEAD + 2 * account.len()) + names
}

/// Writes the per-category families into `out`, handing `out` to `flush` whenever it holds
/// [`ENCODE_BATCH_BYTES`] or more; `flush` may empty it.
fn write_categories(
    out: &mut String,
    account: &str,
    categories: &crate::snapshot::Categories,
    flush: &mut dyn FnMut(&mut String),
) {
    // Integers through `itoa` rather than `fmt`: a third of the time at 100,000 categories.
    let mut ids = itoa::Buffer::new();
    let _ = write!(
        out,
        "# HELP smartlead_category_info A SmartLead lead category, value 1. {REFRESHED}\n\
         # TYPE smartlead_category_info gauge\n"
    );
    for category in categories.list.iter() {
        out.push_str("smartlead_category_info{account=\"");
        push_label_value(out, account);
        out.push_str("\",id=\"");
        out.push_str(ids.format(category.id));
        out.push_str("\",name=\"");
        push_label_value(out, &category.name);
        let origin = Origin::of(category.id, categories.global_max_id);
        let _ = writeln!(
            out,
            "\",origin=\"{}\",sentiment=\"{}\"}} 1",
            origin.as_str(),
            category.sentiment.as_str()
        );
        if out.len() >= ENCODE_BATCH_BYTES {
            flush(out);
        }
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
            out.push_str("\",id=\"");
            out.push_str(ids.format(category.id));
            out.push_str("\"} ");
            push_seconds(out, created);
            out.push('\n');
            if out.len() >= ENCODE_BATCH_BYTES {
                flush(out);
            }
        }
    }
}

/// Writes Unix seconds as `fmt` would (`1705314600`, `1705314600.5`), whole seconds through
/// `itoa`, which is several times faster.
fn push_seconds(out: &mut String, seconds: f64) {
    if seconds.fract() == 0.0 && seconds.abs() < MAX_EXACT_SECONDS {
        // Whole and far below 2^53: the conversion is exact.
        out.push_str(itoa::Buffer::new().format(seconds as i64));
    } else {
        let _ = write!(out, "{seconds}");
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

    /// Decodes one gzip member, as a single-member decoder does: it stops at the member's end.
    fn gunzip(gzip: &[u8]) -> Vec<u8> {
        use std::io::Read as _;
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(gzip)
            .read_to_end(&mut decoded)
            .unwrap();
        decoded
    }

    #[test]
    fn gzip_copy_decodes_to_the_plain_text() {
        let metrics = Metrics::new("acme", &BuildInfo::current()).unwrap();
        metrics.publish(&snapshot());
        let plain = metrics.exposition(false);
        let gzip = metrics.exposition(true);
        assert_eq!(gunzip(&gzip), plain);
    }

    #[test]
    fn gzip_of_a_large_exposition_is_one_member_matching_the_text() {
        let metrics = Metrics::new("acme", &BuildInfo::current()).unwrap();
        let list: Vec<Category> = (1..=20_000)
            .map(|id| Category {
                id,
                name: format!("Category {}", id * 7919 % 10_007),
                sentiment: Sentiment::ALL[usize::try_from(id).unwrap() % Sentiment::ALL.len()],
                created_unix: Some(1_700_000_000.0 + f64::from(u32::try_from(id).unwrap())),
            })
            .collect();
        for list in [list.clone(), list[..10].to_vec()] {
            let categories = Categories {
                list: list.into(),
                global_max_id: 99,
            };
            metrics.publish(&Snapshot {
                categories: Some(categories.clone()),
                ..snapshot()
            });
            // The text compressed in batches is the text written in one go.
            let mut expected = String::new();
            render_categories(&mut expected, "acme", &categories);
            assert!(metrics.scrape(false).head.ends_with(expected.as_bytes()));
            let scrape = metrics.scrape(true);
            assert!(scrape.head.starts_with(&[0x1f, 0x8b]));
            let gzip = scrape.to_bytes();
            let plain = metrics.exposition(false);
            // A single-member decoder must see it all.
            assert_eq!(gunzip(&gzip), plain);
            assert!(
                gzip.len() < plain.len() / 4,
                "{} of {}",
                gzip.len(),
                plain.len()
            );
        }
    }

    #[test]
    fn a_scrape_is_the_polled_text_then_the_process_text() {
        let metrics = Metrics::new("acme", &BuildInfo::current()).unwrap();
        metrics.publish(&snapshot());
        let scrape = metrics.scrape(false);
        let head = std::str::from_utf8(&scrape.head).unwrap();
        let tail = std::str::from_utf8(&scrape.tail).unwrap();
        assert!(head.contains("smartlead_category_info{") && !head.contains("process_"));
        assert!(tail.starts_with("# HELP process_"), "{tail}");
        // Served again within PROCESS_METRICS_MAX_AGE: the same buffers, not copies.
        let again = metrics.scrape(false);
        assert_eq!(again.head.as_ptr(), scrape.head.as_ptr());
        assert_eq!(again.tail.as_ptr(), scrape.tail.as_ptr());
        assert_eq!(scrape.len(), scrape.to_bytes().len());
    }
}
