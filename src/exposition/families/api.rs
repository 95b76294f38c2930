//! The API's families: rate-limit headers, and per endpoint the latency histogram, responses
//! by status code and failures by reason.

use crate::exposition::samples::Samples;
use crate::smartlead::client::FailureReason;
use crate::smartlead::Endpoint;
use crate::state::{AccountState, EndpointCounters, LATENCY_BUCKETS};

/// [`LATENCY_BUCKETS`] as the `le` label writes them (`f64`'s `Display`).
const LATENCY_BUCKET_LABELS: [&str; LATENCY_BUCKETS.len()] = [
    "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "20", "30",
];

/// The endpoints in the order of their labels, the order series are written in.
const ENDPOINTS_BY_LABEL: [Endpoint; Endpoint::ALL.len()] = [
    Endpoint::CampaignAnalytics,
    Endpoint::Campaigns,
    Endpoint::CategoryWiseResponse,
    Endpoint::EmailAccounts,
    Endpoint::FetchCategories,
];

/// The endpoints whose series the account exports, with their counters.
fn active(state: &AccountState) -> impl Iterator<Item = (&'static str, &EndpointCounters)> {
    ENDPOINTS_BY_LABEL
        .into_iter()
        .map(|e| (e.label(), &state.api[e.index()]))
        .filter(|(_, counters)| counters.active)
}

pub(super) fn rate_limit_limit(state: &AccountState, samples: &mut Samples<'_>) {
    if let Some(limit) = state.rate_limit.limit {
        samples.sample(&[], limit);
    }
}

pub(super) fn rate_limit_remaining(state: &AccountState, samples: &mut Samples<'_>) {
    if let Some(remaining) = state.rate_limit.remaining {
        samples.sample(&[], remaining);
    }
}

pub(super) fn request_duration(state: &AccountState, samples: &mut Samples<'_>) {
    for (endpoint, counters) in active(state) {
        let latency = &counters.latency;
        let mut cumulative = 0;
        for (bound, count) in LATENCY_BUCKET_LABELS.iter().zip(latency.buckets) {
            cumulative += count;
            samples.suffixed(
                "_bucket",
                &[("api_endpoint", endpoint), ("le", bound)],
                cumulative,
            );
        }
        let labels = [("api_endpoint", endpoint)];
        samples.suffixed(
            "_bucket",
            &[("api_endpoint", endpoint), ("le", "+Inf")],
            latency.count,
        );
        samples.suffixed("_sum", &labels, latency.sum);
        samples.suffixed("_count", &labels, latency.count);
    }
}

pub(super) fn request_failures(state: &AccountState, samples: &mut Samples<'_>) {
    let mut reasons: [(&str, usize); FailureReason::ALL.len()] =
        std::array::from_fn(|at| (FailureReason::ALL[at].as_str(), at));
    reasons.sort_unstable_by_key(|&(reason, _)| reason);
    for (endpoint, counters) in active(state) {
        for (reason, at) in reasons {
            samples.sample(
                &[("api_endpoint", endpoint), ("reason", reason)],
                counters.failures[at],
            );
        }
    }
}

pub(super) fn requests(state: &AccountState, samples: &mut Samples<'_>) {
    let mut codes = itoa::Buffer::new();
    for (endpoint, counters) in active(state) {
        for &(code, count) in &counters.requests {
            samples.sample(
                &[("api_endpoint", endpoint), ("code", codes.format(code))],
                count,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_labels_are_written_as_f64_displays_them() {
        let written: Vec<String> = LATENCY_BUCKETS.iter().map(f64::to_string).collect();
        assert_eq!(written, LATENCY_BUCKET_LABELS);
    }

    #[test]
    fn endpoints_are_listed_by_label() {
        assert!(ENDPOINTS_BY_LABEL
            .windows(2)
            .all(|w| w[0].label() < w[1].label()));
        for endpoint in Endpoint::ALL {
            assert!(ENDPOINTS_BY_LABEL.contains(&endpoint));
        }
    }
}
