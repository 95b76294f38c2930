//! Micro-benchmarks of one poll's work and of a scrape, at 10, 1,000 and 100,000 categories,
//! through the library's public API only.
//!
//! - `parse`: the SmartLead body to a [`Catalog`] ([`parse_categories`]).
//! - `classify`: counting by sentiment and origin (`Categories::counts`).
//! - `publish`: one account's new categories into the store, then the exposition rebuilt and
//!   compressed into the gzip buffer that scrapes serve (`Store::update`, `Encoder::rebuild`).
//! - `rebuild_accounts`: the exposition of 500 accounts of 12 categories written family by
//!   family and compressed, after one account changed (what the encoder does once a second
//!   at most).
//! - `poll`: parse, classify and publish together; the target is under 100 ms at 100,000
//!   categories.
//! - `scrape`: what one `/metrics` request costs the exporter (`Encoder::scrape`), plain and
//!   gzip, once the per-build buffers exist; `first_scrape`: the first plain one after a
//!   change, which inflates the text.
//!
//! Timed run: `cargo bench --bench pipeline`. Quick smoke run (every benchmark once, no
//! timing claims), as the test command calls it: `cargo test --bench pipeline`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use divan::{black_box, Bencher};
use smartlead_exporter::{
    parse_categories, AccountId, AccountState, BuildInfo, Catalog, Categories, Collector, Encoder,
    Endpoint, Store,
};

/// The category counts every benchmark runs at: a small account, a large one, and a stress
/// size far beyond any real account.
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
    parse_categories(&body(n), &Default::default()).expect("the generated body parses")
}

fn categories(n: usize) -> Categories {
    Categories {
        list: catalog(n).categories.into(),
        global_max_id: GLOBAL_MAX_ID,
    }
}

/// An account whose categories collector succeeded with `categories`.
fn polled(name: &str, categories: Categories) -> AccountState {
    let mut state = AccountState::new(name);
    let collector = state.collector_mut(Collector::Categories);
    collector.enabled = true;
    collector.interval = Duration::from_secs(60);
    collector.attempts = 1;
    collector.success = true;
    collector.last_success = Some(SystemTime::now());
    state.api[Endpoint::FetchCategories.index()].active = true;
    state.categories = Some(categories);
    state
}

/// A store and its encoder, with one account of `categories`.
fn encoder(categories: Categories) -> (Arc<Store>, Encoder, AccountId) {
    let store = Arc::new(Store::new());
    let id = store.register(polled(ACCOUNT, categories));
    let encoder = Encoder::new(Arc::clone(&store), BuildInfo::current()).expect("starts");
    (store, encoder, id)
}

/// Puts `categories` in place as a successful poll does.
fn publish_into(store: &Store, id: AccountId, categories: &Categories) {
    store.update(ACCOUNT, id, |state| {
        state.categories = Some(categories.clone())
    });
}

#[divan::bench(args = SIZES)]
fn parse_body(bencher: Bencher, n: usize) {
    let body = body(n);
    bencher
        .counter(divan::counter::BytesCount::of_slice(&body))
        .bench(|| parse_categories(black_box(&body), &Default::default()).expect("parses"));
}

#[divan::bench(args = SIZES)]
fn classify(bencher: Bencher, n: usize) {
    let categories = categories(n);
    bencher.bench(|| black_box(&categories).counts());
}

#[divan::bench(args = SIZES)]
fn publish(bencher: Bencher, n: usize) {
    let categories = categories(n);
    let (store, encoder, id) = encoder(categories.clone());
    bencher.bench(|| {
        publish_into(&store, id, black_box(&categories));
        encoder.rebuild();
    });
}

/// 500 accounts of 12 categories: one account changes, the whole exposition is rebuilt.
#[divan::bench]
fn rebuild_accounts(bencher: Bencher) {
    let categories = categories(12);
    let (store, encoder, id) = encoder(categories.clone());
    for i in 0..500 {
        store.register(polled(&format!("client-{i}"), categories.clone()));
    }
    bencher.bench(|| {
        publish_into(&store, id, black_box(&categories));
        encoder.rebuild();
    });
}

/// Parse, classify and publish: everything a successful poll does after the body arrived.
#[divan::bench(args = SIZES)]
fn poll(bencher: Bencher, n: usize) {
    let (store, encoder, id) = encoder(categories(1));
    let body = body(n);
    bencher.bench(|| {
        let catalog = parse_categories(black_box(&body), &Default::default()).expect("parses");
        let categories = Categories {
            list: Arc::from(catalog.categories),
            global_max_id: GLOBAL_MAX_ID,
        };
        black_box(categories.counts());
        publish_into(&store, id, &categories);
        encoder.rebuild();
    });
}

/// A scrape once the plain text was inflated: two buffer clones.
#[divan::bench(args = SIZES, consts = [false, true])]
fn scrape<const GZIP: bool>(bencher: Bencher, n: usize) {
    let (_store, encoder, _) = encoder(categories(n));
    encoder.rebuild();
    black_box(encoder.scrape(GZIP));
    bencher.bench(|| encoder.scrape(black_box(GZIP)));
}

/// The first plain scrape after a change, which inflates the per-build text.
#[divan::bench(args = SIZES)]
fn first_scrape(bencher: Bencher, n: usize) {
    let categories = categories(n);
    let (store, encoder, id) = encoder(categories.clone());
    bencher
        .with_inputs(|| {
            publish_into(&store, id, &categories);
            encoder.rebuild();
        })
        .bench_refs(|()| encoder.scrape(false));
}
