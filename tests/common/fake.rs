//! A whole fake SmartLead account for the stand-in: categories, replies by category,
//! campaigns with their analytics, and mailboxes, answered on every endpoint with correct
//! pagination and the API's quirks (counters as strings, reputations as `"95%"`, `95` or
//! `"95"`, `{}` for a deleted campaign, `null` warmup details, credentials in mailbox answers).
//!
//! The data are plain public fields: a test reads them to know what to expect, and changes
//! them through [`StandIn::update_account`](super::StandIn::update_account) to make an account
//! move.

use serde_json::{json, Value};

use super::Reply;

/// The SMTP password of every fake mailbox: a canary that must never leave the exporter.
pub const FAKE_SMTP_PASSWORD: &str = "smtp-canary-d41c9e7a";

/// The IMAP password of every fake mailbox: a canary that must never leave the exporter.
pub const FAKE_IMAP_PASSWORD: &str = "imap-canary-6f02b3e8";

/// The largest page of mailboxes served; a larger `limit` is answered 422, as SmartLead does.
pub const MAX_PAGE: usize = 100;

/// SmartLead's global categories: id, name, sentiment.
const GLOBAL_CATEGORIES: [(u64, &str, Option<&str>); 9] = [
    (1, "Interested", Some("positive")),
    (2, "Meeting Request", Some("positive")),
    (3, "Not Interested", Some("negative")),
    (4, "Do Not Contact", Some("negative")),
    (5, "Information Request", Some("positive")),
    (6, "Out Of Office", None),
    (7, "Wrong Person", Some("negative")),
    (8, "Uncategorizable by Ai", None),
    (9, "Sender Originated Bounce", Some("negative")),
];

/// The statuses given to campaigns past the active ones, in turn.
const OTHER_STATUSES: [&str; 5] = ["PAUSED", "DRAFTED", "COMPLETED", "STOPPED", "ARCHIVED"];

/// What to generate.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccountSpec {
    /// Categories: SmartLead's nine globals first, then user-created ones.
    pub categories: usize,
    /// Campaigns in the list.
    pub campaigns: usize,
    /// How many of them are `ACTIVE` (the first ones); the rest are, in turn, `PAUSED`,
    /// `DRAFTED`, `COMPLETED`, `STOPPED` and `ARCHIVED`.
    pub active: usize,
    /// How many of the active campaigns were deleted after the list was read: they stay in the
    /// list, and their analytics answer `{}` (the last active ones).
    pub deleted: usize,
    /// Mailboxes.
    pub mailboxes: usize,
}

/// One category and its replies in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeCategory {
    /// SmartLead's id.
    pub id: u64,
    /// Its name, the join key of replies.
    pub name: String,
    /// `sentiment_type`, `None` for `null`.
    pub sentiment: Option<&'static str>,
    /// Replies in the window.
    pub replies: u64,
}

/// One campaign and its lifetime analytics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeCampaign {
    /// SmartLead's id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Its status, upper case.
    pub status: String,
    /// Its client, `None` for `null`.
    pub client_id: Option<u64>,
    /// Deleted: its analytics answer `{}`.
    pub deleted: bool,
    /// Sent, opened, clicked, replied, bounced, unsubscribed, blocked (as
    /// `smartlead_campaign_emails`' `event` label orders them).
    pub events: [u64; 7],
    /// Distinct leads sent, opened, clicked.
    pub unique: [u64; 3],
    /// Leads not started, in progress, completed, paused, stopped, blocked.
    pub leads: [u64; 6],
    /// Leads in a positive category.
    pub interested: u64,
}

/// One mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeMailbox {
    /// SmartLead's id.
    pub id: u64,
    /// `from_email`.
    pub email: String,
    /// `type`.
    pub kind: &'static str,
    /// Its client, `None` for `null`.
    pub client_id: Option<u64>,
    /// `campaign_count`.
    pub campaigns: u64,
    /// `message_per_day`.
    pub daily_limit: u64,
    /// `daily_sent_count`.
    pub daily_sent: u64,
    /// `is_smtp_success`.
    pub smtp_ok: bool,
    /// `is_imap_success`.
    pub imap_ok: bool,
    /// `is_suspended`.
    pub suspended: bool,
    /// `warmup_details`, `None` for `null`.
    pub warmup: Option<FakeWarmup>,
}

/// A mailbox's warmup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeWarmup {
    /// `status`.
    pub status: &'static str,
    /// `warmup_reputation` in percent; written as `"N%"`, `N` or `"N"` by mailbox.
    pub reputation: u32,
    /// `is_warmup_blocked`.
    pub blocked: bool,
}

/// A whole account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FakeAccount {
    /// The categories, sorted by id.
    pub categories: Vec<FakeCategory>,
    /// Replies in no category (`Uncategorized`).
    pub uncategorized_replies: u64,
    /// The campaigns, in list order.
    pub campaigns: Vec<FakeCampaign>,
    /// The mailboxes, in page order.
    pub mailboxes: Vec<FakeMailbox>,
}

impl FakeAccount {
    /// An account as `spec` says, its numbers derived from positions (the same spec gives the
    /// same account).
    pub fn generate(spec: AccountSpec) -> Self {
        let categories = (0..spec.categories)
            .map(|i| {
                let (id, name, sentiment) = GLOBAL_CATEGORIES.get(i).map_or_else(
                    || {
                        let sentiment = [Some("positive"), Some("negative"), None][i % 3];
                        (1000 + i as u64, format!("User category {i}"), sentiment)
                    },
                    |(id, name, sentiment)| (*id, (*name).to_owned(), *sentiment),
                );
                FakeCategory {
                    id,
                    name,
                    sentiment,
                    replies: (i as u64 * 7) % 50,
                }
            })
            .collect();
        let active_deleted = spec.active.saturating_sub(spec.deleted);
        let campaigns = (0..spec.campaigns)
            .map(|i| {
                let n = i as u64;
                let status = if i < spec.active {
                    "ACTIVE"
                } else {
                    OTHER_STATUSES[(i - spec.active) % OTHER_STATUSES.len()]
                };
                let unique_sent = 100 + n * 10;
                let sent = unique_sent * 2 + n;
                let leads = [n % 5 * 10, 40 + n, unique_sent / 2, n % 3, n % 2, n % 4];
                FakeCampaign {
                    id: 2_000_000 + n,
                    name: format!("Campaign {i}"),
                    status: status.to_owned(),
                    client_id: (i % 2 == 1).then_some(4821),
                    deleted: i >= active_deleted && i < spec.active,
                    events: [sent, unique_sent / 2, n, n % 17, n % 9, n % 4, n % 3],
                    unique: [unique_sent, unique_sent / 3, n / 2],
                    leads,
                    interested: n % 11,
                }
            })
            .collect();
        let mailboxes = (0..spec.mailboxes)
            .map(|i| {
                let n = i as u64;
                FakeMailbox {
                    id: 5_000_000 + n,
                    email: format!("sender{i}@fake-mail.example"),
                    kind: ["GMAIL", "OUTLOOK", "SMTP", "ZOHO"][i % 4],
                    client_id: (i % 2 == 1).then_some(4821),
                    campaigns: n % 4,
                    daily_limit: 40,
                    daily_sent: n % 41,
                    smtp_ok: i % 11 != 10,
                    imap_ok: i % 13 != 12,
                    suspended: i % 29 == 28,
                    warmup: (i % 7 != 6).then(|| FakeWarmup {
                        status: ["ACTIVE", "ACTIVE", "PAUSED", "INACTIVE"][i % 4],
                        reputation: if i % 5 == 4 { 62 } else { 90 + (i % 11) as u32 },
                        blocked: i % 17 == 16,
                    }),
                }
            })
            .collect();
        Self {
            categories,
            uncategorized_replies: 1000 + spec.categories as u64,
            campaigns,
            mailboxes,
        }
    }

    /// Calls one full collection makes, when the campaigns whose status is in `statuses` get
    /// their analytics: categories, replies, the campaign list, one per such campaign, and one
    /// per page of 100 mailboxes (plus the empty page that ends a list of whole pages).
    pub fn calls_per_collection(&self, statuses: &[&str]) -> usize {
        let analysed = self
            .campaigns
            .iter()
            .filter(|c| statuses.contains(&c.status.as_str()))
            .count();
        3 + analysed + self.mailboxes.len() / MAX_PAGE + 1
    }

    /// The answer to `GET {base}{path}?{query}` (the query without the key).
    pub fn answer(&self, path: &str, query: &str) -> Reply {
        let param = |name: &str| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
        };
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match segments.as_slice() {
            ["leads", "fetch-categories"] => Reply::json(200, &self.categories_json()),
            ["analytics", "lead", "category-wise-response"] => {
                if param("start_date").is_none() || param("end_date").is_none() {
                    return Reply::json(
                        400,
                        r#"{"success":false,"message":"start_date and end_date are required"}"#,
                    );
                }
                Reply::json(200, &self.replies_json())
            }
            ["campaigns"] => Reply::json(200, &self.campaigns_json()),
            ["campaigns", id, "analytics"] => match id.parse::<u64>() {
                Ok(id) => Reply::json(200, &self.analytics_json(id)),
                Err(_) => Reply::json(400, r#"{"message":"campaign_id must be a number"}"#),
            },
            ["email-accounts"] => {
                let number = |name, default| param(name).map_or(Ok(default), str::parse::<usize>);
                match (number("offset", 0), number("limit", MAX_PAGE)) {
                    (Ok(offset), Ok(limit)) if (1..=MAX_PAGE).contains(&limit) => {
                        Reply::json(200, &self.mailboxes_json(offset, limit))
                    }
                    _ => Reply::json(
                        422,
                        r#"{"message":"limit must be a number from 1 to 100 and offset a number"}"#,
                    ),
                }
            }
            _ => Reply::json(404, r#"{"message":"Not Found"}"#),
        }
    }

    /// `GET /leads/fetch-categories`.
    pub fn categories_json(&self) -> String {
        let list: Vec<Value> = self
            .categories
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "name": c.name,
                    "sentiment_type": c.sentiment,
                    "created_at": "2022-08-30T06:13:04.000Z",
                })
            })
            .collect();
        Value::Array(list).to_string()
    }

    /// `GET /analytics/lead/category-wise-response`, in the shape real clients read.
    pub fn replies_json(&self) -> String {
        let total: u64 =
            self.categories.iter().map(|c| c.replies).sum::<u64>() + self.uncategorized_replies;
        let percent = |n: u64| format!("{:.2}%", n as f64 * 100.0 / total.max(1) as f64);
        let mut grouping: Vec<Value> = self
            .categories
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "sentiment_type": c.sentiment,
                    "total_response": c.replies,
                    "percentage": percent(c.replies),
                })
            })
            .collect();
        grouping.push(json!({
            "name": "Uncategorized",
            "total_response": self.uncategorized_replies,
            "percentage": percent(self.uncategorized_replies),
        }));
        json!({
            "success": true,
            "message": "Lead responses by category fetched successfully",
            "data": {"lead_responses_by_category": {"leadResponseGrouping": grouping}},
        })
        .to_string()
    }

    /// `GET /campaigns/`: newest first, as SmartLead lists them.
    pub fn campaigns_json(&self) -> String {
        let list: Vec<Value> = self
            .campaigns
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "user_id": 33120,
                    "created_at": "2025-07-01T09:12:44.912Z",
                    "updated_at": "2025-07-14T16:03:10.077Z",
                    "status": c.status,
                    "name": c.name,
                    "track_settings": [],
                    "scheduler_cron_value": {"tz": "UTC", "days": [1, 2, 3, 4, 5]},
                    "min_time_btwn_emails": 10,
                    "max_leads_per_day": 50,
                    "client_id": c.client_id,
                    "parent_campaign_id": null,
                })
            })
            .collect();
        Value::Array(list).to_string()
    }

    /// `GET /campaigns/{id}/analytics`: counters as strings; `{}` for a deleted or unknown
    /// campaign.
    pub fn analytics_json(&self, id: u64) -> String {
        let Some(c) = self.campaigns.iter().find(|c| c.id == id && !c.deleted) else {
            return "{}".to_owned();
        };
        let [sent, opened, clicked, replied, bounced, unsubscribed, blocked] = c.events;
        let [unique_sent, unique_opened, unique_clicked] = c.unique;
        let [not_started, in_progress, completed, paused, stopped, lead_blocked] = c.leads;
        json!({
            "id": c.id,
            "user_id": 33120,
            "status": c.status,
            "name": c.name,
            "client_id": c.client_id,
            "client_name": c.client_id.map(|_| "Acme Agency Client"),
            "sent_count": sent.to_string(),
            "unique_sent_count": unique_sent.to_string(),
            "open_count": opened.to_string(),
            "unique_open_count": unique_opened.to_string(),
            "click_count": clicked.to_string(),
            "unique_click_count": unique_clicked.to_string(),
            "reply_count": replied.to_string(),
            "block_count": blocked.to_string(),
            "bounce_count": bounced.to_string(),
            "unsubscribed_count": unsubscribed.to_string(),
            "sequence_count": "3",
            "campaign_lead_stats": {
                "total": c.leads.iter().sum::<u64>(),
                "notStarted": not_started,
                "inprogress": in_progress,
                "completed": completed,
                "paused": paused,
                "stopped": stopped,
                "blocked": lead_blocked,
                "interested": c.interested,
                "revenue": 0,
            },
        })
        .to_string()
    }

    /// One page of `GET /email-accounts/`, credentials included.
    pub fn mailboxes_json(&self, offset: usize, limit: usize) -> String {
        let page: Vec<Value> = self
            .mailboxes
            .iter()
            .enumerate()
            .skip(offset)
            .take(limit)
            .map(|(i, m)| {
                let warmup = m.warmup.as_ref().map(|w| {
                    let reputation = match i % 3 {
                        0 => json!(format!("{}%", w.reputation)),
                        1 => json!(w.reputation),
                        _ => json!(w.reputation.to_string()),
                    };
                    json!({
                        "status": w.status,
                        "total_sent_count": "120",
                        "total_spam_count": 2,
                        "warmup_reputation": reputation,
                        "is_warmup_blocked": w.blocked,
                        "blocked_reason": if w.blocked { Some("High spam rate") } else { None },
                    })
                });
                json!({
                    "id": m.id,
                    "from_name": format!("Sender {i}"),
                    "from_email": m.email,
                    "username": m.email,
                    "smtp_host": "smtp.fake-mail.example",
                    "smtp_port": 465,
                    "smtp_username": m.email,
                    "smtp_password": FAKE_SMTP_PASSWORD,
                    "imap_host": "imap.fake-mail.example",
                    "imap_port": 993,
                    "imap_username": m.email,
                    "imap_password": FAKE_IMAP_PASSWORD,
                    "message_per_day": m.daily_limit,
                    "daily_sent_count": m.daily_sent.to_string(),
                    "campaign_count": if i % 2 == 0 { json!(m.campaigns) } else { json!(m.campaigns.to_string()) },
                    "is_smtp_success": m.smtp_ok,
                    "is_imap_success": m.imap_ok,
                    "smtp_failure_error": if m.smtp_ok { None } else { Some("535 Authentication failed") },
                    "imap_failure_error": null,
                    "is_suspended": m.suspended,
                    "type": m.kind,
                    "client_id": m.client_id,
                    "warmup_details": warmup,
                })
            })
            .collect();
        Value::Array(page).to_string()
    }
}
