//! The pollers: one task per account, started, stopped and restarted as the configuration
//! changes, each isolated from the others' failures, with its start spread over the interval.
//!
//! Start times: the accounts are ranked by a stable hash of their names, and the account
//! ranked `i` of `n` polls at `epoch + interval × i / n` and every interval after, where the
//! epoch is the process start. So 500 accounts at 60 s make about 8 calls a second, never a
//! burst, and a restart with the same accounts gives each the same place in the cycle. A
//! reload never moves a running account; an added or changed one joins at its place.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{error, info};

use crate::metrics::Metrics;
use crate::poller::{Poller, PollerConfig};
use crate::settings::{stable_hash, Account};
use crate::shutdown::{self, Trigger};
use crate::smartlead::client::{Client, ClientConfig};

/// A running poller.
#[derive(Debug)]
struct Running {
    /// What it was started with, to tell whether a reload changed it.
    account: Account,
    /// Stops this poller alone.
    stop: Trigger,
    /// Its task, awaited on shutdown.
    task: JoinHandle<()>,
}

/// What a reload did, for the log line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Accounts that started polling.
    pub added: Vec<String>,
    /// Accounts that stopped, their series withdrawn.
    pub removed: Vec<String>,
    /// Accounts restarted with new settings, their counters kept.
    pub restarted: Vec<String>,
}

/// Starts and stops the pollers.
#[derive(Debug)]
pub struct Supervisor {
    /// The HTTP client every account shares.
    http: reqwest::Client,
    /// Where pollers publish.
    metrics: Arc<Metrics>,
    /// The runtime pollers run on (not the serving one).
    runtime: Handle,
    /// `--poll.concurrency` permits, shared by every poller.
    permits: Arc<Semaphore>,
    /// The origin of every account's schedule.
    epoch: Instant,
    /// Running pollers by account name.
    running: HashMap<String, Running>,
    /// A poller that ends on its own (a bug) says so here; `main` exits non-zero.
    ended: mpsc::UnboundedSender<String>,
}

impl Supervisor {
    /// A supervisor with no account yet, and the receiver of unexpected poller ends.
    pub fn new(
        http: reqwest::Client,
        metrics: Arc<Metrics>,
        runtime: Handle,
        concurrency: usize,
    ) -> (Self, mpsc::UnboundedReceiver<String>) {
        let (ended, receiver) = mpsc::unbounded_channel();
        let supervisor = Self {
            http,
            metrics,
            runtime,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            epoch: Instant::now(),
            running: HashMap::new(),
            ended,
        };
        (supervisor, receiver)
    }

    /// How many accounts are polled.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// Whether no account is polled.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// Makes the running pollers match `accounts`: starts the new ones, stops the removed ones
    /// (withdrawing their series), restarts the changed ones (keeping their counters).
    pub fn apply(&mut self, accounts: Vec<Account>) -> Changes {
        let offsets = offsets(&accounts);
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
                running.task.abort();
            }
            self.metrics.remove(&name);
            changes.removed.push(name);
        }
        for account in &accounts {
            let fraction = offsets.get(account.name.as_str()).copied().unwrap_or(0.0);
            let added = match self.running.get(&account.name) {
                Some(running) if !running.account.differs_from(account) => continue,
                Some(_) => {
                    if let Some(running) = self.running.remove(&account.name) {
                        running.stop.fire();
                        running.task.abort();
                    }
                    changes.restarted.push(account.name.clone());
                    false
                }
                None => {
                    changes.added.push(account.name.clone());
                    true
                }
            };
            match self.start(account, fraction, added) {
                Ok(running) => {
                    self.running.insert(account.name.clone(), running);
                }
                Err(e) => {
                    error!(account = %account.name, error = %e, "cannot start polling the account");
                }
            }
        }
        changes
    }

    /// Starts polling `account`. An `added` account is listed at once, not ready until its
    /// first poll; a restarted one keeps serving its previous poll's series (and readiness)
    /// until the new poller's first poll replaces them, rather than every changed account
    /// going down and unready for up to an interval after a reload.
    fn start(
        &self,
        account: &Account,
        fraction: f64,
        added: bool,
    ) -> Result<Running, crate::smartlead::client::ClientError> {
        let settings = &account.settings;
        let mut poller = poller_for(&self.http, account, &self.permits)?;
        let first = next_slot(
            self.epoch,
            Instant::now(),
            settings.poll_interval(),
            fraction,
        );
        if added {
            self.metrics
                .publish(&account.name, None, poller.waiting(first));
        }
        let (stop, shutdown) = shutdown::channel();
        let metrics = Arc::clone(&self.metrics);
        let name = account.name.clone();
        let ended = self.ended.clone();
        let watcher = shutdown.clone();
        let task = self.runtime.spawn(async move {
            poller
                .run(
                    first,
                    |attempt, snapshot| {
                        metrics.publish(&name, attempt, snapshot);
                        crate::allocator::release_free_memory();
                    },
                    shutdown,
                )
                .await;
            if !watcher.is_requested() {
                let _ = ended.send(name);
            }
        });
        Ok(Running {
            account: account.clone(),
            stop,
            task,
        })
    }

    /// Stops every poller and waits for them (the caller bounds the wait).
    pub async fn stop_all(&mut self) {
        let running: Vec<Running> = self.running.drain().map(|(_, r)| r).collect();
        for poller in &running {
            poller.stop.fire();
        }
        for poller in running {
            let _ = poller.task.await;
        }
        info!("every poller stopped");
    }
}

/// A poller for `account` over the shared HTTP client, holding one of `permits` per request.
///
/// # Errors
/// When the account's base URL cannot take the endpoint's path.
pub fn poller_for(
    http: &reqwest::Client,
    account: &Account,
    permits: &Arc<Semaphore>,
) -> Result<Poller, crate::smartlead::client::ClientError> {
    let settings = &account.settings;
    let client = Client::new(
        http.clone(),
        &ClientConfig {
            base_url: settings.base_url.clone(),
            timeout: settings.timeout,
            max_body_size: settings.max_body_size,
        },
    )?;
    Ok(Poller::new(
        client,
        account.key_source.clone(),
        account.initial_key.clone(),
        PollerConfig {
            account: account.name.clone(),
            interval: settings.poll_interval(),
            max_backoff: settings.max_backoff,
            stale_after: settings.stale_after,
            global_max_id: settings.global_max_id,
            permits: Arc::clone(permits),
        },
    ))
}

/// Each account's place in the cycle, as a fraction of its interval: rank by stable hash of
/// the name, divided by the number of accounts.
pub fn offsets(accounts: &[Account]) -> HashMap<&str, f64> {
    let mut ranked: Vec<(u64, &str)> = accounts
        .iter()
        .map(|a| (stable_hash(&a.name), a.name.as_str()))
        .collect();
    ranked.sort_unstable();
    let n = ranked.len().max(1) as f64;
    ranked
        .into_iter()
        .enumerate()
        .map(|(rank, (_, name))| (name, rank as f64 / n))
        .collect()
}

/// A slot missed by less than this is taken at once: at start-up the accounts are started a
/// few microseconds after the epoch, and the first of them must not wait a whole interval.
pub const SLOT_GRACE: Duration = Duration::from_millis(250);

/// The first instant at or after `now` (or up to [`SLOT_GRACE`] before it) that is
/// `epoch + interval × (fraction + k)` for a whole `k`: the account's place in its cycle.
pub fn next_slot(epoch: Instant, now: Instant, interval: Duration, fraction: f64) -> Instant {
    let offset = interval.mul_f64(fraction.clamp(0.0, 1.0));
    let first = epoch + offset;
    if now <= first || interval.is_zero() {
        return first;
    }
    let behind = now - first;
    if behind <= SLOT_GRACE {
        return now;
    }
    let cycles = behind.as_nanos().div_ceil(interval.as_nanos());
    let cycles = u32::try_from(cycles).unwrap_or(u32::MAX);
    first + interval.saturating_mul(cycles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_repeat_every_interval_from_the_offset() {
        let epoch = Instant::now();
        let minute = Duration::from_secs(60);
        assert_eq!(next_slot(epoch, epoch, minute, 0.0), epoch);
        // Just after the epoch: still the first slot, taken at once.
        let soon = epoch + Duration::from_millis(3);
        assert_eq!(next_slot(epoch, soon, minute, 0.0), soon);
        assert_eq!(next_slot(epoch, epoch, minute, 0.5), epoch + minute / 2);
        let later = epoch + Duration::from_secs(100);
        // Slots at 30 s, 90 s, 150 s: the next after 100 s is 150 s.
        assert_eq!(
            next_slot(epoch, later, minute, 0.5),
            epoch + Duration::from_secs(150)
        );
        assert_eq!(
            next_slot(epoch, epoch + Duration::from_secs(90), minute, 0.5),
            epoch + Duration::from_secs(90)
        );
    }
}
