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

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use smartlead_exporter::{
    AccountState, BuildInfo, Categories, Category, Collector, Encoder, Endpoint, Exchange,
    FailureReason, RateLimit, Sentiment, Store,
};

const GOLDEN: &str = "tests/golden/exposition.txt";

fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
}

fn category(id: u64, name: &str, sentiment: Sentiment, created: Option<f64>) -> Category {
    Category {
        id,
        name: name.to_owned(),
        sentiment,
        created_unix: created,
    }
}

/// An account of the categories collector alone, at `interval`, after `calls` (status,
/// milliseconds, failure), the last of which set its outcome.
fn account(
    name: &str,
    interval: u64,
    calls: &[(Option<u16>, Option<u64>, Option<FailureReason>)],
) -> AccountState {
    let mut state = AccountState::new(name);
    let counters = &mut state.api[Endpoint::FetchCategories.index()];
    for &(status, millis, failure) in calls {
        let exchange = Exchange {
            status,
            elapsed: millis.map(Duration::from_millis),
            ..Exchange::default()
        };
        counters.record(&exchange, failure);
    }
    counters.active = true;
    let categories = state.collector_mut(Collector::Categories);
    categories.enabled = true;
    categories.interval = Duration::from_secs(interval);
    categories.attempts = calls.len() as u64;
    if let Some(&(_, millis, failure)) = calls.last() {
        categories.success = failure.is_none();
        categories.last_duration = millis.map(Duration::from_millis);
    }
    categories.consecutive_failures = calls
        .iter()
        .rev()
        .take_while(|(_, _, failure)| failure.is_some())
        .count() as u32;
    state
}

/// Puts the fixed state into `store`, as the collectors would.
fn publish_fixed_state(store: &Store) {
    // acme: a 429, then two good polls; rate-limit headers on the latest.
    let mut acme = account(
        "acme",
        60,
        &[
            (Some(429), Some(30), Some(FailureReason::Status)),
            (Some(200), Some(120), None),
            (Some(200), Some(2_600), None),
        ],
    );
    acme.collector_mut(Collector::Categories).last_success = Some(at(1_760_000_000));
    acme.categories = Some(Categories {
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
    });
    acme.rate_limit = RateLimit {
        limit: Some(60),
        remaining: Some(42),
        reset: None,
    };
    store.register(acme);

    // globex: the key is refused, then a timeout; never a success.
    store.register(account(
        "globex",
        15,
        &[
            (Some(401), Some(80), Some(FailureReason::Status)),
            (Some(401), Some(95), Some(FailureReason::Status)),
            (None, None, Some(FailureReason::Timeout)),
        ],
    ));

    // initech: one success long ago, then failures until its data went stale: the
    // categories and the rate-limit headers are withdrawn.
    let mut initech = account(
        "initech",
        3600,
        &[
            (Some(200), Some(400), None),
            (Some(500), Some(12), Some(FailureReason::Status)),
            (None, None, Some(FailureReason::Transport)),
            (Some(200), Some(31_000), Some(FailureReason::Decode)),
            (Some(200), Some(7), Some(FailureReason::TooLarge)),
        ],
    );
    initech.collector_mut(Collector::Categories).last_success = Some(at(1_750_000_000));
    store.register(initech);

    store.set_shard_accounts(1, 4, 3);
    store.set_reload(false);
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

fn encoder() -> Encoder {
    let store = Arc::new(Store::new());
    publish_fixed_state(&store);
    Encoder::new(store, BuildInfo::current()).unwrap()
}

#[test]
fn the_exposition_of_a_fixed_state_matches_the_golden_file() {
    let encoder = encoder();
    encoder.rebuild();
    let scrape = encoder.scrape(false);
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
    let encoder = encoder();
    // One build and one gathering of `process_*` for both answers: a second `exposition()`
    // would gather `process_*` anew, and memory or CPU time may have moved in between.
    encoder.rebuild();
    let plain = encoder.scrape(false).to_bytes();
    let gzip = encoder.scrape(true).to_bytes();
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&gzip[..])
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, plain);
}
