//! The settings every account has, shared by the flags and the accounts file.

use std::time::Duration;

/// One of the exporter's collectors: what it polls and how often by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Collector {
    /// `GET /leads/fetch-categories`: the lead categories.
    Categories,
    /// `GET /analytics/lead/category-wise-response`: replies by category over 30 days.
    Replies,
    /// `GET /campaigns/` and each selected campaign's analytics.
    Campaigns,
    /// `GET /email-accounts/`, a page per 100 mailboxes.
    Mailboxes,
}

impl Collector {
    /// Every collector, in this order.
    pub const ALL: [Self; 4] = [
        Self::Categories,
        Self::Replies,
        Self::Campaigns,
        Self::Mailboxes,
    ];

    /// The `collector` label and the flag's `NAME`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Categories => "categories",
            Self::Replies => "replies",
            Self::Campaigns => "campaigns",
            Self::Mailboxes => "mailboxes",
        }
    }

    /// Its position in [`Collector::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The interval when none is given.
    pub const fn default_interval(self) -> Duration {
        match self {
            Self::Categories => Duration::from_secs(60),
            Self::Replies => Duration::from_secs(15 * 60),
            Self::Campaigns | Self::Mailboxes => Duration::from_secs(5 * 60),
        }
    }
}
