//! The demo account's data: its categories, how its replies spread over them, its campaigns
//! and mailboxes, and how the campaigns' numbers move with the clock. What the stand-in
//! answers from them is `answers`.

/// The active campaigns reach every lead in this many seconds (a week), then start over: their
/// lifetime totals fall back, as SmartLead's do when leads are deleted. A week of leads makes
/// the counts move every minute or so.
const CYCLE_SECS: u64 = 7 * 24 * 60 * 60;

/// The flaky mailbox's SMTP is down for the first [`FLAKY_DOWN_MINUTES`] of every this many
/// minutes, and its IMAP for the next ones.
pub(super) const FLAKY_PERIOD_MINUTES: u64 = 20;

/// See [`FLAKY_PERIOD_MINUTES`].
pub(super) const FLAKY_DOWN_MINUTES: u64 = 4;

/// The categories served: SmartLead's real globals (ids 1 to 9) and user-created ones.
pub(super) const CATEGORIES: &str = r#"[
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
pub(super) const REPLY_SHARES: [(&str, Option<&str>, u64); 14] = [
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
pub(super) struct DemoCampaign {
    pub(super) id: u64,
    pub(super) name: &'static str,
    pub(super) status: &'static str,
    pub(super) client_id: Option<u64>,
    /// Leads in the campaign.
    pub(super) leads: u64,
    /// Bounces per mille of leads contacted.
    bounce_per_mille: u64,
    /// Whether opens are tracked; SmartLead counts no opens (but unique ones) otherwise.
    pub(super) tracks_opens: bool,
}

/// The campaigns, newest first as SmartLead lists them. One bounces above 5 % of its sends
/// (11 % of the leads contacted, 1.7 sends each); one does not track opens.
pub(super) const CAMPAIGNS: [DemoCampaign; 7] = [
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
pub(super) struct DemoMailbox {
    pub(super) email: &'static str,
    /// `type`.
    pub(super) kind: &'static str,
    pub(super) client_id: Option<u64>,
    /// `message_per_day`.
    pub(super) daily_limit: u64,
    /// Warmup reputation in percent; `None`: no warmup details at all.
    pub(super) reputation: Option<u32>,
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
pub(super) const MAILBOXES: [DemoMailbox; 12] = [
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
pub(super) const FLAKY_MAILBOX: usize = 3;

/// The id of the first mailbox; the others follow.
pub(super) const FIRST_MAILBOX_ID: u64 = 2_215_431;

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
pub(super) struct Funnel {
    pub(super) contacted: u64,
    pub(super) sent: u64,
    pub(super) opens: u64,
    pub(super) unique_opens: u64,
    pub(super) clicks: u64,
    pub(super) unique_clicks: u64,
    pub(super) replies: u64,
    pub(super) bounces: u64,
    pub(super) unsubscribed: u64,
    pub(super) blocked: u64,
    /// Leads not started, in progress, completed, paused, stopped, blocked: they add up to
    /// the campaign's leads.
    pub(super) states: [u64; 6],
    pub(super) interested: u64,
}

pub(super) fn funnel(c: &DemoCampaign, now: u64) -> Funnel {
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
