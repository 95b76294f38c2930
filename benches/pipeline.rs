//! Micro-benchmarks of one poll's work and of a scrape, at 10, 1,000 and 100,000 categories,
//! through the library's public API only.
//!
//! - `parse`: the SmartLead body to a [`Catalog`] (`smartlead::model::parse`).
//! - `classify`: counting by sentiment and origin (`snapshot::Categories::counts`).
//! - `encode`: the per-category families in the text format (`metrics::write_categories`).
//! - `publish`: gauges, registry and per-category text of one account, then the exposition
//!   rebuilt and compressed into the gzip buffer that scrapes serve (`Metrics::publish`,
//!   `Metrics::rebuild`).
//! - `rebuild_accounts`: the exposition of 500 accounts of 12 categories assembled family by
//!   family and compressed, after one account published (what the encoder does once a second
//!   at most).
//! - `poll`: parse, classify and publish together; the target is under 100 ms at
//!   100,000 categories.
//! - `scrape`: what one `/metrics` request costs the exporter (`Metrics::scrape`), plain and
//!   gzip, once the per-poll buffers exist; `first_scrape`: the first one after a publish,
//!   which gathers `process_*` and inflates the plain text or finishes the gzip member.
//!
//! Timed run: `cargo bench --bench pipeline`. Quick smoke run (every benchmark once, no
//! timing claims), as the test command calls it: `cargo test --bench pipeline`.

use std::sync::Arc;
use std::time::SystemTime;

use divan::{black_box, Bencher};
use smartlead_exporter::metrics::{write_categories, BuildInfo, Metrics};
use smartlead_exporter::smartlead::model::{parse, Catalog};
use smartlead_exporter::snapshot::{Categories, Snapshot};

/// The category counts every benchmark runs at: a small account, a large one, and the
/// issue's stress size (about 11 MB of JSON).
const SIZES: [usize; 3] = [10, 1_000, 100_000];

/// `--categories.global-max-id`'s default: ids up to this are global.
const GLOBAL_MAX_ID: u64 = 99;

/// The `account` label value used throughout.
const ACCOUNT: &str = "bench";

/// Sentiments in the mix SmartLead accounts show: mostly set, some `null`, a few unknown.
const SENTIMENTS: [&str; 6] = [
    "\"positive\"",
    "\"negative\"",
    "\"neutral\"",
    "null",
    "\"Positive\"",
    "\"mixed\"",
];

fn main() {
    divan::main();
}

/// A SmartLead-shaped answer with `n` categories: ids ascending from 1, names that need no
/// escaping except every 97th (a quote), timestamps on every element but every 13th.
fn body(n: usize) -> Vec<u8> {
    let mut out = String::with_capacity(n * 130 + 2);
    out.push('[');
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        let id = i + 1;
        let sentiment = SENTIMENTS[i % SENTIMENTS.len()];
        let name = if i % 97 == 0 {
            format!("Say \\\"hi\\\" {id}")
        } else {
            format!("Follow Up Later {id}")
        };
        let created = if i % 13 == 0 {
            "null".to_owned()
        } else {
            format!("\"2024-{:02}-{:02}T10:30:00.000Z\"", i % 12 + 1, i % 28 + 1)
        };
        out.push_str(&format!(
            "{{\"id\":{id},\"name\":\"{name}\",\"sentiment_type\":{sentiment},\"created_at\":{created}}}"
        ));
    }
    out.push(']');
    out.into_bytes()
}

fn catalog(n: usize) -> Catalog {
    parse(&body(n)).expect("the generated body parses")
}

fn categories(n: usize) -> Categories {
    Categories {
        list: catalog(n).categories.into(),
        global_max_id: GLOBAL_MAX_ID,
    }
}

/// The snapshot a successful poll of `n` categories publishes.
fn snapshot(categories: Categories) -> Snapshot {
    Snapshot {
        categories: Some(categories),
        up: true,
        attempts: 1,
        last_success: Some(SystemTime::now()),
        ..Snapshot::default()
    }
}

fn metrics() -> Metrics {
    Metrics::new(&BuildInfo::current()).expect("the families register")
}

#[divan::bench(args = SIZES)]
fn parse_body(bencher: Bencher, n: usize) {
    let body = body(n);
    bencher
        .counter(divan::counter::BytesCount::of_slice(&body))
        .bench(|| parse(black_box(&body)).expect("parses"));
}

#[divan::bench(args = SIZES)]
fn classify(bencher: Bencher, n: usize) {
    let categories = categories(n);
    bencher.bench(|| black_box(&categories).counts());
}

#[divan::bench(args = SIZES)]
fn encode_categories(bencher: Bencher, n: usize) {
    let categories = categories(n);
    bencher.bench(|| {
        let mut info = String::new();
        let mut created = String::new();
        write_categories(&mut info, &mut created, ACCOUNT, black_box(&categories));
        (info, created)
    });
}

#[divan::bench(args = SIZES)]
fn publish(bencher: Bencher, n: usize) {
    let metrics = metrics();
    let snapshot = snapshot(categories(n));
    bencher.bench(|| {
        metrics.publish(ACCOUNT, None, black_box(&snapshot));
        metrics.rebuild();
    });
}

/// 500 accounts of 12 categories: one account publishes, the whole exposition is rebuilt.
#[divan::bench]
fn rebuild_accounts(bencher: Bencher) {
    let metrics = metrics();
    let snapshot = snapshot(categories(12));
    let names: Vec<String> = (0..500).map(|i| format!("client-{i}")).collect();
    for name in &names {
        metrics.publish(name, None, &snapshot);
    }
    bencher.bench(|| {
        metrics.publish(&names[0], None, black_box(&snapshot));
        metrics.rebuild();
    });
}

/// Parse, classify and publish: everything a successful poll does after the body arrived.
#[divan::bench(args = SIZES)]
fn poll(bencher: Bencher, n: usize) {
    let metrics = metrics();
    let body = body(n);
    bencher.bench(|| {
        let catalog = parse(black_box(&body)).expect("parses");
        let categories = Categories {
            list: Arc::from(catalog.categories),
            global_max_id: GLOBAL_MAX_ID,
        };
        black_box(categories.counts());
        metrics.publish(ACCOUNT, None, &snapshot(categories));
        metrics.rebuild();
    });
}

/// A scrape once the plain text was inflated or the gzip member's tail was made: two buffer
/// clones.
#[divan::bench(args = SIZES, consts = [false, true])]
fn scrape<const GZIP: bool>(bencher: Bencher, n: usize) {
    let metrics = metrics();
    metrics.publish(ACCOUNT, None, &snapshot(categories(n)));
    metrics.rebuild();
    black_box(metrics.scrape(GZIP));
    bencher.bench(|| metrics.scrape(black_box(GZIP)));
}

/// The first scrape after a publish: gathers `process_*` (as every scrape does once per
/// `PROCESS_METRICS_MAX_AGE`); plain inflates the per-poll text, gzip deflates the
/// `process_*` part and writes the trailer.
#[divan::bench(args = SIZES, consts = [false, true])]
fn first_scrape<const GZIP: bool>(bencher: Bencher, n: usize) {
    let metrics = metrics();
    let snapshot = snapshot(categories(n));
    bencher
        .with_inputs(|| {
            metrics.publish(ACCOUNT, None, &snapshot);
            metrics.rebuild();
        })
        .bench_refs(|()| metrics.scrape(GZIP));
}
