//! The SmartLead stand-in behind `--demo`: a small HTTP server on a loopback port that the
//! exporter reaches through its real client, so that every metric and dashboard panel has data
//! without a SmartLead account.
//!
//! Under `http://127.0.0.1:PORT/api/v1`, for the key `demo`, it answers the four endpoints the
//! exporter reads, as SmartLead does (counters as strings, reputations as `"95%"` or `95`,
//! `null` warmup details, `{}` for an unknown campaign, mailbox credentials in the answer):
//! - `GET /leads/fetch-categories`: SmartLead's nine real global categories and a few
//!   user-created ones.
//! - `GET /campaigns/`: seven campaigns (three active, two paused, one drafted, one completed),
//!   and `GET /campaigns/{id}/analytics`: their funnels, which grow over a weekly cycle for the
//!   active ones, with lead states that add up; one bounces above 5 % of its sends.
//! - `GET /analytics/lead/category-wise-response`: the campaigns' replies spread over the
//!   categories (so they grow too), plus `Uncategorized`.
//! - `GET /email-accounts/?offset=N&limit=L`: twelve mailboxes, paged (422 for a `limit` outside
//!   1 to 100); one disconnects now and then, one has a low warmup reputation, one has no
//!   warmup details.
//!
//! What it answers is a function of the time alone; computing it is a few hundred bytes of
//! JSON. Every call waits 30 ms to 1.5 s and carries the rate-limit headers SmartLead sends; a
//! call for the category list is now and then (never the first call) answered 429 or 500. The
//! other endpoints always answer: their collectors run minutes apart, and a failed run would
//! leave their panels empty for as long. A wrong key gets SmartLead's real 401.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use reqwest::Url;
use tokio::net::TcpListener;

use crate::smartlead::key::ApiKey;

mod answers;
mod fixtures;

/// The key the exporter sends to the stand-in.
pub(crate) const DEMO_KEY: &str = "demo";

/// The stand-in's API root, under which every endpoint's path lies.
pub(crate) const BASE_PATH: &str = "/api/v1";

/// Per thousand calls for the category list after the first call: how many are answered 429.
pub(crate) const RATE_LIMITED_PER_MILLE: u32 = 60;

/// Per thousand calls for the category list after the first call: how many are answered 500.
pub(crate) const FAILED_PER_MILLE: u32 = 40;

/// `Retry-After` of a 429, in seconds; `X-RateLimit-Reset` says the same, so that the demo's
/// dashboards show short pauses rather than waits to the next minute.
pub(crate) const RETRY_AFTER_SECS: u64 = 2;

/// The budget advertised in `X-RateLimit-Limit`, per minute, as on SmartLead's standard plan.
pub(crate) const RATE_LIMIT_PER_MINUTE: u64 = 60;

/// A running stand-in.
#[derive(Debug, Clone)]
pub(crate) struct DemoUpstream {
    /// `http://127.0.0.1:PORT/api/v1`, for the client.
    pub base_url: Url,
    /// The key it accepts.
    pub key: ApiKey,
}

/// Starts the stand-in on an ephemeral loopback port; it runs until the runtime stops.
///
/// # Errors
/// When no loopback port can be bound.
pub(crate) async fn start() -> std::io::Result<DemoUpstream> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
    let address = listener.local_addr()?;
    let base_url = Url::parse(&format!("http://{address}{BASE_PATH}"))
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let calls = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let calls = Arc::clone(&calls);
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let calls = Arc::clone(&calls);
                async move { Ok::<_, Infallible>(answer(&request, &calls).await) }
            });
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(DemoUpstream {
        base_url,
        key: ApiKey::new(DEMO_KEY).map_err(|e| std::io::Error::other(e.to_string()))?,
    })
}

async fn answer<B>(request: &Request<B>, calls: &AtomicU64) -> Response<Full<Bytes>> {
    let query = request.uri().query().unwrap_or("");
    let key_ok = query
        .split('&')
        .any(|pair| pair == format!("api_key={DEMO_KEY}"));
    if !key_ok {
        return json(
            StatusCode::UNAUTHORIZED,
            r#"{"message":"Invalid API Key"}"#.into(),
        );
    }
    let call = calls.fetch_add(1, Ordering::Relaxed);
    let latency = if fastrand::u32(..100) < 5 {
        fastrand::u64(800..1500)
    } else {
        fastrand::u64(30..300)
    };
    tokio::time::sleep(Duration::from_millis(latency)).await;

    let flaky = call > 0 && request.uri().path().ends_with("/leads/fetch-categories");
    let roll = if flaky {
        fastrand::u32(..1000)
    } else {
        u32::MAX
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let limited = roll < RATE_LIMITED_PER_MILLE;
    let mut response = if limited {
        let mut response = json(
            StatusCode::TOO_MANY_REQUESTS,
            r#"{"message":"Rate limit exceeded"}"#.into(),
        );
        response
            .headers_mut()
            .insert(RETRY_AFTER, RETRY_AFTER_SECS.into());
        response
    } else if roll < RATE_LIMITED_PER_MILLE + FAILED_PER_MILLE {
        json(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"error":"Internal Server Error"}"#.into(),
        )
    } else {
        let (status, body) = answers::route(request.uri().path(), query, now);
        json(status, body)
    };
    let (remaining, reset) = if limited {
        (0, now + RETRY_AFTER_SECS)
    } else {
        (
            RATE_LIMIT_PER_MINUTE - 1 - call % RATE_LIMIT_PER_MINUTE,
            now - now % 60 + 60,
        )
    };
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", RATE_LIMIT_PER_MINUTE.into());
    headers.insert("x-ratelimit-remaining", remaining.into());
    headers.insert("x-ratelimit-reset", reset.into());
    response
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smartlead::replies as reply_model;

    /// Every endpoint answers the real client for the demo key (retrying the 429s and 500s the
    /// demo sends on purpose), and a wrong key gets SmartLead's 401.
    #[tokio::test]
    async fn the_real_client_reads_every_endpoint() {
        use crate::smartlead::client::{http_client, Client, ClientConfig, FailureReason};
        let upstream = start().await.unwrap();
        let client = Client::new(
            http_client(&Default::default()).unwrap(),
            &ClientConfig {
                base_url: upstream.base_url.clone(),
                timeout: Duration::from_secs(5),
                max_body_size: 1 << 20,
            },
        )
        .unwrap();
        let key = &upstream.key;
        macro_rules! until_ok {
            ($call:expr) => {{
                let mut tries = 0;
                loop {
                    match $call.await {
                        Ok(fetched) => break fetched.data,
                        Err(e) if tries < 20 && matches!(e.exchange.status, Some(429 | 500)) => {
                            tries += 1
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            }};
        }
        assert_eq!(until_ok!(client.fetch_categories(key)).categories.len(), 14);
        let (start, end) = reply_model::window(SystemTime::now());
        assert_eq!(
            until_ok!(client.category_wise_response(key, start, end))
                .categories
                .len(),
            15
        );
        let list = until_ok!(client.campaigns(key));
        assert_eq!(list.campaigns.len(), 7);
        let first = until_ok!(client.campaign_analytics(key, list.campaigns[0].id));
        assert!(first.is_some());
        assert_eq!(until_ok!(client.email_accounts(key, 0, 100)).returned, 12);
        let refused = loop {
            let err = client.email_accounts(key, 0, 101).await.unwrap_err();
            if !matches!(err.exchange.status, Some(429 | 500)) {
                break err;
            }
        };
        assert_eq!(refused.reason, FailureReason::Status);
        assert_eq!(refused.exchange.status, Some(422));
        let wrong = ApiKey::new("not-the-demo-key").unwrap();
        let err = client.fetch_categories(&wrong).await.unwrap_err();
        assert_eq!(err.exchange.status, Some(401));
        assert!(err.message.contains("Invalid API Key"), "{}", err.message);
    }
}
