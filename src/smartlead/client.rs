//! The HTTP client for SmartLead's API: one bounded exchange per call, for every endpoint.
//!
//! One private path, `Client::get` (in `exchange`), does every call: deadline, body cap, no
//! redirects, redaction, failure classification, rate-limit headers. The typed methods here
//! ([`Client::fetch_categories`], [`Client::category_wise_response`], [`Client::campaigns`],
//! [`Client::campaign_analytics`], [`Client::email_accounts`]) build the path and query and
//! hand the body to their endpoint's parser; this module also holds what a call returns:
//! [`Fetched`], [`Exchange`], [`FetchError`] and its [`FailureReason`].
//!
//! Building is two steps, so that many accounts share one connection pool and one TLS
//! configuration: [`http_client`] once, then [`Client::new`] per account.

use std::time::{Duration, SystemTime};

use reqwest::Url;

pub use super::headers::RateLimit;
#[cfg(test)]
pub(crate) use super::headers::FAR_FUTURE;
pub(crate) use super::http::describe;
pub use super::http::{http_client, HttpConfig};
pub(crate) use super::http::{ClientError, POOL_IDLE_TIMEOUT};

use super::campaigns::{self, CampaignAnalytics, CampaignList};
use super::categories::{self, Catalog};
use super::exchange::decoded;
use super::key::ApiKey;
use super::mailboxes::{self, MailboxPage};
use super::replies::{self, Replies};
use super::{Date, Endpoint};

/// Why a poll failed: the `reason` label of `smartlead_api_request_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// No complete answer within `--smartlead.timeout`.
    Timeout,
    /// Connection refused or reset, DNS or TLS failure.
    Transport,
    /// An answer with a status other than 2xx.
    Status,
    /// A 2xx answer whose body is not what the endpoint answers.
    Decode,
    /// A body larger than `--smartlead.max-body-size`.
    TooLarge,
}

impl FailureReason {
    /// Every reason, in exposition order; each is exported at 0 from the start.
    pub const ALL: [Self; 5] = [
        Self::Timeout,
        Self::Transport,
        Self::Status,
        Self::Decode,
        Self::TooLarge,
    ];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Transport => "transport",
            Self::Status => "status",
            Self::Decode => "decode",
            Self::TooLarge => "too_large",
        }
    }
}

/// What one exchange told us besides its body, whether it succeeded or not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exchange {
    /// The HTTP status, when an answer arrived.
    pub status: Option<u16>,
    /// From sending the request to the last body byte (or to the failure), when an answer
    /// arrived; the API latency histogram observes it.
    pub elapsed: Option<Duration>,
    /// The rate-limit headers, when the answer had them.
    pub rate_limit: RateLimit,
    /// `Retry-After`, as an absolute time: no call before then.
    pub retry_after: Option<SystemTime>,
}

/// A successful call.
#[derive(Debug)]
pub struct Fetched<T> {
    /// The parsed answer.
    pub data: T,
    /// The exchange that brought it.
    pub exchange: Exchange,
}

/// A failed poll. The message never contains the key or the request URL.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct FetchError {
    /// The `reason` label.
    pub reason: FailureReason,
    /// What happened and, where there is one, what to do about it.
    pub message: String,
    /// What the exchange told us before it failed.
    pub exchange: Exchange,
}

/// What one account's client needs from the configuration.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The API root, e.g. `https://server.smartlead.ai/api/v1`.
    pub base_url: Url,
    /// The deadline on one whole exchange: connect, headers and body.
    pub timeout: Duration,
    /// The largest body accepted.
    pub max_body_size: u64,
}

/// A SmartLead client for one account. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    /// The pooled HTTP client (rustls, no redirects, explicit User-Agent), shared by every
    /// account; see [`http_client`].
    pub(super) http: reqwest::Client,
    /// The API root (`{base}` without a trailing slash), without the key; every endpoint's
    /// path is appended to it.
    pub(super) base: Url,
    /// See [`ClientConfig::timeout`].
    pub(super) timeout: Duration,
    /// See [`ClientConfig::max_body_size`].
    pub(super) max_body_size: u64,
}

impl Client {
    /// One account's client over the shared `http` client (from [`http_client`]).
    ///
    /// # Errors
    /// [`ClientError::Build`] when the base URL cannot have a path (`mailto:` and the like).
    pub fn new(http: reqwest::Client, config: &ClientConfig) -> Result<Self, ClientError> {
        let mut base = config.base_url.clone();
        base.path_segments_mut()
            .map_err(|()| ClientError::Build("the base URL cannot have a path".into()))?
            .pop_if_empty();
        Ok(Self {
            http,
            base,
            timeout: config.timeout,
            max_body_size: config.max_body_size,
        })
    }

    /// Fetches and parses the lead categories (`GET /leads/fetch-categories`).
    ///
    /// # Errors
    /// A [`FetchError`] classified by [`FailureReason`], whose message never holds the key.
    pub async fn fetch_categories(&self, key: &ApiKey) -> Result<Fetched<Catalog>, FetchError> {
        let endpoint = Endpoint::FetchCategories;
        let answer = self
            .get(key, endpoint, &["leads", "fetch-categories"], &[])
            .await?;
        let parsed = categories::parse(&answer.body, &answer.redactor);
        decoded(endpoint, answer, parsed)
    }

    /// Fetches and parses the replies by category received from `start` to `end`, UTC civil
    /// dates, both included (`GET /analytics/lead/category-wise-response`).
    ///
    /// # Errors
    /// A [`FetchError`] classified by [`FailureReason`], whose message never holds the key.
    pub async fn category_wise_response(
        &self,
        key: &ApiKey,
        start: Date,
        end: Date,
    ) -> Result<Fetched<Replies>, FetchError> {
        let endpoint = Endpoint::CategoryWiseResponse;
        let query = [
            ("start_date", replies::format_date(start)),
            ("end_date", replies::format_date(end)),
        ];
        let path = ["analytics", "lead", "category-wise-response"];
        let answer = self.get(key, endpoint, &path, &query).await?;
        let parsed = replies::parse(&answer.body, &answer.redactor);
        decoded(endpoint, answer, parsed)
    }

    /// Fetches and parses the campaign list (`GET /campaigns/`).
    ///
    /// # Errors
    /// A [`FetchError`] classified by [`FailureReason`], whose message never holds the key.
    pub async fn campaigns(&self, key: &ApiKey) -> Result<Fetched<CampaignList>, FetchError> {
        let endpoint = Endpoint::Campaigns;
        let answer = self.get(key, endpoint, &["campaigns", ""], &[]).await?;
        let parsed = campaigns::parse_list(&answer.body, &answer.redactor);
        decoded(endpoint, answer, parsed)
    }

    /// Fetches and parses one campaign's lifetime analytics (`GET /campaigns/{id}/analytics`):
    /// `None` when SmartLead answers that the campaign is gone (`{}` or an empty body).
    ///
    /// # Errors
    /// A [`FetchError`] classified by [`FailureReason`], whose message never holds the key.
    pub async fn campaign_analytics(
        &self,
        key: &ApiKey,
        id: u64,
    ) -> Result<Fetched<Option<CampaignAnalytics>>, FetchError> {
        let endpoint = Endpoint::CampaignAnalytics;
        let id = id.to_string();
        let answer = self
            .get(key, endpoint, &["campaigns", &id, "analytics"], &[])
            .await?;
        let parsed = campaigns::parse_analytics(&answer.body, &answer.redactor);
        decoded(endpoint, answer, parsed)
    }

    /// Fetches and parses one page of mailboxes (`GET /email-accounts/?offset=N&limit=L`);
    /// SmartLead answers 422 for a `limit` above [`mailboxes::MAX_PAGE_SIZE`]. A page whose
    /// [`MailboxPage::returned`] is below `limit` is the last.
    ///
    /// # Errors
    /// A [`FetchError`] classified by [`FailureReason`], whose message never holds the key nor
    /// anything of an answer's body but the message of a JSON error.
    pub async fn email_accounts(
        &self,
        key: &ApiKey,
        offset: u64,
        limit: u64,
    ) -> Result<Fetched<MailboxPage>, FetchError> {
        let endpoint = Endpoint::EmailAccounts;
        let query = [("offset", offset.to_string()), ("limit", limit.to_string())];
        let answer = self
            .get(key, endpoint, &["email-accounts", ""], &query)
            .await?;
        let parsed = mailboxes::parse(&answer.body, &answer.redactor);
        decoded(endpoint, answer, parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_transport_error_says_what_to_check() {
        // A port nothing listens on: the connection is refused.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let client = Client::new(
            http_client(&HttpConfig::default()).unwrap(),
            &ClientConfig {
                base_url: Url::parse(&format!("http://{addr}/api/v1")).unwrap(),
                timeout: Duration::from_secs(5),
                max_body_size: 1024,
            },
        )
        .unwrap();
        let key = ApiKey::new("secret-key").unwrap();
        let err = client.fetch_categories(&key).await.unwrap_err();
        assert_eq!(err.reason, FailureReason::Transport);
        for hint in ["--smartlead.base-url", "DNS", "egress", "proxy"] {
            assert!(err.message.contains(hint), "{}", err.message);
        }
        assert!(!err.message.contains("secret-key"), "{}", err.message);
        assert!(!err.message.contains('\\'), "{}", err.message);
    }
}
