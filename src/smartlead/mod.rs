//! Everything that speaks SmartLead: the API key, the HTTP client, and one model file per
//! endpoint, each with its lenient parser.
//!
//! - [`key`]: the API key, its sources, and the redaction of it from upstream text.
//! - [`client`]: a typed method per endpoint, and what a call returns; `exchange`: the one
//!   bounded GET every call makes (deadline, body cap, no redirects, rate-limit headers,
//!   failure classification); `http`: the HTTP client every account shares.
//! - [`categories`]: `GET /leads/fetch-categories`, the lead categories.
//! - [`replies`]: `GET /analytics/lead/category-wise-response`, replies by category.
//! - [`campaigns`]: `GET /campaigns/` and `GET /campaigns/{id}/analytics`.
//! - [`mailboxes`]: `GET /email-accounts/`, a page of mailboxes.
//! - [`text`]: names kept as labels and excerpts quoted in messages, with the key redacted.

pub(crate) mod campaigns;
pub(crate) mod categories;
pub(crate) mod client;
mod exchange;
mod headers;
mod http;
mod json;
pub(crate) mod key;
pub(crate) mod mailboxes;
pub(crate) mod replies;
pub(crate) mod text;

pub(crate) use json::Oddities;
pub(crate) use time::Date;

/// One SmartLead endpoint the exporter calls: the `api_endpoint` label of the API metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
    /// Every endpoint, in exposition order.
    pub const ALL: [Self; 5] = [
        Self::FetchCategories,
        Self::CategoryWiseResponse,
        Self::Campaigns,
        Self::CampaignAnalytics,
        Self::EmailAccounts,
    ];

    /// The label value: the last segment of the path that names the endpoint.
    pub const fn label(self) -> &'static str {
        match self {
            Self::FetchCategories => "fetch-categories",
            Self::CategoryWiseResponse => "category-wise-response",
            Self::Campaigns => "campaigns",
            Self::CampaignAnalytics => "campaign-analytics",
            Self::EmailAccounts => "email-accounts",
        }
    }

    /// Position in [`Endpoint::ALL`], for counting into arrays.
    pub const fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::Endpoint;

    #[test]
    fn endpoints_are_indexed_in_exposition_order_with_distinct_labels() {
        for (i, endpoint) in Endpoint::ALL.into_iter().enumerate() {
            assert_eq!(endpoint.index(), i);
        }
        let labels: Vec<&str> = Endpoint::ALL.iter().map(|e| e.label()).collect();
        assert_eq!(
            labels,
            [
                "fetch-categories",
                "category-wise-response",
                "campaigns",
                "campaign-analytics",
                "email-accounts"
            ]
        );
    }
}
