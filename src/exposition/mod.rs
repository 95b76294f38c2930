//! The exposition served on the telemetry path: built from the state ([`crate::state`]) family
//! by family ([`families`]), compressed straight into gzip, which Prometheus always asks for,
//! and cached until something changes, so that a scrape never encodes.
//!
//! The [`Encoder`] runs on the polling runtime: it rebuilds when the store changes, spaced so
//! that building takes at most a hundredth of its time ([`ENCODER_DUTY`]), and refreshes the
//! `process_*` metrics at most once per [`PROCESS_METRICS_MAX_AGE`] while scrapes come. What
//! it made is swapped in whole; a scrape loads it and clones two buffers ([`Scrape`]), taking
//! no lock and doing no I/O. The gzip answer is one gzip member made of the two parts' deflate
//! streams (`gzip`). A plain scrape inflates the text once per build.
//!
//! Design notes: `docs/design.md#the-exposition`.

mod build;
mod families;
mod gzip;
mod samples;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use prometheus::{Registry, TextEncoder};
use tokio::sync::Notify;
use tracing::error;

use self::build::{build, Built};
use self::gzip::gzip_tail;
use crate::shutdown::Shutdown;
use crate::state::Store;

/// The media type of the exposition, its `Content-Type` (text format 0.0.4).
pub(crate) const MEDIA_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `process_*` metrics are gathered at most this often, and only while scrapes come.
pub(crate) const PROCESS_METRICS_MAX_AGE: Duration = Duration::from_secs(1);

/// The `process_*` metrics are kept fresh while the latest scrape is at most this old: longer
/// than any usual scrape interval, so that every scrape of a steady scraper finds them fresh;
/// without scrapers, nothing wakes the encoder.
pub(crate) const PROCESS_SCRAPED_WINDOW: Duration = Duration::from_secs(150);

/// The encoder spends at most one part in this many of its time building: after a build that
/// took `t`, the next waits `t × (ENCODER_DUTY - 1)`. Many accounts publishing several times a
/// second are then served about once a second, the freshness of `process_*`, far more often
/// than Prometheus scrapes, while a build of one account's few kilobytes waits milliseconds
/// (docs/design.md#the-exposition).
pub(crate) const ENCODER_DUTY: u32 = 100;

/// However long builds take, a change waits at most this long to be served.
pub(crate) const MAX_REBUILD_DELAY: Duration = Duration::from_secs(1);

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

/// The process collector could not be registered (a programming error, caught at start-up).
#[derive(Debug, thiserror::Error)]
#[error("cannot register the process metrics: {0}")]
pub struct ExpositionError(#[from] prometheus::Error);

/// One scrape's answer: two buffers to send back to back, each a reference-counted clone.
///
/// Plain: the per-build text, then the `process_*` text. Gzip: the start of the gzip member
/// (header and the per-build part's deflate stream), then its end (the `process_*` part's
/// deflate stream and the trailer). Either way the concatenation is the whole answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scrape {
    /// Made once per build.
    pub head: Bytes,
    /// Made at most once per [`PROCESS_METRICS_MAX_AGE`] (gzip: and per build).
    pub tail: Bytes,
}

impl Scrape {
    /// The length of the whole answer, for `Content-Length`.
    pub(crate) fn len(&self) -> usize {
        self.head.len() + self.tail.len()
    }

    /// The whole answer in one buffer (a copy), for `--once` and tests.
    pub fn to_bytes(&self) -> Bytes {
        let mut whole = Vec::with_capacity(self.len());
        whole.extend_from_slice(&self.head);
        whole.extend_from_slice(&self.tail);
        whole.into()
    }
}

/// What scrapes serve, swapped in whole.
struct Served {
    /// The per-build part.
    built: Arc<Built>,
    /// The `process_*` text.
    process: Bytes,
    /// The `process_*` part deflated, and the trailer for `built`'s head.
    gzip_tail: Bytes,
    /// When the `process_*` part was gathered.
    process_at: Instant,
}

/// Builds and serves the exposition.
pub struct Encoder {
    /// Where the state comes from.
    store: Arc<Store>,
    /// For `smartlead_exporter_build_info`.
    build: BuildInfo,
    /// Only the process collector.
    process: Registry,
    /// What scrapes serve.
    served: ArcSwap<Served>,
    /// Set by scrapes, taken by the encoder: whether a scrape came since the last look.
    scraped: AtomicBool,
    /// Wakes the encoder when a scrape finds the `process_*` part old.
    wake: Notify,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder").finish_non_exhaustive()
    }
}

impl Encoder {
    /// An encoder of `store`, with a first build made at once.
    ///
    /// # Errors
    /// [`ExpositionError`] when the process collector cannot be registered.
    pub fn new(store: Arc<Store>, build: BuildInfo) -> Result<Self, ExpositionError> {
        let process = Registry::new();
        process.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let generation = store.generation();
        let built = self::build::build(generation, &store.accounts(), &store.exporter(), &build);
        let served = served(Arc::new(built), &process);
        Ok(Self {
            store,
            build,
            process,
            served: ArcSwap::from_pointee(served),
            scraped: AtomicBool::new(false),
            wake: Notify::new(),
        })
    }

    /// What a scrape serves, gzip-compressed when `gzip` is set: two buffer clones. A plain
    /// scrape inflates the per-build text the first time after a build.
    pub fn scrape(&self, gzip: bool) -> Scrape {
        let served = self.served.load();
        if !self.scraped.swap(true, Ordering::AcqRel)
            && served.process_at.elapsed() >= PROCESS_METRICS_MAX_AGE
        {
            self.wake.notify_one();
        }
        if gzip {
            Scrape {
                head: served.built.gzip_head.clone(),
                tail: served.gzip_tail.clone(),
            }
        } else {
            Scrape {
                head: served.built.plain(),
                tail: served.process.clone(),
            }
        }
    }

    /// Whether `/metrics` serves a finished poll of every account of a loaded configuration.
    pub fn ready(&self) -> bool {
        self.served.load().built.ready
    }

    /// Builds now if the state changed since the last build, and gathers `process_*` anew.
    /// The encoder's loop calls it; `--once` and tests call it directly.
    pub fn rebuild(&self) -> Duration {
        let started = Instant::now();
        let generation = self.store.generation();
        let current = self.served.load();
        let built = if generation == current.built.generation {
            Arc::clone(&current.built)
        } else {
            let accounts = self.store.accounts();
            let exporter = self.store.exporter();
            Arc::new(build(generation, &accounts, &exporter, &self.build))
        };
        self.serve(built);
        started.elapsed()
    }

    /// The whole exposition in one buffer, gzip-compressed when `gzip` is set, after a
    /// rebuild: what a scrape serves, copied together (for `--once` and tests).
    pub fn exposition(&self, gzip: bool) -> Bytes {
        self.rebuild();
        self.scrape(gzip).to_bytes()
    }

    /// Rebuilds whenever the state changes, spaced by [`ENCODER_DUTY`], and keeps the
    /// `process_*` part fresh while scrapes come, until shutdown.
    pub async fn run(self: Arc<Self>, mut shutdown: Shutdown) {
        let mut changes = self.store.subscribe();
        let mut spacing = Spacing::default();
        let mut last_scrape: Option<Instant> = None;
        loop {
            if self.scraped.swap(false, Ordering::AcqRel) {
                last_scrape = Some(Instant::now());
            }
            let built = self.served.load().built.generation;
            if *changes.borrow_and_update() == built {
                // Nothing to build: wait for a change, or for the process part to age while
                // scrapes come.
                let refresh = last_scrape
                    .filter(|at| at.elapsed() < PROCESS_SCRAPED_WINDOW)
                    .map(|_| self.served.load().process_at + PROCESS_METRICS_MAX_AGE);
                tokio::select! {
                    changed = changes.changed() => {
                        if changed.is_err() {
                            return;
                        }
                    }
                    () = self.wake.notified() => self.refresh_process(),
                    () = sleep_until(refresh) => self.refresh_process(),
                    () = shutdown.requested() => return,
                }
                continue;
            }
            if let Some(wait) = spacing.pause() {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = shutdown.requested() => return,
                }
            }
            let started = Instant::now();
            let took = self.rebuild();
            spacing.built(started, took);
        }
    }

    /// Gathers `process_*` anew, keeping the per-build part.
    fn refresh_process(&self) {
        self.serve(Arc::clone(&self.served.load().built));
    }

    /// Serves `built` with a fresh gathering of `process_*`, then returns the memory the
    /// building and compressing freed to the system (the compressor's working memory, freed on
    /// this thread, would otherwise stay resident here).
    fn serve(&self, built: Arc<Built>) {
        self.served.store(Arc::new(served(built, &self.process)));
        crate::allocator::release_free_memory();
    }
}

/// Spaces rebuilds so that building takes at most one part in [`ENCODER_DUTY`] of the time:
/// after a build that took `t`, the next waits `t × (ENCODER_DUTY - 1)`, at most
/// [`MAX_REBUILD_DELAY`].
#[derive(Debug, Default)]
pub(crate) struct Spacing {
    /// When the last build started and how long it took.
    last: Option<(Instant, Duration)>,
}

impl Spacing {
    /// How long to wait before the next build, if at all.
    pub(crate) fn pause(&self) -> Option<Duration> {
        let (at, took) = self.last?;
        let pause = took.saturating_mul(ENCODER_DUTY - 1).min(MAX_REBUILD_DELAY);
        pause.checked_sub(at.elapsed())
    }

    /// Records a build.
    pub(crate) fn built(&mut self, started: Instant, took: Duration) {
        self.last = Some((started, took));
    }
}

/// Resolves at `at`, or never without one.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// `built` with a fresh gathering of `process_*`.
fn served(built: Arc<Built>, process: &Registry) -> Served {
    let text = Bytes::from(encode(&process.gather()));
    Served {
        gzip_tail: gzip_tail(&built, &text),
        built,
        process: text,
        process_at: Instant::now(),
    }
}

/// The text of families gathered by the `prometheus` crate.
fn encode(families: &[prometheus::proto::MetricFamily]) -> String {
    let mut text = String::new();
    if let Err(e) = TextEncoder::new().encode_utf8(families, &mut text) {
        error!(error = %e, "cannot encode metrics; serving what was encoded");
    }
    text
}

#[cfg(test)]
pub(crate) mod tests;
