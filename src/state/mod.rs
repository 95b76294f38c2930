//! Every account's latest knowledge as the collectors left it, and the exporter's own facts:
//! the one place domain state lives.
//!
//! Collectors write through [`Store::update`]; the exposition and the landing page read whole,
//! immutable [`AccountState`]s through [`Store::accounts`], and nothing reads state back out of
//! the exposition. An update replaces the account's state whole: the state is cloned on write
//! (its large parts, such as the category list, are shared `Arc`s), so a reader holds a
//! consistent view without holding the lock. Every change bumps the generation, which readers
//! (the encoder, the landing page) follow through [`Store::subscribe`].
//!
//! Removal wins: the supervisor registers an account and gets an [`AccountId`]; updates name
//! it, and an update for an account that was removed meanwhile (or removed and added again) is
//! dropped, so a poll that ends after its account left can never bring it back.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::settings::Collector;
use crate::smartlead::client::RateLimit;
use crate::smartlead::mailboxes::Mailbox;
use crate::smartlead::Endpoint;
use crate::sync::lock;

mod counters;
mod data;

#[cfg(test)]
pub(crate) use counters::PREINITIALISED_CODES;
pub(crate) use counters::{EndpointCounters, LATENCY_BUCKETS};
pub use data::Categories;
pub(crate) use data::{status_counts, Budget, CampaignEntry, ReplyCount};

/// Names an account in the store, for as long as it stays registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountId(u64);

/// The store.
#[derive(Debug)]
pub struct Store {
    /// Accounts by name, each with the id it was registered under.
    accounts: Mutex<BTreeMap<String, (AccountId, Arc<AccountState>)>>,
    /// The exporter's own facts.
    exporter: Mutex<Arc<ExporterState>>,
    /// The next [`AccountId`].
    next_id: AtomicU64,
    /// The generation, bumped on every change; readers subscribe to it.
    generation: watch::Sender<u64>,
}

/// The exporter's own facts, for `smartlead_exporter_*`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExporterState {
    /// Whether the latest load of the configuration succeeded.
    pub reload_ok: bool,
    /// When the configuration last loaded successfully.
    pub reload_time: SystemTime,
    /// This process's shard and how many accounts it polls, once known.
    pub shard: Option<ShardState>,
    /// Whether the configuration has been loaded and its accounts registered: before that,
    /// an empty store does not mean "no accounts".
    pub configured: bool,
}

/// `smartlead_exporter_shard_accounts{shard,total_shards}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardState {
    /// `--shard`.
    pub index: u32,
    /// `--total-shards`.
    pub total: u32,
    /// Accounts this process polls.
    pub accounts: usize,
}

/// What the exporter knows of one account.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountState {
    /// The `account` label.
    pub name: String,
    /// Each collector's schedule and latest outcome, by [`Collector::index`].
    pub collectors: [CollectorState; Collector::ALL.len()],
    /// Counters of the calls to each endpoint, by [`Endpoint::index`].
    pub api: [EndpointCounters; Endpoint::ALL.len()],
    /// The latest rate-limit headers seen, kept across answers without them; cleared when
    /// no answer brought them for `--metrics.stale-after`.
    pub rate_limit: RateLimit,
    /// The categories of the latest successful poll; `None` before it and once stale.
    pub categories: Option<Categories>,
    /// Replies by category over the last 30 days; `None` before the first success and once
    /// stale.
    pub replies: Option<Arc<[ReplyCount]>>,
    /// Every campaign of SmartLead's list, in its order; `None` before the first success and
    /// once stale.
    pub campaigns: Option<Arc<[CampaignEntry]>>,
    /// Every mailbox, by id; `None` before the first complete listing and once stale.
    pub mailboxes: Option<Arc<[Mailbox]>>,
    /// The key's budget and the calls planned within it.
    pub budget: Option<Budget>,
    /// Until when SmartLead asked the key to wait (a 429, `Retry-After`, a spent budget): no
    /// collector calls before then.
    pub paused_until: Option<SystemTime>,
}

/// One collector of one account.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CollectorState {
    /// Whether it runs.
    pub enabled: bool,
    /// The time between runs while they succeed, as in force.
    pub interval: Duration,
    /// Runs attempted.
    pub attempts: u64,
    /// Whether the latest attempt succeeded.
    pub success: bool,
    /// When the latest successful run ended.
    pub last_success: Option<SystemTime>,
    /// How long the latest run took, all its calls together.
    pub last_duration: Option<Duration>,
    /// Failed runs since the latest success; drives the backoff.
    pub consecutive_failures: u32,
    /// What went wrong in the latest run, in words, without secrets.
    pub last_error: Option<String>,
    /// When the next run is due.
    pub next_run: Option<SystemTime>,
}

impl AccountState {
    /// An account that has not been polled yet.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            collectors: Default::default(),
            api: Default::default(),
            rate_limit: RateLimit::default(),
            categories: None,
            replies: None,
            campaigns: None,
            mailboxes: None,
            budget: None,
            paused_until: None,
        }
    }

    /// One collector's state.
    pub fn collector(&self, collector: Collector) -> &CollectorState {
        &self.collectors[collector.index()]
    }

    /// One collector's state, to change it.
    pub fn collector_mut(&mut self, collector: Collector) -> &mut CollectorState {
        &mut self.collectors[collector.index()]
    }

    /// The enabled collectors' states.
    pub fn enabled(&self) -> impl Iterator<Item = (Collector, &CollectorState)> {
        Collector::ALL
            .into_iter()
            .map(|c| (c, self.collector(c)))
            .filter(|(_, state)| state.enabled)
    }

    /// `smartlead_up`: every enabled collector's latest attempt succeeded.
    pub fn up(&self) -> bool {
        let mut enabled = self.enabled().peekable();
        enabled.peek().is_some() && enabled.all(|(_, s)| s.attempts > 0 && s.success)
    }

    /// Whether the account has been polled: its first enabled collector has attempted once.
    /// Readiness waits for this.
    pub fn polled(&self) -> bool {
        self.enabled().next().is_none_or(|(_, s)| s.attempts > 0)
    }

    /// Whether some enabled collector's latest attempt failed.
    pub fn failing(&self) -> bool {
        self.enabled().any(|(_, s)| s.attempts > 0 && !s.success)
    }
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    /// An empty store; the configuration is not loaded yet.
    pub fn new() -> Self {
        Self {
            accounts: Mutex::new(BTreeMap::new()),
            exporter: Mutex::new(Arc::new(ExporterState {
                reload_ok: true,
                reload_time: SystemTime::now(),
                shard: None,
                configured: false,
            })),
            next_id: AtomicU64::new(1),
            generation: watch::Sender::new(1),
        }
    }

    /// Adds `state`'s account, replacing any account of that name.
    pub fn register(&self, state: AccountState) -> AccountId {
        let id = AccountId(self.next_id.fetch_add(1, Ordering::Relaxed));
        lock(&self.accounts).insert(state.name.clone(), (id, Arc::new(state)));
        self.touch();
        id
    }

    /// Changes the account registered as `id`; nothing when it is no longer registered.
    /// Returns whether it was.
    pub fn update(
        &self,
        name: &str,
        id: AccountId,
        change: impl FnOnce(&mut AccountState),
    ) -> bool {
        let mut accounts = lock(&self.accounts);
        let Some((registered, state)) = accounts.get_mut(name) else {
            return false;
        };
        if *registered != id {
            return false;
        }
        change(Arc::make_mut(state));
        drop(accounts);
        self.touch();
        true
    }

    /// Removes an account and every series of it, at once.
    pub fn remove(&self, name: &str) {
        if lock(&self.accounts).remove(name).is_some() {
            self.touch();
        }
    }

    /// One account's state.
    pub fn account(&self, name: &str) -> Option<Arc<AccountState>> {
        lock(&self.accounts)
            .get(name)
            .map(|(_, state)| Arc::clone(state))
    }

    /// Every account's state, by name.
    pub fn accounts(&self) -> Vec<Arc<AccountState>> {
        lock(&self.accounts)
            .values()
            .map(|(_, state)| Arc::clone(state))
            .collect()
    }

    /// The exporter's own facts.
    pub fn exporter(&self) -> Arc<ExporterState> {
        Arc::clone(&lock(&self.exporter))
    }

    /// Changes the exporter's own facts.
    pub fn update_exporter(&self, change: impl FnOnce(&mut ExporterState)) {
        change(Arc::make_mut(&mut lock(&self.exporter)));
        self.touch();
    }

    /// Records the outcome of a load of the configuration: after a success, its time too.
    pub fn set_reload(&self, ok: bool) {
        self.update_exporter(|e| {
            e.reload_ok = ok;
            if ok {
                e.reload_time = SystemTime::now();
                e.configured = true;
            }
        });
    }

    /// Records this process's shard and how many accounts it polls.
    pub fn set_shard_accounts(&self, index: u32, total: u32, accounts: usize) {
        self.update_exporter(|e| {
            e.shard = Some(ShardState {
                index,
                total,
                accounts,
            });
        });
    }

    /// The number of changes so far.
    pub fn generation(&self) -> u64 {
        *self.generation.borrow()
    }

    /// A receiver that sees every later change of the generation.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    fn touch(&self) {
        self.generation.send_modify(|generation| *generation += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smartlead::categories::{Category, Sentiment};
    use crate::smartlead::client::{Exchange, FailureReason};

    fn category(id: u64, sentiment: Sentiment) -> Category {
        Category {
            id,
            name: format!("c{id}"),
            sentiment,
            created_unix: None,
        }
    }

    #[test]
    fn counts_cover_every_combination() {
        let categories = Categories {
            list: vec![
                category(1, Sentiment::Positive),
                category(2, Sentiment::Positive),
                category(6, Sentiment::None),
                category(789, Sentiment::Neutral),
                category(1451, Sentiment::Positive),
                category(1467, Sentiment::Other),
            ]
            .into(),
            global_max_id: 99,
        };
        let counts = categories.counts();
        assert_eq!(counts[Sentiment::Positive.index()], [2, 1]);
        assert_eq!(counts[Sentiment::Negative.index()], [0, 0]);
        assert_eq!(counts[Sentiment::Neutral.index()], [0, 1]);
        assert_eq!(counts[Sentiment::None.index()], [1, 0]);
        assert_eq!(counts[Sentiment::Other.index()], [0, 1]);
    }

    #[test]
    fn an_update_after_removal_is_dropped() {
        let store = Store::new();
        let id = store.register(AccountState::new("acme"));
        store.remove("acme");
        assert!(!store.update("acme", id, |s| s.rate_limit.limit = Some(1)));
        assert!(store.accounts().is_empty());
        // Added again: the old id no longer reaches it.
        let again = store.register(AccountState::new("acme"));
        assert!(!store.update("acme", id, |s| s.rate_limit.limit = Some(1)));
        assert!(store.update("acme", again, |s| s.rate_limit.limit = Some(2)));
        assert_eq!(store.accounts()[0].rate_limit.limit, Some(2));
    }

    #[test]
    fn up_needs_every_enabled_collector_to_have_succeeded() {
        let mut state = AccountState::new("acme");
        assert!(!state.up(), "no collector enabled");
        assert!(state.polled(), "nothing to wait for");
        for c in [Collector::Categories, Collector::Campaigns] {
            state.collector_mut(c).enabled = true;
        }
        assert!(!state.up() && !state.polled());
        state.collector_mut(Collector::Categories).attempts = 1;
        state.collector_mut(Collector::Categories).success = true;
        assert!(state.polled() && !state.up());
        state.collector_mut(Collector::Campaigns).attempts = 1;
        assert!(!state.up() && state.failing());
        state.collector_mut(Collector::Campaigns).success = true;
        assert!(state.up() && !state.failing());
    }

    #[test]
    fn counters_count_codes_latency_and_reasons() {
        let mut counters = EndpointCounters::default();
        assert!(!counters.active);
        let exchange = Exchange {
            status: Some(429),
            elapsed: Some(Duration::from_millis(30)),
            ..Exchange::default()
        };
        counters.record(&exchange, Some(FailureReason::Status));
        counters.record(
            &Exchange {
                status: Some(200),
                ..exchange
            },
            None,
        );
        assert!(counters.active);
        assert_eq!(counters.requests, [(200, 1), (401, 0), (403, 0), (429, 1)]);
        assert_eq!(counters.failures.iter().sum::<u64>(), 1);
        assert_eq!(counters.latency.count, 2);
        assert_eq!(counters.latency.buckets[1], 2);
    }
}
