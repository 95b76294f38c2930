//! Every account's collectors: started when the account arrives, told of new settings when a
//! reload changes it (nothing is restarted: runs in flight finish, backoff and server waits
//! carry on), stopped when it leaves, with its series removed at once.
//!
//! Start times: the accounts are ranked by a stable hash of their names, and the account
//! ranked `i` of `n` first runs at `epoch + interval × i / n` (the categories interval), where
//! the epoch is the process start. So 500 accounts at 60 s make about 8 calls a second, never
//! a burst, and a restart with the same accounts gives each the same place in the cycle.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::info;

use super::account::AccountRun;
use super::collector::run_collector;
use super::job::Job;
use super::schedule::{next_slot, offsets};
use crate::settings::Account;
use crate::settings::Collector;
use crate::shutdown::{self, Trigger};
use crate::state::{AccountState, Store};

/// A running account.
#[derive(Debug)]
struct Running {
    /// Its settings now; its collectors read them before every run.
    account: watch::Sender<Arc<Account>>,
    /// Stops its collectors.
    stop: Trigger,
    /// Its collectors' tasks, awaited on shutdown.
    tasks: Vec<JoinHandle<()>>,
}

/// What a reload did, for the log line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Accounts that started.
    pub added: Vec<String>,
    /// Accounts that stopped, their series withdrawn.
    pub removed: Vec<String>,
    /// Accounts whose settings changed, their state kept.
    pub changed: Vec<String>,
}

/// Starts, updates and stops the accounts' collectors.
#[derive(Debug)]
pub struct Supervisor {
    /// The HTTP client every account shares.
    http: reqwest::Client,
    /// Where outcomes go.
    store: Arc<Store>,
    /// The runtime collectors run on (not the serving one).
    runtime: Handle,
    /// `--poll.concurrency` permits, shared by every account.
    permits: Arc<Semaphore>,
    /// The origin of every account's schedule.
    epoch: Instant,
    /// Running accounts by name.
    running: HashMap<String, Running>,
    /// A collector that ends on its own (a bug) says so here; `main` exits non-zero.
    ended: mpsc::UnboundedSender<String>,
}

impl Supervisor {
    /// A supervisor with no account yet, and the receiver of unexpected collector ends.
    pub fn new(
        http: reqwest::Client,
        store: Arc<Store>,
        runtime: Handle,
        concurrency: usize,
    ) -> (Self, mpsc::UnboundedReceiver<String>) {
        let (ended, receiver) = mpsc::unbounded_channel();
        let supervisor = Self {
            http,
            store,
            runtime,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            epoch: Instant::now(),
            running: HashMap::new(),
            ended,
        };
        (supervisor, receiver)
    }

    /// Makes the running accounts match `accounts`: starts the new ones, stops the removed ones
    /// (withdrawing their series), hands changed settings to the others.
    pub fn apply(&mut self, accounts: Vec<Account>) -> Changes {
        let offsets = offsets(accounts.iter().map(|a| a.name.as_str()));
        let mut changes = Changes::default();
        let wanted: HashMap<&str, &Account> =
            accounts.iter().map(|a| (a.name.as_str(), a)).collect();
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|name| !wanted.contains_key(name.as_str()))
            .cloned()
            .collect();
        for name in gone {
            if let Some(running) = self.running.remove(&name) {
                running.stop.fire();
                for task in &running.tasks {
                    task.abort();
                }
            }
            self.store.remove(&name);
            changes.removed.push(name);
        }
        for account in &accounts {
            if let Some(running) = self.running.get(&account.name) {
                if running.account.borrow().differs_from(account) {
                    running.account.send_replace(Arc::new(account.clone()));
                    changes.changed.push(account.name.clone());
                }
                continue;
            }
            let fraction = offsets.get(account.name.as_str()).copied().unwrap_or(0.0);
            let running = self.start(account, fraction);
            self.running.insert(account.name.clone(), running);
            changes.added.push(account.name.clone());
        }
        changes
    }

    /// Starts `account`'s collectors at its place in the cycle; it is listed at once, not
    /// ready until its first run.
    fn start(&self, account: &Account, fraction: f64) -> Running {
        let settings = &account.settings;
        let first = next_slot(
            self.epoch,
            Instant::now(),
            settings.collector(Collector::Categories).interval,
            fraction,
        );
        let mut state = AccountState::new(&account.name);
        for collector in Collector::ALL {
            let own = settings.collector(collector);
            let current = state.collector_mut(collector);
            current.enabled = own.enabled;
            current.interval = own.interval;
        }
        let id = self.store.register(state);
        let (sender, receiver) = watch::channel(Arc::new(account.clone()));
        let run = Arc::new(AccountRun::new(
            id,
            Arc::clone(&self.store),
            self.http.clone(),
            Arc::clone(&self.permits),
            receiver,
        ));
        let (stop, shutdown) = shutdown::channel();
        let tasks = Collector::ALL
            .into_iter()
            .map(|collector| {
                let job = Job::new(collector);
                let run = Arc::clone(&run);
                let shutdown = shutdown.clone();
                let ended = self.ended.clone();
                let name = account.name.clone();
                self.runtime.spawn(async move {
                    let watcher = shutdown.clone();
                    run_collector(run, collector, job, first, shutdown).await;
                    if !watcher.is_requested() {
                        let _ = ended.send(name);
                    }
                })
            })
            .collect();
        Running {
            account: sender,
            stop,
            tasks,
        }
    }

    /// Stops every collector and waits for them (the caller bounds the wait).
    pub async fn stop_all(&mut self) {
        let running: Vec<Running> = self.running.drain().map(|(_, r)| r).collect();
        for account in &running {
            account.stop.fire();
        }
        for account in running {
            for task in account.tasks {
                let _ = task.await;
            }
        }
        info!("every collector stopped");
    }

    /// `--once`: every account's enabled collectors run once, then stop. Returns whether
    /// every run succeeded.
    pub async fn once(&mut self, accounts: Vec<Account>) -> bool {
        self.apply(accounts);
        let done = |states: &[Arc<AccountState>]| {
            states
                .iter()
                .all(|s| s.enabled().all(|(_, c)| c.attempts > 0))
        };
        let mut changes = self.store.subscribe();
        while !done(&self.store.accounts()) {
            if changes.changed().await.is_err() {
                break;
            }
        }
        self.stop_all().await;
        self.store
            .accounts()
            .iter()
            .all(|s| s.enabled().all(|(_, c)| c.success))
    }
}
