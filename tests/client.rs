//! The SmartLead client against the scripted stand-in over loopback: every endpoint's path and
//! query, pagination, a campaign gone between the list and its analytics, SmartLead's message
//! in a 400/422, and mailbox credentials kept out of every message.

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::{
    most_in_any_window, AccountSpec, FakeAccount, Reply, StandIn, FAKE_IMAP_PASSWORD,
    FAKE_SMTP_PASSWORD,
};
use smartlead_exporter::{
    http_client, replies_window, ApiKey, CampaignStatus, Client, ClientConfig, Event,
    FailureReason, FetchError, HttpConfig, LeadState, Sentiment, UniqueEvent, WarmupStatus,
};

const KEY: &str = "client-test-key-0123456789";

fn client(stand_in: &StandIn, max_body_size: u64) -> Client {
    Client::new(
        http_client(&HttpConfig::default()).unwrap(),
        &ClientConfig {
            base_url: stand_in.base_url().parse().unwrap(),
            timeout: Duration::from_secs(5),
            max_body_size,
        },
    )
    .unwrap()
}

fn key() -> ApiKey {
    ApiKey::new(KEY).unwrap()
}

fn spec() -> AccountSpec {
    AccountSpec {
        categories: 12,
        campaigns: 8,
        active: 3,
        deleted: 1,
        mailboxes: 250,
    }
}

/// Neither the key nor a mailbox password, in the message or the debug output of an error.
fn assert_secret_free(error: &FetchError) {
    for text in [
        error.message.clone(),
        format!("{error:?}"),
        error.to_string(),
    ] {
        for secret in [KEY, FAKE_SMTP_PASSWORD, FAKE_IMAP_PASSWORD, "canary"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}

#[tokio::test]
async fn every_endpoint_is_called_at_its_path_with_its_query() {
    let stand_in = StandIn::start(vec![Reply::json(500, "{}")]).await;
    let account = FakeAccount::generate(spec());
    stand_in.account(KEY, account.clone());
    let client = client(&stand_in, 1 << 20);
    let key = key();

    let categories = client.fetch_categories(&key).await.unwrap();
    assert_eq!(categories.exchange.status, Some(200));
    let names: Vec<&str> = categories
        .data
        .categories
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let expected: Vec<&str> = account.categories.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, expected);

    // 2025-03-20T12:00:00Z: the last 30 days are 2025-02-19 to 2025-03-20.
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_742_472_000);
    let (start, end) = replies_window(now);
    let answered = client
        .category_wise_response(&key, start, end)
        .await
        .unwrap()
        .data;
    assert_eq!(answered.categories.len(), account.categories.len() + 1);
    let interested = &answered.categories[0];
    assert_eq!(interested.name, "Interested");
    assert_eq!(interested.replies, account.categories[0].replies);
    assert_eq!(interested.sentiment, Some(Sentiment::Positive));
    let last = answered.categories.last().unwrap();
    assert!(last.is_uncategorized());
    assert_eq!(last.replies, account.uncategorized_replies);

    let list = client.campaigns(&key).await.unwrap().data;
    let ids: Vec<u64> = list.campaigns.iter().map(|c| c.id).collect();
    let expected: Vec<u64> = account.campaigns.iter().map(|c| c.id).collect();
    assert_eq!(ids, expected);
    assert_eq!(list.campaigns[0].status, CampaignStatus::Active);
    assert_eq!(list.campaigns[3].status, CampaignStatus::Paused);
    assert_eq!(list.campaigns[4].status, CampaignStatus::Drafted);
    assert_eq!(list.campaigns[0].client_id, None);
    assert_eq!(list.campaigns[1].client_id, Some(4821));

    let fake = &account.campaigns[1];
    let analytics = client
        .campaign_analytics(&key, fake.id)
        .await
        .unwrap()
        .data
        .expect("an active campaign has analytics");
    let events: Vec<u64> = Event::ALL
        .iter()
        .map(|&e| analytics.event(e).unwrap())
        .collect();
    assert_eq!(events, fake.events);
    let unique: Vec<u64> = UniqueEvent::ALL
        .iter()
        .map(|&e| analytics.unique(e).unwrap())
        .collect();
    assert_eq!(unique, fake.unique);
    let leads: Vec<u64> = LeadState::ALL
        .iter()
        .map(|&s| analytics.leads(s).unwrap())
        .collect();
    assert_eq!(leads, fake.leads);
    assert_eq!(analytics.total_leads, Some(fake.leads.iter().sum()));
    assert_eq!(analytics.interested, Some(fake.interested));

    let page = client.email_accounts(&key, 0, 100).await.unwrap().data;
    assert_eq!(page.returned, 100);

    let log = stand_in.log(KEY);
    let calls: Vec<(&str, &str)> = log
        .iter()
        .map(|c| (c.path.as_str(), c.query.as_str()))
        .collect();
    let analytics_path = format!("/campaigns/{}/analytics", fake.id);
    assert_eq!(
        calls,
        [
            ("/leads/fetch-categories", ""),
            (
                "/analytics/lead/category-wise-response",
                "start_date=2025-02-19&end_date=2025-03-20"
            ),
            ("/campaigns/", ""),
            (analytics_path.as_str(), ""),
            ("/email-accounts/", "offset=0&limit=100"),
        ]
    );
    let endpoints: Vec<&str> = log.iter().map(|c| c.endpoint().unwrap()).collect();
    assert_eq!(
        endpoints,
        [
            "fetch-categories",
            "category-wise-response",
            "campaigns",
            "campaign-analytics",
            "email-accounts"
        ]
    );
    // Nothing reached the default script.
    assert!(stand_in.seen().is_empty());
}

#[tokio::test]
async fn mailboxes_are_paged_until_a_short_page() {
    let stand_in = StandIn::start(vec![Reply::json(500, "{}")]).await;
    let account = FakeAccount::generate(spec());
    stand_in.account(KEY, account.clone());
    let client = client(&stand_in, 1 << 20);
    let key = key();
    let mut mailboxes = Vec::new();
    let mut offset = 0;
    loop {
        let page = client.email_accounts(&key, offset, 100).await.unwrap().data;
        let returned = page.returned as u64;
        mailboxes.extend(page.mailboxes);
        offset += returned;
        if returned < 100 {
            break;
        }
    }
    assert_eq!(mailboxes.len(), account.mailboxes.len());
    for (got, fake) in mailboxes.iter().zip(&account.mailboxes) {
        assert_eq!(got.id, fake.id);
        assert_eq!(got.email, fake.email);
        assert_eq!(got.kind, fake.kind);
        assert_eq!(got.client_id, fake.client_id);
        assert_eq!(got.campaigns, Some(fake.campaigns));
        assert_eq!(got.daily_limit, Some(fake.daily_limit));
        assert_eq!(got.daily_sent, Some(fake.daily_sent));
        assert_eq!(got.smtp_ok, Some(fake.smtp_ok));
        assert_eq!(got.imap_ok, Some(fake.imap_ok));
        assert_eq!(got.suspended, Some(fake.suspended));
        match (&got.warmup, &fake.warmup) {
            (None, None) => {}
            (Some(got), Some(fake)) => {
                let ratio = got.reputation.unwrap();
                assert!((ratio - f64::from(fake.reputation) / 100.0).abs() < 1e-12);
                assert_eq!(got.blocked, Some(fake.blocked));
                assert_eq!(got.status, Some(WarmupStatus::parse(fake.status)));
            }
            other => panic!("warmup differs: {other:?}"),
        }
    }
    let queries: Vec<String> = stand_in.log(KEY).into_iter().map(|c| c.query).collect();
    assert_eq!(
        queries,
        [
            "offset=0&limit=100",
            "offset=100&limit=100",
            "offset=200&limit=100"
        ]
    );
    assert!(!format!("{mailboxes:?}").contains("canary"));
}

#[tokio::test]
async fn a_campaign_gone_between_the_list_and_its_analytics_is_none() {
    let stand_in = StandIn::start(vec![Reply::json(500, "{}")]).await;
    let account = FakeAccount::generate(spec());
    let deleted = account.campaigns.iter().find(|c| c.deleted).unwrap().id;
    stand_in.account(KEY, account);
    let client = client(&stand_in, 1 << 20);
    let key = key();
    let gone = client.campaign_analytics(&key, deleted).await.unwrap();
    assert_eq!(gone.exchange.status, Some(200));
    assert!(gone.data.is_none());

    // An empty body says the same.
    stand_in.script_endpoint(
        KEY,
        "/campaigns/77/analytics",
        vec![Reply::typed(200, "application/json", b"")],
    );
    assert!(client
        .campaign_analytics(&key, 77)
        .await
        .unwrap()
        .data
        .is_none());
}

#[tokio::test]
async fn a_422_is_a_status_failure_with_smartlead_s_message() {
    let stand_in = StandIn::start(vec![Reply::json(500, "{}")]).await;
    stand_in.account(KEY, FakeAccount::generate(spec()));
    let client = client(&stand_in, 1 << 20);
    let err = client.email_accounts(&key(), 0, 101).await.unwrap_err();
    assert_eq!(err.reason, FailureReason::Status);
    assert_eq!(err.exchange.status, Some(422));
    assert!(
        err.message.starts_with(
            "SmartLead answered 422 Unprocessable Entity: \"limit must be a number from 1 to \
             100 and offset a number\"; SmartLead refused the request's parameters"
        ),
        "{}",
        err.message
    );
    assert_secret_free(&err);
}

#[tokio::test]
async fn a_400_message_is_read_leniently_with_the_key_redacted() {
    let stand_in = StandIn::start(vec![Reply::json(500, "{}")]).await;
    let client = client(&stand_in, 1 << 20);
    let key = key();
    let (start, end) = replies_window(SystemTime::now());
    for (body, shown) in [
        (
            format!(r#"{{"message":"bad api_key={KEY} for dates"}}"#),
            "\"bad api_key=[redacted] for dates\"",
        ),
        (
            r#"{"success":false,"error":{"code":400,"message":"end_date before start_date"}}"#
                .to_owned(),
            "\"end_date before start_date\"",
        ),
        (
            r#"{"error":"window longer than 30 days"}"#.to_owned(),
            "\"window longer than 30 days\"",
        ),
        ("Bad Request: dates".to_owned(), "\"Bad Request: dates\""),
    ] {
        stand_in.script_endpoint(KEY, "category-wise-response", vec![Reply::json(400, &body)]);
        let err = client
            .category_wise_response(&key, start, end)
            .await
            .unwrap_err();
        assert_eq!(err.reason, FailureReason::Status);
        assert!(
            err.message
                .starts_with(&format!("SmartLead answered 400 Bad Request: {shown}; ")),
            "{}",
            err.message
        );
        assert_secret_free(&err);
    }
}

#[tokio::test]
async fn mailbox_answers_are_never_quoted_beyond_a_json_message() {
    let stand_in = StandIn::start(vec![Reply::json(500, "{}")]).await;
    let client = client(&stand_in, 1 << 20);
    let key = key();
    let element = format!(
        r#"{{"id":1,"from_email":"a@x.example","smtp_password":"{FAKE_SMTP_PASSWORD}","imap_password":"{FAKE_IMAP_PASSWORD}"}}"#
    );
    let cases = [
        // A broken 200 answer: a decode failure that says where, not what.
        Reply::json(200, &format!("[{element},{element}")),
        Reply::json(200, &format!(r#"{{"data":[{element}]}}"#)),
        Reply::json(200, &format!("[{element}] {FAKE_SMTP_PASSWORD}")),
        // Error answers whose raw text holds the credentials.
        Reply::typed(500, "text/plain", format!("oops {element}").as_bytes()),
        Reply::json(500, &format!("[{element}]")),
        Reply::typed(
            502,
            "text/html",
            format!("<p>{FAKE_IMAP_PASSWORD}</p>").as_bytes(),
        ),
    ];
    for reply in cases {
        stand_in.script_endpoint(KEY, "email-accounts", vec![reply.clone()]);
        let err = client.email_accounts(&key, 0, 100).await.unwrap_err();
        assert!(
            matches!(err.reason, FailureReason::Decode | FailureReason::Status),
            "{err:?}"
        );
        assert_secret_free(&err);
    }
    // A JSON error's own message is still shown.
    stand_in.script_endpoint(
        KEY,
        "email-accounts",
        vec![Reply::json(403, r#"{"message":"Plan has no API access"}"#)],
    );
    let err = client.email_accounts(&key, 0, 100).await.unwrap_err();
    assert!(
        err.message
            .starts_with("SmartLead answered 403 Forbidden: \"Plan has no API access\"; "),
        "{}",
        err.message
    );
    // A well-formed answer keeps nothing of the credentials.
    stand_in.script_endpoint(
        KEY,
        "email-accounts",
        vec![Reply::json(200, &format!("[{element}]"))],
    );
    let page = client.email_accounts(&key, 0, 100).await.unwrap();
    assert!(!format!("{page:?}").contains("canary"));
}

#[tokio::test]
async fn decode_failures_name_what_the_endpoint_should_answer() {
    let stand_in = StandIn::start(vec![Reply::json(500, "{}")]).await;
    let client = client(&stand_in, 1 << 20);
    let key = key();
    let object = Reply::json(200, r#"{"message":"maintenance"}"#);
    for route in ["fetch-categories", "campaigns", "category-wise-response"] {
        stand_in.script_endpoint(KEY, route, vec![object.clone()]);
    }
    stand_in.script_endpoint(KEY, "campaign-analytics", vec![Reply::json(200, "[1]")]);
    let err = client.fetch_categories(&key).await.unwrap_err();
    assert_eq!(
        err.message,
        "SmartLead answered 200 OK with a body that is not a category list: expected a JSON \
         array of categories, got a JSON object with message \"maintenance\""
    );
    let err = client.campaigns(&key).await.unwrap_err();
    assert_eq!(
        err.message,
        "SmartLead answered 200 OK with a body that is not a campaign list: expected a JSON \
         array of campaigns, got a JSON object with message \"maintenance\""
    );
    let (start, end) = replies_window(SystemTime::now());
    let err = client
        .category_wise_response(&key, start, end)
        .await
        .unwrap_err();
    assert_eq!(err.reason, FailureReason::Decode);
    assert!(
        err.message.starts_with(
            "SmartLead answered 200 OK with a body that is not replies by category: expected a \
             JSON object with data.lead_responses_by_category, got an object without it"
        ),
        "{}",
        err.message
    );
    let err = client.campaign_analytics(&key, 5).await.unwrap_err();
    assert_eq!(
        err.message,
        "SmartLead answered 200 OK with a body that is not campaign analytics: expected a JSON \
         object of campaign analytics, got a JSON array"
    );
}

#[tokio::test]
async fn a_body_over_the_cap_is_too_large_on_every_endpoint() {
    let stand_in = StandIn::start(vec![Reply::json(500, "{}")]).await;
    stand_in.account(KEY, FakeAccount::generate(spec()));
    let client = client(&stand_in, 512);
    let key = key();
    let err = client.campaigns(&key).await.unwrap_err();
    assert_eq!(err.reason, FailureReason::TooLarge);
    assert!(
        err.message.ends_with("that many campaigns"),
        "{}",
        err.message
    );
    let err = client.email_accounts(&key, 0, 100).await.unwrap_err();
    assert_eq!(err.reason, FailureReason::TooLarge);
    assert!(
        err.message.contains("one page of mailboxes"),
        "{}",
        err.message
    );
    assert_secret_free(&err);
}

#[tokio::test]
async fn rate_limit_headers_are_read_on_every_endpoint() {
    let stand_in = StandIn::start(vec![Reply::json(500, "{}")]).await;
    stand_in.script_endpoint(
        KEY,
        "campaigns",
        vec![Reply::json(
            429,
            r#"{"error":{"code":"RATE_LIMIT_EXCEEDED","retry_after":30}}"#,
        )
        .with_header("Retry-After", "30")
        .with_header("X-RateLimit-Limit", "60")
        .with_header("X-RateLimit-Remaining", "0")],
    );
    let client = client(&stand_in, 1 << 20);
    let before = SystemTime::now();
    let err = client.campaigns(&key()).await.unwrap_err();
    assert_eq!(err.reason, FailureReason::Status);
    assert_eq!(err.exchange.status, Some(429));
    assert_eq!(err.exchange.rate_limit.limit, Some(60));
    assert_eq!(err.exchange.rate_limit.remaining, Some(0));
    let wait = err
        .exchange
        .retry_after
        .unwrap()
        .duration_since(before)
        .unwrap();
    assert!(
        (Duration::from_secs(29)..=Duration::from_secs(31)).contains(&wait),
        "{wait:?}"
    );
}

#[test]
fn the_busiest_window_is_counted_with_both_ends_included() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let times = [
        at(0),
        at(30_000),
        at(60_000),
        at(60_001),
        at(119_000),
        at(200_000),
    ];
    assert_eq!(most_in_any_window(&times, Duration::from_secs(60)), 3);
    assert_eq!(most_in_any_window(&times, Duration::from_secs(1)), 2);
    assert_eq!(most_in_any_window(&[], Duration::from_secs(60)), 0);
}

#[test]
fn a_collection_s_cost_follows_the_account() {
    let account = FakeAccount::generate(spec());
    // 3 + 3 active + 1 paused + 3 pages of mailboxes (100, 100, 50).
    assert_eq!(account.calls_per_collection(&["ACTIVE", "PAUSED"]), 10);
    let whole = FakeAccount::generate(AccountSpec {
        mailboxes: 200,
        ..spec()
    });
    // 200 mailboxes: two full pages and the empty one that ends the list.
    assert_eq!(whole.calls_per_collection(&["ACTIVE"]), 9);
}
