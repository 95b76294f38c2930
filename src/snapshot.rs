//! [`Snapshot`]: the immutable state after a poll, produced by the poller and read by the
//! metrics encoder and the landing page. A new one replaces the old one whole; nobody mutates
//! a published snapshot.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::smartlead::client::{Exchange, FailureReason, RateLimit};
use crate::smartlead::model::{Category, Origin, Sentiment};

/// The categories of the latest successful poll, and how to count them.
#[derive(Debug, Clone, PartialEq)]
pub struct Categories {
    /// Sorted by id, each id once.
    pub list: Arc<[Category]>,
    /// Ids up to this are `origin="global"` (`--categories.global-max-id`).
    pub global_max_id: u64,
}

/// Category counts by sentiment and origin: every one of the 10 combinations.
pub type Counts = [[u64; Origin::ALL.len()]; Sentiment::ALL.len()];

impl Categories {
    /// Counts the categories in every sentiment and origin combination.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for category in self.list.iter() {
            let origin = Origin::of(category.id, self.global_max_id);
            counts[category.sentiment.index()][origin.index()] += 1;
        }
        counts
    }
}

/// One poll attempt, for the counters and the latency histogram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Status, latency and rate-limit headers, as far as the exchange got.
    pub exchange: Exchange,
    /// Why it failed; `None` when it succeeded.
    pub failure: Option<FailureReason>,
}

/// The exporter's knowledge after the latest poll.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// The latest good categories; `None` before the first success and once they are older
    /// than `--metrics.stale-after`.
    pub categories: Option<Categories>,
    /// Whether the latest poll succeeded.
    pub up: bool,
    /// How many polls were attempted; readiness waits for the first.
    pub attempts: u64,
    /// When the latest successful poll finished.
    pub last_success: Option<SystemTime>,
    /// What went wrong in the latest poll, in words, without the key.
    pub last_error: Option<String>,
    /// Failed polls since the last success; drives the backoff.
    pub consecutive_failures: u32,
    /// The most recent rate-limit headers seen, kept across answers that lack them.
    pub rate_limit: RateLimit,
    /// When the next poll is due, for the landing page.
    pub next_poll: Option<SystemTime>,
    /// How long the latest exchange took, for the landing page.
    pub last_duration: Option<Duration>,
    /// The interval in force between polls while they succeed.
    pub interval: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
