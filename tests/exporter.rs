//! The core contract, end to end: the real binary polls a SmartLead stand-in over loopback and
//! is scraped over loopback.

mod common;

use std::time::{Duration, Instant};

use common::{
    failures, promtool_findings, requests, run, value, Exporter, Reply, StandIn, SEED_EXAMPLE, UP,
};

fn categories(sentiment: &str, origin: &str) -> String {
    format!(
        "smartlead_categories{{account=\"default\",origin=\"{origin}\",sentiment=\"{sentiment}\"}}"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_example_is_exported_exactly() {
    let stand_in = StandIn::start(vec![Reply::json(200, SEED_EXAMPLE)]).await;
    let exporter = Exporter::against(&stand_in, "k", &[]);
    let text = exporter
        .wait_for("the first poll", |t| value(t, UP) == Some(1.0))
        .await;

    let expected = [
        ("positive", "global", 2.0),
        ("negative", "global", 1.0),
        ("neutral", "user", 1.0),
        ("neutral", "global", 0.0),
        ("none", "global", 0.0),
        ("none", "user", 0.0),
        ("other", "global", 0.0),
        ("other", "user", 0.0),
        ("positive", "user", 0.0),
        ("negative", "user", 0.0),
    ];
    for (sentiment, origin, count) in expected {
        assert_eq!(
            value(&text, &categories(sentiment, origin)),
            Some(count),
            "{sentiment} {origin}"
        );
    }
    assert_eq!(text.matches("smartlead_categories{").count(), 10);
    for (id, name, sentiment, origin) in [
        ("1", "Interested", "positive", "global"),
        ("2", "Not Interested", "negative", "global"),
        ("3", "Meeting Booked", "positive", "global"),
        ("789", "Follow Up Later", "neutral", "user"),
    ] {
        let series = format!(
            "smartlead_category_info{{account=\"default\",id=\"{id}\",name=\"{name}\",origin=\"{origin}\",sentiment=\"{sentiment}\"}}"
        );
        assert_eq!(value(&text, &series), Some(1.0), "{series}");
    }
    assert_eq!(text.matches("smartlead_category_info{").count(), 4);
    assert_eq!(
        value(
            &text,
            "smartlead_category_created_timestamp_seconds{account=\"default\",id=\"1\"}"
        ),
        Some(1_705_314_600.0)
    );
    assert_eq!(
        value(
            &text,
            "smartlead_category_created_timestamp_seconds{account=\"default\",id=\"789\"}"
        ),
        Some(1_763_648_520.0)
    );
    assert_eq!(value(&text, &requests(200)), Some(1.0));
    for reason in ["timeout", "transport", "status", "decode", "too_large"] {
        assert_eq!(value(&text, &failures(reason)), Some(0.0), "{reason}");
    }
    assert_eq!(
        value(&text, "smartlead_api_request_duration_seconds_count{account=\"default\",api_endpoint=\"fetch-categories\"}"),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            "smartlead_poll_consecutive_failures{account=\"default\"}"
        ),
        Some(0.0)
    );
    let last_success = value(
        &text,
        "smartlead_last_success_timestamp_seconds{account=\"default\"}",
    )
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - last_success).abs() < 30.0, "{last_success} vs {now}");
    let build_info = text
        .lines()
        .find(|l| l.starts_with("smartlead_exporter_build_info{revision=\""))
        .unwrap();
    assert!(
        build_info.contains(",rustversion=\"1.") && build_info.ends_with(",version=\"0.1.0\"} 1"),
        "{build_info}"
    );
    assert!(value(&text, "process_resident_memory_bytes").unwrap() > 0.0);
    assert!(text.contains("# HELP smartlead_up 1 if the latest poll of SmartLead succeeded, else 0. Refreshed every poll interval, not at scrape time."));
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_name_the_exporter_and_carry_the_key_in_the_query() {
    let stand_in = StandIn::start(vec![Reply::json(200, "[]")]).await;
    let exporter = Exporter::against(&stand_in, "sk_live_42", &[]);
    exporter
        .wait_for("the first poll", |t| value(t, UP) == Some(1.0))
        .await;
    let seen = stand_in.seen();
    let head = seen[0].head.to_ascii_lowercase();
    assert!(
        seen[0]
            .head
            .starts_with("GET /api/v1/leads/fetch-categories?api_key=sk_live_42 HTTP/1.1\r\n"),
        "{}",
        seen[0].head
    );
    assert!(
        head.contains("\r\nuser-agent: smartlead_exporter/0.1.0\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\naccept: application/json\r\n"), "{head}");
}

#[tokio::test(flavor = "multi_thread")]
async fn scrapes_never_cause_upstream_calls() {
    let stand_in = StandIn::start(vec![Reply::json(200, SEED_EXAMPLE)]).await;
    let exporter = Exporter::against(&stand_in, "k", &["--poll.interval=1m"]);
    exporter
        .wait_for("the first poll", |t| value(t, UP) == Some(1.0))
        .await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("http://{}/metrics", exporter.addr);
    let scrapes = (0..200).map(|_| {
        let (http, url) = (http.clone(), url.clone());
        async move { http.get(url).send().await.unwrap().text().await.unwrap() }
    });
    let texts = futures_join_all(scrapes).await;
    assert!(texts.iter().all(|t| value(t, UP) == Some(1.0)));
    for path in ["/", "/-/ready", "/-/healthy"] {
        exporter.get(path).await;
    }
    assert_eq!(stand_in.calls(), 1);
}

/// Runs the futures concurrently on the test runtime.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn one_call_per_interval() {
    let stand_in = StandIn::start(vec![Reply::json(200, "[]")]).await;
    let exporter = Exporter::against(&stand_in, "k", &["--poll.interval=1s"]);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let seen = stand_in.seen();
    assert_eq!(seen.len(), 4, "polls at 0, 1, 2 and 3 s");
    for pair in seen.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(900) && gap < Duration::from_millis(1500),
            "{gap:?}"
        );
    }
    drop(exporter);
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoints_status_codes_and_gzip() {
    let stand_in = StandIn::start(vec![Reply::json(200, SEED_EXAMPLE)]).await;
    let exporter = Exporter::against(&stand_in, "k", &["--web.telemetry-path=/probe"]);
    exporter.wait_for_path("/probe").await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = |path: &str| format!("http://{}{path}", exporter.addr);

    let (status, headers, body) = exporter.get("/").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert!(body.contains("<a href=\"/probe\">"), "{body}");
    assert!(body.contains("/-/healthy") && body.contains("/-/ready"));
    assert!(body.contains("up: the latest poll succeeded"), "{body}");
    assert!(body.contains("Version 0.1.0"));
    assert_eq!(exporter.get("/-/healthy").await.0, 200);
    assert_eq!(exporter.get("/-/ready").await.0, 200);
    assert_eq!(exporter.get("/metrics").await.0, 404);
    assert_eq!(exporter.get("/nope").await.0, 404);

    let (status, headers, body) = exporter.get("/probe").await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(headers.get("content-encoding").is_none());
    assert!(body.contains("smartlead_up{account=\"default\"} 1\n"));

    let response = http.post(url("/probe")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, HEAD");

    let response = http.head(url("/probe")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let length: usize = response.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(length > 1000);
    assert_eq!(response.bytes().await.unwrap().len(), 0);

    let response = http
        .get(url("/probe"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let compressed = response.bytes().await.unwrap();
    let plain = common::gunzip(&compressed);
    assert!(plain.contains("smartlead_up{account=\"default\"} 1\n"));
    assert!(compressed.len() * 2 < plain.len());
}

/// Issue 9, defect 7: q-values in `Accept-Encoding` are honoured; `*` covers only the codings
/// not named, so `gzip;q=0, *` is answered in plain text.
#[tokio::test(flavor = "multi_thread")]
async fn accept_encoding_q_values_are_honoured() {
    let stand_in = StandIn::start(vec![Reply::json(200, SEED_EXAMPLE)]).await;
    let exporter = Exporter::against(&stand_in, "k", &[]);
    exporter.wait_for_path("/metrics").await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("http://{}/metrics", exporter.addr);
    for (accept, gzip) in [
        ("gzip;q=0, *", false),
        ("*, gzip;q=0", false),
        ("gzip;q=0.0", false),
        ("gzip;q=0.5, identity", false),
        ("identity;q=0, gzip;q=0.1", true),
        ("*", true),
        ("gzip", true),
    ] {
        let response = http
            .get(&url)
            .header("accept-encoding", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers().get("content-encoding").is_some(),
            gzip,
            "Accept-Encoding: {accept}"
        );
        let body = response.bytes().await.unwrap();
        let text = if gzip {
            common::gunzip(&body)
        } else {
            String::from_utf8(body.to_vec()).unwrap()
        };
        assert!(
            text.contains("smartlead_up{account=\"default\"} 1\n"),
            "{accept}"
        );
    }
    // Two header lines are one list: the refusal in the second one counts.
    let response = http
        .get(&url)
        .header("accept-encoding", "*")
        .header("accept-encoding", "gzip;q=0")
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("content-encoding").is_none());
}

impl Exporter {
    async fn wait_for_path(&self, path: &str) {
        for _ in 0..300 {
            let (status, _, body) = self.get(path).await;
            if status == 200 && body.contains("smartlead_up{account=\"default\"} 1") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no successful poll on {path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ready_only_after_the_first_poll() {
    let stand_in = StandIn::start(vec![Reply::Delayed(
        Duration::from_secs(2),
        Box::new(Reply::json(200, "[]")),
    )])
    .await;
    let exporter = Exporter::against(&stand_in, "k", &[]);
    let (status, _, body) = exporter.get("/-/ready").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(exporter.get("/-/healthy").await.0, 200);
    assert_eq!(value(&exporter.metrics().await, UP), Some(0.0));
    exporter
        .wait_for("the first poll", |t| value(t, UP) == Some(1.0))
        .await;
    assert_eq!(exporter.get("/-/ready").await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_are_counted_and_last_good_data_kept_until_stale() {
    let stand_in = StandIn::start(vec![
        Reply::json(200, SEED_EXAMPLE),
        Reply::json(401, r#"{"message": "Invalid API Key"}"#),
        Reply::json(500, r#"{"error": "Internal Server Error"}"#),
        Reply::json(200, "[{\"id\": 1, \"name\": "),
    ])
    .await;
    let exporter = Exporter::against(
        &stand_in,
        "k",
        &[
            "--poll.interval=1s",
            "--poll.max-backoff=1s",
            "--metrics.stale-after=5s",
        ],
    );
    let text = exporter
        .wait_for("three failures", |t| {
            value(t, &failures("decode")) == Some(1.0)
        })
        .await;
    assert_eq!(value(&text, UP), Some(0.0));
    assert_eq!(value(&text, &failures("status")), Some(2.0));
    assert_eq!(value(&text, &requests(200)), Some(2.0));
    assert_eq!(value(&text, &requests(401)), Some(1.0));
    assert_eq!(value(&text, &requests(500)), Some(1.0));
    assert_eq!(
        value(
            &text,
            "smartlead_poll_consecutive_failures{account=\"default\"}"
        ),
        Some(3.0)
    );
    // Still within --metrics.stale-after of the first poll: the last good data stays.
    assert_eq!(value(&text, &categories("positive", "global")), Some(2.0));
    assert_eq!(text.matches("smartlead_category_info{").count(), 4);

    let (_, _, page) = exporter.get("/").await;
    assert!(page.contains("down: the latest poll failed"), "{page}");
    assert!(page.contains("not a category list"), "{page}");

    let text = exporter
        .wait_for("stale data withdrawn", |t| {
            !t.contains("smartlead_categories{")
        })
        .await;
    assert!(!text.contains("smartlead_category_info{"));
    assert!(!text.contains("smartlead_category_created_timestamp_seconds{"));
    assert!(text.contains("smartlead_last_success_timestamp_seconds{account=\"default\"}"));
    assert_eq!(value(&text, UP), Some(0.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn key_file_is_reread_before_every_poll() {
    let dir = std::env::temp_dir().join(format!("sl-keyfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("api-key");
    std::fs::write(&path, "first-key\n").unwrap();
    let stand_in = StandIn::start(vec![Reply::json(200, "[]")]).await;
    let exporter = Exporter::start(
        &[
            &format!("--smartlead.base-url={}", stand_in.base_url()),
            &format!("--smartlead.api-key-file={}", path.display()),
            "--poll.interval=1s",
        ],
        &[],
    );
    exporter
        .wait_for("the first poll", |t| value(t, UP) == Some(1.0))
        .await;
    std::fs::write(&path, "rotated-key\n").unwrap();
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let seen = stand_in.seen();
    assert!(
        seen[0].head.contains("api_key=first-key "),
        "{}",
        seen[0].head
    );
    assert!(seen.last().unwrap().head.contains("api_key=rotated-key "));
    // A key file that vanishes mid-rotation: the last key read keeps working.
    std::fs::remove_file(&path).unwrap();
    let before = stand_in.calls();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(stand_in.calls() > before);
    assert!(stand_in
        .seen()
        .last()
        .unwrap()
        .head
        .contains("api_key=rotated-key "));
    assert_eq!(value(&exporter.metrics().await, UP), Some(1.0));
    let warnings = exporter
        .logs()
        .iter()
        .filter(|l| l.contains("key file"))
        .count();
    assert_eq!(warnings, 1, "{:?}", exporter.logs());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_and_sigint_exit_zero_within_five_seconds() {
    let stand_in = StandIn::start(vec![Reply::Silence]).await;
    for signal in ["TERM", "INT"] {
        let exporter = Exporter::against(&stand_in, "k", &[]);
        // A poll is in flight (the stand-in never answers) and a scrape connection is open.
        let _idle = tokio::net::TcpStream::connect(exporter.addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (status, took) = exporter.stop(signal);
        assert_eq!(status.code(), Some(0), "SIG{signal}");
        assert!(took < Duration::from_secs(5), "SIG{signal} took {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_and_other_signals_do_not_kill() {
    let stand_in = StandIn::start(vec![Reply::json(200, SEED_EXAMPLE)]).await;
    let mut exporter = Exporter::against(&stand_in, "k", &["--log.level=debug"]);
    exporter
        .wait_for("the first poll", |t| value(t, UP) == Some(1.0))
        .await;
    for signal in ["HUP", "USR1", "USR2", "ALRM", "HUP"] {
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &exporter.pid().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        // Time for a default action (termination) to take effect, had the signal one.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            exporter.alive(),
            "SIG{signal} ended the exporter: {:?}",
            exporter.logs()
        );
        assert_eq!(
            value(&exporter.metrics().await, UP),
            Some(1.0),
            "SIG{signal}"
        );
    }
    let logs = exporter.logs();
    let reloads = logs
        .iter()
        .filter(|l| l.contains("message=\"reloading"))
        .count();
    assert_eq!(reloads, 2, "{logs:?}");
    let ignored = logs.iter().filter(|l| l.contains("signal ignored")).count();
    assert_eq!(ignored, 3, "{logs:?}");
    let (status, _) = exporter.stop("TERM");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn bad_configuration_exits_2_naming_the_problem() {
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case<'_>] = &[
        (&[], &[], "SMARTLEAD_API_KEY"),
        (&[], &[], "--smartlead.api-key-file"),
        (
            &["--smartlead.api-key-file=/nonexistent/key"],
            &[],
            "/nonexistent/key",
        ),
        (
            &["--poll.interval=100ms"],
            &[("SMARTLEAD_API_KEY", "k")],
            "--poll.interval",
        ),
        (
            &["--poll.interval=often"],
            &[("SMARTLEAD_API_KEY", "k")],
            "--poll.interval",
        ),
        (
            &["--smartlead.timeout=-1s"],
            &[("SMARTLEAD_API_KEY", "k")],
            "--smartlead.timeout",
        ),
        (
            &["--web.listen-address=nowhere"],
            &[("SMARTLEAD_API_KEY", "k")],
            "--web.listen-address",
        ),
        (
            &["--smartlead.base-url=ftp://x"],
            &[("SMARTLEAD_API_KEY", "k")],
            "--smartlead.base-url",
        ),
        (
            &["--log.level=loud"],
            &[("SMARTLEAD_API_KEY", "k")],
            "--log.level",
        ),
        (
            &["--log.format=xml"],
            &[("SMARTLEAD_API_KEY", "k")],
            "--log.format",
        ),
        (
            &["--categories.global-max-id=-5"],
            &[("SMARTLEAD_API_KEY", "k")],
            "--categories.global-max-id",
        ),
        (
            &["--no-such-flag"],
            &[("SMARTLEAD_API_KEY", "k")],
            "--no-such-flag",
        ),
        // Every duration and size has an upper bound; the first used to panic with 101.
        (
            &["--smartlead.timeout=18446744073709551615s"],
            &[("SMARTLEAD_API_KEY", "k")],
            "--smartlead.timeout",
        ),
        (
            &["--smartlead.timeout=99999999999999999999s"],
            &[("SMARTLEAD_API_KEY", "k")],
            "--smartlead.timeout",
        ),
        (
            &["--metrics.stale-after=100000d"],
            &[("SMARTLEAD_API_KEY", "k")],
            "--metrics.stale-after",
        ),
        (
            &["--poll.max-backoff=100000d"],
            &[("SMARTLEAD_API_KEY", "k")],
            "--poll.max-backoff",
        ),
        (
            &["--poll.interval=100000d"],
            &[("SMARTLEAD_API_KEY", "k")],
            "--poll.interval",
        ),
        (
            &["--smartlead.max-body-size=8EiB"],
            &[("SMARTLEAD_API_KEY", "k")],
            "--smartlead.max-body-size",
        ),
        // The key is never a flag: the message says where it goes instead.
        (&["--smartlead.api-key=k"], &[], "SMARTLEAD_API_KEY"),
        (&["--smartlead.api-key"], &[], "--smartlead.api-key-file"),
        (&["--smartlead.api-key"], &[], "never taken as a flag"),
    ];
    for (args, env, expected) in cases {
        let (code, stdout, stderr) = run(args, env);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        // One style for every bad flag, clap's own included: one line, our prefix, no usage.
        assert!(
            stderr.starts_with("smartlead_exporter: error: ") && stderr.lines().count() == 1,
            "{args:?}: {stderr}"
        );
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
    }
    // A key put on the command line by mistake is not repeated, whatever the flag's name.
    for args in [
        &["--smartlead.api-key=s3cret-canary"][..],
        &["--smartlead.api-key", "s3cret-canary"],
        &["--api-key=s3cret-canary"],
        &["s3cret-canary"],
    ] {
        let (code, _, stderr) = run(args, &[]);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(!stderr.contains("s3cret-canary"), "{args:?}: {stderr}");
    }
}

#[test]
fn help_and_version_print_to_stdout_and_exit_0() {
    let (code, stdout, stderr) = run(&["--help"], &[]);
    assert_eq!(code, 0, "{stderr}");
    for text in [
        "--smartlead.timeout",
        "at most 7d",
        "1KiB to 1GiB",
        "SMARTLEAD_API_KEY",
    ] {
        assert!(stdout.contains(text), "--help lacks {text}: {stdout}");
    }
    let (code, stdout, stderr) = run(&["--version"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("smartlead_exporter "), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn listen_address_in_use_exits_2() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let (code, _, stderr) = run(&[&format!("--web.listen-address={address}"), "--demo"], &[]);
    assert_eq!(code, 2, "{stderr}");
    // The address as an address, not a debug list, and nothing said before the error: the
    // demo stand-in is started only once the port is bound.
    let expected =
        format!("smartlead_exporter: error: cannot listen on --web.listen-address ({address}): ");
    assert!(
        stderr.starts_with(&expected) && stderr.lines().count() == 1,
        "{stderr}"
    );
    assert!(!stderr.contains("demo"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn once_prints_the_exposition_and_reports_the_poll() {
    let good = StandIn::start(vec![Reply::json(200, SEED_EXAMPLE)]).await;
    let (code, stdout, _) = run(
        &[
            "--once",
            &format!("--smartlead.base-url={}", good.base_url()),
        ],
        &[("SMARTLEAD_API_KEY", "k")],
    );
    assert_eq!(code, 0);
    assert_eq!(value(&stdout, UP), Some(1.0));
    assert_eq!(value(&stdout, &categories("positive", "global")), Some(2.0));

    let bad = StandIn::start(vec![Reply::json(500, "{}")]).await;
    let (code, stdout, stderr) = run(
        &[
            "--once",
            &format!("--smartlead.base-url={}", bad.base_url()),
        ],
        &[("SMARTLEAD_API_KEY", "k")],
    );
    assert_eq!(code, 1);
    assert_eq!(value(&stdout, UP), Some(0.0));
    assert_eq!(value(&stdout, &failures("status")), Some(1.0));
    assert!(stderr.contains("status=500"), "{stderr}");
    assert_eq!(bad.calls(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_mode_fills_every_metric() {
    let exporter = Exporter::start(&["--demo", "--poll.interval=1s"], &[]);
    let text = exporter
        .wait_for("a demo poll", |t| {
            t.contains("smartlead_up{account=\"demo\"} 1")
        })
        .await;
    for sentiment in ["positive", "negative", "neutral", "none", "other"] {
        let total: f64 = ["global", "user"]
            .iter()
            .map(|o| {
                value(&text, &format!("smartlead_categories{{account=\"demo\",origin=\"{o}\",sentiment=\"{sentiment}\"}}")).unwrap()
            })
            .sum();
        assert!(total > 0.0, "{sentiment}");
    }
    assert_eq!(
        text.matches("smartlead_category_info{account=\"demo\"")
            .count(),
        14
    );
    assert_eq!(
        value(&text, "smartlead_api_rate_limit_limit{account=\"demo\"}"),
        Some(60.0)
    );
    assert!(value(
        &text,
        "smartlead_api_rate_limit_remaining{account=\"demo\"}"
    )
    .is_some());
    assert!(text.contains("smartlead_api_requests_total{account=\"demo\",api_endpoint=\"fetch-categories\",code=\"200\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_are_one_object_per_line() {
    let stand_in = StandIn::start(vec![Reply::json(500, "{}")]).await;
    let exporter = Exporter::against(&stand_in, "k", &["--log.format=json"]);
    exporter
        .wait_for("a failed poll", |t| {
            value(t, &failures("status")) == Some(1.0)
        })
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = exporter.logs();
    assert!(logs.len() >= 2, "{logs:?}");
    for line in &logs {
        let object: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(
            object["level"].is_string() && object["message"].is_string(),
            "{line}"
        );
    }
    assert!(
        logs.iter().any(|l| l.contains("\"status\":500")),
        "{logs:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn promtool_finds_nothing_to_complain_about() {
    let exporter = Exporter::start(&["--demo", "--poll.interval=1s"], &[]);
    let text = exporter
        .wait_for("a demo poll", |t| {
            t.contains("smartlead_up{account=\"demo\"} 1")
        })
        .await;
    assert_eq!(promtool_findings(&text), "", "promtool findings");
}

/// A connection to SmartLead is kept between polls only when the next poll comes before the
/// pool would close it (30 s). At the default 60 s it is closed right after the answer, so
/// nothing wakes the exporter between polls; at 1 s one connection serves every poll.
#[tokio::test(flavor = "multi_thread")]
async fn upstream_connections_are_kept_only_when_polls_come_often() {
    let rare = StandIn::start(vec![Reply::json(200, SEED_EXAMPLE)]).await;
    rare.keep_alive();
    let often = StandIn::start(vec![Reply::json(200, SEED_EXAMPLE)]).await;
    often.keep_alive();
    let _rare_exporter = Exporter::against(&rare, "k", &[]);
    let _often_exporter = Exporter::against(&often, "k", &["--poll.interval=1s"]);

    let deadline = Instant::now() + Duration::from_secs(10);
    while (rare.closed_by_client() < 1 || often.calls() < 3) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(rare.calls(), 1);
    assert_eq!(
        rare.closed_by_client(),
        1,
        "at 60 s polls the connection was left open"
    );
    assert!(often.calls() >= 3, "only {} polls at 1 s", often.calls());
    assert_eq!(
        often.connections(),
        1,
        "at 1 s polls the connection was not reused"
    );
    assert_eq!(often.closed_by_client(), 0);
}
