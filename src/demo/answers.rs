//! What the demo stand-in answers, as a function of the path, the query and the time: the JSON
//! SmartLead would send for the demo account's data (`fixtures`).

use hyper::StatusCode;
use serde_json::{json, Value};

use super::fixtures::{
    funnel, DemoCampaign, DemoMailbox, CAMPAIGNS, CATEGORIES, FIRST_MAILBOX_ID, FLAKY_DOWN_MINUTES,
    FLAKY_MAILBOX, FLAKY_PERIOD_MINUTES, MAILBOXES, REPLY_SHARES,
};
use super::BASE_PATH;
use crate::smartlead::replies::parse_date;

/// The largest page of mailboxes served, as SmartLead's.
const MAX_PAGE: usize = 100;

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
