//! What each collector does in one run, behind one type, so that the loop in `collector` is
//! the same for all; and what every run shares: its error, and warning once about oddities.

use std::collections::HashSet;

use tracing::warn;

use super::account::AccountRun;
use super::campaigns::CampaignsJob;
use super::categories::CategoriesJob;
use super::mailboxes::MailboxesJob;
use super::replies::RepliesJob;
use crate::settings::{Account, Collector};
use crate::smartlead::client::{ClientError, Exchange, FailureReason, FetchError};
use crate::smartlead::{Endpoint, Oddities};
use crate::state::AccountState;

/// A failed run: why, in words without secrets, and the exchange that failed (its status and
/// the server's waits set the schedule).
#[derive(Debug, Clone)]
pub(crate) struct RunError {
    /// The `reason` label of the call that failed.
    pub(crate) reason: FailureReason,
    /// What happened and, where there is one, what to do about it.
    pub(crate) message: String,
    /// The failing exchange.
    pub(crate) exchange: Exchange,
}

impl From<ClientError> for RunError {
    /// The account's client cannot be built from its settings.
    fn from(e: ClientError) -> Self {
        Self {
            reason: FailureReason::Transport,
            message: e.to_string(),
            exchange: Exchange::default(),
        }
    }
}

impl From<FetchError> for RunError {
    fn from(e: FetchError) -> Self {
        Self {
            reason: e.reason,
            message: e.message,
            exchange: e.exchange,
        }
    }
}

/// Distinct values of one kind already warned about (unknown sentiments, unknown statuses),
/// at most `MAX`: past that, the kind is warned about no more.
#[derive(Debug, Default)]
pub(crate) struct WarnedValues<const MAX: usize>(HashSet<String>);

impl<const MAX: usize> WarnedValues<MAX> {
    /// Whether `value` is to be warned about now: new, and room left to remember it.
    pub(crate) fn first(&mut self, value: &str) -> bool {
        if self.0.len() >= MAX || self.0.contains(value) {
            return false;
        }
        self.0.insert(value.to_owned())
    }
}

/// Warns once per process about each kind of oddity in a collector's answers.
#[derive(Debug, Default)]
pub(crate) struct WarnOnce {
    /// Elements dropped.
    dropped: bool,
    /// Ids or names repeated.
    duplicates: bool,
    /// Values unreadable as their field.
    unreadable: bool,
    /// Names cut.
    truncated: bool,
}

impl WarnOnce {
    /// Warns about what in `oddities` was not warned about yet.
    pub(crate) fn warn(&mut self, account: &str, collector: Collector, oddities: &Oddities) {
        let collector = collector.name();
        if oddities.dropped > 0 && !self.dropped {
            self.dropped = true;
            warn!(%account, collector, dropped = oddities.dropped,
                first = oddities.drop_reason.as_deref().unwrap_or("unknown"),
                "some elements of SmartLead's answer were not usable and were left out");
        }
        if oddities.duplicates > 0 && !self.duplicates {
            self.duplicates = true;
            warn!(%account, collector, duplicates = oddities.duplicates,
                "SmartLead listed some elements more than once; each counts once");
        }
        if oddities.unreadable_values > 0 && !self.unreadable {
            self.unreadable = true;
            warn!(%account, collector, values = oddities.unreadable_values,
                "some values in SmartLead's answer are not what their field should be; they \
                 are taken as absent");
        }
        if oddities.truncated_names > 0 && !self.truncated {
            self.truncated = true;
            warn!(%account, collector, names = oddities.truncated_names,
                "some names are longer than the limit and were cut");
        }
    }
}

/// One collector's work and what it remembers between runs.
#[derive(Debug)]
pub(crate) enum Job {
    /// `categories`.
    Categories(CategoriesJob),
    /// `replies`.
    Replies(RepliesJob),
    /// `campaigns`.
    Campaigns(Box<CampaignsJob>),
    /// `mailboxes`.
    Mailboxes(MailboxesJob),
}

impl Job {
    /// The work of `collector`.
    pub(crate) fn new(collector: Collector) -> Self {
        match collector {
            Collector::Categories => Self::Categories(CategoriesJob::default()),
            Collector::Replies => Self::Replies(RepliesJob::default()),
            Collector::Campaigns => Self::Campaigns(Box::default()),
            Collector::Mailboxes => Self::Mailboxes(MailboxesJob::default()),
        }
    }

    /// The endpoints it calls, whose series are exported from the moment it is enabled.
    pub(crate) fn endpoints(&self) -> &'static [Endpoint] {
        match self {
            Self::Categories(_) => &[Endpoint::FetchCategories],
            Self::Replies(_) => &[Endpoint::CategoryWiseResponse],
            Self::Campaigns(_) => &[Endpoint::Campaigns, Endpoint::CampaignAnalytics],
            Self::Mailboxes(_) => &[Endpoint::EmailAccounts],
        }
    }

    /// One run: its calls, and its data into the store. Returns the last exchange.
    pub(crate) async fn run(
        &mut self,
        run: &AccountRun,
        account: &Account,
    ) -> Result<Exchange, RunError> {
        match self {
            Self::Categories(job) => job.run(run, account).await,
            Self::Replies(job) => job.run(run, account).await,
            Self::Campaigns(job) => job.run(run, account).await,
            Self::Mailboxes(job) => job.run(run, account).await,
        }
    }

    /// Withdraws its data from `state` (stale, or the collector was disabled).
    pub(crate) fn withdraw(&self, state: &mut AccountState) {
        match self {
            Self::Categories(_) => state.categories = None,
            Self::Replies(_) => state.replies = None,
            Self::Campaigns(_) => state.campaigns = None,
            Self::Mailboxes(_) => state.mailboxes = None,
        }
    }
}
