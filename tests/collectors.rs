//! The collectors beyond the category list (replies by category, campaigns, mailboxes) and the
//! key's API budget, over loopback against a stand-in that answers a whole fake account on
//! every endpoint with the API's quirks: numbers as strings, reputations as `"95%"` or `95`,
//! `{}` for a deleted campaign, `null` warmup details, passwords in mailbox answers.

mod common;

use std::time::{Duration, Instant};

use common::{
    most_in_any_window, promtool_findings, value, AccountSpec, Exporter, FakeAccount, Reply,
    StandIn, FAKE_IMAP_PASSWORD, FAKE_SMTP_PASSWORD, WAIT,
};

const KEY: &str = "collectors-key";

/// Every collector on, at short intervals, with a budget that does not throttle.
const ALL_COLLECTORS: [&str; 4] = [
    "--collector.categories.interval=2s",
    "--collector.replies.interval=2s",
    "--collector.campaigns.interval=2s",
    "--collector.mailboxes.interval=2s",
];

fn series(name: &str, labels: &str) -> String {
    format!("{name}{{account=\"default\",{labels}}}")
}

fn collector(name: &str, collector: &str) -> String {
    series(name, &format!("collector=\"{collector}\""))
}

/// Starts a stand-in answering `account` for [`KEY`], and the exporter against it.
async fn start(account: FakeAccount, args: &[&str]) -> (StandIn, Exporter) {
    let stand_in = StandIn::start(vec![Reply::json(500, "{}")]).await;
    stand_in.account(KEY, account);
    let exporter = Exporter::against(&stand_in, KEY, args);
    (stand_in, exporter)
}

/// Waits until every collector succeeded at least once.
async fn all_collected(exporter: &Exporter) -> String {
    exporter
        .wait_for("every collector's first success", |t| {
            ["categories", "replies", "campaigns", "mailboxes"]
                .iter()
                .all(|c| value(t, &collector("smartlead_collector_success", c)) == Some(1.0))
        })
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_collector_exports_its_families_from_a_fake_account() {
    let account = FakeAccount::generate(AccountSpec {
        categories: 12,
        campaigns: 10,
        active: 4,
        deleted: 1,
        mailboxes: 150,
    });
    let (stand_in, exporter) = start(account.clone(), &ALL_COLLECTORS).await;
    let text = all_collected(&exporter).await;
    assert_eq!(value(&text, "smartlead_up{account=\"default\"}"), Some(1.0));

    // Replies by category, joined by name; Uncategorized has no sentiment.
    let interested = &account.categories[0];
    assert_eq!(
        value(
            &text,
            &series(
                "smartlead_category_replies",
                "category=\"Interested\",sentiment=\"positive\""
            )
        ),
        Some(interested.replies as f64)
    );
    assert_eq!(
        value(
            &text,
            &series(
                "smartlead_category_replies",
                "category=\"Uncategorized\",sentiment=\"none\""
            )
        ),
        Some(account.uncategorized_replies as f64)
    );

    // Campaigns: every status exported, the deleted one gone, analytics for active ones.
    for (status, count) in [
        ("active", 3.0),
        ("paused", 2.0),
        ("drafted", 1.0),
        ("completed", 1.0),
        ("stopped", 1.0),
        ("archived", 1.0),
        ("other", 0.0),
    ] {
        assert_eq!(
            value(
                &text,
                &series("smartlead_campaigns", &format!("status=\"{status}\""))
            ),
            Some(count),
            "{status}: {text}"
        );
    }
    assert_eq!(text.matches("smartlead_campaign_info{").count(), 9);
    let first = &account.campaigns[0];
    assert!(text.contains(&format!(
        "smartlead_campaign_info{{account=\"default\",campaign=\"{}\",campaign_id=\"{}\",client_id=\"\",status=\"active\"}} 1\n",
        first.name, first.id
    )));
    let second = &account.campaigns[1];
    assert!(text.contains(&format!(
        "campaign_id=\"{}\",client_id=\"4821\",status=\"active\"}} 1\n",
        second.id
    )));
    for (event, at) in [("sent", 0), ("bounced", 4), ("blocked", 6)] {
        assert_eq!(
            value(
                &text,
                &series(
                    "smartlead_campaign_emails",
                    &format!("campaign_id=\"{}\",event=\"{event}\"", first.id)
                )
            ),
            Some(first.events[at] as f64),
            "{event}"
        );
    }
    assert_eq!(
        value(
            &text,
            &series(
                "smartlead_campaign_leads",
                &format!("campaign_id=\"{}\",state=\"in_progress\"", second.id)
            )
        ),
        Some(second.leads[1] as f64)
    );
    assert_eq!(
        value(
            &text,
            &series(
                "smartlead_campaign_unique_leads",
                &format!("campaign_id=\"{}\",event=\"sent\"", second.id)
            )
        ),
        Some(second.unique[0] as f64)
    );
    // Paused campaigns are selected by default too; drafted ones are not.
    let paused = account
        .campaigns
        .iter()
        .find(|c| c.status == "PAUSED")
        .unwrap();
    let drafted = account
        .campaigns
        .iter()
        .find(|c| c.status == "DRAFTED")
        .unwrap();
    assert!(text.contains(&format!("campaign_id=\"{}\",event=\"sent\"", paused.id)));
    assert!(!text.contains(&format!("campaign_id=\"{}\",event=\"sent\"", drafted.id)));

    // Mailboxes: two pages, every health series, reputations as ratios.
    assert_eq!(text.matches("smartlead_mailbox_info{").count(), 150);
    let calls = stand_in.log(KEY);
    let pages: Vec<&str> = calls
        .iter()
        .filter(|c| c.endpoint() == Some("email-accounts"))
        .take(2)
        .map(|c| c.query.as_str())
        .collect();
    assert_eq!(pages, ["offset=0&limit=100", "offset=100&limit=100"]);
    let low = &account.mailboxes[4];
    assert_eq!(
        value(
            &text,
            &series(
                "smartlead_mailbox_warmup_reputation_ratio",
                &format!("mailbox_id=\"{}\"", low.id)
            )
        ),
        Some(0.62)
    );
    let no_warmup = &account.mailboxes[6];
    assert!(no_warmup.warmup.is_none());
    assert!(!text.contains(&format!(
        "smartlead_mailbox_warmup_reputation_ratio{{account=\"default\",mailbox_id=\"{}\"}}",
        no_warmup.id
    )));
    assert!(text.contains(&format!(
        "smartlead_mailbox_info{{account=\"default\",client_id=\"\",email=\"{}\",mailbox_id=\"{}\",type=\"{}\",warmup_status=\"\"}} 1\n",
        no_warmup.email, no_warmup.id, no_warmup.kind
    )));
    let down = &account.mailboxes[10];
    assert!(!down.smtp_ok);
    assert_eq!(
        value(
            &text,
            &series(
                "smartlead_mailbox_smtp_up",
                &format!("mailbox_id=\"{}\"", down.id)
            )
        ),
        Some(0.0)
    );

    // The budget and the plan.
    assert_eq!(
        value(
            &text,
            &series("smartlead_exporter_api_budget_calls", "window=\"minute\"")
        ),
        Some(300.0)
    );
    assert!(
        value(
            &text,
            &series("smartlead_exporter_api_planned_calls", "window=\"minute\"")
        )
        .unwrap()
            > 0.0
    );
    for endpoint in [
        "fetch-categories",
        "category-wise-response",
        "campaigns",
        "campaign-analytics",
        "email-accounts",
    ] {
        assert!(
            text.contains(&format!(
                "smartlead_api_requests_total{{account=\"default\",api_endpoint=\"{endpoint}\",code=\"200\"}}"
            )),
            "{endpoint}"
        );
    }
    assert_eq!(promtool_findings(&text), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn mailbox_passwords_never_reach_a_log_a_metric_or_a_page() {
    let account = FakeAccount::generate(AccountSpec {
        categories: 3,
        campaigns: 1,
        active: 1,
        deleted: 0,
        mailboxes: 3,
    });
    let (stand_in, exporter) = start(
        account,
        &[
            "--log.level=trace",
            "--collector.mailboxes.interval=1s",
            "--collector.campaigns.interval=1s",
        ],
    )
    .await;
    exporter
        .wait_for("mailboxes", |t| t.contains("smartlead_mailbox_info{"))
        .await;
    // Then a broken answer carrying the same passwords: it must fail without quoting them.
    let broken = format!(
        r#"[{{"id": 1, "from_email": "a@b.example", "smtp_password": "{FAKE_SMTP_PASSWORD}", "imap_password": "{FAKE_IMAP_PASSWORD}", "warmup_details": {{"warmup_reputation": "#
    );
    stand_in.script_endpoint(KEY, "email-accounts", vec![Reply::json(200, &broken)]);
    let text = exporter
        .wait_for("the broken answer counted", |t| {
            value(
                t,
                "smartlead_api_request_failures_total{account=\"default\",api_endpoint=\"email-accounts\",reason=\"decode\"}",
            )
            .is_some_and(|v| v >= 1.0)
        })
        .await;
    let (_, _, page) = exporter.get("/").await;
    let logs = exporter.logs().join("\n");
    assert!(logs.contains("collector=mailboxes"), "{logs}");
    for canary in [FAKE_SMTP_PASSWORD, FAKE_IMAP_PASSWORD] {
        assert!(!text.contains(canary), "a password in the metrics");
        assert!(!page.contains(canary), "a password on the page");
        assert!(!logs.contains(canary), "a password in the logs");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_failing_campaign_blocks_nothing_and_a_deleted_one_loses_its_series() {
    let account = FakeAccount::generate(AccountSpec {
        categories: 3,
        campaigns: 3,
        active: 3,
        deleted: 0,
        mailboxes: 1,
    });
    let [failing, steady, deleted] = [0, 1, 2].map(|i| account.campaigns[i].id);
    let (stand_in, exporter) = start(
        account,
        &[
            "--collector.campaigns.interval=1s",
            "--metrics.stale-after=1h",
            "--no-collector.mailboxes",
            "--no-collector.replies",
        ],
    )
    .await;
    let sent = |id: u64| {
        series(
            "smartlead_campaign_emails",
            &format!("campaign_id=\"{id}\",event=\"sent\""),
        )
    };
    let text = exporter
        .wait_for("analytics", |t| value(t, &sent(steady)).is_some())
        .await;
    let failing_before = value(&text, &sent(failing)).unwrap();
    let steady_before = value(&text, &sent(steady)).unwrap();
    // One campaign's analytics now fail, another was deleted, and the third moves on.
    stand_in.script_endpoint(
        KEY,
        &format!("/campaigns/{failing}/analytics"),
        vec![Reply::json(500, r#"{"message": "internal"}"#)],
    );
    stand_in.update_account(KEY, |a| {
        a.campaigns[2].deleted = true;
        a.campaigns[0].events[0] += 1000;
        a.campaigns[1].events[0] += 1000;
    });
    let text = exporter
        .wait_for("the steady campaign updated", |t| {
            value(t, &sent(steady)) == Some(steady_before + 1000.0)
        })
        .await;
    assert_eq!(value(&text, &sent(failing)), Some(failing_before));
    assert!(
        !text.contains(&format!("campaign_id=\"{deleted}\"")),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            &collector("smartlead_collector_success", "campaigns")
        ),
        Some(1.0)
    );
    assert!(value(
        &text,
        "smartlead_api_request_failures_total{account=\"default\",api_endpoint=\"campaign-analytics\",reason=\"status\"}"
    )
    .is_some_and(|v| v >= 1.0));
    let warnings = exporter
        .logs()
        .into_iter()
        .filter(|l| l.contains("some campaigns' analytics failed"))
        .count();
    assert_eq!(warnings, 1, "logged once per streak");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_422_is_a_status_failure_logged_once_with_smartleads_message() {
    let account = FakeAccount::generate(AccountSpec {
        categories: 3,
        mailboxes: 2,
        ..AccountSpec::default()
    });
    let (stand_in, exporter) = start(
        account,
        &[
            "--collector.categories.interval=1s",
            "--collector.mailboxes.interval=1s",
            "--poll.max-backoff=1s",
            "--no-collector.campaigns",
            "--no-collector.replies",
        ],
    )
    .await;
    stand_in.script_endpoint(
        KEY,
        "email-accounts",
        vec![Reply::json(
            422,
            r#"{"message": "limit must be 100 or less"}"#,
        )],
    );
    let text = exporter
        .wait_for("three failures", |t| {
            value(
                t,
                "smartlead_api_requests_total{account=\"default\",api_endpoint=\"email-accounts\",code=\"422\"}",
            )
            .is_some_and(|v| v >= 3.0)
        })
        .await;
    assert_eq!(
        value(
            &text,
            &collector("smartlead_collector_success", "mailboxes")
        ),
        Some(0.0)
    );
    assert_eq!(value(&text, "smartlead_up{account=\"default\"}"), Some(0.0));
    assert_eq!(
        value(
            &text,
            &collector("smartlead_collector_success", "categories")
        ),
        Some(1.0),
        "one collector's failure leaves the others current"
    );
    let failed: Vec<String> = exporter
        .logs()
        .into_iter()
        .filter(|l| l.contains("poll failed") && l.contains("collector=mailboxes"))
        .collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert!(
        failed[0].contains("limit must be 100 or less"),
        "{}",
        failed[0]
    );
    assert!(failed[0].contains("reason=status"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_on_one_endpoint_pauses_every_collector_of_the_key() {
    let account = FakeAccount::generate(AccountSpec {
        categories: 3,
        campaigns: 2,
        active: 2,
        deleted: 0,
        mailboxes: 2,
    });
    let replies = account.replies_json();
    let (stand_in, exporter) = start(
        account,
        &[
            "--collector.categories.interval=1s",
            "--collector.replies.interval=1s",
            "--collector.campaigns.interval=1s",
            "--collector.mailboxes.interval=1s",
        ],
    )
    .await;
    all_collected(&exporter).await;
    let replies_calls = || -> Vec<Instant> {
        stand_in
            .log(KEY)
            .iter()
            .filter(|c| c.endpoint() == Some("category-wise-response"))
            .map(|c| c.at)
            .collect()
    };
    let before = replies_calls().len();
    stand_in.script_endpoint(
        KEY,
        "category-wise-response",
        vec![
            Reply::json(429, r#"{"message": "Rate limit exceeded"}"#)
                .with_header("Retry-After", "4"),
            Reply::json(200, &replies),
        ],
    );
    let deadline = Instant::now() + WAIT;
    let limited = loop {
        if let Some(&at) = replies_calls().get(before) {
            break at;
        }
        assert!(Instant::now() < deadline, "no 429 served");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::time::sleep(Duration::from_secs(6)).await;
    let during: Vec<String> = stand_in
        .log(KEY)
        .into_iter()
        .filter(|c| c.at > limited + Duration::from_millis(300))
        .filter(|c| c.at < limited + Duration::from_secs(4))
        .map(|c| c.path)
        .collect();
    assert!(during.is_empty(), "called while paused: {during:?}");
    let after = stand_in
        .log(KEY)
        .into_iter()
        .filter(|c| c.at >= limited + Duration::from_secs(4))
        .count();
    assert!(after > 0, "nothing resumed after the pause");
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_keep_to_the_budget_and_intervals_stretch_to_fit_it() {
    // At their intervals the collectors would make 189 calls a minute; the budget is 30.
    let account = FakeAccount::generate(AccountSpec {
        categories: 3,
        campaigns: 10,
        active: 10,
        deleted: 0,
        mailboxes: 250,
    });
    let started = Instant::now();
    let (stand_in, exporter) = start(
        account,
        &[
            "--collector.categories.interval=4s",
            "--collector.replies.interval=10s",
            "--collector.campaigns.interval=5s",
            "--collector.mailboxes.interval=5s",
            "--smartlead.max-calls-per-minute=30",
            "--smartlead.max-calls-per-hour=1800",
        ],
    )
    .await;
    let text = all_collected(&exporter).await;
    // The costs seen: 11 calls per campaigns run, 3 pages of mailboxes.
    let interval = |c: &str| value(&text, &collector("smartlead_collector_interval_seconds", c));
    assert_eq!(interval("categories"), Some(4.0), "categories stretch last");
    assert_eq!(
        interval("replies"),
        Some(10.0),
        "replies stretch before categories"
    );
    assert_eq!(
        interval("mailboxes"),
        Some(86_400.0),
        "mailboxes stretch first"
    );
    let campaigns = interval("campaigns").unwrap();
    assert!(campaigns > 5.0 && campaigns < 86_400.0, "{campaigns}");
    let planned = value(
        &text,
        &series("smartlead_exporter_api_planned_calls", "window=\"minute\""),
    )
    .unwrap();
    assert!(planned <= 30.0 + 1e-6, "{planned}");
    assert!(planned > 29.9, "the budget is used: {planned}");
    // What the plan says, from the intervals in force and the costs.
    let costs = [
        ("categories", 1.0),
        ("replies", 1.0),
        ("campaigns", 11.0),
        ("mailboxes", 3.0),
    ];
    let expected: f64 = costs
        .iter()
        .map(|(c, cost)| cost * 60.0 / interval(c).unwrap())
        .sum();
    assert!(
        (planned - expected).abs() < 0.01,
        "{planned} against {expected}"
    );
    let stretching: Vec<String> = exporter
        .logs()
        .into_iter()
        .filter(|l| l.contains("need more calls than the key's budget"))
        .collect();
    assert_eq!(stretching.len(), 1, "{stretching:#?}");
    assert!(
        stretching[0].contains("mailboxes every 1day"),
        "{}",
        stretching[0]
    );
    // Past a minute and more of calls: never more than the budget in any minute, nor more
    // than 5 in any second.
    let until = started + Duration::from_secs(75);
    tokio::time::sleep_until(until.into()).await;
    let times: Vec<Instant> = stand_in.log(KEY).iter().map(|c| c.at).collect();
    assert!(times.len() >= 45, "{} calls", times.len());
    assert!(most_in_any_window(&times, Duration::from_secs(60)) <= 30);
    assert!(most_in_any_window(&times, Duration::from_secs(1)) <= 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_collectors_data_goes_when_stale_and_a_disabled_collector_calls_nothing() {
    let account = FakeAccount::generate(AccountSpec {
        categories: 3,
        mailboxes: 2,
        ..AccountSpec::default()
    });
    let (stand_in, exporter) = start(
        account,
        &[
            "--collector.categories.interval=1s",
            "--collector.mailboxes.interval=1s",
            "--metrics.stale-after=3s",
            "--poll.max-backoff=1s",
            "--no-collector.campaigns",
            "--no-collector.replies",
        ],
    )
    .await;
    exporter
        .wait_for("mailboxes", |t| t.contains("smartlead_mailbox_info{"))
        .await;
    stand_in.script_endpoint(KEY, "email-accounts", vec![Reply::json(503, "{}")]);
    let text = exporter
        .wait_for("mailboxes withdrawn", |t| {
            !t.contains("smartlead_mailbox_info{")
        })
        .await;
    assert!(
        text.contains("smartlead_category_info{"),
        "categories stay current"
    );
    for path in ["/campaigns", "/analytics"] {
        assert!(
            !stand_in.log(KEY).iter().any(|c| c.path.starts_with(path)),
            "{path} called though disabled"
        );
    }
    assert!(!text.contains("collector=\"campaigns\""));
}
