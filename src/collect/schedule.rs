//! When a collector runs next: its interval while runs succeed, exponential backoff with
//! jitter while they fail, and never before SmartLead's own `Retry-After` or
//! `X-RateLimit-Reset`; when its data goes stale; and where each account's runs sit in the
//! cycle, so that many accounts never poll in a burst. Pure functions of their inputs, so that
//! every bound is tested.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::smartlead::client::Exchange;

/// A server-imposed wait (`Retry-After`, `X-RateLimit-Reset`) is honoured up to this long; a
/// longer one is taken as a mistake that would otherwise stop the exporter for good.
pub(crate) const MAX_SERVER_WAIT: Duration = Duration::from_secs(60 * 60);

/// Backoff delays are shortened by a random fraction up to this, so that many exporters
/// sharing a key do not retry in step.
pub(crate) const BACKOFF_JITTER: f64 = 0.2;

/// A collector's data is withdrawn after `--metrics.stale-after` without a success, or after
/// this many of its intervals when that is longer: a collector that runs every 15 minutes is
/// not stale after 5.
pub(crate) const STALE_INTERVALS: u32 = 3;

/// A slot missed by less than this is taken at once: at start-up the accounts are started a
/// few microseconds after the epoch, and the first of them must not wait a whole interval.
pub(crate) const SLOT_GRACE: Duration = Duration::from_millis(250);

/// Exponential backoff: the interval after the first failure, doubling per further failure up
/// to `max`, shortened by up to [`BACKOFF_JITTER`] (`unit` in `[0, 1)`; anything else counts
/// as 0), never below the interval. Saturates: no input makes it panic.
pub(crate) fn backoff(interval: Duration, max: Duration, failures: u32, unit: f64) -> Duration {
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

/// How long SmartLead asked the key to wait after `exchange`, uncapped: `Retry-After`, and
/// `X-RateLimit-Reset` when the answer was a 429 or spent the budget.
pub(crate) fn server_wait(exchange: &Exchange, now: SystemTime) -> Option<Duration> {
    let limits = &exchange.rate_limit;
    let mut not_before = exchange.retry_after;
    if exchange.status == Some(429) || limits.remaining == Some(0) {
        not_before = not_before.max(limits.reset);
    }
    let wait = not_before?.duration_since(now).unwrap_or_default();
    (!wait.is_zero()).then_some(wait)
}

/// The delay from a run's start to the next one's: never below `interval`, never above the
/// longest of the interval, `max_backoff` and [`MAX_SERVER_WAIT`], whatever the headers said.
/// `failures` counts the failed runs in a row, this one included when it failed.
///
/// `unit` is a random number in `[0, 1)` for the jitter, passed in so that tests can fix it.
pub(crate) fn next_delay(
    interval: Duration,
    max_backoff: Duration,
    failures: u32,
    exchange: &Exchange,
    now: SystemTime,
    unit: f64,
) -> Duration {
    let delay = backoff(interval, max_backoff, failures, unit);
    match server_wait(exchange, now) {
        Some(wait) => delay.max(wait.min(MAX_SERVER_WAIT)),
        None => delay,
    }
}

/// How long after its last success a collector's data stays: see [`STALE_INTERVALS`].
pub(crate) fn stale_after(stale_after: Duration, interval: Duration) -> Duration {
    stale_after.max(interval.saturating_mul(STALE_INTERVALS))
}

/// Each account's place in the cycle, as a fraction of its interval: rank by stable hash of
/// the name, divided by the number of accounts. A rank rather than the hash itself keeps the
/// accounts evenly spaced.
pub(crate) fn offsets<'a>(names: impl IntoIterator<Item = &'a str>) -> HashMap<&'a str, f64> {
    let mut ranked: Vec<(u64, &str)> = names
        .into_iter()
        .map(|name| (crate::settings::stable_hash(name), name))
        .collect();
    ranked.sort_unstable();
    let n = ranked.len().max(1) as f64;
    ranked
        .into_iter()
        .enumerate()
        .map(|(rank, (_, name))| (name, rank as f64 / n))
        .collect()
}

/// The first instant at or after `now` (or up to [`SLOT_GRACE`] before it) that is
/// `epoch + interval × (fraction + k)` for a whole `k`: the account's place in its cycle.
pub(crate) fn next_slot(
    epoch: Instant,
    now: Instant,
    interval: Duration,
    fraction: f64,
) -> Instant {
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
    use crate::smartlead::client::RateLimit;

    const MIN: Duration = Duration::from_secs(60);
    const MAX: Duration = Duration::from_secs(600);

    fn exchange(status: u16) -> Exchange {
        Exchange {
            status: Some(status),
            ..Exchange::default()
        }
    }

    #[test]
    fn backoff_doubles_from_the_interval_up_to_the_cap() {
        let delays: Vec<u64> = (0..8)
            .map(|n| backoff(MIN, MAX, n, 0.0).as_secs())
            .collect();
        assert_eq!(delays, [60, 60, 120, 240, 480, 600, 600, 600]);
        assert_eq!(backoff(MIN, MAX, u32::MAX, 0.0), MAX);
    }

    #[test]
    fn server_waits_set_the_next_run_and_are_capped() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let at = |secs| Some(now + Duration::from_secs(secs));
        let delay = |failures, e: &Exchange| next_delay(MIN, MAX, failures, e, now, 0.0);

        assert_eq!(delay(0, &exchange(200)), MIN);

        // 429 with Retry-After 5 minutes, after the first failure.
        let mut limited = exchange(429);
        limited.retry_after = at(300);
        assert_eq!(delay(1, &limited), Duration::from_secs(300));

        // A reset later than Retry-After wins on a 429.
        limited.rate_limit.reset = at(420);
        assert_eq!(delay(1, &limited), Duration::from_secs(420));

        // Backoff longer than the server's wait wins.
        assert_eq!(delay(5, &limited), Duration::from_secs(600));

        // A wait of two days is capped at MAX_SERVER_WAIT.
        limited.retry_after = at(2 * 86_400);
        assert_eq!(delay(1, &limited), MAX_SERVER_WAIT);

        // A success that spent the budget waits for the reset; one that did not, does not.
        let mut spent = exchange(200);
        spent.rate_limit.remaining = Some(0);
        spent.rate_limit.reset = at(90);
        assert_eq!(delay(0, &spent), Duration::from_secs(90));
        spent.rate_limit.remaining = Some(3);
        assert_eq!(delay(0, &spent), MIN);

        // A Retry-After in the past changes nothing.
        let mut past = exchange(503);
        past.retry_after = Some(now - Duration::from_secs(10));
        assert_eq!(delay(1, &past), MIN);
        assert_eq!(server_wait(&past, now), None);
    }

    #[test]
    fn backoff_jitter_shortens_but_never_below_the_interval() {
        assert_eq!(backoff(MIN, MAX, 4, 1.0), Duration::from_secs(384));
        assert_eq!(backoff(MIN, MAX, 1, 1.0), MIN);
        assert_eq!(backoff(MIN, MAX, 6, 0.5), Duration::from_secs(540));
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
        let mut spent = exchange(200);
        spent.rate_limit.remaining = Some(0);
        spent.rate_limit.reset = Some(now + crate::smartlead::client::FAR_FUTURE);
        assert_eq!(next_delay(MIN, MAX, 0, &spent, now, 0.0), MAX_SERVER_WAIT);
        let mut limited = exchange(429);
        limited.retry_after = Some(now + crate::smartlead::client::FAR_FUTURE);
        assert_eq!(
            next_delay(MIN, MAX, u32::MAX, &limited, now, 0.99),
            MAX_SERVER_WAIT
        );
    }

    #[test]
    fn stale_after_grows_with_long_intervals() {
        let five = Duration::from_secs(300);
        assert_eq!(stale_after(five, MIN), five);
        assert_eq!(
            stale_after(five, Duration::from_secs(900)),
            Duration::from_secs(2700)
        );
        assert_eq!(stale_after(five, Duration::MAX), Duration::MAX);
    }

    #[test]
    fn slots_repeat_every_interval_from_the_offset() {
        let epoch = Instant::now();
        assert_eq!(next_slot(epoch, epoch, MIN, 0.0), epoch);
        // Just after the epoch: still the first slot, taken at once.
        let soon = epoch + Duration::from_millis(3);
        assert_eq!(next_slot(epoch, soon, MIN, 0.0), soon);
        assert_eq!(next_slot(epoch, epoch, MIN, 0.5), epoch + MIN / 2);
        let later = epoch + Duration::from_secs(100);
        // Slots at 30 s, 90 s, 150 s: the next after 100 s is 150 s.
        assert_eq!(
            next_slot(epoch, later, MIN, 0.5),
            epoch + Duration::from_secs(150)
        );
        assert_eq!(
            next_slot(epoch, epoch + Duration::from_secs(90), MIN, 0.5),
            epoch + Duration::from_secs(90)
        );
    }

    #[test]
    fn offsets_spread_the_accounts_evenly() {
        let names: Vec<String> = (0..4).map(|n| format!("account-{n}")).collect();
        let offsets = offsets(names.iter().map(String::as_str));
        let mut fractions: Vec<f64> = offsets.values().copied().collect();
        fractions.sort_by(f64::total_cmp);
        assert_eq!(fractions, [0.0, 0.25, 0.5, 0.75]);
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
                remaining in proptest::option::of(0u64..3),
                retry_after in time(),
                reset in time(),
                now_offset in any::<i64>(),
            ) {
                let interval = Duration::from_secs(interval);
                let max_backoff = Duration::from_millis(max_backoff);
                let now = if now_offset >= 0 {
                    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(now_offset.unsigned_abs()))
                } else {
                    SystemTime::UNIX_EPOCH.checked_sub(Duration::from_secs(now_offset.unsigned_abs()))
                }
                .unwrap_or(SystemTime::UNIX_EPOCH);
                let exchange = Exchange {
                    status,
                    elapsed: None,
                    rate_limit: RateLimit { limit: None, remaining, reset },
                    retry_after,
                };
                let delay = next_delay(interval, max_backoff, failures, &exchange, now, unit);
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
