//! A hostile upstream: every bad answer and fault SmartLead (or Cloudflare, or the network)
//! can produce. For each, the exporter keeps running and answering, reports the failure under
//! the right reason, logs it once, keeps the last good data, and never shows the key. Every
//! case runs at `--log.level=trace` with a canary key that must appear nowhere.

mod common;

use std::time::{Duration, Instant};

use common::{failures, requests, value, Exporter, Reply, StandIn, SEED_EXAMPLE, UP};

/// The canary key: it must appear in no log line, metric or page.
const CANARY: &str = "canary-7f3a9c-do-not-leak";

const INTERESTED: &str =
    "smartlead_categories{account=\"default\",origin=\"global\",sentiment=\"positive\"}";

/// Runs one fault: a good first poll, then `fault` on every poll after.
async fn survive(fault: Reply, reason: &str, code: Option<u16>, log_hint: &str) {
    survive_with(fault, reason, code, log_hint, &[]).await;
}

async fn survive_with(
    fault: Reply,
    reason: &str,
    code: Option<u16>,
    log_hint: &str,
    args: &[&str],
) {
    let stand_in = StandIn::start(vec![Reply::json(200, SEED_EXAMPLE), fault]).await;
    let mut all = vec![
        "--poll.interval=1s",
        "--poll.max-backoff=1s",
        "--smartlead.timeout=1s",
        "--log.level=trace",
    ];
    all.extend_from_slice(args);
    let mut exporter = Exporter::against(&stand_in, CANARY, &all);
    exporter
        .wait_for(&format!("two failures with reason {reason}"), |t| {
            value(t, &failures(reason)).unwrap_or(0.0) >= 2.0
        })
        .await;

    assert!(exporter.alive());
    let started = Instant::now();
    let text = exporter.metrics().await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "scrape took {:?}",
        started.elapsed()
    );
    assert_eq!(value(&text, UP), Some(0.0));
    for other in ["timeout", "transport", "status", "decode", "too_large"] {
        if other != reason {
            assert_eq!(
                value(&text, &failures(other)),
                Some(0.0),
                "{other}:\n{text}"
            );
        }
    }
    assert!(
        value(&text, &requests(200)).unwrap_or(0.0) >= 1.0,
        "the good first poll"
    );
    if let Some(code) = code {
        assert!(
            value(&text, &requests(code)).unwrap_or(0.0) >= 2.0,
            "code {code}:\n{text}"
        );
    }
    // The last good data stays until --metrics.stale-after (5m by default).
    assert_eq!(value(&text, INTERESTED), Some(2.0));

    let logs = exporter.logs();
    let failed: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains("message=\"poll failed\""))
        .collect();
    assert_eq!(
        failed.len(),
        1,
        "one log line per failure streak: {failed:#?}"
    );
    assert!(
        failed[0].contains(&format!("reason={reason}")),
        "{}",
        failed[0]
    );
    assert!(failed[0].contains(log_hint), "{}", failed[0]);
    assert!(!failed[0].contains("\\'"), "a stray escape: {}", failed[0]);

    let (_, _, page) = exporter.get("/").await;
    assert!(page.contains("down: the latest poll failed"), "{page}");
    assert_nothing_leaks(&exporter).await;
    assert!(
        stand_in.seen()[0].head.contains(CANARY),
        "the stand-in did get the key"
    );
}

/// The canary key (and the request URL that carries it) appears in no log line, and in no
/// answer of any of the exporter's endpoints, gzip or not.
async fn assert_nothing_leaks(exporter: &Exporter) {
    let mut seen = vec![("logs".to_owned(), exporter.logs().join("\n"))];
    for path in ["/metrics", "/", "/-/healthy", "/-/ready", "/nope"] {
        seen.push((path.to_owned(), exporter.get(path).await.2));
    }
    let gzip = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("http://{}/metrics", exporter.addr))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    seen.push(("/metrics (gzip)".to_owned(), common::gunzip(&gzip)));
    for (what, text) in seen {
        assert!(!text.contains(CANARY), "the key leaked into {what}");
        assert!(
            !text.contains("api_key="),
            "the request URL leaked into {what}"
        );
        // Nor any telling part of it, in any encoding or case.
        let lower = text.to_ascii_lowercase();
        for part in CANARY_PARTS {
            assert!(
                !lower.contains(part),
                "part of the key ({part}) leaked into {what}"
            );
        }
    }
}

/// The canary's first characters, raw and percent-encoded: a key cut in half must not show
/// its first half either.
const CANARY_PARTS: [&str; 3] = ["canary-7f", "canary%2d7f", "canary\\u002d7f"];

fn html(status: u16, title: &str) -> Reply {
    Reply::typed(
        status,
        "text/html; charset=UTF-8",
        format!("<!DOCTYPE html>\n<html><head><title>{title}</title></head><body>cloudflare</body></html>").as_bytes(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn unauthorized_names_the_key_settings() {
    // The body echoes the key, as some APIs do: it must be redacted.
    let body = format!(r#"{{"message": "Invalid API Key {CANARY}"}}"#);
    survive(
        Reply::json(401, &body),
        "status",
        Some(401),
        "invalid or expired",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn forbidden_names_the_plan() {
    survive(
        Reply::json(403, r#"{"success": false, "error": {"code": 403, "message": "API access requires a paid plan"}}"#),
        "status",
        Some(403),
        "lack API access",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn server_error() {
    survive(
        Reply::json(500, r#"{"error": "Internal Server Error"}"#),
        "status",
        Some(500),
        "SmartLead failed",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cloudflare_html_error_pages() {
    survive(
        html(502, "502 Bad Gateway"),
        "status",
        Some(502),
        "502 Bad Gateway",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cloudflare_52x() {
    for code in [520, 521, 522, 523, 524] {
        let stand_in = StandIn::start(vec![html(code, "Origin error")]).await;
        let exporter = Exporter::against(&stand_in, CANARY, &["--log.level=trace"]);
        let text = exporter
            .wait_for("a 52x failure", |t| {
                value(t, &failures("status")) == Some(1.0)
            })
            .await;
        assert_eq!(value(&text, &requests(code)), Some(1.0));
        let logs = exporter.logs().join("\n");
        assert!(
            logs.contains("Cloudflare could not get an answer"),
            "{logs}"
        );
        assert_nothing_leaks(&exporter).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn redirects_are_never_followed() {
    let elsewhere = StandIn::start(vec![Reply::json(200, SEED_EXAMPLE)]).await;
    let location = format!("http://{}/steal?api_key={CANARY}", elsewhere.addr);
    survive(
        Reply::json(302, "{}").with_header("Location", &location),
        "status",
        Some(302),
        "redirects are not followed",
    )
    .await;
    assert_eq!(elsewhere.calls(), 0, "the key travelled to another host");
}

#[tokio::test(flavor = "multi_thread")]
async fn html_with_status_200() {
    survive(
        html(200, "Just a moment..."),
        "decode",
        Some(200),
        "got HTML",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn truncated_json() {
    survive(
        Reply::json(200, &SEED_EXAMPLE[..100]),
        "decode",
        Some(200),
        "EOF while parsing",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_error_object_instead_of_a_list() {
    survive(
        Reply::json(200, r#"{"error": "Something went wrong"}"#),
        "decode",
        Some(200),
        "Something went wrong",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_types() {
    survive(
        Reply::json(200, r#"[{"id": {"a": 1}, "name": ["Interested"]}]"#),
        "decode",
        Some(200),
        "integer id",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_utf8() {
    survive(
        Reply::typed(
            200,
            "application/json",
            b"[{\"id\": 1, \"name\": \"Int\xff\xfeested\"}]",
        ),
        "decode",
        Some(200),
        "invalid unicode",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn body_over_the_cap_with_content_length() {
    let big = format!("[{}]", vec![r#"{"id":1,"name":"x"}"#; 200].join(","));
    survive_with(
        Reply::json(200, &big),
        "too_large",
        Some(200),
        "--smartlead.max-body-size",
        &["--smartlead.max-body-size=1KiB"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn chunked_body_over_the_cap_is_cut_while_streaming() {
    // 64 MiB announced in no header: the exporter must stop reading at the cap.
    survive_with(
        Reply::Chunked {
            chunks: 4096,
            size: 16 * 1024,
        },
        "too_large",
        Some(200),
        "--smartlead.max-body-size",
        &["--smartlead.max-body-size=64KiB"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_answer_times_out() {
    survive(Reply::Silence, "timeout", None, "--smartlead.timeout").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn trickling_body_times_out() {
    survive(
        Reply::Trickle {
            len: 10_000,
            every: Duration::from_millis(50),
        },
        "timeout",
        Some(200),
        "--smartlead.timeout",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_reset() {
    survive(Reply::Reset, "transport", None, "cannot reach SmartLead").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_instead_of_http() {
    survive(
        Reply::Raw(b"SSH-2.0-OpenSSH_9.2\r\n".to_vec()),
        "transport",
        None,
        "cannot reach SmartLead",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_refused() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let exporter = Exporter::start(
        &[
            &format!("--smartlead.base-url=http://{addr}/api/v1"),
            "--poll.interval=1s",
            "--poll.max-backoff=1s",
            "--log.level=trace",
        ],
        &[("SMARTLEAD_API_KEY", CANARY)],
    );
    let text = exporter
        .wait_for("two transport failures", |t| {
            value(t, &failures("transport")).unwrap_or(0.0) >= 2.0
        })
        .await;
    assert_eq!(value(&text, UP), Some(0.0));
    // No answer, no code: only the pre-initialised codes, at 0.
    let codes: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("smartlead_api_requests_total{"))
        .collect();
    assert_eq!(codes.len(), 3, "{codes:?}");
    assert!(codes.iter().all(|l| l.ends_with("} 0")), "{codes:?}");
    let logs = exporter.logs();
    let failed: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains("message=\"poll failed\""))
        .collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert!(failed[0].contains("Connection refused"), "{}", failed[0]);
    assert!(!logs.join("\n").contains(CANARY));
    assert_nothing_leaks(&exporter).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_failure_is_a_transport_failure() {
    // A server that answers the TLS ClientHello with plain text: the handshake fails.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt as _;
        while let Ok((mut stream, _)) = listener.accept().await {
            let _ = stream
                .write_all(b"HTTP/1.1 400 Bad Request\r\n\r\nnot TLS")
                .await;
        }
    });
    let exporter = Exporter::start(
        &[
            &format!("--smartlead.base-url=https://{addr}/api/v1"),
            "--log.level=trace",
        ],
        &[("SMARTLEAD_API_KEY", CANARY)],
    );
    let text = exporter
        .wait_for("a transport failure", |t| {
            value(t, &failures("transport")) == Some(1.0)
        })
        .await;
    assert_eq!(value(&text, UP), Some(0.0));
    assert!(!exporter.logs().join("\n").contains(CANARY));
    assert_nothing_leaks(&exporter).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_delays_the_next_poll_and_rate_limits_are_exported() {
    let stand_in = StandIn::start(vec![
        Reply::json(429, r#"{"message": "Rate limit exceeded"}"#)
            .with_header("Retry-After", "3")
            .with_header("X-RateLimit-Limit", "60")
            .with_header("X-RateLimit-Remaining", "0"),
        Reply::json(200, SEED_EXAMPLE).with_header("X-RateLimit-Remaining", "41"),
    ])
    .await;
    let exporter = Exporter::against(
        &stand_in,
        CANARY,
        &["--log.level=trace", "--poll.interval=1s"],
    );
    let text = exporter
        .wait_for("the 429", |t| value(t, &requests(429)) == Some(1.0))
        .await;
    assert_eq!(
        value(&text, "smartlead_api_rate_limit_limit{account=\"default\"}"),
        Some(60.0)
    );
    assert_eq!(
        value(
            &text,
            "smartlead_api_rate_limit_remaining{account=\"default\"}"
        ),
        Some(0.0)
    );
    let text = exporter
        .wait_for("recovery", |t| value(t, UP) == Some(1.0))
        .await;
    assert_eq!(
        value(&text, "smartlead_api_rate_limit_limit{account=\"default\"}"),
        Some(60.0)
    );
    assert_eq!(
        value(
            &text,
            "smartlead_api_rate_limit_remaining{account=\"default\"}"
        ),
        Some(41.0)
    );
    let seen = stand_in.seen();
    let gap = seen[1].at - seen[0].at;
    assert!(
        gap >= Duration::from_millis(2900),
        "polled again after {gap:?}, before Retry-After"
    );
    let logs = exporter.logs().join("\n");
    assert!(logs.contains("rate limited"), "{logs}");
    assert_nothing_leaks(&exporter).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_reset_delays_the_next_poll() {
    let now = std::time::SystemTime::now();
    let started = Instant::now();
    let reset = now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 4;
    // The reset on the monotonic clock: whole seconds, so up to a second sooner than 4 s.
    let reset_at = started
        + (std::time::UNIX_EPOCH + Duration::from_secs(reset))
            .duration_since(now)
            .unwrap();
    let stand_in = StandIn::start(vec![
        Reply::json(429, "{}").with_header("X-RateLimit-Reset", &reset.to_string()),
        Reply::json(200, "[]"),
    ])
    .await;
    let exporter = Exporter::against(
        &stand_in,
        CANARY,
        &["--log.level=trace", "--poll.interval=1s"],
    );
    exporter
        .wait_for("recovery", |t| value(t, UP) == Some(1.0))
        .await;
    let seen = stand_in.seen();
    // Not before the reset, give or take the clocks' rounding.
    assert!(
        seen[1].at + Duration::from_millis(50) >= reset_at,
        "polled again {:?} before the reset",
        reset_at - seen[1].at
    );
    assert_nothing_leaks(&exporter).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn backoff_grows_then_recovery_returns_to_the_interval() {
    let stand_in = StandIn::start(vec![Reply::json(500, "{}")]).await;
    let exporter = Exporter::against(
        &stand_in,
        CANARY,
        &[
            "--log.level=trace",
            "--poll.interval=1s",
            "--poll.max-backoff=4s",
        ],
    );
    exporter
        .wait_for("five failures", |t| {
            value(t, &failures("status")) == Some(5.0)
        })
        .await;
    let text = exporter.metrics().await;
    assert_eq!(
        value(
            &text,
            "smartlead_poll_consecutive_failures{account=\"default\"}"
        ),
        Some(5.0)
    );
    stand_in.set_script(vec![Reply::json(200, SEED_EXAMPLE)]);
    let text = exporter
        .wait_for("recovery", |t| value(t, UP) == Some(1.0))
        .await;
    assert_eq!(
        value(
            &text,
            "smartlead_poll_consecutive_failures{account=\"default\"}"
        ),
        Some(0.0)
    );
    let calls = stand_in.calls();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let seen = stand_in.seen();
    let gaps: Vec<Duration> = seen.windows(2).map(|p| p[1].at - p[0].at).collect();
    // Failure n waits min(1s * 2^(n-1), 4s), shortened by up to 20%, never below 1s.
    let bounds = [(1.0, 1.0), (1.6, 2.0), (3.2, 4.0), (3.2, 4.0), (3.2, 4.0)];
    for (gap, (low, high)) in gaps.iter().zip(bounds) {
        let secs = gap.as_secs_f64();
        assert!(secs >= low - 0.05 && secs <= high + 0.4, "gaps {gaps:?}");
    }
    // Back to one poll a second after the recovery.
    assert!(
        seen.len() >= calls + 2,
        "{} polls after recovery",
        seen.len() - calls
    );
    for gap in &gaps[5..] {
        assert!(gap.as_secs_f64() < 1.4, "gaps after recovery {gaps:?}");
    }
    let logs = exporter.logs().join("\n");
    assert_eq!(logs.matches("message=\"poll failed\"").count(), 1, "{logs}");
    assert!(logs.contains("SmartLead answers again"), "{logs}");
    assert_nothing_leaks(&exporter).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changing_failure_is_logged_again() {
    let stand_in = StandIn::start(vec![
        Reply::json(500, "{}"),
        Reply::json(500, "{}"),
        Reply::json(401, "{}"),
    ])
    .await;
    let exporter = Exporter::against(
        &stand_in,
        CANARY,
        &[
            "--log.level=trace",
            "--poll.interval=1s",
            "--poll.max-backoff=1s",
        ],
    );
    exporter
        .wait_for("the 401s", |t| {
            value(t, &requests(401)).unwrap_or(0.0) >= 2.0
        })
        .await;
    let logs = exporter.logs();
    let failed: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains("message=\"poll failed\""))
        .collect();
    assert_eq!(failed.len(), 2, "{failed:#?}");
    assert!(failed[0].contains("level=warn") && failed[0].contains("status=500"));
    assert!(failed[1].contains("level=error") && failed[1].contains("status=401"));
    assert_nothing_leaks(&exporter).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_straddling_the_quote_cut_is_redacted_before_the_cut() {
    // SmartLead quotes error bodies to 120 characters; the key starts at character 110.
    let body = format!("{} {CANARY} was refused", "x".repeat(109));
    survive(
        Reply::typed(401, "text/plain", body.as_bytes()),
        "status",
        Some(401),
        "invalid or expired",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lower_case_percent_encoded_key_is_redacted() {
    let encoded = CANARY.replace('-', "%2d");
    let body = format!(r#"{{"message": "Invalid API Key {encoded}"}}"#);
    survive(
        Reply::json(401, &body),
        "status",
        Some(401),
        "invalid or expired",
    )
    .await;
}

/// Headers whose times overflow any clock: on a 200 and on a 429, the exporter keeps running
/// and serving, and waits at most its cap.
#[tokio::test(flavor = "multi_thread")]
async fn overflowing_rate_limit_headers_are_survived() {
    for retry_after in ["18446744073709551615", "Fri, 31 Dec 9999 23:59:59 GMT"] {
        let stand_in = StandIn::start(vec![
            Reply::json(200, SEED_EXAMPLE)
                .with_header("X-RateLimit-Reset", "9223372036854775808")
                .with_header("X-RateLimit-Remaining", "5"),
            Reply::json(200, SEED_EXAMPLE)
                .with_header("X-RateLimit-Reset", "99999999999999999999999999999")
                .with_header("X-RateLimit-Remaining", "4"),
            Reply::json(429, r#"{"message": "Rate limit exceeded"}"#)
                .with_header("Retry-After", retry_after)
                .with_header("X-RateLimit-Reset", "18446744073709551615")
                .with_header("X-RateLimit-Remaining", "0"),
            Reply::json(200, SEED_EXAMPLE),
        ])
        .await;
        let mut exporter = Exporter::against(
            &stand_in,
            CANARY,
            &["--log.level=trace", "--poll.interval=1s"],
        );
        exporter
            .wait_for("the 429", |t| value(t, &requests(429)) == Some(1.0))
            .await;
        assert_eq!(
            value(&exporter.metrics().await, &requests(200)),
            Some(2.0),
            "both 200s were polled and counted"
        );
        // Still up and serving a while later, and not polling again before the cap (an hour).
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(exporter.alive(), "{}", exporter.logs().join("\n"));
        let text = exporter.metrics().await;
        assert_eq!(value(&text, UP), Some(0.0));
        assert_eq!(value(&text, INTERESTED), Some(2.0));
        assert_eq!(stand_in.calls(), 3);
        let (status, _, page) = exporter.get("/").await;
        assert_eq!(status, 200);
        assert!(page.contains("rate limited"), "{page}");
        let logs = exporter.logs().join("\n");
        assert!(logs.contains("waiting that long instead"), "{logs}");
        assert!(!logs.contains("panicked"), "{logs}");
        assert_nothing_leaks(&exporter).await;
        let (status, elapsed) = exporter.stop("TERM");
        assert!(status.success(), "{status:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    }
}

/// A created_at that is a number only loses the timestamp; the poll succeeds.
#[tokio::test(flavor = "multi_thread")]
async fn a_numeric_created_at_keeps_the_category() {
    let body = r#"[
        {"id": 1, "name": "Interested", "sentiment_type": "positive", "created_at": 1705314600},
        {"id": 2, "name": "Meeting Request", "sentiment_type": 7, "created_at": "2022-08-30T10:00:00.000Z"}
    ]"#;
    let stand_in = StandIn::start(vec![Reply::json(200, body)]).await;
    let exporter = Exporter::against(&stand_in, CANARY, &["--log.level=trace"]);
    let text = exporter
        .wait_for("a successful poll", |t| value(t, UP) == Some(1.0))
        .await;
    assert_eq!(value(&text, &failures("decode")), Some(0.0));
    assert_eq!(
        value(
            &text,
            "smartlead_category_info{account=\"default\",id=\"1\",name=\"Interested\",origin=\"global\",sentiment=\"positive\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "smartlead_category_info{account=\"default\",id=\"2\",name=\"Meeting Request\",origin=\"global\",sentiment=\"other\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        !text
            .contains("smartlead_category_created_timestamp_seconds{account=\"default\",id=\"1\"}"),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "smartlead_category_created_timestamp_seconds{account=\"default\",id=\"2\"}"
        ),
        Some(1_661_853_600.0)
    );
    let logs = exporter.logs().join("\n");
    assert_eq!(logs.matches("not RFC 3339 timestamps").count(), 1, "{logs}");
    assert_eq!(logs.matches("<a number>").count(), 1, "{logs}");
    assert_nothing_leaks(&exporter).await;
}

/// A 10 MB name reaches Prometheus cut to 1,024 bytes, with one warning.
#[tokio::test(flavor = "multi_thread")]
async fn a_ten_megabyte_name_is_cut_to_1024_bytes() {
    let name = "n".repeat(10_000_000);
    let body = format!(r#"[{{"id": 1, "name": "{name}", "sentiment_type": "positive"}}]"#);
    let stand_in = StandIn::start(vec![Reply::json(200, &body)]).await;
    let exporter = Exporter::against(&stand_in, CANARY, &["--log.level=debug"]);
    let text = exporter
        .wait_for("a successful poll", |t| value(t, UP) == Some(1.0))
        .await;
    let series = format!(
        "smartlead_category_info{{account=\"default\",id=\"1\",name=\"{}\",origin=\"global\",sentiment=\"positive\"}}",
        &name[..1024]
    );
    assert_eq!(value(&text, &series), Some(1.0));
    assert!(text.len() < 16 * 1024, "{} bytes", text.len());
    let logs = exporter.logs().join("\n");
    assert_eq!(logs.matches("were cut").count(), 1, "{logs}");
}

/// Swapping the key file for a FIFO must neither block the poller nor lose the key: polls go
/// on with the last key read, one warning names the file, and SIGTERM still stops at once.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_file_swapped_for_a_fifo_keeps_the_last_key() {
    let dir = std::env::temp_dir().join(format!("sl-fifo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("api-key");
    std::fs::write(&path, format!("{CANARY}\n")).unwrap();

    let stand_in = StandIn::start(vec![Reply::json(200, SEED_EXAMPLE)]).await;
    let mut exporter = Exporter::start(
        &[
            &format!("--smartlead.base-url={}", stand_in.base_url()),
            &format!("--smartlead.api-key-file={}", path.display()),
            "--poll.interval=1s",
            "--log.level=debug",
        ],
        &[],
    );
    exporter
        .wait_for("a successful poll", |t| value(t, UP) == Some(1.0))
        .await;

    // Replace the file with a FIFO in one rename, as a Secret update swaps a symlink.
    let fifo = dir.join("fifo");
    let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo has no other preconditions.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    std::fs::rename(&fifo, &path).unwrap();
    let swapped = stand_in.calls();

    let deadline = Instant::now() + common::WAIT;
    while stand_in.calls() < swapped + 3 {
        assert!(
            Instant::now() < deadline,
            "polling stopped after the swap: {} calls\n{}",
            stand_in.calls(),
            exporter.logs().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for seen in &stand_in.seen()[swapped..] {
        assert!(seen.head.contains(CANARY), "the last key was not used");
    }
    let text = exporter.metrics().await;
    assert_eq!(value(&text, UP), Some(1.0));
    let logs = exporter.logs().join("\n");
    assert_eq!(
        logs.matches("is a FIFO, not a regular file").count(),
        1,
        "{logs}"
    );
    assert!(logs.contains(&path.display().to_string()), "{logs}");
    assert!(exporter.alive());
    assert_nothing_leaks(&exporter).await;

    let (status, elapsed) = exporter.stop("TERM");
    assert!(status.success(), "{status:?}");
    assert!(
        elapsed < Duration::from_secs(2),
        "stopping took {elapsed:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A key echoed as data (a category name, a sentiment) is redacted like one in a message.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_echoed_in_a_category_name_is_redacted() {
    let body = format!(
        r#"[{{"id": 1, "name": "Interested"}}, {{"id": 2, "name": "echo {CANARY}", "sentiment_type": "{CANARY}"}}]"#
    );
    let stand_in = StandIn::start(vec![Reply::json(200, &body)]).await;
    let exporter = Exporter::against(&stand_in, CANARY, &["--log.level=trace"]);
    let text = exporter
        .wait_for("a successful poll", |t| value(t, UP) == Some(1.0))
        .await;
    assert_eq!(
        value(
            &text,
            "smartlead_category_info{account=\"default\",id=\"2\",name=\"echo [redacted]\",origin=\"global\",sentiment=\"other\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_nothing_leaks(&exporter).await;
}

/// At start-up, a key file that is a FIFO, too large, or more than one key is refused at once
/// with exit status 2 and a message naming the file (never blocking, never reading it whole).
#[test]
fn a_bad_key_file_at_start_exits_2_naming_it() {
    let dir = std::env::temp_dir().join(format!("sl-badkey-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo");
    let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo has no other preconditions.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let huge = dir.join("huge");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let two = dir.join("two-lines");
    std::fs::write(&two, format!("{CANARY}\nsecond-line\n")).unwrap();

    for (path, expected) in [
        (&fifo, "is a FIFO, not a regular file"),
        (&huge, "is larger than 4096 bytes"),
        (&two, "does not hold one key"),
    ] {
        let mut child = std::process::Command::new(common::BIN)
            .arg(format!("--smartlead.api-key-file={}", path.display()))
            .env_clear()
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(5) {
                let _ = child.kill();
                panic!("still running after 5 s with {}", path.display());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.code(), Some(2), "{stderr}");
        assert!(
            stderr.starts_with("smartlead_exporter: error: "),
            "{stderr}"
        );
        assert!(stderr.contains(expected), "{stderr}");
        assert!(stderr.contains(&path.display().to_string()), "{stderr}");
        assert!(!stderr.contains(CANARY), "{stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
