//! The `replies` collector: `GET /analytics/lead/category-wise-response` for the last 30 UTC
//! days, one call per run. Categories are joined by name; a sentiment the answer leaves out
//! comes from the category list when the `categories` collector has one.

use std::time::SystemTime;

use tracing::warn;

use super::account::AccountRun;
use super::job::{RunError, WarnOnce, WarnedValues};
use crate::settings::{Account, Collector};
use crate::smartlead::categories::MAX_UNKNOWN_SENTIMENTS;
use crate::smartlead::client::Exchange;
use crate::smartlead::replies::window;
use crate::smartlead::Endpoint;
use crate::state::ReplyCount;

/// What the collector remembers between runs: which oddities it already warned about.
#[derive(Debug, Default)]
pub(crate) struct RepliesJob {
    /// Unrecognised sentiments already warned about.
    sentiments: WarnedValues<MAX_UNKNOWN_SENTIMENTS>,
    /// Dropped or odd entries.
    oddities: WarnOnce,
}

impl RepliesJob {
    /// One run.
    pub(crate) async fn run(
        &mut self,
        run: &AccountRun,
        account: &Account,
    ) -> Result<Exchange, RunError> {
        let (client, key) = run.connect(account)?;
        let (start, end) = window(SystemTime::now());
        let fetched = run
            .call(
                Collector::Replies,
                Endpoint::CategoryWiseResponse,
                client.category_wise_response(&key, start, end),
            )
            .await?;
        let replies = fetched.data;
        for value in &replies.unknown_sentiments {
            if self.sentiments.first(value) {
                warn!(account = %run.name, sentiment_type = %value,
                    "unrecognised sentiment_type in replies by category, counted as sentiment=\"other\"");
            }
        }
        self.oddities
            .warn(&run.name, Collector::Replies, &replies.oddities);
        let categories = run.categories();
        let sentiments = replies.sentiments(categories.as_deref().unwrap_or_default());
        let counts: Vec<ReplyCount> = replies
            .categories
            .into_iter()
            .zip(sentiments)
            .map(|(entry, sentiment)| ReplyCount {
                category: entry.name,
                sentiment,
                replies: entry.replies,
            })
            .collect();
        run.update(|state| state.replies = Some(counts.into()));
        Ok(fetched.exchange)
    }
}
