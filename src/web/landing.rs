//! The landing page on `/`: the exporter's name and version, links, and every account's state
//! in words (up, last success, last error, next poll), failing accounts first.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::snapshot::Snapshot;

/// What the page shows besides the accounts.
#[derive(Debug, Clone)]
pub struct Page {
    /// `--web.telemetry-path`, linked from the page.
    pub telemetry_path: String,
    /// `--demo`: the page says so in a banner, since the stand-in fails on purpose.
    pub demo: bool,
}

/// The page for these accounts, at `now`.
pub fn render(page: &Page, accounts: &[(String, Arc<Snapshot>)], now: SystemTime) -> String {
    let mut sorted: Vec<&(String, Arc<Snapshot>)> = accounts.iter().collect();
    // Failing first (most consecutive failures first), then waiting, then up; by name within.
    sorted.sort_by(|(a_name, a), (b_name, b)| {
        rank(b)
            .cmp(&rank(a))
            .then(b.consecutive_failures.cmp(&a.consecutive_failures))
            .then(a_name.cmp(b_name))
    });
    let failing = accounts
        .iter()
        .filter(|(_, s)| s.attempts > 0 && !s.up)
        .count();
    let mut rows = String::new();
    for (name, snapshot) in sorted {
        let _ = write!(
            rows,
            "<tr class=\"{class}\"><td>{name}</td><td>{status}</td><td>{success}</td>\
             <td>{categories}</td><td>{failures}</td><td>{error}</td><td>{next}</td></tr>",
            class = if snapshot.attempts > 0 && !snapshot.up {
                "down"
            } else {
                "ok"
            },
            name = escape(name),
            status = status(snapshot),
            success = snapshot
                .last_success
                .map_or_else(|| "never".to_owned(), |at| ago(at, now)),
            categories = snapshot.categories.as_ref().map_or_else(
                || "none (never polled successfully, or stale)".to_owned(),
                |c| c.list.len().to_string(),
            ),
            failures = snapshot.consecutive_failures,
            error = escape(snapshot.last_error.as_deref().unwrap_or("none")),
            next = snapshot
                .next_poll
                .map_or_else(|| "not scheduled".to_owned(), |at| until(at, now)),
        );
    }
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
         <h2>Accounts</h2><p>{total} accounts, {failing} failing.</p>\
         <table><tr><th>Account</th><th>Status</th><th>Last success</th><th>Categories</th>\
         <th>Consecutive failures</th><th>Last error</th><th>Next poll</th></tr>{rows}</table>\
         </body></html>\n",
        version = escape(crate::VERSION),
        path = escape(&page.telemetry_path),
        total = accounts.len(),
    )
}

/// Sort key: failing 2, waiting for the first poll 1, up 0.
fn rank(snapshot: &Snapshot) -> u8 {
    match (snapshot.attempts, snapshot.up) {
        (0, _) => 1,
        (_, false) => 2,
        (_, true) => 0,
    }
}

fn status(snapshot: &Snapshot) -> &'static str {
    match (snapshot.attempts, snapshot.up) {
        (0, _) => "waiting for the first poll",
        (_, true) => "up: the latest poll succeeded",
        (_, false) => "down: the latest poll failed",
    }
}

fn ago(at: SystemTime, now: SystemTime) -> String {
    let secs = now.duration_since(at).unwrap_or_default().as_secs();
    format!(
        "{} ({} ago)",
        humantime::format_rfc3339_seconds(at),
        humantime::format_duration(Duration::from_secs(secs))
    )
}

fn until(at: SystemTime, now: SystemTime) -> String {
    let secs = at.duration_since(now).unwrap_or_default().as_secs();
    format!(
        "{} (in {})",
        humantime::format_rfc3339_seconds(at),
        humantime::format_duration(Duration::from_secs(secs))
    )
}

/// Escapes text for HTML; upstream error messages end up on the page.
pub fn escape(text: &str) -> String {
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

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape("<script>alert('x&y')</script>"),
            "&lt;script&gt;alert(&#39;x&amp;y&#39;)&lt;/script&gt;"
        );
    }

    #[test]
    fn failing_accounts_come_first_and_next_poll_says_how_long() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let up = Snapshot {
            up: true,
            attempts: 3,
            next_poll: Some(now + Duration::from_secs(42)),
            ..Snapshot::default()
        };
        let down = Snapshot {
            up: false,
            attempts: 3,
            consecutive_failures: 2,
            last_error: Some("SmartLead answered 401 <b>".into()),
            ..Snapshot::default()
        };
        let page = render(
            &Page {
                telemetry_path: "/metrics".into(),
                demo: true,
            },
            &[
                ("acme".into(), Arc::new(up)),
                ("globex".into(), Arc::new(down)),
            ],
            now,
        );
        let globex = page.find("<td>globex</td>").unwrap();
        let acme = page.find("<td>acme</td>").unwrap();
        assert!(globex < acme);
        assert!(page.contains("(in 42s)"), "{page}");
        assert!(page.contains("401 &lt;b&gt;"));
        assert!(page.contains("Demo mode."));
        assert!(page.contains("2 accounts, 1 failing."));
    }
}
