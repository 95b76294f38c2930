//! What the demo stand-in answers, as a function of the path, the query and the time: the
//! data (categories, campaigns, mailboxes) and the JSON SmartLead would send for them.

use hyper::StatusCode;
use serde_json::{json, Value};

use super::BASE_PATH;
use crate::smartlead::replies::parse_date;

/// The largest page of mailboxes served, as SmartLead's.
const MAX_PAGE: usize = 100;

/// The active campaigns reach every lead in this many seconds (a week), then start over: their
/// lifetime totals fall back, as SmartLead's do when leads are deleted. A week of leads makes
/// the counts move every minute or so.
const CYCLE_SECS: u64 = 7 * 24 * 60 * 60;

/// The flaky mailbox's SMTP is down for the first [`FLAKY_DOWN_MINUTES`] of every this many
/// minutes, and its IMAP for the next ones.
const FLAKY_PERIOD_MINUTES: u64 = 20;

/// See [`FLAKY_PERIOD_MINUTES`].
const FLAKY_DOWN_MINUTES: u64 = 4;

/// The categories served: SmartLead's real globals (ids 1 to 9) and user-created ones.
const CATEGORIES: &str = r#"[
  {"id": 1, "name": "Interested", "sentiment_type": "positive", "created_at": "2022-08-30T06:13:04.000Z"},
  {"id": 2, "name": "Meeting Request", "sentiment_type": "positive", "created_at": "2022-08-30T06:13:04.000Z"},
  {"id": 3, "name": "Not Interested", "sentiment_type": "negative", "created_at": "2022-08-30T06:13:04.000Z"},
  {"id": 4, "name": "Do Not Contact", "sentiment_type": "negative", "created_at": "2022-08-30T06:13:04.000Z"},
  {"id": 5, "name": "Information Request", "sentiment_type": "positive", "created_at": "2022-08-30T06:13:04.000Z"},
  {"id": 6, "name": "Out Of Office", "sentiment_type": null, "created_at": "2022-08-30T06:13:04.000Z"},
  {"id": 7, "name": "Wrong Person", "sentiment_type": "negative", "created_at": "2022-08-30T06:13:04.000Z"},
  {"id": 8, "name": "Uncategorizable by Ai", "sentiment_type": null, "created_at": "2024-10-25T11:02:41.000Z"},
  {"id": 9, "name": "Sender Originated Bounce", "sentiment_type": "negative", "created_at": "2025-03-20T09:45:12.000Z"},
  {"id": 789, "name": "Follow Up Later", "sentiment_type": "neutral", "created_at": "2025-11-20T14:22:00.000Z"},
  {"id": 1451, "name": "Referral", "sentiment_type": "positive", "created_at": "2023-05-02T08:30:00.000Z"},
  {"id": 3241, "name": "Pricing Objection", "sentiment_type": "negative", "created_at": "2024-02-11T16:05:00.000Z"},
  {"id": 8142, "name": "Nurture Next Quarter", "sentiment_type": null, "created_at": "2024-09-18T10:00:00.000Z"},
  {"id": "16691", "name": "Partner Intro", "sentiment_type": "mixed", "created_at": "2025-06-30T12:00:00.000Z"}
]"#;

/// How the replies spread over the categories, in per mille of all replies, with the
/// sentiment SmartLead's real answer gives; the rest is `Uncategorized`.
const REPLY_SHARES: [(&str, Option<&str>, u64); 14] = [
    ("Interested", Some("positive"), 180),
    ("Meeting Request", Some("positive"), 60),
    ("Not Interested", Some("negative"), 220),
    ("Do Not Contact", Some("negative"), 30),
    ("Information Request", Some("positive"), 70),
    ("Out Of Office", None, 140),
    ("Wrong Person", Some("negative"), 40),
    ("Uncategorizable by Ai", None, 20),
    ("Sender Originated Bounce", Some("negative"), 10),
    ("Follow Up Later", Some("neutral"), 30),
    ("Referral", Some("positive"), 20),
    ("Pricing Objection", Some("negative"), 30),
    ("Nurture Next Quarter", None, 20),
    ("Partner Intro", Some("mixed"), 10),
];

/// One demo campaign.
struct DemoCampaign {
    id: u64,
    name: &'static str,
    status: &'static str,
    client_id: Option<u64>,
    /// Leads in the campaign.
    leads: u64,
    /// Bounces per mille of leads contacted.
    bounce_per_mille: u64,
    /// Whether opens are tracked; SmartLead counts no opens (but unique ones) otherwise.
    tracks_opens: bool,
}

/// The campaigns, newest first as SmartLead lists them. One bounces above 5 % of its sends
/// (11 % of the leads contacted, 1.7 sends each); one does not track opens.
const CAMPAIGNS: [DemoCampaign; 7] = [
    DemoCampaign::new(
        1_204_587,
        "Q3 Outbound — Founders",
        "ACTIVE",
        None,
        20_000,
        20,
    ),
    DemoCampaign::new(
        1_198_233,
        "Agency Partners EMEA",
        "ACTIVE",
        Some(4821),
        12_000,
        110,
    ),
    DemoCampaign::new(
        1_190_774,
        "Webinar Follow-up",
        "ACTIVE",
        Some(4821),
        8_000,
        15,
    )
    .untracked(),
    DemoCampaign::new(1_187_002, "Re-engage Churned", "PAUSED", None, 1200, 25),
    DemoCampaign::new(1_176_315, "CFO Cold Intro", "PAUSED", Some(5177), 600, 30),
    DemoCampaign::new(1_169_940, "Holiday Offer (draft)", "DRAFTED", None, 400, 0),
    DemoCampaign::new(
        1_150_410,
        "Spring Launch",
        "COMPLETED",
        Some(5177),
        2500,
        18,
    ),
];

impl DemoCampaign {
    const fn new(
        id: u64,
        name: &'static str,
        status: &'static str,
        client_id: Option<u64>,
        leads: u64,
        bounce_per_mille: u64,
    ) -> Self {
        Self {
            id,
            name,
            status,
            client_id,
            leads,
            bounce_per_mille,
            tracks_opens: true,
        }
    }

    /// The same campaign with open tracking off.
    const fn untracked(self) -> Self {
        Self {
            tracks_opens: false,
            ..self
        }
    }
}

/// One demo mailbox.
struct DemoMailbox {
    email: &'static str,
    /// `type`.
    kind: &'static str,
    client_id: Option<u64>,
    /// `message_per_day`.
    daily_limit: u64,
    /// Warmup reputation in percent; `None`: no warmup details at all.
    reputation: Option<u32>,
}

/// Shorthand for the table below.
const fn mailbox(
    email: &'static str,
    kind: &'static str,
    client_id: Option<u64>,
    daily_limit: u64,
    reputation: Option<u32>,
) -> DemoMailbox {
    DemoMailbox {
        email,
        kind,
        client_id,
        daily_limit,
        reputation,
    }
}

/// The mailboxes. One has a low reputation, one no warmup details.
const MAILBOXES: [DemoMailbox; 12] = [
    mailbox("alex@outbound-demo.example", "GMAIL", None, 40, Some(97)),
    mailbox("sam@outbound-demo.example", "GMAIL", None, 40, Some(95)),
    mailbox("jo@outbound-demo.example", "OUTLOOK", None, 30, Some(93)),
    mailbox("kim@outbound-demo.example", "OUTLOOK", None, 30, Some(98)),
    mailbox(
        "lee@partners-demo.example",
        "GMAIL",
        Some(4821),
        50,
        Some(91),
    ),
    mailbox(
        "max@partners-demo.example",
        "ZOHO",
        Some(4821),
        25,
        Some(62),
    ),
    mailbox(
        "noa@partners-demo.example",
        "SMTP",
        Some(4821),
        60,
        Some(96),
    ),
    mailbox(
        "ola@partners-demo.example",
        "GMAIL",
        Some(4821),
        40,
        Some(94),
    ),
    mailbox("pat@cfo-demo.example", "OUTLOOK", Some(5177), 30, Some(99)),
    mailbox("ray@cfo-demo.example", "SMTP", Some(5177), 60, None),
    mailbox("sue@cfo-demo.example", "GMAIL", Some(5177), 40, Some(92)),
    mailbox("tom@cfo-demo.example", "ZOHO", None, 25, Some(90)),
];

/// The mailbox (position in [`MAILBOXES`]) whose SMTP and IMAP go down now and then.
const FLAKY_MAILBOX: usize = 3;

/// The id of the first mailbox; the others follow.
const FIRST_MAILBOX_ID: u64 = 2_215_431;

/// The answer to `GET {path}?{query}` for the demo key at Unix time `now`.
pub(super) fn route(path: &str, query: &str, now: u64) -> (StatusCode, String) {
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
    };
    let path = path.strip_prefix(BASE_PATH).unwrap_or("");
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["leads", "fetch-categories"] => (StatusCode::OK, CATEGORIES.to_owned()),
        ["analytics", "lead", "category-wise-response"] => {
            let start = param("start_date").and_then(parse_date);
            let end = param("end_date").and_then(parse_date);
            match (start, end) {
                (Some(start), Some(end)) if start <= end => (StatusCode::OK, replies(now)),
                _ => (
                    StatusCode::BAD_REQUEST,
                    r#"{"success":false,"message":"start_date and end_date (YYYY-MM-DD, start first) are required"}"#
                        .to_owned(),
                ),
            }
        }
        ["campaigns"] => (StatusCode::OK, campaigns()),
        ["campaigns", id, "analytics"] => {
            let found = CAMPAIGNS.iter().find(|c| id.parse() == Ok(c.id));
            (
                StatusCode::OK,
                found.map_or_else(|| "{}".to_owned(), |c| analytics(c, now)),
            )
        }
        ["email-accounts"] => {
            let number = |name, default| param(name).map_or(Some(default), |v| v.parse().ok());
            match (number("offset", 0), number("limit", MAX_PAGE)) {
                (Some(offset), Some(limit)) if (1..=MAX_PAGE).contains(&limit) => {
                    (StatusCode::OK, mailboxes(offset, limit, now))
                }
                _ => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    r#"{"message":"limit must be a number from 1 to 100, offset a number"}"#
                        .to_owned(),
                ),
            }
        }
        _ => (
            StatusCode::NOT_FOUND,
            r#"{"message":"Not Found"}"#.to_owned(),
        ),
    }
}

/// How many of a campaign's leads were contacted by `now`: active campaigns move with the
/// clock, the others stand where they stopped.
fn contacted(campaign: &DemoCampaign, now: u64) -> u64 {
    match campaign.status {
        "ACTIVE" => campaign.leads * (now % CYCLE_SECS) / CYCLE_SECS,
        "PAUSED" => campaign.leads * 4 / 10,
        "COMPLETED" => campaign.leads,
        _ => 0,
    }
}

/// A campaign's lifetime numbers at `now`.
struct Funnel {
    contacted: u64,
    sent: u64,
    opens: u64,
    unique_opens: u64,
    clicks: u64,
    unique_clicks: u64,
    replies: u64,
    bounces: u64,
    unsubscribed: u64,
    blocked: u64,
    /// Leads not started, in progress, completed, paused, stopped, blocked: they add up to
    /// the campaign's leads.
    states: [u64; 6],
    interested: u64,
}

fn funnel(c: &DemoCampaign, now: u64) -> Funnel {
    let contacted = contacted(c, now);
    let per_mille = |n: u64, rate: u64| n * rate / 1000;
    let replies = per_mille(contacted, 60);
    let blocked = contacted / 500;
    let paused = contacted / 100;
    // Leads that replied stop getting the sequence; the others complete it in time.
    let going = contacted - replies - blocked - paused;
    let completed = if c.status == "COMPLETED" {
        going
    } else {
        per_mille(going, 550)
    };
    let unique_opens = per_mille(contacted, 450);
    let unique_clicks = per_mille(contacted, 40);
    Funnel {
        contacted,
        sent: contacted + per_mille(contacted, 700),
        opens: if c.tracks_opens {
            per_mille(unique_opens, 1400)
        } else {
            0
        },
        unique_opens,
        clicks: per_mille(unique_clicks, 1200),
        unique_clicks,
        replies,
        bounces: per_mille(contacted, c.bounce_per_mille),
        unsubscribed: per_mille(contacted, 10),
        blocked,
        states: [
            c.leads - contacted,
            going - completed,
            completed,
            paused,
            replies,
            blocked,
        ],
        interested: per_mille(replies, 300),
    }
}

/// `GET /campaigns/`.
fn campaigns() -> String {
    let list: Vec<Value> = CAMPAIGNS
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "user_id": 33120,
                "created_at": "2025-07-01T09:12:44.912Z",
                "updated_at": "2025-07-14T16:03:10.077Z",
                "status": c.status,
                "name": c.name,
                "track_settings": if c.tracks_opens { json!([]) } else { json!(["DONT_TRACK_EMAIL_OPEN"]) },
                "scheduler_cron_value": {"tz": "UTC", "days": [1, 2, 3, 4, 5], "startHour": "09:00", "endHour": "17:00"},
                "min_time_btwn_emails": 10,
                "max_leads_per_day": 100,
                "client_id": c.client_id,
                "parent_campaign_id": null,
            })
        })
        .collect();
    Value::Array(list).to_string()
}

/// `GET /campaigns/{id}/analytics`: counters as strings, lead states as numbers.
fn analytics(c: &DemoCampaign, now: u64) -> String {
    let f = funnel(c, now);
    let [not_started, in_progress, completed, paused, stopped, blocked] = f.states;
    json!({
        "id": c.id,
        "user_id": 33120,
        "status": c.status,
        "name": c.name,
        "client_id": c.client_id,
        "client_name": c.client_id.map(|_| "Demo Agency Client"),
        "sent_count": f.sent.to_string(),
        "unique_sent_count": f.contacted.to_string(),
        "open_count": f.opens.to_string(),
        "unique_open_count": f.unique_opens.to_string(),
        "click_count": f.clicks.to_string(),
        "unique_click_count": f.unique_clicks.to_string(),
        "reply_count": f.replies.to_string(),
        "block_count": f.blocked.to_string(),
        "bounce_count": f.bounces.to_string(),
        "unsubscribed_count": f.unsubscribed.to_string(),
        "sequence_count": "3",
        "campaign_lead_stats": {
            "total": c.leads,
            "notStarted": not_started,
            "inprogress": in_progress,
            "completed": completed,
            "paused": paused,
            "stopped": stopped,
            "blocked": blocked,
            "interested": f.interested,
            "revenue": 0,
        },
    })
    .to_string()
}

/// `GET /analytics/lead/category-wise-response`: every campaign's replies, spread over the
/// categories, in the shape real clients read.
fn replies(now: u64) -> String {
    let total: u64 = CAMPAIGNS.iter().map(|c| funnel(c, now).replies).sum();
    let percent = |n: u64| format!("{:.2}%", n as f64 * 100.0 / total.max(1) as f64);
    let mut counted = 0;
    let mut grouping: Vec<Value> = REPLY_SHARES
        .iter()
        .map(|(name, sentiment, share)| {
            let replies = total * share / 1000;
            counted += replies;
            json!({
                "name": name,
                "sentiment_type": sentiment,
                "total_response": replies,
                "percentage": percent(replies),
            })
        })
        .collect();
    grouping.push(json!({
        "name": "Uncategorized",
        "total_response": total - counted,
        "percentage": percent(total - counted),
    }));
    json!({
        "success": true,
        "message": "Lead responses by category fetched successfully",
        "data": {"lead_responses_by_category": {"leadResponseGrouping": grouping}},
    })
    .to_string()
}

/// One page of `GET /email-accounts/`, credentials (fake ones) included, as SmartLead sends
/// them.
fn mailboxes(offset: usize, limit: usize, now: u64) -> String {
    let minute = now / 60 % FLAKY_PERIOD_MINUTES;
    let day_part_per_mille = now % 86_400 * 1000 / 86_400;
    let page: Vec<Value> = MAILBOXES
        .iter()
        .enumerate()
        .skip(offset)
        .take(limit)
        .map(|(i, m)| {
            let DemoMailbox {
                email,
                kind,
                client_id,
                daily_limit,
                reputation,
            } = m;
            let flaky = i == FLAKY_MAILBOX;
            let smtp_ok = !(flaky && minute < FLAKY_DOWN_MINUTES);
            let imap_ok =
                !(flaky && (FLAKY_DOWN_MINUTES..2 * FLAKY_DOWN_MINUTES).contains(&minute));
            let warmup = reputation.map(|r| {
                let reputation = match i % 3 {
                    0 => json!(format!("{r}%")),
                    1 => json!(r),
                    _ => json!(r.to_string()),
                };
                json!({
                    "id": 991_200 + i,
                    "status": if i == 11 { "PAUSED" } else { "ACTIVE" },
                    "total_sent_count": "1240",
                    "total_spam_count": "6",
                    "warmup_reputation": reputation,
                    "is_warmup_blocked": false,
                    "blocked_reason": null,
                })
            });
            json!({
                "id": FIRST_MAILBOX_ID + i as u64,
                "from_name": email.split('@').next(),
                "from_email": email,
                "username": email,
                "smtp_host": "smtp.demo.example",
                "smtp_port": 465,
                "smtp_username": email,
                "smtp_password": "demo-smtp-password",
                "imap_host": "imap.demo.example",
                "imap_port": 993,
                "imap_username": email,
                "imap_password": "demo-imap-password",
                "message_per_day": daily_limit,
                "daily_sent_count": (daily_limit * day_part_per_mille / 1000).to_string(),
                "campaign_count": (i % 3 + 1).to_string(),
                "is_smtp_success": smtp_ok,
                "is_imap_success": imap_ok,
                "smtp_failure_error": if smtp_ok { None } else { Some("535 5.7.8 Authentication failed") },
                "imap_failure_error": if imap_ok { None } else { Some("IMAP connection timed out") },
                "is_suspended": false,
                "type": kind,
                "client_id": client_id,
                "warmup_details": warmup,
            })
        })
        .collect();
    Value::Array(page).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smartlead::campaigns::{self, CampaignStatus, Event, LeadState};
    use crate::smartlead::categories::{parse, Sentiment};
    use crate::smartlead::key::Redactor;
    use crate::smartlead::{mailboxes as mailbox_model, replies as reply_model};
    use std::time::{Duration, SystemTime};

    /// 2025-03-20T12:00:00Z, mid-day, and part of the way into the active campaigns' week.
    const NOW: u64 = 1_742_472_000;

    fn get(path: &str, query: &str, now: u64) -> (StatusCode, String) {
        route(&format!("{BASE_PATH}{path}"), query, now)
    }

    #[test]
    fn demo_categories_cover_every_sentiment_and_origin() {
        let catalog = parse(CATEGORIES.as_bytes(), &Default::default()).unwrap();
        assert_eq!(catalog.categories.len(), 14);
        for sentiment in Sentiment::ALL {
            assert!(
                catalog.categories.iter().any(|c| c.sentiment == sentiment),
                "{sentiment:?}"
            );
        }
        assert_eq!(catalog.categories.iter().filter(|c| c.id <= 99).count(), 9);
    }

    #[test]
    fn campaigns_have_every_status_the_demo_promises() {
        let (status, body) = get("/campaigns/", "", NOW);
        assert_eq!(status, StatusCode::OK);
        let list = campaigns::parse_list(body.as_bytes(), &Redactor::default()).unwrap();
        let count = |s: CampaignStatus| list.campaigns.iter().filter(|c| c.status == s).count();
        assert_eq!(count(CampaignStatus::Active), 3);
        assert_eq!(count(CampaignStatus::Paused), 2);
        assert_eq!(count(CampaignStatus::Drafted), 1);
        assert_eq!(count(CampaignStatus::Completed), 1);
        assert_eq!(get("/campaigns", "", NOW).1, body);
    }

    #[test]
    fn analytics_add_up_and_active_campaigns_grow() {
        for c in &CAMPAIGNS {
            let read = |now| {
                let (_, body) = get(&format!("/campaigns/{}/analytics", c.id), "", now);
                campaigns::parse_analytics(body.as_bytes(), &Redactor::default())
                    .unwrap()
                    .unwrap()
            };
            let a = read(NOW);
            assert_eq!(a.id, c.id);
            let states: u64 = LeadState::ALL.iter().map(|&s| a.leads(s).unwrap()).sum();
            assert_eq!(states, a.total_leads.unwrap(), "{}", c.name);
            assert_eq!(a.total_leads, Some(c.leads));
            assert_eq!(a.oddities, crate::smartlead::Oddities::default());
            let later = read(NOW + 3600);
            for event in Event::ALL {
                let (before, after) = (a.event(event).unwrap(), later.event(event).unwrap());
                if c.status == "ACTIVE" && event == Event::Sent {
                    assert!(after > before, "{} {event:?}", c.name);
                } else {
                    assert!(after >= before, "{} {event:?}", c.name);
                }
            }
        }
        let bouncy = funnel(&CAMPAIGNS[1], NOW);
        assert!(bouncy.bounces * 100 > bouncy.sent * 5 && bouncy.sent >= 100);
        let (status, body) = get("/campaigns/42/analytics", "", NOW);
        assert_eq!((status, body.as_str()), (StatusCode::OK, "{}"));
    }

    #[test]
    fn replies_cover_every_category_and_grow() {
        let (start, end) = reply_model::window(SystemTime::UNIX_EPOCH + Duration::from_secs(NOW));
        let query = format!(
            "start_date={}&end_date={}&api_key=demo",
            reply_model::format_date(start),
            reply_model::format_date(end)
        );
        let read = |now| {
            let (status, body) = get("/analytics/lead/category-wise-response", &query, now);
            assert_eq!(status, StatusCode::OK);
            reply_model::parse(body.as_bytes(), &Redactor::default()).unwrap()
        };
        let replies = read(NOW);
        let catalog = parse(CATEGORIES.as_bytes(), &Redactor::default()).unwrap();
        assert_eq!(replies.categories.len(), catalog.categories.len() + 1);
        for (entry, category) in replies.categories.iter().zip(&catalog.categories) {
            assert_eq!(entry.name, category.name);
            assert_eq!(entry.sentiment, Some(category.sentiment));
            assert!(entry.replies > 0, "{}", entry.name);
        }
        assert!(replies.categories[14].is_uncategorized());
        let total = |r: &reply_model::Replies| r.categories.iter().map(|c| c.replies).sum::<u64>();
        assert!(total(&read(NOW + 6 * 3600)) > total(&replies));
        for bad in [
            "",
            "start_date=2025-03-20",
            "start_date=2025-03-21&end_date=2025-03-20",
        ] {
            let (status, _) = get("/analytics/lead/category-wise-response", bad, NOW);
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    #[test]
    fn mailboxes_page_and_show_every_kind_of_trouble() {
        let page = |query: &str, now| {
            let (status, body) = get("/email-accounts/", query, now);
            assert_eq!(status, StatusCode::OK, "{query}");
            let parsed = mailbox_model::parse(body.as_bytes(), &Redactor::default()).unwrap();
            let credentials = body.matches("\"smtp_password\"").count()
                + body.matches("\"imap_password\"").count();
            assert_eq!(credentials, 2 * parsed.returned);
            parsed
        };
        let all = page("offset=0&limit=100", NOW);
        assert_eq!(all.returned, 12);
        assert!(!format!("{all:?}").contains("password"));
        let low: Vec<_> = all
            .mailboxes
            .iter()
            .filter_map(|m| m.warmup.as_ref()?.reputation)
            .filter(|&r| r < 0.8)
            .collect();
        assert_eq!(low, [0.62]);
        assert_eq!(
            all.mailboxes.iter().filter(|m| m.warmup.is_none()).count(),
            1
        );
        assert_eq!(page("offset=10&limit=5", NOW).returned, 2);
        assert_eq!(
            page("offset=5&limit=5", NOW).mailboxes[0].id,
            FIRST_MAILBOX_ID + 5
        );
        assert_eq!(page("offset=20&limit=5", NOW).returned, 0);
        for bad in ["offset=0&limit=101", "limit=0", "offset=x&limit=10"] {
            let (status, _) = get("/email-accounts/", bad, NOW);
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        }
        // Over one period, the flaky mailbox loses SMTP, then IMAP, then comes back.
        let health: Vec<(bool, bool)> = (0..FLAKY_PERIOD_MINUTES)
            .map(|m| {
                let now = NOW - NOW % (FLAKY_PERIOD_MINUTES * 60) + m * 60;
                let flaky = &page("", now).mailboxes[FLAKY_MAILBOX];
                (flaky.smtp_ok.unwrap(), flaky.imap_ok.unwrap())
            })
            .collect();
        assert!(health.contains(&(false, true)));
        assert!(health.contains(&(true, false)));
        assert!(health.contains(&(true, true)));
        assert!(!health.contains(&(false, false)));
    }

    #[test]
    fn unknown_paths_are_not_found() {
        assert_eq!(get("/leads", "", NOW).0, StatusCode::NOT_FOUND);
        assert_eq!(
            route("/other/leads/fetch-categories", "", NOW).0,
            StatusCode::NOT_FOUND
        );
    }
}
