//! The `mailboxes` collector: `GET /email-accounts/?offset=N&limit=100` page by page until a
//! short page, one call per page. A run that fails on any page keeps the previous listing
//! whole: a half listing would make the missing mailboxes look gone.

use std::collections::HashSet;

use tracing::warn;

use super::account::AccountRun;
use super::job::{RunError, WarnOnce};
use crate::settings::{Account, Collector};
use crate::smartlead::client::Exchange;
use crate::smartlead::mailboxes::{Mailbox, MAX_PAGE_SIZE};
use crate::smartlead::Endpoint;

/// A listing stops after this many pages (1,000,000 mailboxes), however many SmartLead says
/// there are: an answer that never ends must not keep the collector calling for ever.
pub(crate) const MAX_PAGES: u64 = 10_000;

/// What the collector remembers between runs: which oddities it already warned about.
#[derive(Debug, Default)]
pub(crate) struct MailboxesJob {
    /// Dropped or odd entries.
    oddities: WarnOnce,
    /// Whether the page limit was warned about.
    warned_pages: bool,
}

impl MailboxesJob {
    /// One run: every page.
    pub(crate) async fn run(
        &mut self,
        run: &AccountRun,
        account: &Account,
    ) -> Result<Exchange, RunError> {
        let (client, key) = run.connect(account)?;
        let mut mailboxes: Vec<Mailbox> = Vec::new();
        let mut seen = HashSet::new();
        let mut pages = 0;
        let exchange = loop {
            let offset = pages * MAX_PAGE_SIZE;
            let fetched = run
                .call(
                    Collector::Mailboxes,
                    Endpoint::EmailAccounts,
                    client.email_accounts(&key, offset, MAX_PAGE_SIZE),
                )
                .await?;
            pages += 1;
            let page = fetched.data;
            self.oddities
                .warn(&run.name, Collector::Mailboxes, &page.oddities);
            mailboxes.extend(page.mailboxes.into_iter().filter(|m| seen.insert(m.id)));
            if (page.returned as u64) < MAX_PAGE_SIZE {
                break fetched.exchange;
            }
            if pages >= MAX_PAGES {
                if !self.warned_pages {
                    self.warned_pages = true;
                    warn!(account = %run.name, pages,
                        "SmartLead kept answering full pages of mailboxes; the listing stops here");
                }
                break fetched.exchange;
            }
        };
        run.set_cost(Collector::Mailboxes, pages, account);
        mailboxes.sort_unstable_by_key(|m| m.id);
        run.update(|state| state.mailboxes = Some(mailboxes.into()));
        Ok(exchange)
    }
}
