//! The exposition's tests: the text of a fixed state, escaping, ordering, readiness, the
//! gzip answer, and the cross-check of the hand-written families against the `prometheus` crate.

use std::time::SystemTime;

use prometheus::{Histogram, HistogramOpts, IntCounterVec, Opts};

use super::*;
use crate::settings::Collector;
use crate::smartlead::categories::{Category, Sentiment};
use crate::smartlead::client::{Exchange, FailureReason};
use crate::smartlead::Endpoint;
use crate::state::{AccountState, Categories, LATENCY_BUCKETS, PREINITIALISED_CODES};

fn encoder() -> (Arc<Store>, Encoder) {
    let store = Arc::new(Store::new());
    let encoder = Encoder::new(Arc::clone(&store), BuildInfo::current()).unwrap();
    (store, encoder)
}

fn text(encoder: &Encoder) -> String {
    String::from_utf8(encoder.exposition(false).to_vec()).unwrap()
}

fn categories() -> Categories {
    Categories {
        list: vec![
            Category {
                id: 1,
                name: "Interested".into(),
                sentiment: Sentiment::Positive,
                created_unix: Some(1_705_314_600.5),
            },
            Category {
                id: 789,
                name: "Say \"hi\"\\\n".into(),
                sentiment: Sentiment::Other,
                created_unix: None,
            },
        ]
        .into(),
        global_max_id: 99,
    }
}

/// An account whose categories collector succeeded once.
fn polled(store: &Store, name: &str) -> crate::state::AccountId {
    let mut state = AccountState::new(name);
    let collector = state.collector_mut(Collector::Categories);
    collector.enabled = true;
    collector.interval = Duration::from_secs(60);
    collector.attempts = 1;
    collector.success = true;
    collector.last_success = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    state.api[Endpoint::FetchCategories.index()].active = true;
    state.categories = Some(categories());
    store.register(state)
}

#[test]
fn category_families_are_written_with_escaped_labels() {
    let (store, encoder) = encoder();
    polled(&store, "acme");
    let text = text(&encoder);
    assert!(text.contains(
        "smartlead_category_info{account=\"acme\",id=\"1\",name=\"Interested\",\
         origin=\"global\",sentiment=\"positive\"} 1\n"
    ));
    assert!(text.contains(
        "smartlead_category_info{account=\"acme\",id=\"789\",name=\"Say \\\"hi\\\"\\\\\\n\",\
         origin=\"user\",sentiment=\"other\"} 1\n"
    ));
    assert!(text.contains(
        "smartlead_category_created_timestamp_seconds{account=\"acme\",id=\"1\"} 1705314600.5\n"
    ));
    assert!(
        !text.contains("smartlead_category_created_timestamp_seconds{account=\"acme\",id=\"789\"}")
    );
    assert!(text.contains(
        "smartlead_categories{account=\"acme\",origin=\"global\",sentiment=\"positive\"} 1\n"
    ));
    assert_eq!(text.matches("smartlead_categories{").count(), 10);
    assert!(text.contains("smartlead_up{account=\"acme\"} 1\n"));
    assert!(
        text.contains("smartlead_last_success_timestamp_seconds{account=\"acme\"} 1700000000\n")
    );
    assert!(text.contains("process_resident_memory_bytes "));
    assert!(text.contains("smartlead_exporter_config_last_reload_successful 1\n"));
}

#[test]
fn each_family_is_one_group_across_accounts() {
    let (store, encoder) = encoder();
    for account in ["globex", "acme", "initech"] {
        polled(&store, account);
    }
    let text = text(&encoder);
    let mut seen = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split(' ').nth(2).unwrap();
        assert!(!seen.contains(&name), "{name} appears twice");
        seen.push(name);
    }
    let ups: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("smartlead_up{"))
        .collect();
    assert_eq!(
        ups,
        [
            "smartlead_up{account=\"acme\"} 1",
            "smartlead_up{account=\"globex\"} 1",
            "smartlead_up{account=\"initech\"} 1"
        ]
    );
    assert_eq!(text.matches("smartlead_category_info{").count(), 6);
}

#[test]
fn a_removed_account_loses_every_series_at_once() {
    let (store, encoder) = encoder();
    polled(&store, "acme");
    polled(&store, "globex");
    store.remove("acme");
    let text = text(&encoder);
    assert!(!text.contains("account=\"acme\""), "{text}");
    assert!(text.contains("smartlead_up{account=\"globex\"} 1\n"));
}

#[test]
fn endpoints_are_exported_from_the_first_call_with_their_preinitialised_series() {
    let (store, encoder) = encoder();
    let id = store.register(AccountState::new("acme"));
    assert!(!text(&encoder).contains("smartlead_api_requests_total{"));
    store.update("acme", id, |s| {
        s.api[Endpoint::FetchCategories.index()].active = true;
    });
    let before = text(&encoder);
    for reason in ["timeout", "transport", "status", "decode", "too_large"] {
        assert!(before.contains(&format!(
            "smartlead_api_request_failures_total{{account=\"acme\",api_endpoint=\"fetch-categories\",reason=\"{reason}\"}} 0\n"
        )));
    }
    for code in PREINITIALISED_CODES {
        assert!(before.contains(&format!(
            "smartlead_api_requests_total{{account=\"acme\",api_endpoint=\"fetch-categories\",code=\"{code}\"}} 0\n"
        )));
    }
    let exchange = Exchange {
        status: Some(429),
        elapsed: Some(Duration::from_millis(30)),
        ..Exchange::default()
    };
    for _ in 0..2 {
        store.update("acme", id, |s| {
            s.api[Endpoint::Campaigns.index()].record(&exchange, Some(FailureReason::Status));
        });
    }
    let after = text(&encoder);
    assert!(after.contains(
        "smartlead_api_requests_total{account=\"acme\",api_endpoint=\"campaigns\",code=\"429\"} 2\n"
    ));
    assert!(after.contains(
        "smartlead_api_request_failures_total{account=\"acme\",api_endpoint=\"campaigns\",reason=\"status\"} 2\n"
    ));
    assert!(after.contains(
        "smartlead_api_request_duration_seconds_bucket{account=\"acme\",api_endpoint=\"campaigns\",le=\"0.05\"} 2\n"
    ));
    // Within the family, endpoints follow each other by label.
    let campaigns = after
        .find("api_endpoint=\"campaigns\",code=\"429\"")
        .unwrap();
    let categories = after
        .find("api_endpoint=\"fetch-categories\",code=\"401\"")
        .unwrap();
    assert!(campaigns < categories);
}

#[test]
fn readiness_follows_the_built_exposition() {
    let (store, encoder) = encoder();
    assert!(!encoder.ready());
    encoder.rebuild();
    assert!(!encoder.ready(), "the configuration is not loaded yet");
    store.set_reload(true);
    encoder.rebuild();
    assert!(
        encoder.ready(),
        "a loaded configuration without accounts is ready"
    );
    let mut waiting = AccountState::new("acme");
    waiting.collector_mut(Collector::Categories).enabled = true;
    let id = store.register(waiting);
    polled(&store, "globex");
    encoder.rebuild();
    assert!(!encoder.ready(), "acme has not polled yet");
    store.update("acme", id, |s| {
        s.collector_mut(Collector::Categories).attempts = 1;
    });
    assert!(!encoder.ready(), "not built yet");
    encoder.rebuild();
    assert!(encoder.ready());
}

#[test]
fn reload_and_shard_gauges() {
    let (store, encoder) = encoder();
    store.set_shard_accounts(1, 3, 17);
    store.set_reload(false);
    let text = text(&encoder);
    assert!(text.contains("smartlead_exporter_shard_accounts{shard=\"1\",total_shards=\"3\"} 17\n"));
    assert!(text.contains("smartlead_exporter_config_last_reload_successful 0\n"));
    assert!(text.contains("smartlead_exporter_config_last_reload_success_timestamp_seconds "));
}

/// Decodes one gzip member, as a single-member decoder does: it stops at the member's end.
pub(crate) fn gunzip(gzip: &[u8]) -> Vec<u8> {
    use std::io::Read as _;
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(gzip)
        .read_to_end(&mut decoded)
        .unwrap();
    decoded
}

#[test]
fn gzip_of_a_large_exposition_is_one_member_matching_the_text() {
    let (store, encoder) = encoder();
    let list: Vec<Category> = (1..=20_000)
        .map(|id| Category {
            id,
            name: format!("Category {}", id * 7919 % 10_007),
            sentiment: Sentiment::ALL[usize::try_from(id).unwrap() % Sentiment::ALL.len()],
            created_unix: Some(1_700_000_000.0 + f64::from(u32::try_from(id).unwrap())),
        })
        .collect();
    let ids: Vec<_> = ["acme", "globex"]
        .iter()
        .map(|account| (*account, polled(&store, account)))
        .collect();
    for list in [list.clone(), list[..10].to_vec()] {
        for (account, id) in &ids {
            store.update(account, *id, |s| {
                s.categories = Some(Categories {
                    list: list.clone().into(),
                    global_max_id: 99,
                });
            });
        }
        let plain = encoder.exposition(false);
        let text = std::str::from_utf8(&plain).unwrap();
        assert_eq!(
            text.matches("smartlead_category_info{account=\"globex\"")
                .count(),
            list.len()
        );
        let scrape = encoder.scrape(true);
        assert!(scrape.head.starts_with(&[0x1f, 0x8b]));
        let gzip = scrape.to_bytes();
        assert_eq!(gunzip(&gzip), plain);
        assert!(
            gzip.len() < plain.len() / 4,
            "{} of {}",
            gzip.len(),
            plain.len()
        );
    }
}

#[test]
fn a_scrape_is_the_built_text_then_the_process_text() {
    let (store, encoder) = encoder();
    polled(&store, "acme");
    encoder.rebuild();
    let scrape = encoder.scrape(false);
    let head = std::str::from_utf8(&scrape.head).unwrap();
    let tail = std::str::from_utf8(&scrape.tail).unwrap();
    assert!(head.contains("smartlead_category_info{") && !head.contains("process_"));
    assert!(tail.starts_with("# HELP process_"), "{tail}");
    // Served again without a rebuild: the same buffers, not copies.
    let again = encoder.scrape(false);
    assert_eq!(again.head.as_ptr(), scrape.head.as_ptr());
    assert_eq!(again.tail.as_ptr(), scrape.tail.as_ptr());
    assert_eq!(scrape.len(), scrape.to_bytes().len());
    // Nothing changed: a rebuild keeps the same per-build buffer.
    let gzip = encoder.scrape(true);
    encoder.rebuild();
    assert_eq!(encoder.scrape(true).head.as_ptr(), gzip.head.as_ptr());
}

#[tokio::test]
async fn the_encoder_builds_a_change_and_refreshes_process_metrics_while_scraped() {
    let (store, encoder) = encoder();
    let encoder = Arc::new(encoder);
    let (trigger, shutdown) = crate::shutdown::channel();
    let task = tokio::spawn(Arc::clone(&encoder).run(shutdown));
    polled(&store, "acme");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::str::from_utf8(&encoder.scrape(false).head)
        .unwrap()
        .contains("account=\"acme\"")
    {
        assert!(Instant::now() < deadline, "the change was never built");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let first = encoder.scrape(true).tail;
    tokio::time::sleep(PROCESS_METRICS_MAX_AGE * 2 + Duration::from_millis(200)).await;
    encoder.scrape(true);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_ne!(
        encoder.scrape(true).tail.as_ptr(),
        first.as_ptr(),
        "process_* was not refreshed while scraped"
    );
    trigger.fire();
    task.await.unwrap();
}

#[test]
fn hand_written_families_match_the_prometheus_crate() {
    let account = "a\"b\\c";
    let observations = [0.01, 0.025, 0.3, 7.5, 31.0, 0.2];
    let (store, encoder) = encoder();
    let expected = Histogram::with_opts(
        HistogramOpts::new(
            "smartlead_api_request_duration_seconds",
            "Duration of SmartLead API requests, from sending to the last body byte. Observed \
             once per call, not at scrape time.",
        )
        .const_label("account", account)
        .const_label("api_endpoint", "fetch-categories")
        .buckets(LATENCY_BUCKETS.to_vec()),
    )
    .unwrap();
    let requests = IntCounterVec::new(
        Opts::new(
            "smartlead_api_requests_total",
            "SmartLead API responses received, by HTTP status code. Counted once per call.",
        )
        .const_label("account", account)
        .const_label("api_endpoint", "fetch-categories"),
        &["code"],
    )
    .unwrap();
    for code in PREINITIALISED_CODES {
        requests.with_label_values(&[&code.to_string()]);
    }
    let id = store.register(AccountState::new(account));
    for (seconds, code) in observations.into_iter().zip([500, 200, 429, 200, 100, 503]) {
        expected.observe(seconds);
        requests.with_label_values(&[&code.to_string()]).inc();
        store.update(account, id, |s| {
            s.api[Endpoint::FetchCategories.index()].record(
                &Exchange {
                    status: Some(code),
                    elapsed: Some(Duration::from_secs_f64(seconds)),
                    ..Exchange::default()
                },
                None,
            );
        });
    }
    let text = text(&encoder);
    for collector in [
        Box::new(expected) as Box<dyn prometheus::core::Collector>,
        Box::new(requests),
    ] {
        // As the registry gathers them: series sorted by label values.
        let registry = Registry::new();
        let name = collector.desc()[0].fq_name.clone();
        registry.register(collector).unwrap();
        let theirs = encode(&registry.gather());
        let start = text.find(&format!("# HELP {name} ")).unwrap();
        let end = text[start + 1..]
            .find("# HELP ")
            .map_or(text.len(), |at| start + 1 + at);
        assert_eq!(&text[start..end], theirs);
    }
}

/// Text of `len` bytes: compressible (a repeated line) or not (random printable bytes), so
/// that deflate's output is both far smaller and a little larger than the room guessed for it.
fn piece(len: usize, compressible: bool, seed: u64) -> Vec<u8> {
    const LINE: &[u8] = b"smartlead_category_info{account=\"a\"} 1\n";
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len)
        .map(|i| {
            if compressible {
                LINE[i % LINE.len()]
            } else {
                rng.u8(b' '..=b'~')
            }
        })
        .collect()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// The gzip answer's two deflate streams, as the build and the `process_*` part make them,
    /// always inflate to the two texts whole: the head ends on a sync flush, the tail ends the
    /// member, whatever sizes the batches and the tail have.
    #[test]
    fn head_and_tail_always_inflate_whole(
        batches in proptest::collection::vec((0usize..200_000, proptest::bool::ANY), 0..6),
        tail_len in 0usize..20_000,
        tail_compressible in proptest::bool::ANY,
        seed in proptest::num::u64::ANY,
    ) {
        use self::gzip::{Deflater, GZIP_HEADER};
        use flate2::FlushCompress;
        let mut head = Deflater::new(&GZIP_HEADER, 0);
        let mut text = Vec::new();
        for (i, (len, compressible)) in batches.iter().enumerate() {
            let batch = piece(*len, *compressible, seed ^ i as u64);
            head.write(&batch);
            text.extend_from_slice(&batch);
        }
        let (mut whole, head_crc) = head.finish(FlushCompress::Sync);
        let process = piece(tail_len, tail_compressible, !seed);
        let mut tail = Deflater::new(&[], 0);
        tail.write(&process);
        let (tail_stream, tail_crc) = tail.finish(FlushCompress::Finish);
        whole.extend_from_slice(&tail_stream);
        let mut crc = flate2::Crc::new();
        crc.combine(&head_crc);
        crc.combine(&tail_crc);
        whole.extend_from_slice(&crc.sum().to_le_bytes());
        whole.extend_from_slice(&crc.amount().to_le_bytes());
        text.extend_from_slice(&process);
        proptest::prop_assert_eq!(gunzip(&whole), text);
    }
}
