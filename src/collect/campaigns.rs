//! The `campaigns` collector: `GET /campaigns/`, then `GET /campaigns/{id}/analytics` for each
//! campaign whose status is selected (`--collector.campaigns.statuses`), one call each.
//!
//! The list is published first, then the analytics as they arrive (at most once per
//! [`PROGRESS_PUBLISH`]), so a long run under a small budget fills the dashboards as it goes.
//! One campaign's failing analytics block nothing: that campaign keeps its last values until
//! they are stale, the others update, and the failures are counted and logged once per
//! streak. A campaign answered with `{}` was deleted after the list was read: its series go.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::account::AccountRun;
use super::job::{RunError, WarnOnce, WarnedValues};
use super::schedule::stale_after;
use crate::settings::{Account, Collector};
use crate::smartlead::campaigns::{Campaign, CampaignAnalytics};
use crate::smartlead::client::Exchange;
use crate::smartlead::Endpoint;
use crate::state::CampaignEntry;

/// While a run fetches analytics, what it has is published at most this often.
pub(crate) const PROGRESS_PUBLISH: Duration = Duration::from_secs(1);

/// At most this many distinct unknown statuses are remembered for warn-once.
pub(crate) const MAX_WARNED_STATUSES: usize = 16;

/// What the collector remembers between runs.
#[derive(Debug, Default)]
pub(crate) struct CampaignsJob {
    /// Each listed campaign's latest analytics and when they arrived.
    analytics: HashMap<u64, (Arc<CampaignAnalytics>, Instant)>,
    /// Listed campaigns whose analytics answered `{}`: deleted. Left out of the series for as
    /// long as SmartLead still lists them and answers so.
    gone: HashSet<u64>,
    /// Unknown statuses already warned about.
    statuses: WarnedValues<MAX_WARNED_STATUSES>,
    /// Dropped or odd entries.
    oddities: WarnOnce,
    /// Whether a streak of runs with failing analytics was logged.
    failing: bool,
}

impl CampaignsJob {
    /// One run: the list, then every selected campaign's analytics.
    pub(crate) async fn run(
        &mut self,
        run: &AccountRun,
        account: &Account,
    ) -> Result<Exchange, RunError> {
        let (client, key) = run.connect(account)?;
        let fetched = run
            .call(
                Collector::Campaigns,
                Endpoint::Campaigns,
                client.campaigns(&key),
            )
            .await?;
        let mut last = fetched.exchange;
        let list = fetched.data;
        for status in &list.unknown_statuses {
            if self.statuses.first(status) {
                warn!(account = %run.name, status = %status,
                    "unknown campaign status, counted as status=\"other\"");
            }
        }
        self.oddities
            .warn(&run.name, Collector::Campaigns, &list.oddities);
        let campaigns = list.campaigns;
        let wanted = &account.settings.campaign_statuses;
        let selected: Vec<u64> = campaigns
            .iter()
            .filter(|c| wanted.iter().any(|s| s == c.status.as_upper()))
            .map(|c| c.id)
            .collect();
        run.set_cost(Collector::Campaigns, 1 + selected.len() as u64, account);
        let listed: HashSet<u64> = campaigns.iter().map(|c| c.id).collect();
        self.analytics.retain(|id, _| listed.contains(id));
        self.gone.retain(|id| listed.contains(id));
        let stale = stale_after(
            account.settings.stale_after,
            run.interval(Collector::Campaigns),
        );
        self.publish(run, &campaigns, stale);

        let mut published = Instant::now();
        let mut failed = 0;
        let mut first_failure = None;
        for &id in &selected {
            match run
                .call(
                    Collector::Campaigns,
                    Endpoint::CampaignAnalytics,
                    client.campaign_analytics(&key, id),
                )
                .await
            {
                Ok(fetched) => {
                    last = fetched.exchange;
                    match fetched.data {
                        Some(analytics) => {
                            self.gone.remove(&id);
                            self.analytics
                                .insert(id, (Arc::new(analytics), Instant::now()));
                        }
                        None => {
                            if self.gone.insert(id) {
                                debug!(account = %run.name, campaign_id = id,
                                    "the campaign was deleted after the list was read");
                            }
                            self.analytics.remove(&id);
                        }
                    }
                }
                Err(e) => {
                    failed += 1;
                    first_failure.get_or_insert((id, e.message));
                    last = e.exchange;
                }
            }
            if published.elapsed() >= PROGRESS_PUBLISH {
                self.publish(run, &campaigns, stale);
                published = Instant::now();
            }
        }
        self.publish(run, &campaigns, stale);
        match first_failure {
            Some((campaign_id, error)) if !self.failing => {
                self.failing = true;
                warn!(account = %run.name, failed, of = selected.len(), campaign_id,
                    error = %error,
                    "some campaigns' analytics failed; they keep their last values until stale");
            }
            None if self.failing => {
                self.failing = false;
                info!(account = %run.name, "every campaign's analytics answer again");
            }
            _ => {}
        }
        Ok(last)
    }

    /// Publishes `campaigns`, but the deleted ones, with the analytics that are not stale.
    fn publish(&self, run: &AccountRun, campaigns: &[Campaign], stale: Duration) {
        let entries: Vec<CampaignEntry> = campaigns
            .iter()
            .filter(|campaign| !self.gone.contains(&campaign.id))
            .map(|campaign| CampaignEntry {
                campaign: campaign.clone(),
                analytics: self
                    .analytics
                    .get(&campaign.id)
                    .filter(|(_, at)| at.elapsed() < stale)
                    .map(|(analytics, _)| Arc::clone(analytics)),
            })
            .collect();
        run.update(|state| state.campaigns = Some(entries.into()));
    }
}
