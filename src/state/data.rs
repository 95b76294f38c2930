//! What the collectors learned, as the exposition and the landing page read it: the
//! categories, replies by category, the campaigns with their analytics, the mailboxes, and
//! the budget in force.

use std::sync::Arc;

use crate::smartlead::campaigns::{Campaign, CampaignAnalytics, CampaignStatus};
use crate::smartlead::categories::{Category, Origin, Sentiment};

/// The categories of a successful poll, and how to count them.
#[derive(Debug, Clone, PartialEq)]
pub struct Categories {
    /// Sorted by id, each id once.
    pub list: Arc<[Category]>,
    /// Ids up to this are `origin="global"` (`--categories.global-max-id`).
    pub global_max_id: u64,
}

/// Category counts by sentiment and origin: every one of the combinations.
pub(crate) type Counts = [[u64; Origin::ALL.len()]; Sentiment::ALL.len()];

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

/// Replies received in the last 30 days in one category.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplyCount {
    /// The category's name; `Uncategorized` for replies without one.
    pub category: String,
    /// The category's sentiment, from the answer or the category list; `none` for
    /// `Uncategorized`.
    pub sentiment: Sentiment,
    /// Replies in the window.
    pub replies: u64,
}

/// One campaign of SmartLead's list, with its analytics when they were fetched.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignEntry {
    /// Id, name, status and client, from the list.
    pub campaign: Campaign,
    /// Lifetime totals and lead states, for campaigns whose status is selected; kept from
    /// an earlier run when the latest call failed, until stale.
    pub analytics: Option<Arc<CampaignAnalytics>>,
}

/// Campaigns by status, every status counted.
pub(crate) type StatusCounts = [u64; CampaignStatus::LABELS.len()];

/// Counts the campaigns of `list` by status.
pub(crate) fn status_counts(list: &[CampaignEntry]) -> StatusCounts {
    let mut counts = StatusCounts::default();
    for entry in list {
        counts[entry.campaign.status.index()] += 1;
    }
    counts
}

/// The API budget of the account's key and the calls its collectors plan within it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// `--smartlead.max-calls-per-minute`.
    pub per_minute: u32,
    /// `--smartlead.max-calls-per-hour`.
    pub per_hour: u32,
    /// Calls planned per minute at the intervals in force.
    pub planned_per_minute: f64,
    /// Calls planned per hour at the intervals in force.
    pub planned_per_hour: f64,
}
