//! The landing page on `/`: the exporter's name and version, links, and every account's state
//! in words (up, each collector's last success and next run, last error), failing accounts
//! first. Above [`MAX_ROWS`] accounts the page lists the failing ones first and counts the
//! rest.
//!
//! The page is built off the serving thread and kept in plain and gzip forms: serving it is a
//! buffer clone, however many accounts there are and however many clients read it. It is built
//! only while someone reads it: a request after [`READ_WINDOW`] without one wakes the builder
//! and waits for a page of the state as it is; while requests keep coming, the page follows
//! each change of the state, spaced as the exposition's builds are. It is for people, so it is
//! also paced ([`MAX_PAGES_PER_SECOND`]): clients reading it in a loop wait their turn asleep
//! and leave the serving thread to scrapes.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use tokio::sync::{watch, Notify};

use crate::exposition::Spacing;
use crate::shutdown::Shutdown;
use crate::state::{AccountState, Store};
use crate::sync::lock;

/// At most this many accounts get a row of their own; the rest are counted.
pub(crate) const MAX_ROWS: usize = 300;

/// The page is answered at most this many times a second, over every client; requests beyond
/// that wait their turn. Far more than people reading it need, and few enough that clients
/// reading it in a loop take next to nothing from the thread that answers scrapes.
pub(crate) const MAX_PAGES_PER_SECOND: u32 = 50;

/// A request whose turn would come later than this is refused at once with 503 (at
/// [`MAX_PAGES_PER_SECOND`], 500 requests wait at most), well within the server's write
/// timeout.
pub(crate) const MAX_PAGE_WAIT: Duration = Duration::from_secs(10);

/// The page follows the state while it was read at most this long ago; after that, nothing
/// builds it until the next request, which waits for a fresh one.
pub(crate) const READ_WINDOW: Duration = Duration::from_secs(60);

/// A request that woke the builder waits at most this long for the fresh page, then gets the
/// page as last built.
pub(crate) const MAX_BUILD_WAIT: Duration = Duration::from_secs(5);

/// What the page shows besides the accounts.
#[derive(Debug, Clone)]
pub struct Page {
    /// `--web.telemetry-path`, linked from the page.
    pub telemetry_path: String,
    /// `--demo`: the page says so in a banner, since the stand-in fails on purpose.
    pub demo: bool,
}

/// The page as last built.
#[derive(Debug)]
struct Built {
    /// The store's generation it shows.
    generation: u64,
    /// The HTML.
    plain: Bytes,
    /// The HTML, gzip-compressed.
    gzip: Bytes,
}

/// Builds and serves the landing page.
#[derive(Debug)]
pub struct Landing {
    /// What it shows.
    store: Arc<Store>,
    /// Links and banner.
    page: Page,
    /// The page as last built.
    built: ArcSwap<Built>,
    /// The generation of the page as last built, for requests waiting for a fresh one.
    built_generation: watch::Sender<u64>,
    /// When the next answer may go: [`MAX_PAGES_PER_SECOND`] over every client.
    next_turn: Mutex<Instant>,
    /// When the page was last asked for.
    last_read: Mutex<Option<Instant>>,
    /// Wakes the builder when a request comes after [`READ_WINDOW`] without one.
    wanted: Notify,
}

impl Landing {
    /// The page of `store`, built once now.
    pub fn new(store: Arc<Store>, page: Page) -> Self {
        let built = build(&store, &page);
        Self {
            store,
            page,
            built_generation: watch::Sender::new(built.generation),
            built: ArcSwap::from_pointee(built),
            next_turn: Mutex::new(Instant::now()),
            last_read: Mutex::new(None),
            wanted: Notify::new(),
        }
    }

    /// The page, gzip-compressed when `gzip` is set, once this request's turn has come;
    /// `None`, at once, when that would be more than [`MAX_PAGE_WAIT`] away. After
    /// [`READ_WINDOW`] without a request, the page shows the state as it is when the request
    /// came (or, past [`MAX_BUILD_WAIT`], as last built).
    pub async fn paced(&self, gzip: bool) -> Option<Bytes> {
        let now = Instant::now();
        let turn = self.turn(now)?;
        let followed = self.read(now);
        let mut fresh = None;
        if !followed {
            let generation = self.store.generation();
            if self.built.load().generation != generation {
                fresh = Some((self.built_generation.subscribe(), generation));
                self.wanted.notify_one();
            }
        }
        tokio::time::sleep_until(turn.into()).await;
        if let Some((mut built, generation)) = fresh {
            let _ =
                tokio::time::timeout(MAX_BUILD_WAIT, built.wait_for(|g| *g >= generation)).await;
        }
        Some(self.get(gzip))
    }

    /// Records a request at `now`; returns whether the page was following the state, that is
    /// whether the previous request is at most [`READ_WINDOW`] old.
    fn read(&self, now: Instant) -> bool {
        let mut last = lock(&self.last_read);
        let followed = last.is_some_and(|at| now.saturating_duration_since(at) <= READ_WINDOW);
        *last = Some(now);
        followed
    }

    /// Whether a request came within [`READ_WINDOW`].
    fn followed(&self) -> bool {
        lock(&self.last_read).is_some_and(|at| at.elapsed() <= READ_WINDOW)
    }

    /// Takes the next turn after `now`, if it is at most [`MAX_PAGE_WAIT`] away. A request
    /// dropped before its turn leaves the turn unused: the wait stays bounded all the same.
    fn turn(&self, now: Instant) -> Option<Instant> {
        let mut next = lock(&self.next_turn);
        let turn = (*next).max(now);
        if turn > now + MAX_PAGE_WAIT {
            return None;
        }
        *next = turn + Duration::from_secs(1) / MAX_PAGES_PER_SECOND;
        Some(turn)
    }

    /// The page, gzip-compressed when `gzip` is set.
    pub fn get(&self, gzip: bool) -> Bytes {
        let built = self.built.load();
        if gzip {
            built.gzip.clone()
        } else {
            built.plain.clone()
        }
    }

    /// Rebuilds the page whenever the state changes while someone reads it (within
    /// [`READ_WINDOW`]), spaced like the exposition, and when a request wants a fresh one,
    /// until shutdown.
    pub async fn run(self: Arc<Self>, mut shutdown: Shutdown) {
        let mut changes = self.store.subscribe();
        let mut spacing = Spacing::default();
        loop {
            let changed = *changes.borrow_and_update() != self.built.load().generation;
            if !changed || !self.followed() {
                tokio::select! {
                    changed = changes.changed() => if changed.is_err() { return },
                    () = self.wanted.notified() => {}
                    () = shutdown.requested() => return,
                }
                continue;
            }
            if let Some(wait) = spacing.pause() {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = shutdown.requested() => return,
                }
            }
            let started = Instant::now();
            let built = build(&self.store, &self.page);
            let generation = built.generation;
            self.built.store(Arc::new(built));
            self.built_generation.send_replace(generation);
            spacing.built(started, started.elapsed());
        }
    }
}

/// The page of the store as it is now, in both forms.
fn build(store: &Store, page: &Page) -> Built {
    let generation = store.generation();
    let html = render(page, &store.accounts(), SystemTime::now());
    let mut gzip = GzEncoder::new(Vec::with_capacity(html.len() / 4), Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = gzip.write_all(html.as_bytes());
    let gzip = gzip.finish().unwrap_or_default();
    Built {
        generation,
        plain: Bytes::from(html),
        gzip: Bytes::from(gzip),
    }
}

/// The page for these accounts, built at `now`.
pub(crate) fn render(page: &Page, accounts: &[Arc<AccountState>], now: SystemTime) -> String {
    let mut sorted: Vec<&Arc<AccountState>> = accounts.iter().collect();
    // Failing first (most consecutive failures first), then waiting, then up; by name within.
    sorted.sort_by(|a, b| {
        rank(b)
            .cmp(&rank(a))
            .then(failures(b).cmp(&failures(a)))
            .then(a.name.cmp(&b.name))
    });
    let failing = accounts.iter().filter(|a| a.failing()).count();
    let waiting = accounts.iter().filter(|a| !a.polled()).count();
    let mut rows = String::new();
    for account in sorted.iter().take(MAX_ROWS) {
        let _ = write!(
            rows,
            "<tr class=\"{class}\"><td>{name}</td><td>{status}</td><td>{collectors}</td>\
             <td>{budget}</td><td>{categories}</td><td>{failures}</td><td>{error}</td></tr>",
            class = if account.failing() { "down" } else { "ok" },
            name = escape(&account.name),
            status = status(account),
            collectors = collectors(account),
            budget = budget(account, now),
            categories = account.categories.as_ref().map_or_else(
                || "none (never polled successfully, or stale)".to_owned(),
                |c| c.list.len().to_string(),
            ),
            failures = failures(account),
            error = escape(last_error(account).unwrap_or("none")),
        );
    }
    let rest = sorted.len().saturating_sub(MAX_ROWS);
    let more = if rest > 0 {
        let shown_failing = sorted.iter().take(MAX_ROWS).filter(|a| a.failing()).count();
        format!(
            "<p>And {rest} more accounts, not listed: {} failing, {} waiting for their first \
             poll, {} up.</p>",
            failing - shown_failing,
            sorted.iter().skip(MAX_ROWS).filter(|a| !a.polled()).count(),
            sorted
                .iter()
                .skip(MAX_ROWS)
                .filter(|a| a.polled() && !a.failing())
                .count(),
        )
    } else {
        String::new()
    };
    let banner = if page.demo {
        "<p class=\"demo\"><strong>Demo mode.</strong> The exporter polls its built-in SmartLead \
         stand-in, which answers some polls with 429 or 500 and one category with an odd \
         sentiment on purpose, so that every metric and alert has something to show. The \
         warnings in the log about them are expected.</p>"
    } else {
        ""
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>SmartLead Exporter</title>\
         <style>body{{font-family:sans-serif;margin:2em}}th,td{{text-align:left;padding:0.2em 1em 0.2em 0}}\
         tr.down td{{color:#a00}}.demo{{background:#fff3cd;padding:0.5em}}</style>\
         </head><body><h1>SmartLead Exporter</h1>{banner}\
         <p>Version {version}. Prometheus metrics of SmartLead lead categories, polled on a timer.</p>\
         <ul><li><a href=\"{path}\">Metrics</a></li>\
         <li><a href=\"/-/healthy\">/-/healthy</a></li>\
         <li><a href=\"/-/ready\">/-/ready</a></li></ul>\
         <h2>Accounts</h2><p>{total} accounts, {failing} failing, {waiting} waiting for their \
         first poll. As of {now}.</p>\
         <table><tr><th>Account</th><th>Status</th><th>Collectors</th><th>API budget</th><th>Categories</th>\
         <th>Consecutive failures</th><th>Last error</th></tr>{rows}</table>{more}\
         </body></html>\n",
        version = escape(crate::VERSION),
        path = escape(&page.telemetry_path),
        total = accounts.len(),
        now = humantime::format_rfc3339_seconds(now),
    )
}

/// Sort key: failing 2, waiting for the first poll 1, up 0.
fn rank(account: &AccountState) -> u8 {
    if account.failing() {
        2
    } else if !account.polled() {
        1
    } else {
        0
    }
}

/// Failed runs in a row, over the account's collectors.
fn failures(account: &AccountState) -> u32 {
    account
        .enabled()
        .map(|(_, c)| c.consecutive_failures)
        .max()
        .unwrap_or(0)
}

fn last_error(account: &AccountState) -> Option<&str> {
    account
        .enabled()
        .filter(|(_, c)| c.attempts > 0 && !c.success)
        .find_map(|(_, c)| c.last_error.as_deref())
}

fn status(account: &AccountState) -> &'static str {
    if account.failing() {
        "down: the latest poll failed"
    } else if !account.polled() {
        "waiting for the first poll"
    } else {
        "up: the latest poll succeeded"
    }
}

/// Each enabled collector in a line: its outcome, last success and next run.
fn collectors(account: &AccountState) -> String {
    let mut text = String::new();
    for (collector, state) in account.enabled() {
        let outcome = match (state.attempts, state.success) {
            (0, _) => "waiting",
            (_, true) => "ok",
            (_, false) => "failing",
        };
        let _ = write!(
            text,
            "{}{}: {outcome}, every {}, last success {}, next run {}",
            if text.is_empty() { "" } else { "<br>" },
            collector.name(),
            humantime::format_duration(state.interval),
            state.last_success.map_or_else(
                || "never".to_owned(),
                |at| humantime::format_rfc3339_seconds(at).to_string()
            ),
            state.next_run.map_or_else(
                || "not scheduled".to_owned(),
                |at| humantime::format_rfc3339_seconds(at).to_string()
            ),
        );
    }
    text
}

/// The key's budget, the calls planned within it, and a pause SmartLead imposed.
fn budget(account: &AccountState, now: SystemTime) -> String {
    let Some(budget) = &account.budget else {
        return "none yet".to_owned();
    };
    let mut text = format!(
        "{} calls/min, {} calls/h; planned {:.1}/min, {:.0}/h",
        budget.per_minute, budget.per_hour, budget.planned_per_minute, budget.planned_per_hour
    );
    if let Some(until) = account.paused_until.filter(|&until| until > now) {
        let _ = write!(
            text,
            "<br>paused by SmartLead until {}",
            humantime::format_rfc3339_seconds(until)
        );
    }
    text
}

/// Escapes text for HTML; upstream error messages end up on the page.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::tests::gunzip;
    use crate::settings::Collector;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape("<script>alert('x&y')</script>"),
            "&lt;script&gt;alert(&#39;x&amp;y&#39;)&lt;/script&gt;"
        );
    }

    fn account(name: &str, attempts: u64, success: bool, failures: u32) -> Arc<AccountState> {
        let mut state = AccountState::new(name);
        let categories = state.collector_mut(Collector::Categories);
        categories.enabled = true;
        categories.interval = Duration::from_secs(60);
        categories.attempts = attempts;
        categories.success = success;
        categories.consecutive_failures = failures;
        if !success && attempts > 0 {
            categories.last_error = Some("SmartLead answered 401 <b>".into());
        }
        Arc::new(state)
    }

    fn page(demo: bool) -> Page {
        Page {
            telemetry_path: "/metrics".into(),
            demo,
        }
    }

    #[test]
    fn failing_accounts_come_first_and_each_collector_says_when_it_runs() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut up = (*account("acme", 3, true, 0)).clone();
        up.collector_mut(Collector::Categories).next_run = Some(now + Duration::from_secs(42));
        up.budget = Some(crate::state::Budget {
            per_minute: 20,
            per_hour: 500,
            planned_per_minute: 3.5,
            planned_per_hour: 208.0,
        });
        up.paused_until = Some(now + Duration::from_secs(30));
        let html = render(
            &page(true),
            &[Arc::new(up), account("globex", 3, false, 2)],
            now,
        );
        let globex = html.find("<td>globex</td>").unwrap();
        let acme = html.find("<td>acme</td>").unwrap();
        assert!(globex < acme);
        assert!(
            html.contains(
                "categories: ok, every 1m, last success never, next run 2027-01-15T08:00:42Z"
            ),
            "{html}"
        );
        assert!(html.contains(
            "20 calls/min, 500 calls/h; planned 3.5/min, 208/h<br>paused by SmartLead until \
             2027-01-15T08:00:30Z"
        ));
        assert!(html.contains("401 &lt;b&gt;"));
        assert!(html.contains("Demo mode."));
        assert!(html.contains("2 accounts, 1 failing, 0 waiting"));
    }

    #[test]
    fn many_accounts_are_summarised_failing_first() {
        let mut accounts: Vec<Arc<AccountState>> = (0..1000)
            .map(|n| account(&format!("up-{n:04}"), 1, true, 0))
            .collect();
        accounts.push(account("zz-failing", 5, false, 5));
        accounts.push(account("zz-waiting", 0, false, 0));
        let html = render(&page(false), &accounts, SystemTime::now());
        assert_eq!(html.matches("<tr class=").count(), MAX_ROWS);
        let failing = html.find("<td>zz-failing</td>").unwrap();
        let waiting = html.find("<td>zz-waiting</td>").unwrap();
        let first_up = html.find("<td>up-0000</td>").unwrap();
        assert!(failing < waiting && waiting < first_up);
        assert!(
            html.contains("And 702 more accounts, not listed: 0 failing, 0 waiting for their first poll, 702 up."),
            "{}",
            &html[html.len() - 300..]
        );
    }

    #[test]
    fn answers_are_paced_and_a_turn_too_far_away_is_refused() {
        let landing = Landing::new(Arc::new(Store::new()), page(false));
        let now = Instant::now();
        let spacing = Duration::from_secs(1) / MAX_PAGES_PER_SECOND;
        let waiting = (MAX_PAGE_WAIT.as_millis() / spacing.as_millis()) as u32 + 1;
        for n in 0..waiting {
            assert_eq!(landing.turn(now), Some(now + spacing * n), "turn {n}");
        }
        assert_eq!(landing.turn(now), None, "more than {MAX_PAGE_WAIT:?} away");
        // Once the time has come, turns are given again, spaced as before.
        let later = now + MAX_PAGE_WAIT;
        assert_eq!(landing.turn(later), Some(now + spacing * waiting));
        let idle = now + MAX_PAGE_WAIT * 3;
        assert_eq!(landing.turn(idle), Some(idle));
    }

    /// A landing page of an empty store, its builder running: the store, the page, and what
    /// stops the builder and its task.
    fn running() -> (
        Arc<Store>,
        Arc<Landing>,
        crate::shutdown::Trigger,
        tokio::task::JoinHandle<()>,
    ) {
        let store = Arc::new(Store::new());
        let landing = Arc::new(Landing::new(Arc::clone(&store), page(false)));
        let (trigger, shutdown) = crate::shutdown::channel();
        let task = tokio::spawn(Arc::clone(&landing).run(shutdown));
        (store, landing, trigger, task)
    }

    #[tokio::test]
    async fn unread_the_page_is_not_built_and_the_next_request_gets_the_state_as_it_is() {
        let (store, landing, trigger, task) = running();
        store.register((*account("acme", 1, true, 0)).clone());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !String::from_utf8_lossy(&landing.get(false)).contains("<td>acme</td>"),
            "built while nobody read it"
        );
        let html = landing.paced(false).await.unwrap();
        assert!(String::from_utf8_lossy(&html).contains("<td>acme</td>"));
        assert_eq!(gunzip(&landing.paced(true).await.unwrap()), &html[..]);
        trigger.fire();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn while_read_the_page_follows_the_state() {
        let (store, landing, trigger, task) = running();
        landing.paced(false).await.unwrap();
        store.register((*account("acme", 1, true, 0)).clone());
        let deadline = Instant::now() + Duration::from_secs(5);
        while !String::from_utf8_lossy(&landing.get(false)).contains("<td>acme</td>") {
            assert!(Instant::now() < deadline, "the change was never built");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(gunzip(&landing.get(true)), &landing.get(false)[..]);
        trigger.fire();
        task.await.unwrap();
    }
}
