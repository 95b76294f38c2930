//! Each key's API budget: how calls are paced, and how collectors' intervals are stretched
//! when, at their configured intervals, they would need more calls than the budget allows.
//!
//! Pacing ([`Pacer`]): every call of an account's collectors first takes a slot, granted only
//! when it keeps the key within its per-minute and per-hour budgets in every window of that
//! length, and within [`MAX_PER_SECOND`] in every second, and not before a pause SmartLead
//! imposed (a 429, `Retry-After`, a spent `X-RateLimit-Remaining`) is over. Windows are
//! measured [`WINDOW_MARGIN`] longer than their names, so that the calls' varying travel time
//! can never put one more of them into one of SmartLead's windows. Slots go to the most
//! important collector waiting first: `categories`, then `replies`, `campaigns`, `mailboxes`.
//!
//! Planning ([`plan`]): a collector's cost per run is known from its last run (one call for
//! categories and replies, one plus one per selected campaign, one per page of 100
//! mailboxes). When the enabled collectors at their intervals would need more calls per
//! second than the tighter of the two budgets allows, intervals are stretched, `mailboxes`
//! first, then `campaigns`, `replies`, and `categories` last, each only as far as needed.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::settings::Collector;
use crate::sync::lock;

/// Never more calls than this in any second, whatever the budgets: SmartLead's burst limit is
/// 10 per second, and a burst of a whole minute's budget helps no one.
pub(crate) const MAX_PER_SECOND: u32 = 5;

/// Windows are measured this much longer than their names.
pub(crate) const WINDOW_MARGIN: Duration = Duration::from_millis(500);

/// A stretched interval never exceeds this: a collector runs at least once a day.
pub(crate) const MAX_STRETCHED_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// The collectors from the first stretched to the last: the order of least importance.
pub(crate) const STRETCH_ORDER: [Collector; 4] = [
    Collector::Mailboxes,
    Collector::Campaigns,
    Collector::Replies,
    Collector::Categories,
];

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(60 * 60);

/// A key's call budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Calls in any minute.
    pub(crate) per_minute: u32,
    /// Calls in any hour.
    pub(crate) per_hour: u32,
}

impl Limits {
    /// The sustained rate both budgets allow, in calls per second.
    fn rate(self) -> f64 {
        (f64::from(self.per_minute) / MINUTE.as_secs_f64())
            .min(f64::from(self.per_hour) / HOUR.as_secs_f64())
    }
}

/// Grants call slots to an account's collectors.
#[derive(Debug)]
pub(crate) struct Pacer {
    /// The calls made and who waits.
    inner: Mutex<Inner>,
    /// Woken whenever a slot is granted or the pause or limits change.
    changed: Notify,
}

#[derive(Debug)]
struct Inner {
    /// The budget.
    limits: Limits,
    /// When the most recent calls were granted, oldest first; no more are kept than the
    /// largest window can count.
    sent: VecDeque<Instant>,
    /// No call before this: SmartLead asked the key to wait.
    paused_until: Option<Instant>,
    /// Waiting collectors, by [`Collector::index`].
    waiting: [u32; Collector::ALL.len()],
}

impl Inner {
    /// The earliest instant, at or after `now`, at which one more call keeps every window
    /// within its budget.
    fn earliest(&self, now: Instant) -> Instant {
        let mut at = self.paused_until.unwrap_or(now).max(now);
        for (limit, window) in [
            (MAX_PER_SECOND, SECOND),
            (self.limits.per_minute, MINUTE),
            (self.limits.per_hour, HOUR),
        ] {
            let limit = usize::try_from(limit).unwrap_or(usize::MAX).max(1);
            if let Some(&oldest) = self
                .sent
                .len()
                .checked_sub(limit)
                .and_then(|i| self.sent.get(i))
            {
                at = at.max(oldest + window + WINDOW_MARGIN);
            }
        }
        at
    }

    /// Whether a more important collector than `collector` is waiting.
    fn outranked(&self, collector: Collector) -> bool {
        STRETCH_ORDER
            .iter()
            .rev()
            .take_while(|&&c| c != collector)
            .any(|c| self.waiting[c.index()] > 0)
    }

    fn record(&mut self, at: Instant) {
        self.sent.push_back(at);
        let keep = usize::try_from(
            self.limits
                .per_hour
                .max(self.limits.per_minute)
                .max(MAX_PER_SECOND),
        )
        .unwrap_or(usize::MAX);
        while self.sent.len() > keep {
            self.sent.pop_front();
        }
    }
}

/// Counts a waiting collector for as long as it waits, even if the wait is abandoned.
struct Waiting<'a> {
    pacer: &'a Pacer,
    collector: Collector,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut inner = lock(&self.pacer.inner);
        let waiting = &mut inner.waiting[self.collector.index()];
        *waiting = waiting.saturating_sub(1);
        drop(inner);
        self.pacer.changed.notify_waiters();
    }
}

impl Pacer {
    /// A pacer with no call made yet.
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            inner: Mutex::new(Inner {
                limits,
                sent: VecDeque::new(),
                paused_until: None,
                waiting: [0; Collector::ALL.len()],
            }),
            changed: Notify::new(),
        }
    }

    /// Changes the budget (a reload).
    pub(crate) fn set_limits(&self, limits: Limits) {
        lock(&self.inner).limits = limits;
        self.changed.notify_waiters();
    }

    /// Holds every call until `until`: SmartLead asked the key to wait. An earlier pause
    /// already in force is kept if it ends later.
    pub(crate) fn pause_until(&self, until: Instant) {
        let mut inner = lock(&self.inner);
        inner.paused_until = inner.paused_until.max(Some(until));
        drop(inner);
        self.changed.notify_waiters();
    }

    /// Waits for a slot for one call of `collector`, then counts the call as made.
    pub(crate) async fn acquire(&self, collector: Collector) {
        lock(&self.inner).waiting[collector.index()] += 1;
        let _waiting = Waiting {
            pacer: self,
            collector,
        };
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wake = {
                let mut inner = lock(&self.inner);
                if inner.outranked(collector) {
                    None
                } else {
                    let now = Instant::now();
                    let at = inner.earliest(now);
                    if at <= now {
                        inner.record(now);
                        return;
                    }
                    Some(at)
                }
            };
            match wake {
                Some(at) => {
                    tokio::select! {
                        () = &mut notified => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                None => notified.await,
            }
        }
    }
}

/// Intervals in force and the calls they plan, for one account.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    /// Each collector's interval in force, by [`Collector::index`].
    pub(crate) intervals: [Duration; Collector::ALL.len()],
    /// Calls planned per minute over the enabled collectors.
    pub(crate) per_minute: f64,
    /// Calls planned per hour.
    pub(crate) per_hour: f64,
    /// The collectors whose interval was stretched, in stretch order.
    pub(crate) stretched: Vec<Collector>,
}

/// The intervals in force for collectors configured at `intervals` (`None`: disabled) whose
/// runs cost `costs` calls each, within `limits`.
pub(crate) fn plan(
    intervals: [Option<Duration>; Collector::ALL.len()],
    costs: [u64; Collector::ALL.len()],
    limits: Limits,
) -> Plan {
    let cost = |c: Collector| costs[c.index()].max(1) as f64;
    // Calls per second of each enabled collector.
    let mut rates = [0.0_f64; Collector::ALL.len()];
    for c in Collector::ALL {
        if let Some(interval) = intervals[c.index()] {
            rates[c.index()] = cost(c) / interval.as_secs_f64().max(f64::MIN_POSITIVE);
        }
    }
    let mut excess = rates.iter().sum::<f64>() - limits.rate();
    let mut stretched = Vec::new();
    for c in STRETCH_ORDER {
        if excess <= 0.0 || intervals[c.index()].is_none() {
            continue;
        }
        let floor = cost(c) / MAX_STRETCHED_INTERVAL.as_secs_f64();
        let cut = excess.min(rates[c.index()] - floor);
        if cut > 0.0 {
            rates[c.index()] -= cut;
            excess -= cut;
            stretched.push(c);
        }
    }
    let mut in_force = [Duration::ZERO; Collector::ALL.len()];
    for c in Collector::ALL {
        if let Some(interval) = intervals[c.index()] {
            in_force[c.index()] = if stretched.contains(&c) {
                // Whole milliseconds, rounded up: the plan stays within the budget.
                let millis = (cost(c) / rates[c.index()] * 1000.0).ceil();
                Duration::from_millis(millis as u64)
                    .max(interval)
                    .min(MAX_STRETCHED_INTERVAL)
            } else {
                interval
            };
        }
    }
    let per_second: f64 = Collector::ALL
        .iter()
        .filter(|c| intervals[c.index()].is_some())
        .map(|&c| cost(c) / in_force[c.index()].as_secs_f64().max(f64::MIN_POSITIVE))
        .sum();
    Plan {
        intervals: in_force,
        per_minute: per_second * MINUTE.as_secs_f64(),
        per_hour: per_second * HOUR.as_secs_f64(),
        stretched,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        per_minute: 20,
        per_hour: 500,
    };

    fn defaults() -> [Option<Duration>; 4] {
        Collector::ALL.map(|c| Some(c.default_interval()))
    }

    #[test]
    fn a_small_account_fits_without_stretching() {
        // 1 + 1 + (1 list + 10 campaigns) + 1 page.
        let plan = plan(defaults(), [1, 1, 11, 1], LIMITS);
        assert!(plan.stretched.is_empty());
        assert_eq!(
            plan.intervals,
            Collector::ALL.map(Collector::default_interval)
        );
        // 60/h + 4/h + 132/h + 12/h.
        assert!((plan.per_hour - 208.0).abs() < 1e-9, "{}", plan.per_hour);
        assert!((plan.per_minute - 208.0 / 60.0).abs() < 1e-9);
    }

    #[test]
    fn mailboxes_stretch_first_then_campaigns_and_only_as_far_as_needed() {
        // 200 campaigns at 5 minutes would be 2,412 calls an hour on their own.
        let plan = plan(defaults(), [1, 1, 201, 51], LIMITS);
        assert_eq!(plan.stretched, [Collector::Mailboxes, Collector::Campaigns]);
        assert!(plan.per_hour <= 500.0 + 1e-6, "{}", plan.per_hour);
        assert!(
            plan.per_hour >= 499.99,
            "the budget is used whole: {}",
            plan.per_hour
        );
        assert_eq!(
            plan.intervals[Collector::Categories.index()],
            Duration::from_secs(60)
        );
        assert_eq!(
            plan.intervals[Collector::Replies.index()],
            Duration::from_secs(900)
        );
        assert_eq!(
            plan.intervals[Collector::Mailboxes.index()],
            MAX_STRETCHED_INTERVAL,
            "mailboxes give way first, down to once a day"
        );
        let campaigns = plan.intervals[Collector::Campaigns.index()];
        assert!(campaigns > Duration::from_secs(300) && campaigns < MAX_STRETCHED_INTERVAL);
    }

    #[test]
    fn categories_stretch_last_and_a_disabled_collector_costs_nothing() {
        let tight = Limits {
            per_minute: 1,
            per_hour: 30,
        };
        let mut intervals = defaults();
        intervals[Collector::Campaigns.index()] = None;
        let plan = plan(intervals, [1, 1, 500, 1], tight);
        assert_eq!(
            plan.stretched,
            [
                Collector::Mailboxes,
                Collector::Replies,
                Collector::Categories
            ]
        );
        assert_eq!(plan.intervals[Collector::Campaigns.index()], Duration::ZERO);
        assert!(plan.per_hour <= 30.0 + 1e-6, "{}", plan.per_hour);
        assert!(plan.intervals[Collector::Categories.index()] >= Duration::from_secs(120));
    }

    #[test]
    fn the_pacer_counts_windows_and_pauses() {
        let start = Instant::now();
        let mut inner = Inner {
            limits: LIMITS,
            sent: VecDeque::new(),
            paused_until: None,
            waiting: [0; 4],
        };
        for n in 0..5 {
            assert_eq!(inner.earliest(start), start, "call {n}");
            inner.record(start);
        }
        // A sixth in the same second waits for the second to pass.
        assert_eq!(inner.earliest(start), start + SECOND + WINDOW_MARGIN);
        for n in 0..15 {
            inner.record(start + Duration::from_secs(2 + n));
        }
        // Twenty in the minute: the next waits until the first is a minute old.
        assert_eq!(
            inner.earliest(start + Duration::from_secs(20)),
            start + MINUTE + WINDOW_MARGIN
        );
        inner.paused_until = Some(start + Duration::from_secs(600));
        assert_eq!(
            inner.earliest(start + Duration::from_secs(20)),
            start + Duration::from_secs(600)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_most_important_collector_waiting_goes_first() {
        let pacer = std::sync::Arc::new(Pacer::new(Limits {
            per_minute: 1,
            per_hour: 100,
        }));
        pacer.acquire(Collector::Campaigns).await;
        let order = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for collector in [
            Collector::Mailboxes,
            Collector::Categories,
            Collector::Replies,
        ] {
            let (pacer, order) = (std::sync::Arc::clone(&pacer), std::sync::Arc::clone(&order));
            tasks.push(tokio::spawn(async move {
                pacer.acquire(collector).await;
                lock(&order).push((collector, Instant::now()));
            }));
            tokio::task::yield_now().await;
        }
        for task in tasks {
            task.await.unwrap();
        }
        let order = lock(&order).clone();
        let collectors: Vec<Collector> = order.iter().map(|(c, _)| *c).collect();
        assert_eq!(
            collectors,
            [
                Collector::Categories,
                Collector::Replies,
                Collector::Mailboxes
            ]
        );
        // One a minute: the three calls a minute (and the margin) apart.
        for pair in order.windows(2) {
            assert!(pair[1].1 - pair[0].1 >= MINUTE, "{order:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_collector() {
        let pacer = Pacer::new(LIMITS);
        let start = Instant::now();
        pacer.pause_until(start + Duration::from_secs(30));
        // A shorter pause asked later does not shorten it.
        pacer.pause_until(start + Duration::from_secs(5));
        pacer.acquire(Collector::Categories).await;
        assert!(Instant::now() >= start + Duration::from_secs(30));
    }
}
