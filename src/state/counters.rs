//! Counters of the calls to each endpoint: responses by status code, failures by reason, and
//! the latency histogram.

use crate::smartlead::client::{Exchange, FailureReason};

/// Upper bounds of the API latency histogram's buckets, in seconds: from 25 ms to SmartLead's
/// slowest useful answer (Cloudflare gives up after about 100 s; the default timeout is 10 s).
pub(crate) const LATENCY_BUCKETS: [f64; 11] =
    [0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0];

/// Status codes counted at 0 from the start for every endpoint an account calls, so that the
/// alerts reading them see the first one (an `increase()` needs a sample before the change).
pub(crate) const PREINITIALISED_CODES: [u16; 3] = [401, 403, 429];

/// Calls to one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointCounters {
    /// Whether its series are exported: from the moment a collector that calls it is enabled.
    pub active: bool,
    /// Responses by status code, sorted by code.
    pub requests: Vec<(u16, u64)>,
    /// Failures by reason, by position in [`FailureReason::ALL`].
    pub failures: [u64; FailureReason::ALL.len()],
    /// Latency of every response.
    pub latency: Latency,
}

/// A histogram over [`LATENCY_BUCKETS`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Latency {
    /// Observations at or below each bucket's upper bound, not cumulative.
    pub buckets: [u64; LATENCY_BUCKETS.len()],
    /// Sum of the observations, in seconds.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

impl Latency {
    /// Counts one observation.
    pub fn observe(&mut self, seconds: f64) {
        if let Some(at) = LATENCY_BUCKETS.iter().position(|&bound| seconds <= bound) {
            self.buckets[at] += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }
}

impl Default for EndpointCounters {
    fn default() -> Self {
        Self {
            active: false,
            requests: PREINITIALISED_CODES.iter().map(|&code| (code, 0)).collect(),
            failures: [0; FailureReason::ALL.len()],
            latency: Latency::default(),
        }
    }
}

impl EndpointCounters {
    /// Counts one call: its status code, latency and failure reason.
    pub fn record(&mut self, exchange: &Exchange, failure: Option<FailureReason>) {
        self.active = true;
        if let Some(status) = exchange.status {
            match self
                .requests
                .binary_search_by_key(&status, |&(code, _)| code)
            {
                Ok(at) => self.requests[at].1 += 1,
                Err(at) => self.requests.insert(at, (status, 1)),
            }
        }
        if let Some(elapsed) = exchange.elapsed {
            self.latency.observe(elapsed.as_secs_f64());
        }
        if let Some(reason) = failure {
            if let Some(at) = FailureReason::ALL.iter().position(|&r| r == reason) {
                self.failures[at] += 1;
            }
        }
    }
}
