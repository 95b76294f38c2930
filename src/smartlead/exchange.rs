//! The one exchange every call to SmartLead makes, and what its answer becomes.
//!
//! [`Client::get`] owns the limits that keep a hostile or broken upstream harmless: a deadline
//! on the whole exchange (connect, headers and body), a cap on the body enforced while
//! streaming, no redirects (the key is in the query string and must not travel to another
//! host), and redaction of the key from every message it produces, on the whole text before
//! anything is cut. It classifies each failure into one [`FailureReason`] and reads the
//! rate-limit headers of every answer. [`decoded`] turns a 2xx answer's parsed body into what
//! the typed methods of [`Client`] return.

use std::time::{Instant, SystemTime};

use reqwest::{StatusCode, Url};

use super::client::{Client, Exchange, FailureReason, FetchError, Fetched};
use super::headers::{rate_limit, retry_after, FAR_FUTURE};
use super::http::{describe, with_certificate_hint};
use super::json::DecodeError;
use super::key::{ApiKey, Redactor, TextEnd};
use super::text;
use super::Endpoint;

/// How much of an error answer is read to find its message; the rest is dropped unread.
const MAX_ERROR_BODY: usize = 4 * 1024;

/// A 2xx answer read whole, before its endpoint's parser sees it.
pub(super) struct Answer {
    /// The HTTP status.
    status: StatusCode,
    /// The body, at most `max_body_size` bytes.
    pub(super) body: Vec<u8>,
    /// What the exchange told besides the body.
    exchange: Exchange,
    /// Hides the key in whatever the parser takes from the body.
    pub(super) redactor: Redactor,
}

impl Client {
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
    pub(super) async fn get(
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
pub(super) fn decoded<T>(
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::smartlead::client::{http_client, ClientConfig, HttpConfig};

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
}
