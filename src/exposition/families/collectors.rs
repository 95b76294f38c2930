//! The schedule's families: each collector's outcome and interval, the key's budget and the
//! calls planned within it, and the account's summary (`smartlead_up`, the categories poll's
//! last success and failure streak).

use crate::exposition::samples::Samples;
use crate::settings::Collector;
use crate::state::{AccountState, CollectorState};

/// The collectors in the order of their names, the order series are written in.
const BY_NAME: [Collector; Collector::ALL.len()] = [
    Collector::Campaigns,
    Collector::Categories,
    Collector::Mailboxes,
    Collector::Replies,
];

/// The enabled collectors, by name.
fn enabled(state: &AccountState) -> impl Iterator<Item = (&'static str, &CollectorState)> {
    BY_NAME
        .into_iter()
        .map(|c| (c.name(), state.collector(c)))
        .filter(|(_, s)| s.enabled)
}

pub(super) fn duration(state: &AccountState, samples: &mut Samples<'_>) {
    for (name, collector) in enabled(state) {
        if let Some(took) = collector.last_duration {
            samples.sample(&[("collector", name)], took.as_secs_f64());
        }
    }
}

pub(super) fn interval(state: &AccountState, samples: &mut Samples<'_>) {
    for (name, collector) in enabled(state) {
        samples.sample(&[("collector", name)], collector.interval.as_secs_f64());
    }
}

pub(super) fn last_success(state: &AccountState, samples: &mut Samples<'_>) {
    for (name, collector) in enabled(state) {
        if let Some(at) = collector.last_success {
            samples.sample(&[("collector", name)], unix_seconds(at));
        }
    }
}

pub(super) fn polls(state: &AccountState, samples: &mut Samples<'_>) {
    for (name, collector) in enabled(state) {
        samples.sample(&[("collector", name)], collector.attempts);
    }
}

pub(super) fn success(state: &AccountState, samples: &mut Samples<'_>) {
    for (name, collector) in enabled(state) {
        samples.sample(&[("collector", name)], collector.success);
    }
}

pub(super) fn account_last_success(state: &AccountState, samples: &mut Samples<'_>) {
    let categories = state.collector(Collector::Categories);
    if let Some(at) = categories.last_success.filter(|_| categories.enabled) {
        samples.sample(&[], unix_seconds(at));
    }
}

pub(super) fn consecutive_failures(state: &AccountState, samples: &mut Samples<'_>) {
    let categories = state.collector(Collector::Categories);
    if categories.enabled {
        samples.sample(&[], u64::from(categories.consecutive_failures));
    }
}

pub(super) fn up(state: &AccountState, samples: &mut Samples<'_>) {
    samples.sample(&[], state.up());
}

pub(super) fn budget_calls(state: &AccountState, samples: &mut Samples<'_>) {
    if let Some(budget) = &state.budget {
        samples.sample(&[("window", "hour")], u64::from(budget.per_hour));
        samples.sample(&[("window", "minute")], u64::from(budget.per_minute));
    }
}

pub(super) fn planned_calls(state: &AccountState, samples: &mut Samples<'_>) {
    if let Some(budget) = &state.budget {
        samples.sample(&[("window", "hour")], budget.planned_per_hour);
        samples.sample(&[("window", "minute")], budget.planned_per_minute);
    }
}

/// Seconds since the Unix epoch; 0 for a time before it.
pub(crate) fn unix_seconds(at: std::time::SystemTime) -> f64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collectors_are_listed_by_name() {
        assert!(BY_NAME.windows(2).all(|w| w[0].name() < w[1].name()));
        for collector in Collector::ALL {
            assert!(BY_NAME.contains(&collector));
        }
    }
}
