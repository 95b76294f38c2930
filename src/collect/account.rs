//! What one account's collectors share: the settings in force, the key, the HTTP client, the
//! permits, the budget's pacer and plan, the store entry, and the one way a collector calls
//! SmartLead ([`AccountRun::call`]). The loop each collector runs is `collector`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;
use tracing::{info, warn};

use super::budget::{plan, Limits, Pacer, Plan};
use super::schedule::{server_wait, MAX_SERVER_WAIT};
use crate::settings::Account;
use crate::settings::Collector;
use crate::smartlead::client::{Client, ClientConfig, ClientError, FetchError, Fetched, RateLimit};
use crate::smartlead::key::ApiKey;
use crate::smartlead::Endpoint;
use crate::state::{AccountId, AccountState, Budget, Store};
use crate::sync::lock;

/// A 429 that names no time to wait holds every call of the key this long: SmartLead's
/// windows are a minute long.
pub(crate) const RATE_LIMIT_PAUSE: Duration = Duration::from_secs(60);

/// What an account's collectors share.
#[derive(Debug)]
pub(crate) struct AccountRun {
    /// The `account` label.
    pub(crate) name: String,
    /// Its entry in the store.
    pub(crate) id: AccountId,
    /// Where outcomes go.
    pub(crate) store: Arc<Store>,
    /// The HTTP client every account shares.
    http: reqwest::Client,
    /// `--poll.concurrency` permits, shared by every account: a request is only sent while
    /// holding one, so an outage with many slow accounts cannot pile up requests.
    permits: Arc<Semaphore>,
    /// The account as configured now; a reload sends a new one.
    pub(super) account: watch::Receiver<Arc<Account>>,
    /// The key last read and whether the current streak of key-file errors was logged.
    key: Mutex<(ApiKey, bool)>,
    /// When an answer last carried rate-limit headers, to withdraw them once stale.
    rate_limit_seen: Mutex<Option<Instant>>,
    /// Paces every call of the key within its budget.
    pacer: Pacer,
    /// What each collector's run costs in calls, and the intervals in force that follow.
    plan: Mutex<Planning>,
}

/// The budget's plan and what it was made from.
#[derive(Debug)]
struct Planning {
    /// Calls per run, by [`Collector::index`], as last seen.
    costs: [u64; Collector::ALL.len()],
    /// The intervals in force.
    plan: Plan,
}

impl AccountRun {
    /// The shared part of `account`'s collectors, registered in the store as `id`.
    pub(crate) fn new(
        id: AccountId,
        store: Arc<Store>,
        http: reqwest::Client,
        permits: Arc<Semaphore>,
        account: watch::Receiver<Arc<Account>>,
    ) -> Self {
        let current = Arc::clone(&account.borrow());
        let settings = &current.settings;
        let costs = [1; Collector::ALL.len()];
        let run = Self {
            name: current.name.clone(),
            id,
            store,
            http,
            permits,
            key: Mutex::new((current.initial_key.clone(), false)),
            rate_limit_seen: Mutex::new(None),
            pacer: Pacer::new(limits(settings)),
            // Planned without a budget, so that the first plan below says why it stretches.
            plan: Mutex::new(Planning {
                costs,
                plan: plan(configured(settings), costs, UNLIMITED),
            }),
            account,
        };
        run.replan(&current);
        run
    }

    /// The interval in force for `collector`: its own, or stretched to fit the budget.
    pub(crate) fn interval(&self, collector: Collector) -> Duration {
        lock(&self.plan).plan.intervals[collector.index()]
    }

    /// Records what a run of `collector` costs, in calls, and plans anew if it changed.
    pub(crate) fn set_cost(&self, collector: Collector, calls: u64, account: &Account) {
        let mut planning = lock(&self.plan);
        if planning.costs[collector.index()] == calls.max(1) {
            return;
        }
        planning.costs[collector.index()] = calls.max(1);
        drop(planning);
        self.replan(account);
    }

    /// Plans the intervals in force for `account`'s settings and the costs last seen, and
    /// publishes them; says once why when the budget stretches intervals.
    pub(crate) fn replan(&self, account: &Account) {
        let settings = &account.settings;
        let limits = limits(settings);
        self.pacer.set_limits(limits);
        let mut planning = lock(&self.plan);
        let next = plan(configured(settings), planning.costs, limits);
        let before = std::mem::replace(&mut planning.plan, next.clone());
        let costs = planning.costs;
        drop(planning);
        if next.stretched != before.stretched && !next.stretched.is_empty() {
            let stretched: Vec<String> = next
                .stretched
                .iter()
                .map(|&c| {
                    format!(
                        "{} every {}",
                        c.name(),
                        humantime::format_duration(round_seconds(next.intervals[c.index()]))
                    )
                })
                .collect();
            let wanted = plan(configured(settings), costs, UNLIMITED);
            warn!(account = %self.name, calls_per_hour = wanted.per_hour.round(),
                budget_per_minute = limits.per_minute, budget_per_hour = limits.per_hour,
                stretched = %stretched.join(", "),
                "the enabled collectors need more calls than the key's budget allows at their \
                 intervals; the least important are run less often (raise \
                 --smartlead.max-calls-per-minute/-per-hour, disable a collector or select \
                 fewer campaign statuses)");
        } else if next.stretched.is_empty() && !before.stretched.is_empty() {
            info!(account = %self.name, "the collectors fit the key's budget again");
        }
        self.update(|state| {
            for c in Collector::ALL {
                state.collector_mut(c).interval = next.intervals[c.index()];
            }
            state.budget = Some(Budget {
                per_minute: limits.per_minute,
                per_hour: limits.per_hour,
                planned_per_minute: next.per_minute,
                planned_per_hour: next.per_hour,
            });
        });
    }

    /// The account's categories, as the `categories` collector last left them.
    pub(crate) fn categories(&self) -> Option<Arc<[crate::smartlead::categories::Category]>> {
        let state = self.store.account(&self.name)?;
        state.categories.as_ref().map(|c| Arc::clone(&c.list))
    }

    /// Changes the account's state in the store (nothing once it was removed).
    pub(crate) fn update(&self, change: impl FnOnce(&mut AccountState)) {
        self.store.update(&self.name, self.id, change);
    }

    /// What a run calls SmartLead with: the account's client, per its current settings, and
    /// the key for the run.
    ///
    /// # Errors
    /// When the client cannot be built from the settings.
    pub(crate) fn connect(&self, account: &Account) -> Result<(Client, ApiKey), ClientError> {
        let settings = &account.settings;
        let client = Client::new(
            self.http.clone(),
            &ClientConfig {
                base_url: settings.base_url.clone(),
                timeout: settings.timeout,
                max_body_size: settings.max_body_size,
            },
        )?;
        Ok((client, self.key(account)))
    }

    /// The key for the next run: the file re-read, or the last key read when it cannot be
    /// (a Secret being swapped), with one warning per streak.
    fn key(&self, account: &Account) -> ApiKey {
        let mut key = lock(&self.key);
        match account.key_source.load() {
            Ok(read) => {
                if key.1 {
                    info!(account = %self.name, "the API key file is readable again");
                }
                *key = (read.clone(), false);
                read
            }
            Err(e) => {
                if !key.1 {
                    warn!(account = %self.name, error = %e,
                        "using the last key read until the key file can be read again");
                    key.1 = true;
                }
                key.0.clone()
            }
        }
    }

    /// One call of `collector` to `endpoint`: sent once the key's budget has room and while
    /// holding a permit, and counted (status, latency, failure reason, rate-limit headers)
    /// whatever its outcome. An answer that asks the key to wait (429, `Retry-After`, a spent
    /// budget) holds every collector of the key until then.
    pub(crate) async fn call<T>(
        &self,
        collector: Collector,
        endpoint: Endpoint,
        request: impl std::future::Future<Output = Result<Fetched<T>, FetchError>>,
    ) -> Result<Fetched<T>, FetchError> {
        // The budget first: waiting for it must not hold one of the permits every account
        // shares.
        self.pacer.acquire(collector).await;
        // The semaphore is never closed; were it, calling on without a permit is the safe side.
        let permit = Arc::clone(&self.permits).acquire_owned().await.ok();
        let result = request.await;
        drop(permit);
        let (exchange, failure) = match &result {
            Ok(fetched) => (&fetched.exchange, None),
            Err(e) => (&e.exchange, Some(e.reason)),
        };
        let wait = server_wait(exchange, SystemTime::now())
            .or((exchange.status == Some(429)).then_some(RATE_LIMIT_PAUSE));
        if let Some(wait) = wait {
            let wait = wait.min(MAX_SERVER_WAIT);
            self.pacer.pause_until(Instant::now() + wait);
            let until = SystemTime::now() + wait;
            self.update(|state| {
                state.paused_until = state.paused_until.max(Some(until));
            });
        }
        let seen = exchange.rate_limit;
        if seen != RateLimit::default() {
            *lock(&self.rate_limit_seen) = Some(Instant::now());
        }
        self.update(|state| {
            state.api[endpoint.index()].record(exchange, failure);
            merge_rate_limit(&mut state.rate_limit, seen);
        });
        result
    }

    /// When the rate-limit headers go stale, if any are shown.
    pub(super) fn rate_limit_deadline(&self, stale: Duration) -> Option<Instant> {
        lock(&self.rate_limit_seen).map(|seen| seen + stale)
    }

    /// Withdraws the rate-limit headers once no answer brought them for `stale`.
    pub(super) fn expire_rate_limit(&self, stale: Duration, now: Instant) {
        let mut seen = lock(&self.rate_limit_seen);
        if seen.is_some_and(|at| now >= at + stale) {
            *seen = None;
            drop(seen);
            self.update(|state| state.rate_limit = RateLimit::default());
        }
    }
}

/// A budget no plan reaches, to tell what the collectors would need unstretched.
const UNLIMITED: Limits = Limits {
    per_minute: u32::MAX,
    per_hour: u32::MAX,
};

/// The key's budget in `settings`.
fn limits(settings: &crate::settings::Settings) -> Limits {
    Limits {
        per_minute: settings.max_calls_per_minute,
        per_hour: settings.max_calls_per_hour,
    }
}

/// Each collector's configured interval, `None` when disabled.
fn configured(settings: &crate::settings::Settings) -> [Option<Duration>; Collector::ALL.len()] {
    Collector::ALL.map(|c| {
        let own = settings.collector(c);
        own.enabled.then_some(own.interval)
    })
}

/// `duration` to the second, for messages.
fn round_seconds(duration: Duration) -> Duration {
    Duration::from_secs(duration.as_secs_f64().round() as u64)
}

/// Keeps the latest known value of each rate-limit header; answers without them change nothing.
fn merge_rate_limit(known: &mut RateLimit, seen: RateLimit) {
    known.limit = seen.limit.or(known.limit);
    known.remaining = seen.remaining.or(known.remaining);
    known.reset = seen.reset.or(known.reset);
}
