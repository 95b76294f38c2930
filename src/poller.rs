//! The schedule: one SmartLead call per interval, whatever the number of scrapers; exponential
//! backoff with jitter on consecutive failures; `Retry-After` and `X-RateLimit-Reset` honoured;
//! categories withdrawn once stale. Each poll produces a new [`Snapshot`], handed to a publish
//! callback (the metrics, in the binary), so the poller knows nothing of what consumes it.
//!
//! Failures are logged once per streak (again only when their kind changes), so a key that
//! stays invalid for a day writes one error line, not 1,440.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::Semaphore;

use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::shutdown::Shutdown;
use crate::smartlead::categories::Catalog;
use crate::smartlead::client::{Client, FailureReason, FetchError, Fetched, RateLimit};
use crate::smartlead::key::{ApiKey, KeySource};
use crate::snapshot::{Attempt, Categories, Snapshot};

/// A server-imposed wait (`Retry-After`, `X-RateLimit-Reset`) is honoured up to this long; a
/// longer one is taken as a mistake that would otherwise stop the exporter for good.
pub const MAX_SERVER_WAIT: Duration = Duration::from_secs(60 * 60);

/// Backoff delays are shortened by a random fraction up to this, so that many exporters
/// sharing a key do not retry in step.
pub const BACKOFF_JITTER: f64 = 0.2;

/// At most this many distinct unrecognised sentiments are remembered for warn-once.
pub const MAX_WARNED_SENTIMENTS: usize = 64;

/// What the poller needs from the configuration.
#[derive(Debug, Clone)]
pub struct PollerConfig {
    /// The `account` label, for log lines.
    pub account: String,
    /// Time between poll starts while polls succeed.
    pub interval: Duration,
    /// The longest delay that backoff reaches.
    pub max_backoff: Duration,
    /// Categories are withdrawn this long after the last success.
    pub stale_after: Duration,
    /// Ids up to this are global categories.
    pub global_max_id: u64,
    /// Shared by every account's poller: a request is only sent while holding a permit
    /// (`--poll.concurrency`), so an outage with many slow accounts cannot pile up requests.
    pub permits: Arc<Semaphore>,
}

/// The kind of a failure, to log each streak once.
type FailureKind = (FailureReason, Option<u16>);

/// Polls SmartLead and keeps the current [`Snapshot`].
#[derive(Debug)]
pub struct Poller {
    /// The HTTP client, with its deadline and body cap.
    client: Client,
    /// Where the key comes from; a file is re-read before every poll.
    key_source: KeySource,
    /// The last key read successfully, used when a re-read fails (a Secret being swapped).
    last_key: ApiKey,
    /// Whether the current streak of key-file errors was logged.
    key_error_logged: bool,
    /// Interval, backoff and staleness settings.
    config: PollerConfig,
    /// The state published after every poll.
    snapshot: Snapshot,
    /// When the last success happened, on the monotonic clock, for staleness.
    last_success_at: Option<Instant>,
    /// The kind of the current failure streak, if it was logged.
    streak: Option<FailureKind>,
    /// Unrecognised sentiments already warned about.
    warned_sentiments: HashSet<String>,
    /// Whether duplicate ids or unreadable timestamps were warned about (once per process).
    warned_duplicates: bool,
    /// See `warned_duplicates`.
    warned_timestamps: bool,
    /// See `warned_duplicates`: names cut or unreadable.
    warned_names: bool,
    /// See `warned_duplicates`: elements that are no category.
    warned_dropped: bool,
}

impl Poller {
    /// A poller that will use `initial_key` until (and whenever) the source cannot be read.
    pub fn new(
        client: Client,
        key_source: KeySource,
        initial_key: ApiKey,
        config: PollerConfig,
    ) -> Self {
        let interval = config.interval;
        Self {
            client,
            key_source,
            last_key: initial_key,
            key_error_logged: false,
            config,
            snapshot: Snapshot {
                interval,
                ..Snapshot::default()
            },
            last_success_at: None,
            streak: None,
            warned_sentiments: HashSet::new(),
            warned_duplicates: false,
            warned_timestamps: false,
            warned_names: false,
            warned_dropped: false,
        }
    }

    /// The state before the first poll, when it is due at `first`: published at once, so
    /// that the account is listed (and not ready) from the start.
    pub fn waiting(&mut self, first: Instant) -> &Snapshot {
        self.snapshot.next_poll =
            Some(SystemTime::now() + first.saturating_duration_since(Instant::now()));
        &self.snapshot
    }

    /// The state after the latest poll.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Polls at `first` (at once when it has passed), then on schedule, until shutdown. After
    /// every attempt `publish` gets the attempt and the new snapshot; when data goes stale
    /// between polls it gets `None` and the snapshot without categories.
    pub async fn run<F>(mut self, first: Instant, mut publish: F, mut shutdown: Shutdown)
    where
        F: FnMut(Option<&Attempt>, &Snapshot),
    {
        tokio::select! {
            () = tokio::time::sleep_until(first) => {}
            () = shutdown.requested() => return,
        }
        loop {
            let started = Instant::now();
            let attempt = tokio::select! {
                attempt = self.poll_once() => attempt,
                () = shutdown.requested() => return,
            };
            let delay = self.next_delay(&attempt, SystemTime::now(), fastrand::f64());
            let next = started + delay;
            self.snapshot.next_poll =
                Some(SystemTime::now() + next.saturating_duration_since(Instant::now()));
            publish(Some(&attempt), &self.snapshot);
            loop {
                let wake = match self.stale_deadline() {
                    Some(stale) if stale < next => stale,
                    _ => next,
                };
                tokio::select! {
                    () = tokio::time::sleep_until(wake) => {}
                    () = shutdown.requested() => return,
                }
                if self.expire_if_stale(Instant::now()) {
                    publish(None, &self.snapshot);
                }
                if Instant::now() >= next {
                    break;
                }
            }
        }
    }

    /// One poll: read the key, call SmartLead, update the snapshot, log what changed.
    pub async fn poll_once(&mut self) -> Attempt {
        let key = self.current_key();
        // The semaphore is never closed; were it, polling on without a permit is the safe side.
        let permit = Arc::clone(&self.config.permits).acquire_owned().await.ok();
        let result = self.client.fetch_categories(&key).await;
        drop(permit);
        let now = SystemTime::now();
        self.snapshot.attempts += 1;
        match result {
            Ok(fetched) => self.succeeded(fetched, now),
            Err(failure) => self.failed(failure),
        }
    }

    fn current_key(&mut self) -> ApiKey {
        match self.key_source.load() {
            Ok(key) => {
                if self.key_error_logged {
                    info!(account = %self.config.account, "the API key file is readable again");
                    self.key_error_logged = false;
                }
                self.last_key = key.clone();
                key
            }
            Err(e) => {
                if !self.key_error_logged {
                    warn!(account = %self.config.account, error = %e,
                        "using the last key read until the key file can be read again");
                    self.key_error_logged = true;
                }
                self.last_key.clone()
            }
        }
    }

    fn succeeded(&mut self, fetched: Fetched<Catalog>, now: SystemTime) -> Attempt {
        let Fetched {
            data: catalog,
            exchange,
        } = fetched;
        if self.streak.take().is_some() || self.snapshot.consecutive_failures > 0 {
            info!(account = %self.config.account,
                failed_polls = self.snapshot.consecutive_failures,
                "SmartLead answers again");
        }
        self.warn_about_oddities(&catalog);
        debug!(account = %self.config.account, categories = catalog.categories.len(),
            elapsed_ms = exchange.elapsed.map(|e| e.as_millis()), "poll succeeded");
        let snapshot = &mut self.snapshot;
        snapshot.categories = Some(Categories {
            list: catalog.categories.into(),
            global_max_id: self.config.global_max_id,
        });
        snapshot.up = true;
        snapshot.last_success = Some(now);
        snapshot.last_error = None;
        snapshot.consecutive_failures = 0;
        snapshot.last_duration = exchange.elapsed;
        merge_rate_limit(&mut snapshot.rate_limit, exchange.rate_limit);
        self.last_success_at = Some(Instant::now());
        Attempt {
            exchange,
            failure: None,
        }
    }

    fn failed(&mut self, failure: FetchError) -> Attempt {
        let FetchError {
            reason,
            message,
            exchange,
        } = failure;
        let snapshot = &mut self.snapshot;
        snapshot.up = false;
        snapshot.consecutive_failures = snapshot.consecutive_failures.saturating_add(1);
        snapshot.last_duration = exchange.elapsed;
        merge_rate_limit(&mut snapshot.rate_limit, exchange.rate_limit);
        let kind = (reason, exchange.status);
        let account = &self.config.account;
        let failures = snapshot.consecutive_failures;
        if self.streak == Some(kind) {
            debug!(%account, reason = reason.as_str(), status = exchange.status,
                consecutive_failures = failures, error = %message, "poll failed again");
        } else if matches!(exchange.status, Some(401 | 403)) || reason == FailureReason::Decode {
            error!(%account, reason = reason.as_str(), status = exchange.status,
                consecutive_failures = failures, error = %message, "poll failed");
        } else {
            warn!(%account, reason = reason.as_str(), status = exchange.status,
                consecutive_failures = failures, error = %message, "poll failed");
        }
        self.streak = Some(kind);
        snapshot.last_error = Some(message);
        Attempt {
            exchange,
            failure: Some(reason),
        }
    }

    fn warn_about_oddities(&mut self, catalog: &crate::smartlead::model::Catalog) {
        let account = &self.config.account;
        for value in &catalog.unknown_sentiments {
            if self.warned_sentiments.len() >= MAX_WARNED_SENTIMENTS {
                break;
            }
            if self.warned_sentiments.insert(value.clone()) {
                warn!(%account, sentiment_type = %value,
                    "unrecognised sentiment_type, counted as sentiment=\"other\"");
            }
        }
        if catalog.duplicates > 0 && !self.warned_duplicates {
            self.warned_duplicates = true;
            warn!(%account, duplicates = catalog.duplicates,
                "SmartLead listed some category ids more than once; each id counts once");
        }
        if catalog.unreadable_timestamps > 0 && !self.warned_timestamps {
            self.warned_timestamps = true;
            warn!(%account, categories = catalog.unreadable_timestamps,
                "some created_at values are not RFC 3339 timestamps; their \
                 smartlead_category_created_timestamp_seconds series are left out");
        }
        if catalog.truncated_names + catalog.unreadable_names > 0 && !self.warned_names {
            self.warned_names = true;
            warn!(%account, cut = catalog.truncated_names, unreadable = catalog.unreadable_names,
                max_bytes = crate::smartlead::model::MAX_CATEGORY_NAME_BYTES,
                "some category names are longer than the limit and were cut, or are not text \
                 and were left empty");
        }
        if catalog.dropped > 0 && !self.warned_dropped {
            self.warned_dropped = true;
            warn!(%account, dropped = catalog.dropped,
                first = catalog.drop_reason.as_deref().unwrap_or("unknown"),
                "some elements of SmartLead's list are not categories and were left out");
        }
    }

    /// The delay from this poll's start to the next one's: never below the interval, never
    /// above the longest of the interval, `max_backoff` and [`MAX_SERVER_WAIT`], whatever the
    /// headers said.
    ///
    /// `unit` is a random number in `[0, 1)` for the jitter, passed in so that tests can fix it.
    pub fn next_delay(&self, attempt: &Attempt, now: SystemTime, unit: f64) -> Duration {
        let interval = self.config.interval;
        let mut delay = match attempt.failure {
            None => interval,
            Some(_) => backoff(
                interval,
                self.config.max_backoff,
                self.snapshot.consecutive_failures,
                unit,
            ),
        };
        let limits = &attempt.exchange.rate_limit;
        let mut not_before = attempt.exchange.retry_after;
        if attempt.exchange.status == Some(429) || limits.remaining == Some(0) {
            not_before = not_before.max(limits.reset);
        }
        if let Some(at) = not_before {
            let wait = at.duration_since(now).unwrap_or_default();
            if wait > MAX_SERVER_WAIT {
                warn!(account = %self.config.account, wait = %humantime::format_duration(wait),
                    "SmartLead asked to wait longer than {}; waiting that long instead",
                    humantime::format_duration(MAX_SERVER_WAIT));
            }
            delay = delay.max(wait.min(MAX_SERVER_WAIT));
        }
        delay
    }

    fn stale_deadline(&self) -> Option<Instant> {
        self.snapshot.categories.as_ref()?;
        Some(self.last_success_at? + self.config.stale_after)
    }

    /// Withdraws the categories once stale; returns whether it did.
    fn expire_if_stale(&mut self, now: Instant) -> bool {
        match self.stale_deadline() {
            Some(deadline) if now >= deadline => {
                warn!(account = %self.config.account,
                    stale_after = %humantime::format_duration(self.config.stale_after),
                    "no successful poll for --metrics.stale-after; category series withdrawn");
                self.snapshot.categories = None;
                // The budget seen then is as old as the categories: withdrawn with them.
                self.snapshot.rate_limit = RateLimit::default();
                true
            }
            _ => false,
        }
    }
}

/// Keeps the latest known value of each rate-limit header; answers without them change nothing.
fn merge_rate_limit(known: &mut RateLimit, seen: RateLimit) {
    known.limit = seen.limit.or(known.limit);
    known.remaining = seen.remaining.or(known.remaining);
    known.reset = seen.reset.or(known.reset);
}

/// Exponential backoff: the interval after the first failure, doubling per further failure up
/// to `max`, shortened by up to [`BACKOFF_JITTER`] (`unit` in `[0, 1)`; anything else counts
/// as 0), never below the interval. Saturates: no input makes it panic.
pub fn backoff(interval: Duration, max: Duration, failures: u32, unit: f64) -> Duration {
    if failures == 0 {
        return interval;
    }
    let doublings = (failures - 1).min(31);
    let grown = interval.saturating_mul(1u32 << doublings).min(max);
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        0.0
    };
    // A factor in [0.8, 1] cannot overflow; the float's rounding can exceed `grown` a little.
    let jittered = grown.mul_f64(1.0 - BACKOFF_JITTER * unit).min(grown);
    jittered.max(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn backoff_doubles_from_the_interval_up_to_the_cap() {
        let max = Duration::from_secs(600);
        let delays: Vec<u64> = (0..8)
            .map(|n| backoff(MIN, max, n, 0.0).as_secs())
            .collect();
        assert_eq!(delays, [60, 60, 120, 240, 480, 600, 600, 600]);
        assert_eq!(backoff(MIN, max, u32::MAX, 0.0), max);
    }

    fn poller(failures: u32) -> Poller {
        poller_with(MIN, Duration::from_secs(600), failures)
    }

    fn poller_with(interval: Duration, max_backoff: Duration, failures: u32) -> Poller {
        let http = crate::smartlead::client::http_client(&Default::default()).unwrap();
        let client = Client::new(
            http,
            &crate::smartlead::client::ClientConfig {
                base_url: "http://127.0.0.1:9/api/v1".parse().unwrap(),
                timeout: Duration::from_secs(1),
                max_body_size: 1024,
            },
        )
        .unwrap();
        let key = ApiKey::new("k").unwrap();
        let mut poller = Poller::new(
            client,
            KeySource::Fixed(key.clone()),
            key,
            PollerConfig {
                account: "a".into(),
                interval,
                max_backoff,
                stale_after: Duration::from_secs(300),
                global_max_id: 99,
                permits: Arc::new(Semaphore::new(1)),
            },
        );
        poller.snapshot.consecutive_failures = failures;
        poller
    }

    fn attempt(status: u16, failure: Option<FailureReason>) -> Attempt {
        Attempt {
            exchange: crate::smartlead::client::Exchange {
                status: Some(status),
                ..Default::default()
            },
            failure,
        }
    }

    #[test]
    fn server_waits_set_the_next_poll_and_are_capped() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let at = |secs| Some(now + Duration::from_secs(secs));

        // Success: the interval.
        assert_eq!(poller(0).next_delay(&attempt(200, None), now, 0.0), MIN);

        // 429 with Retry-After 5 minutes, after the first failure.
        let mut limited = attempt(429, Some(FailureReason::Status));
        limited.exchange.retry_after = at(300);
        assert_eq!(
            poller(1).next_delay(&limited, now, 0.0),
            Duration::from_secs(300)
        );

        // A reset later than Retry-After wins on a 429.
        limited.exchange.rate_limit.reset = at(420);
        assert_eq!(
            poller(1).next_delay(&limited, now, 0.0),
            Duration::from_secs(420)
        );

        // Backoff longer than the server's wait wins.
        assert_eq!(
            poller(5).next_delay(&limited, now, 0.0),
            Duration::from_secs(600)
        );

        // A wait of two days is capped at MAX_SERVER_WAIT.
        limited.exchange.retry_after = at(2 * 86_400);
        assert_eq!(poller(1).next_delay(&limited, now, 0.0), MAX_SERVER_WAIT);

        // A success that spent the budget waits for the reset; one that did not, does not.
        let mut spent = attempt(200, None);
        spent.exchange.rate_limit.remaining = Some(0);
        spent.exchange.rate_limit.reset = at(90);
        assert_eq!(
            poller(0).next_delay(&spent, now, 0.0),
            Duration::from_secs(90)
        );
        spent.exchange.rate_limit.remaining = Some(3);
        assert_eq!(poller(0).next_delay(&spent, now, 0.0), MIN);

        // A Retry-After in the past changes nothing.
        let mut past = attempt(503, Some(FailureReason::Status));
        past.exchange.retry_after = Some(now - Duration::from_secs(10));
        assert_eq!(poller(1).next_delay(&past, now, 0.0), MIN);
    }

    #[test]
    fn backoff_jitter_shortens_but_never_below_the_interval() {
        let max = Duration::from_secs(600);
        assert_eq!(backoff(MIN, max, 4, 1.0), Duration::from_secs(384));
        assert_eq!(backoff(MIN, max, 1, 1.0), MIN);
        assert_eq!(backoff(MIN, max, 6, 0.5), Duration::from_secs(540));
    }

    #[test]
    fn backoff_survives_any_input() {
        let max = Duration::MAX;
        assert_eq!(backoff(Duration::MAX, max, u32::MAX, 0.5), Duration::MAX);
        assert_eq!(backoff(MIN, max, 3, f64::NAN), Duration::from_secs(240));
        assert_eq!(
            backoff(MIN, max, 3, f64::INFINITY),
            Duration::from_secs(240)
        );
        assert_eq!(backoff(MIN, max, 3, -7.0), Duration::from_secs(240));
    }

    #[test]
    fn a_far_future_reset_waits_the_cap() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut spent = attempt(200, None);
        spent.exchange.rate_limit.remaining = Some(0);
        spent.exchange.rate_limit.reset = Some(now + crate::smartlead::client::FAR_FUTURE);
        assert_eq!(poller(0).next_delay(&spent, now, 0.0), MAX_SERVER_WAIT);
        let mut limited = attempt(429, Some(FailureReason::Status));
        limited.exchange.retry_after = Some(now + crate::smartlead::client::FAR_FUTURE);
        assert_eq!(
            poller(u32::MAX).next_delay(&limited, now, 0.99),
            MAX_SERVER_WAIT
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Any time the clock can hold, around the epoch or far from it.
        fn time() -> impl Strategy<Value = Option<SystemTime>> {
            proptest::option::of(prop_oneof![
                any::<u64>()
                    .prop_map(|s| SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(s))),
                any::<u64>()
                    .prop_map(|s| SystemTime::UNIX_EPOCH.checked_sub(Duration::from_secs(s))),
                (0u64..10_000_000)
                    .prop_map(|s| SystemTime::UNIX_EPOCH
                        .checked_add(Duration::from_secs(1_800_000_000 + s))),
            ])
            .prop_map(Option::flatten)
        }

        proptest! {
            #[test]
            fn next_delay_stays_within_bounds(
                interval in 1u64..100_000,
                max_backoff in any::<u64>(),
                failures in any::<u32>(),
                unit in any::<f64>(),
                status in proptest::option::of(100u16..600),
                failed in any::<bool>(),
                remaining in proptest::option::of(0u64..3),
                retry_after in time(),
                reset in time(),
                now_offset in any::<i64>(),
            ) {
                let interval = Duration::from_secs(interval);
                let max_backoff = Duration::from_millis(max_backoff);
                let poller = poller_with(interval, max_backoff, failures);
                let now = if now_offset >= 0 {
                    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(now_offset.unsigned_abs()))
                } else {
                    SystemTime::UNIX_EPOCH.checked_sub(Duration::from_secs(now_offset.unsigned_abs()))
                }
                .unwrap_or(SystemTime::UNIX_EPOCH);
                let attempt = Attempt {
                    exchange: crate::smartlead::client::Exchange {
                        status,
                        elapsed: None,
                        rate_limit: RateLimit { limit: None, remaining, reset },
                        retry_after,
                    },
                    failure: failed.then_some(FailureReason::Status),
                };
                let delay = poller.next_delay(&attempt, now, unit);
                prop_assert!(delay >= interval, "{:?} < {:?}", delay, interval);
                prop_assert!(
                    delay <= interval.max(max_backoff).max(MAX_SERVER_WAIT),
                    "{:?}", delay
                );
            }

            #[test]
            fn backoff_stays_within_bounds(
                interval in any::<u64>(),
                max in any::<u64>(),
                failures in any::<u32>(),
                unit in any::<f64>(),
            ) {
                let interval = Duration::from_millis(interval);
                let max = Duration::from_millis(max);
                let delay = backoff(interval, max, failures, unit);
                prop_assert!(delay >= interval);
                prop_assert!(delay <= interval.max(max));
            }
        }
    }
}
