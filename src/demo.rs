//! The SmartLead stand-in behind `--demo`: a small HTTP server on a loopback port that the
//! exporter reaches through its real client, so that every metric and dashboard panel has data
//! without a SmartLead account.
//!
//! It answers `GET /api/v1/leads/fetch-categories?api_key=demo` with SmartLead's nine real
//! global categories and a few user-created ones, after 30 ms to 1.5 s, with the rate-limit
//! headers SmartLead sends, and now and then a 429 or a 500 (never on the first call). A wrong
//! key gets SmartLead's real 401.

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

/// The key the exporter sends to the stand-in.
pub const DEMO_KEY: &str = "demo";

/// The stand-in's path, under its base URL `http://127.0.0.1:PORT/api/v1`.
pub const CATEGORIES_PATH: &str = "/api/v1/leads/fetch-categories";

/// Per thousand calls after the first: how many are answered 429.
pub const RATE_LIMITED_PER_MILLE: u32 = 60;

/// Per thousand calls after the first: how many are answered 500.
pub const FAILED_PER_MILLE: u32 = 40;

/// `Retry-After` of a 429, in seconds; `X-RateLimit-Reset` says the same, so that the demo's
/// dashboards show short pauses rather than waits to the next minute.
pub const RETRY_AFTER_SECS: u64 = 2;

/// The budget advertised in `X-RateLimit-Limit`, per minute, as on SmartLead's standard plan.
pub const RATE_LIMIT_PER_MINUTE: u64 = 60;

/// The categories served: SmartLead's real globals (ids 1 to 9) and user-created ones.
pub const CATEGORIES: &str = r#"[
  {"id": 1, "name": "Interested", "sentiment_type": "positive", "created_at": "2022-08-30T06:13:04.000Z"},
  {"id": 2, "name": "Meeting Request", "sentiment_type": "positive", "created_at": "2022-08-30T06:13:04.000Z"},
  {"id": 3, "name": "Not Interested", "sentiment_type": "negative", "created_at": "2022-08-30T06:13:04.000Z"},
  {"id": 4, "name": "Do Not Contact", "sentiment_type": "negative", "created_at": "2022-08-30T06:13:04.000Z"},
  {"id": 5, "name": "Information Request", "sentiment_type": "positive", "created_at": "2022-08-30T06:13:04.000Z"},
  {"id": 6, "name": "Out Of Office", "sentiment_type": null, "created_at": "2022-08-30T06:13:04.000Z"},
  {"id": 7, "name": "Wrong Person", "sentiment_type": "negative", "created_at": "2022-08-30T06:13:04.000Z"},
  {"id": 8, "name": "Uncategorizable by Ai", "sentiment_type": null, "created_at": "2024-10-25T11:02:41.000Z"},
  {"id": 9, "name": "Sender Originated Bounce", "sentiment_type": "negative", "created_at": "2025-03-20T09:45:12.000Z"},
  {"id": 789, "name": "Follow Up Later", "sentiment_type": "neutral", "created_at": "2025-11-20T14:22:00.000Z"},
  {"id": 1451, "name": "Referral", "sentiment_type": "positive", "created_at": "2023-05-02T08:30:00.000Z"},
  {"id": 3241, "name": "Pricing Objection", "sentiment_type": "negative", "created_at": "2024-02-11T16:05:00.000Z"},
  {"id": 8142, "name": "Nurture Next Quarter", "sentiment_type": null, "created_at": "2024-09-18T10:00:00.000Z"},
  {"id": "16691", "name": "Partner Intro", "sentiment_type": "mixed", "created_at": "2025-06-30T12:00:00.000Z"}
]"#;

/// A running stand-in.
#[derive(Debug, Clone)]
pub struct DemoUpstream {
    /// `http://127.0.0.1:PORT/api/v1`, for the client.
    pub base_url: Url,
    /// The key it accepts.
    pub key: ApiKey,
    /// Calls answered so far.
    pub calls: Arc<AtomicU64>,
}

/// Starts the stand-in on an ephemeral loopback port; it runs until the runtime stops.
///
/// # Errors
/// When no loopback port can be bound.
pub async fn start() -> std::io::Result<DemoUpstream> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
    let address = listener.local_addr()?;
    let base_url = Url::parse(&format!("http://{address}/api/v1"))
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let calls = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&calls);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let counter = Arc::clone(&counter);
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let counter = Arc::clone(&counter);
                async move { Ok::<_, Infallible>(answer(&request, &counter).await) }
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
        calls,
    })
}

async fn answer<B>(request: &Request<B>, calls: &AtomicU64) -> Response<Full<Bytes>> {
    if request.uri().path() != CATEGORIES_PATH {
        return json(StatusCode::NOT_FOUND, r#"{"message":"Not Found"}"#);
    }
    let key_ok = request
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .any(|pair| pair == format!("api_key={DEMO_KEY}"));
    if !key_ok {
        return json(StatusCode::UNAUTHORIZED, r#"{"message":"Invalid API Key"}"#);
    }
    let call = calls.fetch_add(1, Ordering::Relaxed);
    let latency = if fastrand::u32(..100) < 5 {
        fastrand::u64(800..1500)
    } else {
        fastrand::u64(30..300)
    };
    tokio::time::sleep(Duration::from_millis(latency)).await;

    let roll = fastrand::u32(..1000);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let limited = call > 0 && roll < RATE_LIMITED_PER_MILLE;
    let mut response = if limited {
        let mut response = json(
            StatusCode::TOO_MANY_REQUESTS,
            r#"{"message":"Rate limit exceeded"}"#,
        );
        response
            .headers_mut()
            .insert(RETRY_AFTER, RETRY_AFTER_SECS.into());
        response
    } else if call > 0 && roll < RATE_LIMITED_PER_MILLE + FAILED_PER_MILLE {
        json(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"error":"Internal Server Error"}"#,
        )
    } else {
        json(StatusCode::OK, CATEGORIES)
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

fn json(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smartlead::model::{parse, Sentiment};

    #[test]
    fn demo_categories_cover_every_sentiment_and_origin() {
        let catalog = parse(CATEGORIES.as_bytes(), &Default::default()).unwrap();
        assert_eq!(catalog.categories.len(), 14);
        for sentiment in Sentiment::ALL {
            assert!(
                catalog.categories.iter().any(|c| c.sentiment == sentiment),
                "{sentiment:?}"
            );
        }
        assert_eq!(catalog.categories.iter().filter(|c| c.id <= 99).count(), 9);
    }
}
