//! The HTTP client for `GET {base}/leads/fetch-categories`: one bounded exchange per call.
//!
//! It owns the limits that keep a hostile or broken upstream harmless: a deadline on the
//! whole exchange (connect, headers and body), a cap on the body enforced while streaming,
//! no redirects (the key is in the query string and must not travel to another host), and
//! redaction of the key from every message it produces. It classifies each failure into one
//! [`FailureReason`] and reads the rate-limit headers of every answer.

use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, RETRY_AFTER};
use reqwest::{StatusCode, Url};

use super::key::{ApiKey, REDACTED};
use super::model::{self, Catalog};

/// The `endpoint` label of the API metrics.
pub const ENDPOINT: &str = "fetch-categories";

/// How much of an error answer is read to find its message; the rest is dropped unread.
pub const MAX_ERROR_BODY: usize = 4 * 1024;

/// An idle pooled connection is closed after this long, so that a connection the server
/// already dropped is not reused for the next poll. With a poll interval this long or longer
/// no connection is kept at all: it could never be reused, and closing it later would be a
/// wake-up between polls for nothing.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a poll failed: the `reason` label of `smartlead_api_request_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// No complete answer within `--smartlead.timeout`.
    Timeout,
    /// Connection refused or reset, DNS or TLS failure.
    Transport,
    /// An answer with a status other than 2xx.
    Status,
    /// A 2xx answer whose body is not a category list.
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

/// A successful poll.
#[derive(Debug)]
pub struct Fetched {
    /// The parsed categories.
    pub catalog: Catalog,
    /// The exchange that brought them.
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
}

/// What the shared HTTP client needs: one client serves every account, so that 500 accounts
/// share one TLS configuration and one connection pool.
#[derive(Debug, Clone, Default)]
pub struct HttpConfig {
    /// Whether idle connections are kept for the next poll: only worth it when some poll
    /// comes before [`POOL_IDLE_TIMEOUT`] would close them.
    pub pool_connections: bool,
    /// A PEM bundle of extra roots (`--smartlead.ca-file`).
    pub ca_file: Option<std::path::PathBuf>,
}

/// Builds the HTTP client shared by every account: rustls, no redirects, explicit User-Agent.
///
/// # Errors
/// [`ClientError::Build`] when the TLS backend cannot be initialised.
pub fn http_client(config: &HttpConfig) -> Result<reqwest::Client, ClientError> {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    reqwest::Client::builder()
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
    /// The deadline on one whole exchange, body included.
    pub timeout: Duration,
    /// The largest body accepted.
    pub max_body_size: u64,
}

/// One account's SmartLead client over the shared HTTP client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    /// The shared pooled HTTP client (see [`http_client`]).
    http: reqwest::Client,
    /// `{base}/leads/fetch-categories`, without the key.
    endpoint: Url,
    /// See [`ClientConfig::timeout`].
    timeout: Duration,
    /// See [`ClientConfig::max_body_size`].
    max_body_size: u64,
}

impl Client {
    /// A client for one account.
    ///
    /// # Errors
    /// [`ClientError::Build`] when the base URL cannot take a path.
    pub fn new(http: reqwest::Client, config: &ClientConfig) -> Result<Self, ClientError> {
        let mut endpoint = config.base_url.clone();
        endpoint
            .path_segments_mut()
            .map_err(|()| ClientError::Build("the base URL cannot have a path".into()))?
            .pop_if_empty()
            .extend(["leads", ENDPOINT]);
        Ok(Self {
            http,
            endpoint,
            timeout: config.timeout,
            max_body_size: config.max_body_size,
        })
    }

    /// The endpoint called, without the key: safe to log.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// Fetches and parses the categories, within the deadline and the body cap.
    ///
    /// # Errors
    /// A [`FetchError`] classified by [`FailureReason`], whose message never holds the key.
    pub async fn fetch_categories(&self, key: &ApiKey) -> Result<Fetched, FetchError> {
        let mut url = self.endpoint.clone();
        url.query_pairs_mut().append_pair("api_key", key.expose());
        let started = Instant::now();
        let deadline = tokio::time::Instant::from_std(started + self.timeout);
        let mut exchange = Exchange::default();
        let fail = |reason, message: String, exchange: Exchange| FetchError {
            reason,
            message: redact(&message, key),
            exchange,
        };

        let request = self.http.get(url).timeout(self.timeout).send();
        let sent = tokio::time::timeout_at(deadline, request).await;
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
                    _ => describe(&e.without_url(), Some("cannot reach SmartLead")),
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
            let detail = body.ok().and_then(|b| model::error_message(&b));
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
                     it was cut off unread. Raise the flag if the account really has that many \
                     categories",
                    self.max_body_size
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
        match model::parse(&body) {
            Ok(catalog) => Ok(Fetched { catalog, exchange }),
            Err(e) => Err(fail(
                FailureReason::Decode,
                format!("SmartLead answered {status} with a body that is not a category list: {e}"),
                exchange,
            )),
        }
    }

    fn timed_out(&self) -> String {
        format!(
            "no complete answer from SmartLead within --smartlead.timeout ({})",
            humantime::format_duration(self.timeout)
        )
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

/// Replaces the key, raw or URL-encoded, wherever upstream text or an error echoes it.
fn redact(text: &str, key: &ApiKey) -> String {
    let raw = key.expose();
    let encoded: String = url::form_urlencoded::byte_serialize(raw.as_bytes()).collect();
    let mut text = text.replace(raw, REDACTED);
    if encoded != raw {
        text = text.replace(&encoded, REDACTED);
    }
    text
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    let text = headers.get(name)?.to_str().ok()?.trim();
    // Some proxies send the number with a fraction; the whole part is what counts.
    let whole = text.split('.').next()?;
    whole.parse().ok()
}

/// Timestamps below this are taken as seconds from now rather than Unix seconds: some APIs
/// send `X-RateLimit-Reset` as a delay, and no real reset lies before 2001.
const RESET_IS_A_DELAY_BELOW: u64 = 1_000_000_000;

fn rate_limit(headers: &HeaderMap, now: SystemTime) -> RateLimit {
    let reset = header_u64(headers, "x-ratelimit-reset").map(|v| {
        if v < RESET_IS_A_DELAY_BELOW {
            now + Duration::from_secs(v)
        } else {
            SystemTime::UNIX_EPOCH + Duration::from_secs(v)
        }
    });
    RateLimit {
        limit: header_u64(headers, "x-ratelimit-limit"),
        remaining: header_u64(headers, "x-ratelimit-remaining"),
        reset,
    }
}

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<SystemTime> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(now + Duration::from_secs(seconds));
    }
    httpdate::parse_http_date(text).ok()
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
            let client = Client::new(
                http_client(&HttpConfig::default()).unwrap(),
                &ClientConfig {
                    base_url: Url::parse(base).unwrap(),
                    timeout: Duration::from_secs(1),
                    max_body_size: 1,
                },
            )
            .unwrap();
            assert_eq!(
                client.endpoint().as_str(),
                "https://server.smartlead.ai/api/v1/leads/fetch-categories"
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
    fn redaction_covers_raw_and_encoded_keys() {
        let key = ApiKey::new("a+b/c=d").unwrap();
        assert_eq!(
            redact("bad key a+b/c=d or a%2Bb%2Fc%3Dd", &key),
            "bad key [redacted] or [redacted]"
        );
    }

    #[test]
    fn status_messages_say_what_to_do() {
        let m = status_message(StatusCode::UNAUTHORIZED, Some("Invalid API Key"));
        assert!(m.starts_with("SmartLead answered 401 Unauthorized: \"Invalid API Key\"; "));
        assert!(m.contains("--smartlead.api-key-file"));
        let m = status_message(StatusCode::from_u16(524).unwrap(), None);
        assert!(m.contains("Cloudflare"), "{m}");
    }
}
