//! The metric families of every account, and the exposition served on the telemetry path.
//!
//! Each account's series are a few plain numbers ([`AccountSeries`]) and its snapshot, written
//! by hand in the text format, labelled with its name; when its poller publishes, they are
//! updated and written once into per-family fragments of text ([`Fragments`]), whose
//! `# HELP`/`# TYPE` lines are the static [`FAMILIES`]. The exposition is assembled from all accounts' fragments family by family
//! (each family in one group, as the text format requires), compressed straight into gzip,
//! which Prometheus always asks for, and cached until something changes: scrapes never encode.
//! Assembly runs off the serving thread ([`Metrics::run_encoder`]), spaced so that it takes
//! at most a twentieth of a core however many accounts publish ([`ENCODER_DUTY`]). A plain (non-gzip) scrape inflates
//! the cached text once per change.
//!
//! The `process_*` metrics are the one part that changes between builds: they are gathered at
//! most once per [`PROCESS_METRICS_MAX_AGE`] into a second, small buffer. A scrape is an
//! [`Exposition`]: the two buffers, sent one after the other, so neither is copied. The gzip
//! answer is one gzip member made of the two parts' deflate streams; the private `gzip`
//! submodule owns that framing.
//!
//! Design notes: `docs/design.md#the-exposition`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use flate2::{Crc, FlushCompress};
use prometheus::core::Collector;
use prometheus::{Gauge, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};
use tokio::sync::Notify;
use tracing::error;

use self::gzip::{gzip_tail, inflate, Deflater, EXPECTED_RATIO, GZIP_HEADER};

mod gzip;

use crate::shutdown::Shutdown;
use crate::smartlead::client::{FailureReason, ENDPOINT};
use crate::smartlead::model::{Category, Origin, Sentiment};
use crate::snapshot::{Attempt, Categories, Snapshot};

/// The `Content-Type` of the exposition (text format 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Buckets of `smartlead_api_request_duration_seconds`: from 25 ms to SmartLead's slowest
/// useful answer (Cloudflare gives up after about 100 s; the default timeout is 10 s).
pub const LATENCY_BUCKETS: [f64; 11] =
    [0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0];

/// [`LATENCY_BUCKETS`] as the `le` label writes them (`f64`'s `Display`).
const LATENCY_BUCKET_LABELS: [&str; LATENCY_BUCKETS.len()] = [
    "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "20", "30",
];

/// Status codes exported at 0 from the start for every account, so that the alerts reading
/// them see the first one (an `increase()` needs a sample before the change).
pub const PREINITIALISED_CODES: [u16; 3] = [401, 403, 429];

/// How long a rendering of the `process_*` metrics is reused. Prometheus scrapes every 15 s or
/// more; reusing them within a second keeps a scrape to a buffer clone under load.
pub const PROCESS_METRICS_MAX_AGE: Duration = Duration::from_secs(1);

/// The encoder spends at most one part in this many of its time building: after a build that
/// took `t`, the next waits `t × (ENCODER_DUTY - 1)`, so that 500 accounts publishing 8 times a
/// second do not re-encode the whole exposition 8 times a second, while one account's change
/// (a build of well under a millisecond) shows at once.
pub const ENCODER_DUTY: u32 = 20;

/// However long builds take, a change waits at most this long to be served.
pub const MAX_REBUILD_DELAY: Duration = Duration::from_secs(1);

/// Text is handed to the compressor whenever this much has been gathered: large enough that
/// the compressor works on long runs, small enough to stay in the CPU cache.
pub const ENCODE_BATCH_BYTES: usize = 64 * 1024;

/// Time stamps below this many seconds (about 30 million years) are whole numbers that an
/// `i64` holds exactly.
const MAX_EXACT_SECONDS: f64 = 1e15;

/// What an account's fragments reserve before they are written, then trimmed to fit: room for
/// the families other than the per-category ones, so that those are written without regrowing.
const FRAGMENT_CAPACITY: usize = 4 * 1024;

/// Category lines are written into the compressor's batch this many categories at a time, so
/// that the batch stays near [`ENCODE_BATCH_BYTES`] however large an account is.
const CATEGORY_CHUNK: usize = 256;

/// Bytes of text per category in the two per-category families, beyond the account and the
/// name, for sizing the compressor's output.
const CATEGORY_TEXT_OVERHEAD: usize = 200;

/// Said in every HELP string of a polled value, as the exporter-writing guide asks of cached
/// metrics.
macro_rules! refreshed {
    () => {
        "Refreshed every poll interval, not at scrape time."
    };
}

/// A per-account family: its name and its `# HELP`/`# TYPE` lines.
struct Family {
    /// The metric name.
    name: &'static str,
    /// The `# HELP` and `# TYPE` lines, written once per exposition, not once per account.
    header: &'static str,
}

/// Builds a [`Family`] from its name, type and help text, all literals.
macro_rules! family {
    ($name:literal, $type:literal, $($help:expr),+) => {
        Family {
            name: $name,
            header: concat!(
                "# HELP ", $name, " ", $($help),+, "\n# TYPE ", $name, " ", $type, "\n"
            ),
        }
    };
}

/// Every per-account family, sorted by name: the order of the exposition. The constants
/// below index it.
const FAMILIES: [Family; 16] = [
    family!(
        "smartlead_api_rate_limit_limit",
        "gauge",
        "X-RateLimit-Limit of the latest SmartLead answer that had it: the key's budget, \
         shared with every integration using the key; withdrawn when stale. ",
        refreshed!()
    ),
    family!(
        "smartlead_api_rate_limit_remaining",
        "gauge",
        "X-RateLimit-Remaining of the latest SmartLead answer that had it; withdrawn when \
         stale. ",
        refreshed!()
    ),
    family!(
        "smartlead_api_request_duration_seconds",
        "histogram",
        "Duration of SmartLead API requests, from sending to the last body byte. Observed \
         once per poll, not at scrape time."
    ),
    family!(
        "smartlead_api_request_failures_total",
        "counter",
        "Failed polls of SmartLead by reason (timeout, transport, status, decode, \
         too_large). Counted once per poll."
    ),
    family!(
        "smartlead_api_requests_total",
        "counter",
        "SmartLead API responses received, by HTTP status code. Counted once per poll."
    ),
    family!(
        "smartlead_categories",
        "gauge",
        "Number of lead categories by sentiment and origin; withdrawn when stale. ",
        refreshed!()
    ),
    family!(
        "smartlead_category_created_timestamp_seconds",
        "gauge",
        "Unix time a SmartLead lead category was created. ",
        refreshed!()
    ),
    family!(
        "smartlead_category_info",
        "gauge",
        "A SmartLead lead category, value 1. ",
        refreshed!()
    ),
    family!(
        "smartlead_collector_duration_seconds",
        "gauge",
        "How long the latest collection took, all its SmartLead calls together. ",
        refreshed!()
    ),
    family!(
        "smartlead_collector_interval_seconds",
        "gauge",
        "Time between a collector's runs while they succeed, as in force. ",
        refreshed!()
    ),
    family!(
        "smartlead_collector_last_success_timestamp_seconds",
        "gauge",
        "Unix time of a collector's latest successful run. ",
        refreshed!()
    ),
    family!(
        "smartlead_collector_polls_total",
        "counter",
        "A collector's attempts, successful or not. Counted once per run."
    ),
    family!(
        "smartlead_collector_success",
        "gauge",
        "1 if a collector's latest attempt succeeded, else 0. ",
        refreshed!()
    ),
    family!(
        "smartlead_last_success_timestamp_seconds",
        "gauge",
        "Unix time of the latest successful poll. ",
        refreshed!()
    ),
    family!(
        "smartlead_poll_consecutive_failures",
        "gauge",
        "Failed polls since the latest success; drives the backoff. ",
        refreshed!()
    ),
    family!(
        "smartlead_up",
        "gauge",
        "1 if the latest poll of SmartLead succeeded, else 0. ",
        refreshed!()
    ),
];
/// `smartlead_api_rate_limit_limit` in [`FAMILIES`].
const RATE_LIMIT_LIMIT: usize = 0;
/// `smartlead_api_rate_limit_remaining` in [`FAMILIES`].
const RATE_LIMIT_REMAINING: usize = 1;
/// `smartlead_api_request_duration_seconds` in [`FAMILIES`].
const DURATION: usize = 2;
/// `smartlead_api_request_failures_total` in [`FAMILIES`].
const FAILURES: usize = 3;
/// `smartlead_api_requests_total` in [`FAMILIES`].
const REQUESTS: usize = 4;
/// `smartlead_categories` in [`FAMILIES`].
const CATEGORIES: usize = 5;
/// `smartlead_category_created_timestamp_seconds` in [`FAMILIES`]: with
/// `smartlead_category_info`, up to 100,000 series per account, written straight from the
/// snapshot.
const CATEGORY_CREATED: usize = 6;
/// `smartlead_category_info` in [`FAMILIES`].
const CATEGORY_INFO: usize = 7;
/// `smartlead_collector_duration_seconds` in [`FAMILIES`].
const COLLECTOR_DURATION: usize = 8;
/// `smartlead_collector_interval_seconds` in [`FAMILIES`].
const COLLECTOR_INTERVAL: usize = 9;
/// `smartlead_collector_last_success_timestamp_seconds` in [`FAMILIES`].
const COLLECTOR_LAST_SUCCESS: usize = 10;
/// `smartlead_collector_polls_total` in [`FAMILIES`].
const COLLECTOR_POLLS: usize = 11;
/// `smartlead_collector_success` in [`FAMILIES`].
const COLLECTOR_SUCCESS: usize = 12;
/// `smartlead_last_success_timestamp_seconds` in [`FAMILIES`].
const LAST_SUCCESS: usize = 13;
/// `smartlead_poll_consecutive_failures` in [`FAMILIES`].
const CONSECUTIVE_FAILURES: usize = 14;
/// `smartlead_up` in [`FAMILIES`].
const UP: usize = 15;

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

/// Every account's series and the exporter's own, and the cached exposition.
pub struct Metrics {
    /// `smartlead_exporter_*`: build, reload and shard facts.
    exporter: Registry,
    /// Only the process collector, gathered at scrape time.
    process: Registry,
    /// `smartlead_exporter_config_last_reload_successful`.
    reload_ok: IntGauge,
    /// `smartlead_exporter_config_last_reload_success_timestamp_seconds`.
    reload_time: Gauge,
    /// `smartlead_exporter_shard_accounts{shard,total_shards}`.
    shard_accounts: IntGaugeVec,
    /// Accounts by name. Entries outlive a poller restart (a reload that changed an account's
    /// settings), so counters continue; they go when the account leaves the configuration.
    accounts: Mutex<BTreeMap<String, AccountEntry>>,
    /// Bumped on every change; the cached exposition records the value it was built from.
    generation: AtomicU64,
    /// Wakes the encoder when the generation moves.
    changed: Notify,
    /// What scrapes serve; the lock is held only to swap or clone buffers, and to gather the
    /// small `process_*` part when it is older than [`PROCESS_METRICS_MAX_AGE`].
    state: Mutex<State>,
}

/// One account: its series, latest snapshot and encoded fragments.
struct AccountEntry {
    /// The account's counters and histogram.
    series: AccountSeries,
    /// The latest published snapshot, for the landing page and readiness.
    snapshot: Arc<Snapshot>,
    /// The account's families as text, encoded at its latest publish.
    fragments: Arc<Fragments>,
}

/// The text of one account's families, without their `# HELP`/`# TYPE` lines: one buffer,
/// cut at family boundaries.
#[derive(Debug, Default)]
struct Fragments {
    /// Every family's sample lines, in [`FAMILIES`] order.
    text: String,
    /// Where each family's lines end in `text`.
    ends: [usize; FAMILIES.len()],
}

impl Fragments {
    /// The sample lines of family `index` of [`FAMILIES`] (empty when it has none).
    fn body(&self, index: usize) -> &str {
        let start = index.checked_sub(1).map_or(0, |before| self.ends[before]);
        self.text.get(start..self.ends[index]).unwrap_or_default()
    }
}

/// One account's families, as plain numbers: the gauges are read from the snapshot at each
/// publish; what lives here is what accumulates across publishes.
#[derive(Debug)]
struct AccountSeries {
    /// `smartlead_api_request_duration_seconds`.
    latency: Latency,
    /// `smartlead_api_requests_total{code}`, sorted by code: a handful of codes per account.
    requests: Vec<(u16, u64)>,
    /// `smartlead_api_request_failures_total{reason}`, indexed like [`FailureReason::ALL`].
    failures: [u64; FailureReason::ALL.len()],
    /// `smartlead_last_success_timestamp_seconds`, absent before the first success; kept
    /// when a later snapshot does not say.
    last_success: Option<f64>,
}

/// A histogram over [`LATENCY_BUCKETS`], as the text format exposes it.
#[derive(Debug, Default)]
struct Latency {
    /// Observations at or below each bucket's upper bound (not cumulative).
    buckets: [u64; LATENCY_BUCKETS.len()],
    /// Sum of the observations, in seconds.
    sum: f64,
    /// Number of observations (the `+Inf` bucket).
    count: u64,
}

impl Latency {
    fn observe(&mut self, seconds: f64) {
        if let Some(at) = LATENCY_BUCKETS.iter().position(|&bound| seconds <= bound) {
            self.buckets[at] += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }
}

/// What a scrape reads.
struct State {
    /// The generation `polled` was built from.
    built: u64,
    /// When `polled` was built and how long that took, to space rebuilds (see
    /// [`ENCODER_DUTY`]).
    built_at: Option<(Instant, Duration)>,
    /// Whether every account had finished a poll when `polled` was built: readiness follows
    /// what `/metrics` serves, not what the pollers know.
    ready: bool,
    /// Everything but `process_*`, compressed.
    polled: Polled,
    /// The text of `polled`, inflated on the first plain scrape after a build.
    plain: Option<Bytes>,
    /// The `process_*` part as last gathered.
    process: Option<Process>,
}

/// The per-build part of the exposition, compressed.
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
    /// The deflated text and the gzip trailer for the head built from the generation this
    /// names, made on the first gzip scrape that needs it.
    gzip_tail: Option<(u64, Bytes)>,
}

/// One scrape's answer: two buffers to send back to back, each a reference-counted clone.
///
/// Plain: the per-build text, then the `process_*` text. Gzip: the start of the gzip member
/// (header and the per-build part's deflate stream), then its end (the `process_*` part's
/// deflate stream and the trailer). Either way the concatenation is the whole answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exposition {
    /// Encoded once per change.
    pub head: Bytes,
    /// Made at most once per [`PROCESS_METRICS_MAX_AGE`] (gzip: and per build).
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

impl AccountSeries {
    fn new() -> Self {
        Self {
            latency: Latency::default(),
            requests: PREINITIALISED_CODES.iter().map(|&code| (code, 0)).collect(),
            failures: [0; FailureReason::ALL.len()],
            last_success: None,
        }
    }

    /// Counts one poll attempt: its status code, latency and failure reason.
    fn record(&mut self, attempt: &Attempt) {
        if let Some(status) = attempt.exchange.status {
            match self
                .requests
                .binary_search_by_key(&status, |&(code, _)| code)
            {
                Ok(at) => self.requests[at].1 += 1,
                Err(at) => self.requests.insert(at, (status, 1)),
            }
        }
        if let Some(elapsed) = attempt.exchange.elapsed {
            self.latency.observe(elapsed.as_secs_f64());
        }
        if let Some(reason) = attempt.failure {
            if let Some(at) = FailureReason::ALL.iter().position(|&r| r == reason) {
                self.failures[at] += 1;
            }
        }
    }

    /// Writes every family of the account from its numbers and `snapshot`, without the
    /// `# HELP`/`# TYPE` lines.
    fn encode(&mut self, account: &str, snapshot: &Snapshot) -> Fragments {
        if let Some(at) = snapshot.last_success {
            self.last_success = Some(unix_seconds(at));
        }
        let mut label = String::with_capacity(account.len());
        push_label_value(&mut label, account);
        let account_label = label.as_str();
        let mut text = String::with_capacity(FRAGMENT_CAPACITY);
        let mut ends = [0; FAMILIES.len()];
        let mut ints = itoa::Buffer::new();
        let mut account_value = |text: &mut String, family: &str, value: Option<u64>| {
            if let Some(value) = value {
                text.push_str(family);
                text.push_str("{account=\"");
                text.push_str(account_label);
                text.push_str("\"} ");
                text.push_str(ints.format(saturating_i64(value)));
                text.push('\n');
            }
        };
        let api_labels = |text: &mut String, family: &str, suffix: &str| {
            text.push_str(family);
            text.push_str(suffix);
            text.push_str("{account=\"");
            text.push_str(account_label);
            text.push_str("\",api_endpoint=\"");
            push_label_value(text, ENDPOINT);
            text.push('"');
        };
        for (index, family) in FAMILIES.iter().enumerate() {
            let name = family.name;
            match index {
                RATE_LIMIT_LIMIT => account_value(&mut text, name, snapshot.rate_limit.limit),
                RATE_LIMIT_REMAINING => {
                    account_value(&mut text, name, snapshot.rate_limit.remaining);
                }
                DURATION => {
                    let mut ints = itoa::Buffer::new();
                    let mut cumulative = 0;
                    for (bound, count) in LATENCY_BUCKET_LABELS.iter().zip(self.latency.buckets) {
                        cumulative += count;
                        api_labels(&mut text, name, "_bucket");
                        text.push_str(",le=\"");
                        text.push_str(bound);
                        text.push_str("\"} ");
                        text.push_str(ints.format(cumulative));
                        text.push('\n');
                    }
                    api_labels(&mut text, name, "_bucket");
                    text.push_str(",le=\"+Inf\"} ");
                    text.push_str(ints.format(self.latency.count));
                    text.push('\n');
                    api_labels(&mut text, name, "_sum");
                    let _ = writeln!(text, "}} {}", self.latency.sum);
                    api_labels(&mut text, name, "_count");
                    text.push_str("} ");
                    text.push_str(ints.format(self.latency.count));
                    text.push('\n');
                }
                FAILURES => {
                    let mut ints = itoa::Buffer::new();
                    let mut reasons: [(&str, u64); FailureReason::ALL.len()] =
                        [("", 0); FailureReason::ALL.len()];
                    for ((slot, reason), count) in reasons
                        .iter_mut()
                        .zip(FailureReason::ALL)
                        .zip(self.failures)
                    {
                        *slot = (reason.as_str(), count);
                    }
                    reasons.sort_unstable_by_key(|&(reason, _)| reason);
                    for (reason, count) in reasons {
                        api_labels(&mut text, name, "");
                        text.push_str(",reason=\"");
                        text.push_str(reason);
                        text.push_str("\"} ");
                        text.push_str(ints.format(count));
                        text.push('\n');
                    }
                }
                REQUESTS => {
                    let mut ints = itoa::Buffer::new();
                    let mut codes = itoa::Buffer::new();
                    for &(code, count) in &self.requests {
                        api_labels(&mut text, name, "");
                        text.push_str(",code=\"");
                        text.push_str(codes.format(code));
                        text.push_str("\"} ");
                        text.push_str(ints.format(count));
                        text.push('\n');
                    }
                }
                CATEGORIES => {
                    if let Some(categories) = &snapshot.categories {
                        let counts = categories.counts();
                        let mut ints = itoa::Buffer::new();
                        for (origin, sentiment) in category_combinations() {
                            text.push_str(name);
                            text.push_str("{account=\"");
                            text.push_str(account_label);
                            text.push_str("\",origin=\"");
                            text.push_str(origin.as_str());
                            text.push_str("\",sentiment=\"");
                            text.push_str(sentiment.as_str());
                            text.push_str("\"} ");
                            text.push_str(
                                ints.format(saturating_i64(
                                    counts[sentiment.index()][origin.index()],
                                )),
                            );
                            text.push('\n');
                        }
                    }
                }
                COLLECTOR_DURATION
                | COLLECTOR_INTERVAL
                | COLLECTOR_LAST_SUCCESS
                | COLLECTOR_POLLS
                | COLLECTOR_SUCCESS => {
                    let seconds = match index {
                        COLLECTOR_DURATION => snapshot.last_duration.map(|d| d.as_secs_f64()),
                        COLLECTOR_INTERVAL => {
                            Some(snapshot.interval.as_secs_f64()).filter(|s| *s > 0.0)
                        }
                        COLLECTOR_LAST_SUCCESS => self.last_success,
                        COLLECTOR_POLLS => Some(snapshot.attempts as f64),
                        _ => Some(f64::from(u8::from(snapshot.up))),
                    };
                    if let Some(seconds) = seconds {
                        text.push_str(name);
                        text.push_str("{account=\"");
                        text.push_str(account_label);
                        text.push_str("\",collector=\"categories\"} ");
                        push_seconds(&mut text, seconds);
                        text.push('\n');
                    }
                }
                // Written straight from the snapshot at each build (`Metrics::rebuild`): at
                // 100,000 categories their text would be most of an account's memory.
                CATEGORY_CREATED | CATEGORY_INFO => {}
                LAST_SUCCESS => {
                    if let Some(at) = self.last_success {
                        text.push_str(name);
                        text.push_str("{account=\"");
                        text.push_str(account_label);
                        text.push_str("\"} ");
                        push_seconds(&mut text, at);
                        text.push('\n');
                    }
                }
                CONSECUTIVE_FAILURES => {
                    account_value(
                        &mut text,
                        name,
                        Some(u64::from(snapshot.consecutive_failures)),
                    );
                }
                UP => account_value(&mut text, name, Some(u64::from(snapshot.up))),
                _ => {}
            }
            ends[index] = text.len();
        }
        text.shrink_to_fit();
        Fragments { text, ends }
    }
}

/// Every (origin, sentiment) pair in the order the exposition lists them: by label value.
fn category_combinations() -> impl Iterator<Item = (Origin, Sentiment)> {
    let mut origins = Origin::ALL;
    origins.sort_unstable_by_key(|o| o.as_str());
    let mut sentiments = Sentiment::ALL;
    sentiments.sort_unstable_by_key(|s| s.as_str());
    origins
        .into_iter()
        .flat_map(move |origin| sentiments.into_iter().map(move |s| (origin, s)))
}

impl Metrics {
    /// Registers the exporter's own families; accounts are added as they publish.
    ///
    /// # Errors
    /// [`MetricsError`] when a family cannot be registered.
    pub fn new(build: &BuildInfo) -> Result<Self, MetricsError> {
        let exporter = Registry::new();
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
        let reload_ok = IntGauge::new(
            "smartlead_exporter_config_last_reload_successful",
            "Whether the last reload of --config.file succeeded (1) or was refused, keeping the \
             configuration before it (0). 1 without --config.file.",
        )?;
        reload_ok.set(1);
        let reload_time = Gauge::new(
            "smartlead_exporter_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful load of the configuration.",
        )?;
        reload_time.set(unix_seconds(SystemTime::now()));
        let shard_accounts = IntGaugeVec::new(
            Opts::new(
                "smartlead_exporter_shard_accounts",
                "SmartLead accounts this process polls: its shard's share of the configuration.",
            ),
            &["shard", "total_shards"],
        )?;
        for collector in [
            Box::new(build_info) as Box<dyn Collector>,
            Box::new(reload_ok.clone()),
            Box::new(reload_time.clone()),
            Box::new(shard_accounts.clone()),
        ] {
            exporter.register(collector)?;
        }
        let process = Registry::new();
        process.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let metrics = Self {
            exporter,
            process,
            reload_ok,
            reload_time,
            shard_accounts,
            accounts: Mutex::new(BTreeMap::new()),
            generation: AtomicU64::new(1),
            changed: Notify::new(),
            state: Mutex::new(State {
                built: 0,
                built_at: None,
                ready: false,
                polled: Polled {
                    gzip_head: Bytes::new(),
                    crc: Crc::new(),
                    len: 0,
                },
                plain: None,
                process: None,
            }),
        };
        metrics.rebuild();
        Ok(metrics)
    }

    /// Records `account`'s poll attempt (if any) and publishes its new snapshot: its series
    /// are updated and encoded now, on the caller's thread (the poller's); the exposition
    /// follows at the encoder's next build.
    pub fn publish(&self, account: &str, attempt: Option<&Attempt>, snapshot: &Snapshot) {
        let mut accounts = lock(&self.accounts);
        let entry = match accounts.get_mut(account) {
            Some(entry) => entry,
            None => accounts.entry(account.to_owned()).or_insert(AccountEntry {
                series: AccountSeries::new(),
                snapshot: Arc::default(),
                fragments: Arc::default(),
            }),
        };
        if let Some(attempt) = attempt {
            entry.series.record(attempt);
        }
        // The previous categories are freed before the new text is built, not after.
        entry.snapshot = Arc::new(snapshot.clone());
        entry.fragments = Arc::default();
        entry.fragments = Arc::new(entry.series.encode(account, snapshot));
        drop(accounts);
        self.touch();
    }

    /// Removes every series of `account` at once (it left the configuration).
    pub fn remove(&self, account: &str) {
        if lock(&self.accounts).remove(account).is_some() {
            self.touch();
        }
    }

    /// Sets the reload gauges: after a successful load, `ok` and its time; after a refused
    /// one, 0 and the time of the last success unchanged.
    pub fn set_reload(&self, ok: bool) {
        self.reload_ok.set(i64::from(ok));
        if ok {
            self.reload_time.set(unix_seconds(SystemTime::now()));
        }
        self.touch();
    }

    /// Sets `smartlead_exporter_shard_accounts` for this process's shard.
    pub fn set_shard_accounts(&self, shard: u32, total: u32, accounts: usize) {
        self.shard_accounts.reset();
        let (mut s, mut t) = (itoa::Buffer::new(), itoa::Buffer::new());
        self.shard_accounts
            .with_label_values(&[s.format(shard), t.format(total)])
            .set(i64::try_from(accounts).unwrap_or(i64::MAX));
        self.touch();
    }

    /// The latest snapshot of every account, by name.
    pub fn snapshots(&self) -> Vec<(String, Arc<Snapshot>)> {
        lock(&self.accounts)
            .iter()
            .map(|(name, entry)| (name.clone(), Arc::clone(&entry.snapshot)))
            .collect()
    }

    /// Whether `/metrics` serves a finished poll of every account (and there is one).
    pub fn ready(&self) -> bool {
        self.lock().ready
    }

    /// Marks the exposition out of date and wakes the encoder.
    fn touch(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.changed.notify_one();
    }

    /// Rebuilds the exposition whenever it is out of date, spaced by [`ENCODER_DUTY`], until
    /// shutdown. Runs on the polling runtime, so that a large
    /// build never holds a scrape back.
    pub async fn run_encoder(self: Arc<Self>, mut shutdown: Shutdown) {
        loop {
            let changed = self.changed.notified();
            if self.generation.load(Ordering::Acquire) == self.lock().built {
                tokio::select! {
                    () = changed => {}
                    () = shutdown.requested() => return,
                }
            }
            let pause = self.lock().built_at.and_then(|(at, took)| {
                let pause = took.saturating_mul(ENCODER_DUTY - 1).min(MAX_REBUILD_DELAY);
                pause.checked_sub(at.elapsed())
            });
            if let Some(wait) = pause {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = shutdown.requested() => return,
                }
            }
            self.rebuild();
        }
    }

    /// Builds the exposition now, if anything changed since the last build. The encoder calls
    /// it; `--once` and tests call it directly.
    pub fn rebuild(&self) {
        let generation = self.generation.load(Ordering::Acquire);
        if generation == self.lock().built {
            return;
        }
        let started = Instant::now();
        let (parts, ready) = {
            let accounts = lock(&self.accounts);
            let ready = !accounts.is_empty() && accounts.values().all(|e| e.snapshot.attempts > 0);
            let parts: Vec<Part> = accounts
                .iter()
                .map(|(name, e)| {
                    (
                        name.clone(),
                        Arc::clone(&e.fragments),
                        Arc::clone(&e.snapshot),
                    )
                })
                .collect();
            (parts, ready)
        };
        let exporter = encode(&self.exporter.gather());
        let expected: usize = exporter.len()
            + parts
                .iter()
                .map(|part| {
                    part.1.text.len()
                        + with_categories(part).map_or(0, |(name, c)| category_text_len(name, c))
                })
                .sum::<usize>();
        let mut deflater = Deflater::new(&GZIP_HEADER, expected / EXPECTED_RATIO);
        let mut batch = String::with_capacity(ENCODE_BATCH_BYTES * 2);
        let mut flush = |batch: &mut String, force: bool| {
            if force || batch.len() >= ENCODE_BATCH_BYTES {
                deflater.write(batch.as_bytes());
                batch.clear();
            }
        };
        for (index, family) in FAMILIES.iter().enumerate() {
            if index == CATEGORY_INFO || index == CATEGORY_CREATED {
                let with = |c: &&Categories| {
                    index == CATEGORY_INFO || c.list.iter().any(|c| c.created_unix.is_some())
                };
                let mut accounts = parts
                    .iter()
                    .filter_map(with_categories)
                    .filter(|(_, c)| with(c))
                    .peekable();
                if accounts.peek().is_none() {
                    continue;
                }
                batch.push_str(family.header);
                for (name, categories) in accounts {
                    for chunk in categories.list.chunks(CATEGORY_CHUNK) {
                        if index == CATEGORY_INFO {
                            write_category_info(&mut batch, name, chunk, categories.global_max_id);
                        } else {
                            write_category_created(&mut batch, name, chunk);
                        }
                        flush(&mut batch, false);
                    }
                }
                continue;
            }
            let mut bodies = parts
                .iter()
                .map(|p| p.1.body(index))
                .filter(|body| !body.is_empty())
                .peekable();
            if bodies.peek().is_none() {
                continue;
            }
            batch.push_str(family.header);
            // An account's fragment of a family is a few lines (the large per-category
            // families are written in chunks above), so a batch outgrows its size by little.
            for body in bodies {
                batch.push_str(body);
                flush(&mut batch, false);
            }
        }
        batch.push_str(&exporter);
        flush(&mut batch, true);
        let (gzip_head, crc) = deflater.finish(FlushCompress::Sync);
        let polled = Polled {
            len: usize::try_from(crc.amount()).unwrap_or(expected),
            gzip_head: Bytes::from(gzip_head),
            crc,
        };
        let mut state = self.lock();
        state.polled = polled;
        state.plain = None;
        state.built = generation;
        state.built_at = Some((started, started.elapsed()));
        state.ready = ready;
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
                plain: Bytes::from(encode(&self.process.gather())),
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
        let built = state.built;
        let tail = match &process.gzip_tail {
            Some((made_for, tail)) if *made_for == built => tail.clone(),
            _ => {
                let tail = gzip_tail(&state.polled, &process.plain);
                process.gzip_tail = Some((built, tail.clone()));
                tail
            }
        };
        Exposition {
            head: state.polled.gzip_head.clone(),
            tail,
        }
    }

    /// The whole exposition in one buffer, gzip-compressed when `gzip` is set, after a rebuild
    /// if anything changed: what [`Metrics::scrape`] serves, copied together (for `--once` and
    /// tests).
    pub fn exposition(&self, gzip: bool) -> Bytes {
        self.rebuild();
        self.scrape(gzip).to_bytes()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

/// Locks a mutex, recovering from poisoning: no code holding these locks panics on input; if
/// it ever did, the data is still whole, and serving it beats failing every scrape from then on.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn encode(families: &[prometheus::proto::MetricFamily]) -> String {
    let mut text = String::new();
    if let Err(e) = TextEncoder::new().encode_utf8(families, &mut text) {
        error!(error = %e, "cannot encode metrics; serving what was encoded");
    }
    text
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("accounts", &lock(&self.accounts).len())
            .finish_non_exhaustive()
    }
}

/// Writes one account's `smartlead_category_info` and
/// `smartlead_category_created_timestamp_seconds` sample lines, straight from the snapshot.
pub fn write_categories(
    info: &mut String,
    created: &mut String,
    account: &str,
    categories: &Categories,
) {
    write_category_info(info, account, &categories.list, categories.global_max_id);
    write_category_created(created, account, &categories.list);
}

/// What a build takes of one account: its name, fragments and latest snapshot.
type Part = (String, Arc<Fragments>, Arc<Snapshot>);

/// An account's name and categories, when it has some.
fn with_categories((name, _, snapshot): &Part) -> Option<(&str, &Categories)> {
    let categories = snapshot.categories.as_ref()?;
    (!categories.list.is_empty()).then_some((name.as_str(), categories))
}

/// About how many bytes the category lines of `categories` take, a little more rather than
/// less, to size the compressor's output.
fn category_text_len(account: &str, categories: &Categories) -> usize {
    let names: usize = categories.list.iter().map(|c| c.name.len()).sum();
    categories.list.len() * (CATEGORY_TEXT_OVERHEAD + 2 * account.len()) + names
}

/// Writes one account's `smartlead_category_info` sample lines.
fn write_category_info(info: &mut String, account: &str, list: &[Category], global_max_id: u64) {
    // Integers through `itoa` rather than `fmt`: a third of the time at 100,000 categories.
    let mut ids = itoa::Buffer::new();
    for category in list {
        info.push_str("smartlead_category_info{account=\"");
        push_label_value(info, account);
        info.push_str("\",id=\"");
        info.push_str(ids.format(category.id));
        info.push_str("\",name=\"");
        push_label_value(info, &category.name);
        let origin = Origin::of(category.id, global_max_id);
        let _ = writeln!(
            info,
            "\",origin=\"{}\",sentiment=\"{}\"}} 1",
            origin.as_str(),
            category.sentiment.as_str()
        );
    }
}

/// Writes one account's `smartlead_category_created_timestamp_seconds` sample lines.
fn write_category_created(created: &mut String, account: &str, list: &[Category]) {
    let mut ids = itoa::Buffer::new();
    for category in list {
        if let Some(at) = category.created_unix {
            created.push_str("smartlead_category_created_timestamp_seconds{account=\"");
            push_label_value(created, account);
            created.push_str("\",id=\"");
            created.push_str(ids.format(category.id));
            created.push_str("\"} ");
            push_seconds(created, at);
            created.push('\n');
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
    use prometheus::{Histogram, HistogramOpts, IntCounterVec};

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

    fn metrics() -> Metrics {
        Metrics::new(&BuildInfo::current()).unwrap()
    }

    #[test]
    fn category_families_are_written_with_escaped_labels() {
        let metrics = metrics();
        metrics.publish("acme", None, &snapshot());
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
        assert!(text.contains("smartlead_exporter_config_last_reload_successful 1\n"));
    }

    #[test]
    fn each_family_is_one_group_across_accounts() {
        let metrics = metrics();
        for account in ["globex", "acme", "initech"] {
            metrics.publish(account, None, &snapshot());
        }
        let text = text(&metrics);
        let mut seen = Vec::new();
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let name = line.split(' ').nth(2).unwrap();
            assert!(!seen.contains(&name), "{name} appears twice");
            seen.push(name);
        }
        // Within a family, accounts follow one another in name order.
        let ups: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("smartlead_up{"))
            .collect();
        assert_eq!(
            ups,
            [
                "smartlead_up{account=\"acme\"} 1",
                "smartlead_up{account=\"globex\"} 1",
                "smartlead_up{account=\"initech\"} 1"
            ]
        );
        assert_eq!(
            text.matches("# TYPE smartlead_category_info gauge").count(),
            1
        );
        assert_eq!(text.matches("smartlead_category_info{").count(), 6);
    }

    #[test]
    fn a_removed_account_loses_every_series_at_once() {
        let metrics = metrics();
        metrics.publish("acme", None, &snapshot());
        metrics.publish("globex", None, &snapshot());
        metrics.remove("acme");
        let text = text(&metrics);
        assert!(!text.contains("account=\"acme\""), "{text}");
        assert!(text.contains("smartlead_up{account=\"globex\"} 1\n"));
    }

    #[test]
    fn stale_snapshot_withdraws_category_and_rate_limit_series_only() {
        let metrics = metrics();
        let mut fresh = snapshot();
        fresh.rate_limit.limit = Some(60);
        fresh.rate_limit.remaining = Some(10);
        metrics.publish("acme", None, &fresh);
        assert!(
            text(&metrics).contains("smartlead_api_rate_limit_remaining{account=\"acme\"} 10\n")
        );
        metrics.publish(
            "acme",
            None,
            &Snapshot {
                categories: None,
                up: false,
                ..snapshot()
            },
        );
        let text = text(&metrics);
        assert!(!text.contains("smartlead_categories{"));
        assert!(!text.contains("smartlead_category_info{"));
        assert!(!text.contains("smartlead_api_rate_limit_remaining{"));
        assert!(text.contains("smartlead_up{account=\"acme\"} 0\n"));
        assert!(text
            .contains("smartlead_last_success_timestamp_seconds{account=\"acme\"} 1700000000\n"));
    }

    #[test]
    fn attempts_are_counted_by_code_and_reason_and_kept_across_publishes() {
        let metrics = metrics();
        metrics.publish("acme", None, &Snapshot::default());
        let before = text(&metrics);
        for reason in ["timeout", "transport", "status", "decode", "too_large"] {
            assert!(before.contains(&format!(
                "smartlead_api_request_failures_total{{account=\"acme\",api_endpoint=\"fetch-categories\",reason=\"{reason}\"}} 0\n"
            )));
        }
        for code in PREINITIALISED_CODES {
            assert!(before.contains(&format!(
                "smartlead_api_requests_total{{account=\"acme\",api_endpoint=\"fetch-categories\",code=\"{code}\"}} 0\n"
            )));
        }
        assert!(!before.contains("smartlead_last_success_timestamp_seconds{"));
        let attempt = Attempt {
            exchange: Exchange {
                status: Some(429),
                elapsed: Some(Duration::from_millis(30)),
                ..Exchange::default()
            },
            failure: Some(FailureReason::Status),
        };
        metrics.publish("acme", Some(&attempt), &Snapshot::default());
        metrics.publish("acme", Some(&attempt), &Snapshot::default());
        let after = text(&metrics);
        assert!(after.contains(
            "smartlead_api_requests_total{account=\"acme\",api_endpoint=\"fetch-categories\",code=\"429\"} 2\n"
        ));
        assert!(after.contains(
            "smartlead_api_request_failures_total{account=\"acme\",api_endpoint=\"fetch-categories\",reason=\"status\"} 2\n"
        ));
        assert!(after.contains(
            "smartlead_api_request_duration_seconds_bucket{account=\"acme\",api_endpoint=\"fetch-categories\",le=\"0.05\"} 2\n"
        ));
        assert!(after.contains(
            "smartlead_api_request_duration_seconds_bucket{account=\"acme\",api_endpoint=\"fetch-categories\",le=\"0.025\"} 0\n"
        ));
    }

    #[test]
    fn readiness_follows_the_built_exposition() {
        let metrics = metrics();
        assert!(!metrics.ready());
        metrics.publish("acme", None, &Snapshot::default());
        metrics.publish("globex", None, &snapshot());
        metrics.rebuild();
        assert!(!metrics.ready(), "acme has not polled yet");
        metrics.publish("acme", None, &snapshot());
        assert!(!metrics.ready(), "not built yet");
        metrics.rebuild();
        assert!(metrics.ready());
    }

    #[test]
    fn reload_and_shard_gauges() {
        let metrics = metrics();
        metrics.set_shard_accounts(1, 3, 17);
        metrics.set_reload(false);
        let text = text(&metrics);
        assert!(
            text.contains("smartlead_exporter_shard_accounts{shard=\"1\",total_shards=\"3\"} 17\n")
        );
        assert!(text.contains("smartlead_exporter_config_last_reload_successful 0\n"));
        assert!(text.contains("smartlead_exporter_config_last_reload_success_timestamp_seconds "));
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
    fn gzip_of_a_large_exposition_is_one_member_matching_the_text() {
        let metrics = metrics();
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
            for account in ["acme", "globex"] {
                metrics.publish(
                    account,
                    None,
                    &Snapshot {
                        categories: Some(categories.clone()),
                        ..snapshot()
                    },
                );
            }
            let mut info = String::new();
            let mut created = String::new();
            write_categories(&mut info, &mut created, "globex", &categories);
            let plain = metrics.exposition(false);
            let text = std::str::from_utf8(&plain).unwrap();
            assert!(text.contains(&info));
            assert!(text.contains(&created));
            let scrape = metrics.scrape(true);
            assert!(scrape.head.starts_with(&[0x1f, 0x8b]));
            let gzip = scrape.to_bytes();
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
    fn a_scrape_is_the_built_text_then_the_process_text() {
        let metrics = metrics();
        metrics.publish("acme", None, &snapshot());
        metrics.rebuild();
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
        // Nothing changed: a rebuild keeps the same buffer.
        metrics.rebuild();
        assert_eq!(
            metrics.scrape(true).head.as_ptr(),
            metrics.scrape(true).head.as_ptr()
        );
    }

    #[test]
    fn families_are_sorted_by_name_and_buckets_written_as_the_crate_writes_them() {
        assert!(FAMILIES.windows(2).all(|w| w[0].name < w[1].name));
        for family in &FAMILIES {
            assert!(family
                .header
                .starts_with(&format!("# HELP {} ", family.name)));
            assert!(family
                .header
                .contains(&format!("\n# TYPE {} ", family.name)));
        }
        let written: Vec<String> = LATENCY_BUCKETS.iter().map(f64::to_string).collect();
        assert_eq!(written, LATENCY_BUCKET_LABELS);
    }

    #[test]
    fn hand_written_families_match_the_prometheus_crate() {
        let account = "a\"b\\c";
        let observations = [0.01, 0.025, 0.3, 7.5, 31.0, 0.2];
        let expected = Histogram::with_opts(
            HistogramOpts::new(
                FAMILIES[DURATION].name,
                "Duration of SmartLead API requests, from sending to the last body byte. \
                 Observed once per poll, not at scrape time.",
            )
            .const_label("account", account)
            .const_label("api_endpoint", ENDPOINT)
            .buckets(LATENCY_BUCKETS.to_vec()),
        )
        .unwrap();
        let requests = IntCounterVec::new(
            Opts::new(
                FAMILIES[REQUESTS].name,
                "SmartLead API responses received, by HTTP status code. Counted once per poll.",
            )
            .const_label("account", account)
            .const_label("api_endpoint", ENDPOINT),
            &["code"],
        )
        .unwrap();
        let mut series = AccountSeries::new();
        for code in PREINITIALISED_CODES {
            requests.with_label_values(&[&code.to_string()]);
        }
        for (seconds, code) in observations.into_iter().zip([500, 200, 429, 200, 100, 503]) {
            expected.observe(seconds);
            requests.with_label_values(&[&code.to_string()]).inc();
            series.record(&Attempt {
                exchange: Exchange {
                    status: Some(code),
                    elapsed: Some(Duration::from_secs_f64(seconds)),
                    ..Exchange::default()
                },
                failure: None,
            });
        }
        let fragments = series.encode(account, &Snapshot::default());
        for (index, collector) in [
            (DURATION, Box::new(expected) as Box<dyn Collector>),
            (REQUESTS, Box::new(requests)),
        ] {
            // As the registry gathered them before: series sorted by label values.
            let registry = Registry::new();
            registry.register(collector).unwrap();
            let text = encode(&registry.gather());
            let mine = format!("{}{}", FAMILIES[index].header, fragments.body(index));
            assert_eq!(mine, text);
        }
    }
}
