//! The `categories` collector: `GET /leads/fetch-categories`, one call per run; oddities in
//! the answer warned about once per process.

use tracing::{debug, warn};

use super::account::AccountRun;
use super::job::{RunError, WarnedValues};
use crate::settings::{Account, Collector};
use crate::smartlead::categories::{Catalog, MAX_CATEGORY_NAME_BYTES};
use crate::smartlead::client::Exchange;
use crate::smartlead::Endpoint;
use crate::state::Categories;

/// At most this many distinct unrecognised sentiments are remembered for warn-once.
pub(crate) const MAX_WARNED_SENTIMENTS: usize = 64;

/// What the collector remembers between runs: which oddities it already warned about.
#[derive(Debug, Default)]
pub(crate) struct CategoriesJob {
    /// Unrecognised sentiments already warned about.
    sentiments: WarnedValues<MAX_WARNED_SENTIMENTS>,
    /// Duplicate ids.
    duplicates: bool,
    /// Unreadable timestamps.
    timestamps: bool,
    /// Names cut or unreadable.
    names: bool,
    /// Elements that are no category.
    dropped: bool,
}

impl CategoriesJob {
    /// One run.
    pub(crate) async fn run(
        &mut self,
        run: &AccountRun,
        account: &Account,
    ) -> Result<Exchange, RunError> {
        let (client, key) = run.connect(account)?;
        let fetched = run
            .call(
                Collector::Categories,
                Endpoint::FetchCategories,
                client.fetch_categories(&key),
            )
            .await?;
        let catalog = fetched.data;
        self.warn_about_oddities(&run.name, &catalog);
        debug!(account = %run.name, categories = catalog.categories.len(),
            elapsed_ms = fetched.exchange.elapsed.map(|e| e.as_millis()), "poll succeeded");
        let categories = Categories {
            list: catalog.categories.into(),
            global_max_id: account.settings.global_max_id,
        };
        run.update(|state| {
            // The previous list is freed before the new one is in place, not after.
            state.categories = None;
            state.categories = Some(categories);
        });
        Ok(fetched.exchange)
    }

    fn warn_about_oddities(&mut self, account: &str, catalog: &Catalog) {
        for value in &catalog.unknown_sentiments {
            if self.sentiments.first(value) {
                warn!(%account, sentiment_type = %value,
                    "unrecognised sentiment_type, counted as sentiment=\"other\"");
            }
        }
        if catalog.oddities.duplicates > 0 && !self.duplicates {
            self.duplicates = true;
            warn!(%account, duplicates = catalog.oddities.duplicates,
                "SmartLead listed some category ids more than once; each id counts once");
        }
        if catalog.unreadable_timestamps > 0 && !self.timestamps {
            self.timestamps = true;
            warn!(%account, categories = catalog.unreadable_timestamps,
                "some created_at values are not RFC 3339 timestamps; their \
                 smartlead_category_created_timestamp_seconds series are left out");
        }
        if catalog.oddities.truncated_names + catalog.unreadable_names > 0 && !self.names {
            self.names = true;
            warn!(%account, cut = catalog.oddities.truncated_names, unreadable = catalog.unreadable_names,
                max_bytes = MAX_CATEGORY_NAME_BYTES,
                "some category names are longer than the limit and were cut, or are not text \
                 and were left empty");
        }
        if catalog.oddities.dropped > 0 && !self.dropped {
            self.dropped = true;
            warn!(%account, dropped = catalog.oddities.dropped,
                first = catalog.oddities.drop_reason.as_deref().unwrap_or("unknown"),
                "some elements of SmartLead's list are not categories and were left out");
        }
    }
}
