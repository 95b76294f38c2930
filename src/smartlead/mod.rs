//! Everything that speaks SmartLead: the API key, the response model and the HTTP client.

pub mod client;
pub mod key;
pub mod model;

/// An endpoint the exporter calls: the `api_endpoint` label of the API metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET /leads/fetch-categories`.
    FetchCategories,
    /// `GET /analytics/lead/category-wise-response`.
    CategoryWiseResponse,
    /// `GET /campaigns/`.
    Campaigns,
    /// `GET /campaigns/{id}/analytics`.
    CampaignAnalytics,
    /// `GET /email-accounts/`.
    EmailAccounts,
}

impl Endpoint {
    /// Every endpoint, in this order.
    pub const ALL: [Self; 5] = [
        Self::FetchCategories,
        Self::CategoryWiseResponse,
        Self::Campaigns,
        Self::CampaignAnalytics,
        Self::EmailAccounts,
    ];

    /// The `api_endpoint` label value.
    pub const fn label(self) -> &'static str {
        match self {
            Self::FetchCategories => "fetch-categories",
            Self::CategoryWiseResponse => "category-wise-response",
            Self::Campaigns => "campaigns",
            Self::CampaignAnalytics => "campaign-analytics",
            Self::EmailAccounts => "email-accounts",
        }
    }

    /// Its position in [`Endpoint::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}
