//! What each collector does in one run, behind one type, so that the schedule in
//! `account.rs` is the same for all.

use crate::settings::Account;
use crate::settings::Collector;
use crate::smartlead::client::{ClientError, Exchange, FailureReason, FetchError};
use crate::smartlead::Endpoint;
use crate::state::AccountState;

use super::account::AccountRun;
use super::categories::CategoriesJob;

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

impl RunError {
    /// The account's client cannot be built from its settings.
    pub(crate) fn build(e: &ClientError) -> Self {
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

/// One collector's work and what it remembers between runs.
#[derive(Debug)]
pub(crate) enum Job {
    /// `categories`.
    Categories(CategoriesJob),
}

impl Job {
    /// The work of `collector`, when the exporter has it.
    pub(crate) fn new(collector: Collector) -> Option<Self> {
        match collector {
            Collector::Categories => Some(Self::Categories(CategoriesJob::default())),
            _ => None,
        }
    }

    /// The endpoints it calls, whose series are exported from the moment it is enabled.
    pub(crate) fn endpoints(&self) -> &'static [Endpoint] {
        match self {
            Self::Categories(_) => &[Endpoint::FetchCategories],
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
        }
    }

    /// Withdraws its data from `state` (stale, or the collector was disabled).
    pub(crate) fn withdraw(&self, state: &mut AccountState) {
        match self {
            Self::Categories(_) => state.categories = None,
        }
    }
}
