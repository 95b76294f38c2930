//! The HTTP client for SmartLead's API: one bounded exchange per call, for every endpoint.
//!
//! One private path, [`Client::get`], does every call. It owns the limits that keep a hostile
//! or broken upstream harmless: a deadline on the whole exchange (connect, headers and body), a
//! cap on the body enforced while streaming, no redirects (the key is in the query string and
//! must not travel to another host), and redaction of the key from every message it produces,
//! on the whole text before anything is cut. It classifies each failure into one
//! [`FailureReason`] and reads the rate-limit headers of every answer, with time arithmetic that
//! saturates whatever the headers say. The typed methods on top ([`Client::fetch_categories`],
//! [`Client::category_wise_response`], [`Client::campaigns`], [`Client::campaign_analytics`],
//! [`Client::email_accounts`]) build the path and query and hand the body to their endpoint's
//! parser.
//!
//! Building is two steps, so that many accounts share one connection pool and one TLS
//! configuration: [`http_client`] once, then [`Client::new`] per account.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, RETRY_AFTER};
use reqwest::{StatusCode, Url};

use super::campaigns::{self, CampaignAnalytics, CampaignList};
use super::categories::{self, Catalog};
use super::json::DecodeError;
use super::key::{ApiKey, Redactor, TextEnd};
use super::mailboxes::{self, MailboxPage};
use super::replies::{self, Replies};
use super::text;
use super::{Date, Endpoint};

/// The `endpoint` label of the categories call.
pub const ENDPOINT: &str = Endpoint::FetchCategories.label();

/// How much of an error answer is read to find its message; the rest is dropped unread.
pub const MAX_ERROR_BODY: usize = 4 * 1024;

/// An idle pooled connection is closed after this long, so that a connection the server
/// already dropped is not reused for the next poll. With a poll interval this long or longer
/// no connection is kept at all: it could never be reused, and closing it later would be a
/// wake-up between polls for nothing.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How far ahead a time taken from outside (a header, a deadline from a flag) may lie; one
/// further ahead is taken as this far ahead. It keeps every addition to a clock in range, so
/// none can overflow and panic; nothing waits this long (the poller caps server waits far
/// lower).
pub const FAR_FUTURE: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

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

/// The rate-limit headers of one answer. SmartLead's budget is per key and shared with every
/// other integration using the key, so the exporter shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// `X-RateLimit-Limit`.
    pub limit: Option<u64>,
    /// `X-RateLimit-Remaining`.
    pub remaining: Option<u64>,
    /// `X-RateLimit-Reset`: when the budget refills.
    pub reset: Option<SystemTime>,
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

/// The client could not be built (only at start-up).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The TLS backend or the connector could not be initialised.
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
    /// The `--smartlead.ca-file` bundle is unreadable or holds no usable certificate.
    #[error(transparent)]
    CaBundle(#[from] CaBundleError),
}

/// Why a `--smartlead.ca-file` bundle cannot be used. The message names the file.
#[derive(Debug, thiserror::Error)]
pub enum CaBundleError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a PEM bundle of certificates, or one of them is not a usable CA.
    #[error("{path} is not a PEM bundle of CA certificates: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Reads a PEM bundle of CA certificates (`--smartlead.ca-file`), which are trusted in
/// addition to the public roots compiled in: a TLS-inspecting corporate proxy re-signs
/// SmartLead's certificate with its own CA.
///
/// # Errors
/// [`CaBundleError`] when the file cannot be read, holds no `CERTIFICATE` block, or a block is
/// not a certificate that can serve as a trust anchor.
pub fn load_ca_bundle(path: &Path) -> Result<Vec<reqwest::Certificate>, CaBundleError> {
    let shown = path.display().to_string();
    let invalid = |reason: String| CaBundleError::Invalid {
        path: shown.clone(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|source| CaBundleError::Read {
        path: shown.clone(),
        source,
    })?;
    let certs =
        reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| invalid(describe(&e, None)))?;
    if certs.is_empty() {
        return Err(invalid("it holds no \"BEGIN CERTIFICATE\" block".into()));
    }
    // reqwest parses each certificate only when a client is built: build one per certificate
    // now, so that a bad one is refused at start-up with its position in the file.
    for (n, cert) in certs.iter().enumerate() {
        reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(cert.clone())
            .build()
            .map_err(|e| invalid(format!("certificate {}: {}", n + 1, describe(&e, None))))?;
    }
    Ok(certs)
}

/// What the shared HTTP client needs from the configuration: settings common to every
/// account.
#[derive(Debug, Clone, Default)]
pub struct HttpConfig {
    /// Whether idle connections are kept for the next poll: worth it only when some account
    /// polls more often than [`POOL_IDLE_TIMEOUT`] closes them; otherwise a kept connection
    /// could never be reused, and closing it later would be a wake-up for nothing.
    pub pool_connections: bool,
    /// A PEM bundle of CA certificates trusted besides the built-in roots
    /// (`--smartlead.ca-file`), for TLS-intercepting proxies.
    pub ca_file: Option<PathBuf>,
}

/// Builds the HTTP client shared by every account: rustls with the public roots compiled in
/// (plus those of `--smartlead.ca-file`), no redirects, explicit User-Agent. Proxies named by
/// `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` are used (reqwest's default).
/// Deadlines are per request (see [`ClientConfig::timeout`]), so accounts can differ.
///
/// # Errors
/// [`ClientError::CaBundle`] when the bundle cannot be used, [`ClientError::Build`] when the
/// TLS backend cannot be initialised.
pub fn http_client(config: &HttpConfig) -> Result<reqwest::Client, ClientError> {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    let mut builder = reqwest::Client::builder();
    if let Some(path) = &config.ca_file {
        for cert in load_ca_bundle(path)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .user_agent(crate::USER_AGENT)
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_max_idle_per_host(if config.pool_connections {
            usize::MAX
        } else {
            0
        })
        .build()
        .map_err(|e| ClientError::Build(describe(&e.without_url(), None)))
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
    http: reqwest::Client,
    /// The API root (`{base}` without a trailing slash), without the key; every endpoint's
    /// path is appended to it.
    base: Url,
    /// See [`ClientConfig::timeout`].
    timeout: Duration,
    /// See [`ClientConfig::max_body_size`].
    max_body_size: u64,
}

/// A 2xx answer read whole, before its endpoint's parser sees it.
struct Answer {
    /// The HTTP status.
    status: StatusCode,
    /// The body, at most `max_body_size` bytes.
    body: Vec<u8>,
    /// What the exchange told besides the body.
    exchange: Exchange,
    /// Hides the key in whatever the parser takes from the body.
    redactor: Redactor,
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

    /// The API root, without the key: safe to log.
    pub fn base_url(&self) -> &Url {
        &self.base
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

    /// The request URL of a call, with the key: never logged.
    fn url(&self, key: &ApiKey, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(segments);
        }
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("api_key", key.expose());
            for (name, value) in query {
                pairs.append_pair(name, value);
            }
        }
        url
    }

    /// The one exchange every call makes: `GET` within the deadline and the body cap, with
    /// every failure classified and its message redacted. Returns a 2xx answer's body unparsed.
    async fn get(
        &self,
        key: &ApiKey,
        endpoint: Endpoint,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Answer, FetchError> {
        let url = self.url(key, segments, query);
        let redactor = Redactor::new(key);
        let started = Instant::now();
        let deadline = started
            .checked_add(self.timeout.min(FAR_FUTURE))
            .unwrap_or(started);
        let deadline = tokio::time::Instant::from_std(deadline);
        let mut exchange = Exchange::default();
        // Upstream text in messages was redacted before it was cut; this catches the rest
        // (a transport error quoting the URL, say) on the whole message.
        let fail = |reason, message: String, exchange: Exchange| FetchError {
            reason,
            message: redactor.redact(&message, TextEnd::Complete).into_owned(),
            exchange,
        };

        let request = self.http.get(url).timeout(self.timeout.min(FAR_FUTURE));
        let sent = tokio::time::timeout_at(deadline, request.send()).await;
        let response = match sent {
            Err(_) => return Err(fail(FailureReason::Timeout, self.timed_out(), exchange)),
            Ok(Err(e)) => {
                let reason = if e.is_timeout() {
                    FailureReason::Timeout
                } else {
                    FailureReason::Transport
                };
                let message = match reason {
                    FailureReason::Timeout => self.timed_out(),
                    _ => with_certificate_hint(format!(
                        "{}; check --smartlead.base-url, that its host name resolves (DNS), \
                         that egress to it is allowed (firewall, NetworkPolicy), and any proxy \
                         (HTTPS_PROXY)",
                        describe(&e.without_url(), Some("cannot reach SmartLead"))
                    )),
                };
                return Err(fail(reason, message, exchange));
            }
            Ok(Ok(response)) => response,
        };

        let status = response.status();
        let now = SystemTime::now();
        exchange.status = Some(status.as_u16());
        exchange.rate_limit = rate_limit(response.headers(), now);
        exchange.retry_after = retry_after(response.headers(), now);

        if !status.is_success() {
            // The error body only feeds the message: read a little, within the deadline.
            let body = read_body(response, MAX_ERROR_BODY as u64, deadline, true).await;
            exchange.elapsed = Some(started.elapsed());
            let detail = body.ok().and_then(|b| {
                if endpoint == Endpoint::EmailAccounts {
                    // Mailbox answers hold credentials: only a JSON error's own message.
                    text::json_error_message(&b, &redactor)
                } else if b.len() < MAX_ERROR_BODY {
                    text::error_message(&b, &redactor)
                } else {
                    text::error_message_of_head(&b, &redactor)
                }
            });
            return Err(fail(
                FailureReason::Status,
                status_message(status, detail.as_deref()),
                exchange,
            ));
        }

        let body = read_body(response, self.max_body_size, deadline, false).await;
        exchange.elapsed = Some(started.elapsed());
        let body = match body {
            Ok(body) => body,
            Err(BodyError::TooLarge) => {
                let message = format!(
                    "SmartLead's answer is larger than --smartlead.max-body-size ({} bytes); \
                     it was cut off unread. {}",
                    self.max_body_size,
                    too_large_hint(endpoint)
                );
                return Err(fail(FailureReason::TooLarge, message, exchange));
            }
            Err(BodyError::Timeout) => {
                return Err(fail(FailureReason::Timeout, self.timed_out(), exchange))
            }
            Err(BodyError::Transport(e)) if e.is_timeout() => {
                return Err(fail(FailureReason::Timeout, self.timed_out(), exchange))
            }
            Err(BodyError::Transport(e)) => {
                let message = describe(&e.without_url(), Some("the answer broke off"));
                return Err(fail(FailureReason::Transport, message, exchange));
            }
        };
        Ok(Answer {
            status,
            body,
            exchange,
            redactor,
        })
    }

    fn timed_out(&self) -> String {
        format!(
            "no complete answer from SmartLead within --smartlead.timeout ({})",
            humantime::format_duration(self.timeout)
        )
    }
}

/// A parsed answer, or the decode failure of its body.
fn decoded<T>(
    endpoint: Endpoint,
    answer: Answer,
    parsed: Result<T, DecodeError>,
) -> Result<Fetched<T>, FetchError> {
    match parsed {
        Ok(data) => Ok(Fetched {
            data,
            exchange: answer.exchange,
        }),
        Err(e) => {
            let message = format!(
                "SmartLead answered {} with a body that is not {}: {e}",
                answer.status,
                expected_body(endpoint)
            );
            Err(FetchError {
                reason: FailureReason::Decode,
                message: answer
                    .redactor
                    .redact(&message, TextEnd::Complete)
                    .into_owned(),
                exchange: answer.exchange,
            })
        }
    }
}

/// What a 2xx answer of `endpoint` should be, for a decode failure's message.
const fn expected_body(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::FetchCategories => "a category list",
        Endpoint::CategoryWiseResponse => "replies by category",
        Endpoint::Campaigns => "a campaign list",
        Endpoint::CampaignAnalytics => "campaign analytics",
        Endpoint::EmailAccounts => "a mailbox list",
    }
}

/// What to do about an answer of `endpoint` larger than `--smartlead.max-body-size`.
const fn too_large_hint(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::FetchCategories => {
            "Raise the flag if the account really has that many categories"
        }
        Endpoint::CategoryWiseResponse => {
            "Raise the flag if the account really has that many categories with replies"
        }
        Endpoint::Campaigns => "Raise the flag if the account really has that many campaigns",
        Endpoint::CampaignAnalytics => {
            "Raise the flag if one campaign's analytics really are that large"
        }
        Endpoint::EmailAccounts => {
            "Raise the flag if one page of mailboxes (at most 100) really is that large"
        }
    }
}

enum BodyError {
    TooLarge,
    Timeout,
    Transport(reqwest::Error),
}

/// Streams the body into memory, never holding more than `cap` bytes. With `truncate`, a
/// longer body is cut at `cap` instead of refused.
async fn read_body(
    mut response: reqwest::Response,
    cap: u64,
    deadline: tokio::time::Instant,
    truncate: bool,
) -> Result<Vec<u8>, BodyError> {
    if let Some(length) = response.content_length() {
        if length > cap && !truncate {
            return Err(BodyError::TooLarge);
        }
    }
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    let expected = response.content_length().unwrap_or(0);
    let mut body = Vec::with_capacity(usize::try_from(expected).unwrap_or(0).min(cap));
    loop {
        let chunk = match tokio::time::timeout_at(deadline, response.chunk()).await {
            Err(_) => return Err(BodyError::Timeout),
            Ok(Err(e)) => return Err(BodyError::Transport(e)),
            Ok(Ok(None)) => return Ok(body),
            Ok(Ok(Some(chunk))) => chunk,
        };
        if body.len() + chunk.len() > cap {
            if truncate {
                body.extend_from_slice(&chunk[..cap - body.len()]);
                return Ok(body);
            }
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
}

/// A message for a non-2xx answer, with what to do about it.
fn status_message(status: StatusCode, detail: Option<&str>) -> String {
    let detail = detail.map(|d| format!(": {d:?}")).unwrap_or_default();
    let hint = match status.as_u16() {
        401 => {
            "the API key is invalid or expired: check SMARTLEAD_API_KEY or the file named by \
                --smartlead.api-key-file (a rotated file is picked up on the next poll)"
        }
        403 => {
            "the key was refused: the SmartLead plan may lack API access, or a proxy or \
                Cloudflare blocked the request"
        }
        429 => {
            "rate limited: the key's budget is shared with every integration that uses it; \
                the exporter waits for Retry-After and backs off"
        }
        400 | 422 => {
            "SmartLead refused the request's parameters (a date or a page size out of range); \
                the exporter sends what SmartLead documents, so its API may have changed"
        }
        404 => "the endpoint or object was not found: check --smartlead.base-url",
        300..=399 => {
            "redirects are not followed, since the key is in the query string; check \
                      --smartlead.base-url"
        }
        520..=527 => "Cloudflare could not get an answer from SmartLead; retrying with backoff",
        500..=599 => "SmartLead failed; retrying with backoff",
        _ => "unexpected status; retrying with backoff",
    };
    format!("SmartLead answered {status}{detail}; {hint}")
}

/// An error and its sources, as one line: `context: outer: inner: ...`.
fn describe(error: &dyn std::error::Error, context: Option<&str>) -> String {
    let mut text = context.map(str::to_owned).unwrap_or_default();
    let mut current: Option<&dyn std::error::Error> = Some(error);
    let mut last = String::new();
    while let Some(e) = current {
        let part = e.to_string();
        // Wrappers often repeat their source's text; print each distinct part once.
        if !last.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        last = part;
        current = e.source();
    }
    text
}

/// A time from a header, no further ahead of `now` than [`FAR_FUTURE`]; `None` (overflow)
/// counts as far ahead.
fn clamp_ahead(at: Option<SystemTime>, now: SystemTime) -> SystemTime {
    let limit = now.checked_add(FAR_FUTURE).unwrap_or(now);
    match at {
        Some(at) if at <= limit => at,
        _ => limit,
    }
}

/// What rustls says when no trusted CA signed the server's certificate.
const UNTRUSTED_CERTIFICATE: &str = "invalid peer certificate";

/// Adds what to do to a transport failure caused by an untrusted certificate: in a company
/// network that is usually a TLS-inspecting proxy, whose CA the exporter must be given.
fn with_certificate_hint(mut message: String) -> String {
    if message.contains(UNTRUSTED_CERTIFICATE) {
        message.push_str(
            "; if a proxy between here and SmartLead inspects TLS, name its CA bundle with \
             --smartlead.ca-file",
        );
    }
    message
}

/// A header's whole number: `None` unless it is one, in digits.
fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    whole_number(headers.get(name)?.to_str().ok()?)?.ok()
}

/// Text as a non-negative whole number: `Some(Ok(n))`, `Some(Err(()))` for digits too large
/// for a `u64`, `None` for anything else. Some proxies send a fraction; the whole part
/// counts.
fn whole_number(text: &str) -> Option<Result<u64, ()>> {
    let whole = text.trim().split('.').next()?;
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(whole.parse().map_err(|_| ()))
}

/// A number of seconds from a header, saturating: digits too large for a `u64` count as
/// `u64::MAX`, which every later step clamps to [`FAR_FUTURE`].
fn header_seconds(headers: &HeaderMap, name: impl reqwest::header::AsHeaderName) -> Option<u64> {
    Some(whole_number(headers.get(name)?.to_str().ok()?)?.unwrap_or(u64::MAX))
}

/// Timestamps below this are taken as seconds from now rather than Unix seconds: some APIs
/// send `X-RateLimit-Reset` as a delay, and no real reset lies before 2001.
const RESET_IS_A_DELAY_BELOW: u64 = 1_000_000_000;

fn rate_limit(headers: &HeaderMap, now: SystemTime) -> RateLimit {
    let reset = header_seconds(headers, "x-ratelimit-reset").map(|v| {
        let at = if v < RESET_IS_A_DELAY_BELOW {
            now.checked_add(Duration::from_secs(v))
        } else {
            SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(v))
        };
        clamp_ahead(at, now)
    });
    RateLimit {
        limit: header_u64(headers, "x-ratelimit-limit"),
        remaining: header_u64(headers, "x-ratelimit-remaining"),
        reset,
    }
}

/// `Retry-After` as seconds or as an HTTP date, no further ahead than [`FAR_FUTURE`].
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<SystemTime> {
    if let Some(seconds) = header_seconds(headers, RETRY_AFTER) {
        return Some(clamp_ahead(
            now.checked_add(Duration::from_secs(seconds)),
            now,
        ));
    }
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let at = httpdate::parse_http_date(text).ok()?;
    Some(clamp_ahead(Some(at), now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn endpoint_is_built_under_the_base_path() {
        for base in [
            "https://server.smartlead.ai/api/v1",
            "https://server.smartlead.ai/api/v1/",
        ] {
            let http = http_client(&HttpConfig::default()).unwrap();
            let client = Client::new(
                http,
                &ClientConfig {
                    base_url: Url::parse(base).unwrap(),
                    timeout: Duration::from_secs(1),
                    max_body_size: 1,
                },
            )
            .unwrap();
            let key = ApiKey::new("k").unwrap();
            assert_eq!(
                client
                    .url(&key, &["leads", "fetch-categories"], &[])
                    .as_str(),
                "https://server.smartlead.ai/api/v1/leads/fetch-categories?api_key=k"
            );
            assert_eq!(
                client.base_url().as_str(),
                "https://server.smartlead.ai/api/v1"
            );
        }
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            retry_after(&headers(&[("retry-after", "120")]), now),
            Some(now + Duration::from_secs(120))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]),
                now
            ),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480))
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn rate_limit_headers_are_read_leniently() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let limits = rate_limit(
            &headers(&[
                ("x-ratelimit-limit", "60"),
                ("x-ratelimit-remaining", " 12 "),
                ("x-ratelimit-reset", "1700000030"),
            ]),
            now,
        );
        assert_eq!(limits.limit, Some(60));
        assert_eq!(limits.remaining, Some(12));
        assert_eq!(limits.reset, Some(now + Duration::from_secs(30)));
        let delay = rate_limit(&headers(&[("x-ratelimit-reset", "45")]), now);
        assert_eq!(delay.reset, Some(now + Duration::from_secs(45)));
        assert_eq!(
            rate_limit(&headers(&[("x-ratelimit-limit", "-3")]), now),
            RateLimit::default()
        );
    }

    #[test]
    fn header_times_saturate_instead_of_overflowing() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let far = now + FAR_FUTURE;
        for huge in [
            "9223372036854775808",
            "18446744073709551615",
            "99999999999999999999999999",
            "9223372036854775807.5",
        ] {
            let limits = rate_limit(&headers(&[("x-ratelimit-reset", huge)]), now);
            assert_eq!(limits.reset, Some(far), "{huge}");
            let wait = retry_after(&headers(&[("retry-after", huge)]), now);
            assert_eq!(wait, Some(far), "{huge}");
        }
        // An HTTP date can name the year 9999: too far ahead, clamped.
        let date = retry_after(
            &headers(&[("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT")]),
            now,
        );
        assert_eq!(date, Some(far));
        // Limits too large for a number are left out, not wrapped.
        let limits = rate_limit(
            &headers(&[("x-ratelimit-remaining", "99999999999999999999999")]),
            now,
        );
        assert_eq!(limits.remaining, None);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Header values: arbitrary text, and numbers around every overflow boundary.
        fn value() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<String>(),
                "[ -~]{0,40}",
                any::<u64>().prop_map(|n| n.to_string()),
                any::<i64>().prop_map(|n| n.to_string()),
                any::<u128>().prop_map(|n| n.to_string()),
                (any::<u64>(), any::<u32>()).prop_map(|(a, b)| format!("{a}.{b}")),
                "[0-9]{15,40}",
                "(Mon|Fri|Sun), [0-9]{2} (Jan|Feb|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT",
            ]
        }

        proptest! {
            #[test]
            fn header_parsing_never_panics_and_stays_in_range(
                reset in value(),
                retry in value(),
                limit in value(),
                now_secs in 0u64..8_000_000_000,
            ) {
                let now = SystemTime::UNIX_EPOCH + Duration::from_secs(now_secs);
                let mut map = HeaderMap::new();
                for (name, text) in [
                    ("x-ratelimit-reset", &reset),
                    ("retry-after", &retry),
                    ("x-ratelimit-limit", &limit),
                    ("x-ratelimit-remaining", &limit),
                ] {
                    if let Ok(v) = HeaderValue::from_str(text) {
                        map.insert(name, v);
                    }
                }
                let limits = rate_limit(&map, now);
                let wait = retry_after(&map, now);
                for at in [limits.reset, wait].into_iter().flatten() {
                    prop_assert!(at <= now + FAR_FUTURE);
                    // What the poller does with it cannot overflow either.
                    let _ = at.duration_since(now);
                }
            }
        }
    }

    #[test]
    fn status_messages_say_what_to_do() {
        let m = status_message(StatusCode::UNAUTHORIZED, Some("Invalid API Key"));
        assert!(m.starts_with("SmartLead answered 401 Unauthorized: \"Invalid API Key\"; "));
        assert!(m.contains("--smartlead.api-key-file"));
        let m = status_message(StatusCode::from_u16(524).unwrap(), None);
        assert!(m.contains("Cloudflare"), "{m}");
    }

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
