//! One collector of one account: the loop it runs until shutdown: wait until due, run,
//! record the outcome, back off while failing, withdraw its data once stale.
//!
//! The loop reads the account's settings afresh before every run, so a reload that changes
//! them takes effect without stopping anything: a run in flight finishes, backoff and
//! server-imposed waits carry on, counters are kept.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use super::account::AccountRun;
use super::job::{Job, RunError};
use super::schedule::{next_delay, server_wait, stale_after, MAX_SERVER_WAIT};
use crate::settings::{Account, Collector};
use crate::shutdown::Shutdown;
use crate::smartlead::client::FailureReason;

/// The kind of a failure, to log each streak once.
type FailureKind = (FailureReason, Option<u16>);

/// Runs `collector` of the account at `first` (at once when it has passed), then on
/// schedule, until shutdown.
pub(crate) async fn run_collector(
    run: Arc<AccountRun>,
    collector: Collector,
    mut job: Job,
    first: Instant,
    mut shutdown: Shutdown,
) {
    let mut settings = run.account.clone();
    let mut planned: Option<Arc<Account>> = None;
    let mut next = first;
    let mut last_success_at: Option<Instant> = None;
    let mut streak: Option<FailureKind> = None;
    let mut failures: u32 = 0;
    loop {
        let account = Arc::clone(&settings.borrow_and_update());
        if !planned.as_ref().is_some_and(|p| Arc::ptr_eq(p, &account)) {
            run.replan(&account);
            planned = Some(Arc::clone(&account));
        }
        if !account.settings.collector(collector).enabled {
            run.update(|state| {
                *state.collector_mut(collector) = Default::default();
                job.withdraw(state);
            });
            last_success_at = None;
            tokio::select! {
                changed = settings.changed() => if changed.is_err() { return },
                () = shutdown.requested() => return,
            }
            next = next.max(Instant::now());
            continue;
        }
        let interval = run.interval(collector);
        let stale = stale_after(account.settings.stale_after, interval);
        let rate_limit_stale = account.settings.stale_after;
        run.update(|state| {
            let current = state.collector_mut(collector);
            current.enabled = true;
            current.next_run = Some(system_time(next));
            for endpoint in job.endpoints() {
                state.api[endpoint.index()].active = true;
            }
        });
        // Wait until due, withdrawing data that goes stale meanwhile.
        let due = loop {
            let deadlines = [
                Some(next),
                last_success_at.map(|at| at + stale),
                run.rate_limit_deadline(rate_limit_stale),
            ];
            let wake = deadlines.into_iter().flatten().min().unwrap_or(next);
            tokio::select! {
                () = tokio::time::sleep_until(wake) => {}
                changed = settings.changed() => {
                    if changed.is_err() { return }
                    break false;
                }
                () = shutdown.requested() => return,
            }
            let now = Instant::now();
            if last_success_at.is_some_and(|at| now >= at + stale) {
                last_success_at = None;
                warn!(account = %run.name, collector = collector.name(),
                    stale_after = %humantime::format_duration(stale),
                    "no successful run for --metrics.stale-after; the collector's series withdrawn");
                run.update(|state| job.withdraw(state));
            }
            run.expire_rate_limit(rate_limit_stale, now);
            if now >= next {
                break true;
            }
        };
        if !due {
            continue;
        }
        let started = Instant::now();
        // Boxed: a task holds its future's largest state for as long as it lives, and a
        // run's calls and parsing are large beside the loop, which waits most of the time
        // (docs/performance.md#idle-collector-tasks).
        let outcome = tokio::select! {
            outcome = Box::pin(job.run(&run, &account)) => outcome,
            () = shutdown.requested() => return,
        };
        let took = started.elapsed();
        let now = SystemTime::now();
        let exchange = match &outcome {
            Ok(exchange) => exchange.clone(),
            Err(e) => e.exchange.clone(),
        };
        match &outcome {
            Ok(_) => {
                if streak.take().is_some() || failures > 0 {
                    info!(account = %run.name, collector = collector.name(),
                        failed_polls = failures, "SmartLead answers again");
                }
                failures = 0;
                last_success_at = Some(Instant::now());
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                log_failure(&run.name, collector, e, failures, &mut streak);
            }
        }
        let delay = next_delay(
            run.interval(collector),
            account.settings.max_backoff,
            failures,
            &exchange,
            now,
            fastrand::f64(),
        );
        if let Some(wait) = server_wait(&exchange, now) {
            if wait > MAX_SERVER_WAIT {
                warn!(account = %run.name, wait = %humantime::format_duration(wait),
                    "SmartLead asked to wait longer than {}; waiting that long instead",
                    humantime::format_duration(MAX_SERVER_WAIT));
            }
        }
        next = started + delay;
        run.update(|state| {
            let current = state.collector_mut(collector);
            current.attempts += 1;
            current.last_duration = Some(took);
            current.next_run = Some(system_time(next));
            current.consecutive_failures = failures;
            match &outcome {
                Ok(_) => {
                    current.success = true;
                    current.last_success = Some(now);
                    current.last_error = None;
                }
                Err(e) => {
                    current.success = false;
                    current.last_error = Some(e.message.clone());
                }
            }
        });
        crate::allocator::release_free_memory();
    }
}

/// Logs a failed run: once per streak of the same kind, at error level for a refused key or
/// an answer that cannot be read, else as a warning; repeats at debug level.
fn log_failure(
    account: &str,
    collector: Collector,
    failure: &RunError,
    failures: u32,
    streak: &mut Option<FailureKind>,
) {
    let kind = (failure.reason, failure.exchange.status);
    let (reason, status, message) = (
        failure.reason.as_str(),
        failure.exchange.status,
        &failure.message,
    );
    let collector = collector.name();
    if *streak == Some(kind) {
        debug!(%account, collector, reason, status, consecutive_failures = failures,
            error = %message, "poll failed again");
    } else if matches!(status, Some(401 | 403)) || failure.reason == FailureReason::Decode {
        error!(%account, collector, reason, status, consecutive_failures = failures,
            error = %message, "poll failed");
    } else {
        warn!(%account, collector, reason, status, consecutive_failures = failures,
            error = %message, "poll failed");
    }
    *streak = Some(kind);
}

/// `at` on the wall clock.
fn system_time(at: Instant) -> SystemTime {
    let now = Instant::now();
    if at >= now {
        SystemTime::now() + (at - now)
    } else {
        SystemTime::now() - (now - at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::tests::settings;
    use crate::smartlead::key::{ApiKey, KeySource};
    use crate::state::{AccountState, Store};
    use tokio::sync::{watch, Semaphore};

    /// The most a collector's task may hold while it waits: its loop's state. Every account
    /// has one task per collector, enabled or not, so this is paid per account four times.
    const IDLE_TASK_BYTES: usize = 1024;

    #[test]
    fn a_waiting_collector_task_holds_only_its_loop() {
        let key = ApiKey::new("key").unwrap();
        let account = Account {
            name: "a".into(),
            key_source: KeySource::Fixed(key.clone()),
            initial_key: key,
            settings: settings(),
        };
        let store = Arc::new(Store::new());
        let id = store.register(AccountState::new("a"));
        let (_sender, receiver) = watch::channel(Arc::new(account));
        let run = Arc::new(AccountRun::new(
            id,
            store,
            reqwest::Client::new(),
            Arc::new(Semaphore::new(1)),
            receiver,
        ));
        let (_stop, shutdown) = crate::shutdown::channel();
        for collector in Collector::ALL {
            let task = run_collector(
                Arc::clone(&run),
                collector,
                Job::new(collector),
                Instant::now(),
                shutdown.clone(),
            );
            let bytes = std::mem::size_of_val(&task);
            assert!(
                bytes <= IDLE_TASK_BYTES,
                "{}: {bytes} bytes",
                collector.name()
            );
        }
    }
}
