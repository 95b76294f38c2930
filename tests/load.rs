//! The scrape side under load and abuse, over loopback: hundreds of concurrent scrapers while
//! polls fail and recover, and idle or slow clients that must not hold the server. Bounded in
//! count and time.

mod common;

use std::time::{Duration, Instant};

use common::{value, Exporter, Reply, StandIn, SEED_EXAMPLE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Concurrent scrapers in the load test.
const CONNECTIONS: usize = 500;

/// The load lasts until SmartLead was polled this often (so that polls failed and recovered
/// under it), or [`MAX_LOAD`] passed.
const POLLS_UNDER_LOAD: usize = 5;

/// The longest the load runs.
const MAX_LOAD: Duration = Duration::from_secs(30);

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// One scrape on its own connection; returns the status line.
async fn scrape(addr: std::net::SocketAddr) -> Result<String, String> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: exporter\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&response);
    if !text.contains("smartlead_up{account=\"default\"}") {
        return Err(format!("incomplete exposition: {} bytes", response.len()));
    }
    Ok(text.lines().next().unwrap_or("").to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn five_hundred_concurrent_scrapers_while_polls_fail_and_recover() {
    let flapping: Vec<Reply> = (0..40)
        .map(|i| {
            if i % 3 == 2 {
                Reply::json(500, "{}")
            } else {
                Reply::json(200, SEED_EXAMPLE)
            }
        })
        .collect();
    let stand_in = StandIn::start(flapping).await;
    let exporter = Exporter::against(
        &stand_in,
        "k",
        &["--poll.interval=1s", "--poll.max-backoff=1s"],
    );
    exporter
        .wait_for("the first poll", |t| {
            value(t, "smartlead_up{account=\"default\"}") == Some(1.0)
        })
        .await;
    let baseline = open_fds(exporter.pid());

    let started = Instant::now();
    let polls_before = stand_in.calls();
    let mut tasks = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let addr = exporter.addr;
        let stand_in = stand_in.clone();
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            while stand_in.calls() < polls_before + POLLS_UNDER_LOAD && started.elapsed() < MAX_LOAD
            {
                statuses.push(scrape(addr).await);
            }
            statuses
        }));
    }
    let mut ok = 0;
    let mut errors = Vec::new();
    for task in tasks {
        for status in task.await.unwrap() {
            match status {
                Ok(line) if line.starts_with("HTTP/1.1 200") => ok += 1,
                Ok(line) => errors.push(line),
                Err(e) => errors.push(e),
            }
        }
    }
    assert!(
        errors.is_empty(),
        "{} errors, first: {:?}",
        errors.len(),
        errors.first()
    );
    assert!(ok >= CONNECTIONS, "{ok} scrapes");

    // Polls went on during the load, failing and recovering.
    assert!(
        stand_in.calls() >= polls_before + POLLS_UNDER_LOAD,
        "polls stalled under load"
    );
    let text = exporter.metrics().await;
    let count = |code: &str| {
        value(&text, &format!("smartlead_api_requests_total{{account=\"default\",api_endpoint=\"fetch-categories\",code=\"{code}\"}}"))
            .unwrap_or(0.0)
    };
    assert!(count("500") >= 1.0 && count("200") >= 3.0, "{text}");

    // Every connection is closed again: no descriptor leaked.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = open_fds(exporter.pid());
        if now <= baseline + 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{now} descriptors open, {baseline} before the load"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_and_slow_clients_do_not_hold_the_server() {
    let stand_in = StandIn::start(vec![Reply::json(200, SEED_EXAMPLE)]).await;
    let exporter = Exporter::against(&stand_in, "k", &[]);
    exporter
        .wait_for("the first poll", |t| {
            value(t, "smartlead_up{account=\"default\"}") == Some(1.0)
        })
        .await;

    // 300 clients connect and say nothing; 100 send half a request and stall.
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(exporter.addr).await.unwrap());
    }
    for _ in 0..100 {
        let mut stream = TcpStream::connect(exporter.addr).await.unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: slow")
            .await
            .unwrap();
        idle.push(stream);
    }

    // Prometheus still gets its scrape at once.
    let started = Instant::now();
    let line = scrape(exporter.addr).await.unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "scrape took {:?}",
        started.elapsed()
    );

    // The server closes them after the header read timeout (10 s).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 256];
    for stream in &mut idle {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(_)) | Ok(Err(_)) => {}
            Err(_) => panic!("an idle connection was still open after 20 s"),
        }
    }
}

/// A SmartLead answer with `n` categories: the nine globals' ids and then user ones.
fn categories_json(n: usize) -> String {
    let items: Vec<String> = (1..=n)
        .map(|id| {
            format!(
                r#"{{"id":{id},"name":"Category {id}","sentiment_type":"positive","created_at":"2024-01-15T10:30:00.000Z"}}"#
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// A reader too slow to finish before the next polls still gets the one poll it started with,
/// whole: the buffer it is being sent from outlives the polls that replace it.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_plain_scrape_gets_one_whole_poll_across_later_polls() {
    const N: usize = 20_000;
    // Every poll's answer differs from the one before it.
    let script = (0..120)
        .map(|i| Reply::json(200, &categories_json(N + i % 2)))
        .collect();
    let stand_in = StandIn::start(script).await;
    let exporter = Exporter::against(&stand_in, "k", &["--poll.interval=1s"]);
    exporter
        .wait_for("the first poll", |m| {
            m.contains("smartlead_up{account=\"default\"} 1")
        })
        .await;
    let polls_before = stand_in.calls();
    let mut stream = TcpStream::connect(exporter.addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: slow\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    // About 1.6 MB/s: the 4 MB answer takes some 2.5 s, across two or more polls.
    let mut response = Vec::new();
    let mut buf = vec![0; 8 * 1024];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buf[..n]);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let polls_during = stand_in.calls() - polls_before;
    assert!(
        polls_during >= 2,
        "only {polls_during} polls during the read"
    );

    let text = String::from_utf8(response).expect("UTF-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("a header block");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length: "))
        .expect("content-length")
        .parse()
        .unwrap();
    assert_eq!(body.len(), length);
    let listed = body
        .lines()
        .filter(|line| line.starts_with("smartlead_category_info{"))
        .count();
    assert!(listed == N || listed == N + 1, "{listed} categories");
    let counted: f64 = body
        .lines()
        .filter(|line| line.starts_with("smartlead_categories{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(
        counted as usize, listed,
        "the gauges and the list are of different polls"
    );
    assert!(body.ends_with('\n') && body.contains("\nprocess_resident_memory_bytes "));
}
