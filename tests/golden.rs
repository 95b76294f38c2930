//! The exposition of a fixed multi-account state, byte for byte, against a checked-in file
//! (`tests/golden/exposition.txt`): what the exporter serves for the same state must not
//! change when the code behind it is reorganised.
//!
//! The state: an account that polls well (categories of every sentiment and both origins, a
//! name that needs escaping, rate-limit headers), one whose key is refused and that never
//! succeeded, one whose data went stale after an earlier success, and the exporter's own
//! reload and shard gauges. Only what varies from build to build (the revision and compiler
//! in `smartlead_exporter_build_info`, the time of the last reload) is replaced by a
//! placeholder before the comparison; `process_*` is not part of the per-build text.
//!
//! Regenerate the file only for an intended change of the exposition:
//! `SMARTLEAD_GOLDEN_WRITE=1 cargo test --test golden`.

use std::time::{Duration, SystemTime};

use smartlead_exporter::metrics::{BuildInfo, Metrics};
use smartlead_exporter::smartlead::client::{Exchange, FailureReason, RateLimit};
use smartlead_exporter::smartlead::model::{Category, Sentiment};
use smartlead_exporter::snapshot::{Attempt, Categories, Snapshot};

const GOLDEN: &str = "tests/golden/exposition.txt";

fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
}

fn attempt(status: Option<u16>, millis: Option<u64>, failure: Option<FailureReason>) -> Attempt {
    Attempt {
        exchange: Exchange {
            status,
            elapsed: millis.map(Duration::from_millis),
            ..Exchange::default()
        },
        failure,
    }
}

fn category(id: u64, name: &str, sentiment: Sentiment, created: Option<f64>) -> Category {
    Category {
        id,
        name: name.to_owned(),
        sentiment,
        created_unix: created,
    }
}

/// Publishes the fixed state into `metrics`, as the pollers would.
fn publish_fixed_state(metrics: &Metrics) {
    // acme: a 429, then two good polls; rate-limit headers on the latest.
    let acme = Snapshot {
        categories: Some(Categories {
            list: vec![
                category(1, "Interested", Sentiment::Positive, Some(1_661_817_600.0)),
                category(
                    2,
                    "Meeting Request",
                    Sentiment::Positive,
                    Some(1_661_817_600.0),
                ),
                category(
                    3,
                    "Not Interested",
                    Sentiment::Negative,
                    Some(1_661_817_600.0),
                ),
                category(6, "Out Of Office", Sentiment::None, Some(1_661_817_600.0)),
                category(
                    789,
                    "Say \"hi\"\\\nnow",
                    Sentiment::Neutral,
                    Some(1_705_314_600.5),
                ),
                category(1451, "Odd one", Sentiment::Other, None),
            ]
            .into(),
            global_max_id: 99,
        }),
        up: true,
        attempts: 3,
        last_success: Some(at(1_760_000_000)),
        consecutive_failures: 0,
        rate_limit: RateLimit {
            limit: Some(60),
            remaining: Some(42),
            reset: None,
        },
        last_duration: Some(Duration::from_millis(2_600)),
        interval: Duration::from_secs(60),
        ..Snapshot::default()
    };
    metrics.publish(
        "acme",
        Some(&attempt(Some(429), Some(30), Some(FailureReason::Status))),
        &Snapshot {
            categories: None,
            up: false,
            attempts: 1,
            consecutive_failures: 1,
            last_duration: Some(Duration::from_millis(30)),
            interval: Duration::from_secs(60),
            ..Snapshot::default()
        },
    );
    metrics.publish("acme", Some(&attempt(Some(200), Some(120), None)), &acme);
    metrics.publish("acme", Some(&attempt(Some(200), Some(2_600), None)), &acme);

    // globex: the key is refused, then a timeout; never a success.
    let mut globex = Snapshot {
        interval: Duration::from_secs(15),
        ..Snapshot::default()
    };
    for (n, step) in [
        attempt(Some(401), Some(80), Some(FailureReason::Status)),
        attempt(Some(401), Some(95), Some(FailureReason::Status)),
        attempt(None, None, Some(FailureReason::Timeout)),
    ]
    .iter()
    .enumerate()
    {
        globex.attempts = n as u64 + 1;
        globex.consecutive_failures = n as u32 + 1;
        metrics.publish("globex", Some(step), &globex);
    }

    // initech: one success long ago, then failures until its data went stale.
    let initech_ok = Snapshot {
        categories: Some(Categories {
            list: vec![category(1, "Interested", Sentiment::Positive, None)].into(),
            global_max_id: 99,
        }),
        up: true,
        attempts: 1,
        last_success: Some(at(1_750_000_000)),
        rate_limit: RateLimit {
            limit: Some(60),
            remaining: Some(59),
            reset: None,
        },
        last_duration: Some(Duration::from_millis(400)),
        interval: Duration::from_secs(3600),
        ..Snapshot::default()
    };
    metrics.publish(
        "initech",
        Some(&attempt(Some(200), Some(400), None)),
        &initech_ok,
    );
    let mut failing = Snapshot {
        up: false,
        ..initech_ok.clone()
    };
    for (n, step) in [
        attempt(Some(500), Some(12), Some(FailureReason::Status)),
        attempt(None, None, Some(FailureReason::Transport)),
        attempt(Some(200), Some(31_000), Some(FailureReason::Decode)),
        attempt(Some(200), Some(7), Some(FailureReason::TooLarge)),
    ]
    .iter()
    .enumerate()
    {
        failing.attempts = n as u64 + 2;
        failing.last_duration = step.exchange.elapsed;
        failing.consecutive_failures = n as u32 + 1;
        metrics.publish("initech", Some(step), &failing);
    }
    // Stale: the categories and the rate-limit headers are withdrawn.
    let stale = Snapshot {
        categories: None,
        rate_limit: RateLimit::default(),
        ..failing
    };
    metrics.publish("initech", None, &stale);

    metrics.set_shard_accounts(1, 4, 3);
    metrics.set_reload(false);
}

/// The per-build text with what varies between builds replaced by placeholders.
fn normalised(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line.starts_with("smartlead_exporter_build_info{") {
            out.push_str("smartlead_exporter_build_info{BUILD} 1");
        } else if let Some(rest) =
            line.strip_prefix("smartlead_exporter_config_last_reload_success_timestamp_seconds ")
        {
            assert!(rest.parse::<f64>().is_ok(), "{line}");
            out.push_str("smartlead_exporter_config_last_reload_success_timestamp_seconds NOW");
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[test]
fn the_exposition_of_a_fixed_state_matches_the_golden_file() {
    let metrics = Metrics::new(&BuildInfo::current()).unwrap();
    publish_fixed_state(&metrics);
    metrics.rebuild();
    let scrape = metrics.scrape(false);
    let text = std::str::from_utf8(&scrape.head).unwrap();
    assert!(
        !text.contains("process_"),
        "process_* is not per-build text"
    );
    let actual = normalised(text);
    if std::env::var_os("SMARTLEAD_GOLDEN_WRITE").is_some() {
        std::fs::write(GOLDEN, &actual).unwrap();
    }
    let golden = std::fs::read_to_string(GOLDEN).unwrap();
    assert_eq!(actual, golden, "the exposition differs from {GOLDEN}");
}

#[test]
fn the_gzip_answer_is_the_same_text() {
    use std::io::Read as _;
    let metrics = Metrics::new(&BuildInfo::current()).unwrap();
    publish_fixed_state(&metrics);
    let plain = metrics.exposition(false);
    let gzip = metrics.exposition(true);
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&gzip[..])
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, plain);
}
