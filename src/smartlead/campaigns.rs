//! Campaigns: the list (`GET /campaigns/`, [`parse_list`] into a [`CampaignList`]) and one
//! campaign's lifetime analytics (`GET /campaigns/{id}/analytics`, [`parse_analytics`] into a
//! [`CampaignAnalytics`]).
//!
//! The list is a bare JSON array, newest first, without pagination. The analytics are one
//! object whose counters arrive as strings (`"359"`) and whose `campaign_lead_stats` uses
//! camelCase keys (`notStarted`, `inprogress`); a campaign deleted between the list and its
//! analytics comes back as `200` with `{}` or an empty body, which is not a failure: the
//! campaign is gone. Statuses are upper case; ones not known here are kept as
//! [`CampaignStatus::Other`] with their text, so that a filter can still name them.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};

use serde::de::{DeserializeSeed, MapAccess};

use super::json::{
    count_of, id_of, not_an_array, optional_id_of, read, skip, text_of, unreadable_json,
    DecodeError, Each, Element, Field, Oddities, Quoting, Record,
};
use super::key::{Redactor, TextEnd};
use super::text::{self, excerpt, quote, MAX_NAME_BYTES};

/// A status SmartLead does not document is kept up to this many bytes.
pub const MAX_STATUS_BYTES: usize = 64;

/// At most this many distinct unknown statuses are reported per answer, so that a hostile
/// answer cannot make the warning set grow with its size.
pub const MAX_UNKNOWN_STATUSES: usize = 16;

/// A campaign's status.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CampaignStatus {
    /// `DRAFTED`: not started yet.
    Drafted,
    /// `ACTIVE`: sending.
    Active,
    /// `PAUSED`: paused by the user or by SmartLead.
    Paused,
    /// `STOPPED`: stopped for good.
    Stopped,
    /// `COMPLETED`: every lead went through the sequence.
    Completed,
    /// `ARCHIVED`: hidden from the campaign list in the app.
    Archived,
    /// Any other status, as sent (trimmed, upper case, at most [`MAX_STATUS_BYTES`]); empty
    /// when the campaign had none.
    Other(Box<str>),
}

impl CampaignStatus {
    /// Every label value, in exposition order: the index of a status in it is
    /// [`CampaignStatus::index`].
    pub const LABELS: [&'static str; 7] = [
        "drafted",
        "active",
        "paused",
        "stopped",
        "completed",
        "archived",
        "other",
    ];

    /// Classifies a raw status, ignoring case and surrounding whitespace.
    pub fn parse(raw: &str) -> Self {
        let upper = raw.trim().to_ascii_uppercase();
        match upper.as_str() {
            "DRAFTED" => Self::Drafted,
            "ACTIVE" => Self::Active,
            "PAUSED" => Self::Paused,
            "STOPPED" => Self::Stopped,
            "COMPLETED" => Self::Completed,
            "ARCHIVED" => Self::Archived,
            _ => Self::Other(text::head(&upper, MAX_STATUS_BYTES).into()),
        }
    }

    /// The status as SmartLead writes it (`ACTIVE`, or the text of an unknown one), to match
    /// against `--collector.campaigns.statuses`.
    pub fn as_upper(&self) -> &str {
        match self {
            Self::Drafted => "DRAFTED",
            Self::Active => "ACTIVE",
            Self::Paused => "PAUSED",
            Self::Stopped => "STOPPED",
            Self::Completed => "COMPLETED",
            Self::Archived => "ARCHIVED",
            Self::Other(text) => text,
        }
    }

    /// The `status` label value: lower case, `other` for every unknown status.
    pub fn label(&self) -> &'static str {
        Self::LABELS[self.index()]
    }

    /// Position in [`CampaignStatus::LABELS`], for counting into arrays.
    pub fn index(&self) -> usize {
        match self {
            Self::Drafted => 0,
            Self::Active => 1,
            Self::Paused => 2,
            Self::Stopped => 3,
            Self::Completed => 4,
            Self::Archived => 5,
            Self::Other(_) => 6,
        }
    }
}

/// One campaign of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Campaign {
    /// SmartLead's id; unique within an answer (repeats are dropped).
    pub id: u64,
    /// The display name, cut to [`MAX_NAME_BYTES`]; empty when unreadable.
    pub name: String,
    /// The status; decides whether the campaign's analytics are fetched.
    pub status: CampaignStatus,
    /// The agency client it belongs to; `None` when SmartLead left it null.
    pub client_id: Option<u64>,
    /// Set on a subsequence: the campaign it follows.
    pub parent_campaign_id: Option<u64>,
}

/// A parsed campaign list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignList {
    /// In SmartLead's order (newest first), each id once (the first occurrence wins).
    pub campaigns: Vec<Campaign>,
    /// Distinct unknown statuses, redacted and quoted, at most [`MAX_UNKNOWN_STATUSES`].
    pub unknown_statuses: BTreeSet<String>,
    /// What was odd: elements that are not objects or have no usable id are dropped.
    pub oddities: Oddities,
}

/// A lifetime event counted in a campaign's analytics: the `event` label of
/// `smartlead_campaign_emails`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// `sent_count`.
    Sent,
    /// `open_count` (0 when open tracking is off).
    Opened,
    /// `click_count`.
    Clicked,
    /// `reply_count`.
    Replied,
    /// `bounce_count`.
    Bounced,
    /// `unsubscribed_count`.
    Unsubscribed,
    /// `block_count`.
    Blocked,
}

impl Event {
    /// Every event, in exposition order.
    pub const ALL: [Self; 7] = [
        Self::Sent,
        Self::Opened,
        Self::Clicked,
        Self::Replied,
        Self::Bounced,
        Self::Unsubscribed,
        Self::Blocked,
    ];

    /// The label value.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Opened => "opened",
            Self::Clicked => "clicked",
            Self::Replied => "replied",
            Self::Bounced => "bounced",
            Self::Unsubscribed => "unsubscribed",
            Self::Blocked => "blocked",
        }
    }

    /// Position in [`Event::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// An event counted once per lead: the `event` label of `smartlead_campaign_unique_leads`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UniqueEvent {
    /// `unique_sent_count`: leads contacted.
    Sent,
    /// `unique_open_count`.
    Opened,
    /// `unique_click_count`.
    Clicked,
}

impl UniqueEvent {
    /// Every unique event, in exposition order.
    pub const ALL: [Self; 3] = [Self::Sent, Self::Opened, Self::Clicked];

    /// The label value.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Opened => "opened",
            Self::Clicked => "clicked",
        }
    }

    /// Position in [`UniqueEvent::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Where a campaign's leads are: the `state` label of `smartlead_campaign_leads`. The six
/// states sum to `campaign_lead_stats.total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeadState {
    /// `notStarted`.
    NotStarted,
    /// `inprogress`.
    InProgress,
    /// `completed`.
    Completed,
    /// `paused`.
    Paused,
    /// `stopped`.
    Stopped,
    /// `blocked`.
    Blocked,
}

impl LeadState {
    /// Every state, in exposition order.
    pub const ALL: [Self; 6] = [
        Self::NotStarted,
        Self::InProgress,
        Self::Completed,
        Self::Paused,
        Self::Stopped,
        Self::Blocked,
    ];

    /// The label value.
    pub const fn label(self) -> &'static str {
        match self {
            Self::NotStarted => "not_started",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Paused => "paused",
            Self::Stopped => "stopped",
            Self::Blocked => "blocked",
        }
    }

    /// Position in [`LeadState::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// One campaign's lifetime analytics. Every count is `None` when SmartLead gave none
/// (`null`, absent or unreadable). Totals can fall when leads are deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignAnalytics {
    /// The id SmartLead answered for.
    pub id: u64,
    /// The display name, cut to [`MAX_NAME_BYTES`]; empty when absent.
    pub name: String,
    /// The status, when the answer had one.
    pub status: Option<CampaignStatus>,
    /// The agency client; `None` when null.
    pub client_id: Option<u64>,
    /// Event counts, indexed by [`Event::index`].
    pub events: [Option<u64>; 7],
    /// Distinct leads, indexed by [`UniqueEvent::index`].
    pub unique: [Option<u64>; 3],
    /// Leads by state, indexed by [`LeadState::index`].
    pub leads: [Option<u64>; 6],
    /// `campaign_lead_stats.total`: every lead of the campaign.
    pub total_leads: Option<u64>,
    /// `campaign_lead_stats.interested`: leads in a positive category, counted besides their
    /// state.
    pub interested: Option<u64>,
    /// What was odd (unreadable counters).
    pub oddities: Oddities,
}

impl CampaignAnalytics {
    /// The count of `event`.
    pub fn event(&self, event: Event) -> Option<u64> {
        self.events[event.index()]
    }

    /// The distinct leads of `event`.
    pub fn unique(&self, event: UniqueEvent) -> Option<u64> {
        self.unique[event.index()]
    }

    /// The leads in `state`.
    pub fn leads(&self, state: LeadState) -> Option<u64> {
        self.leads[state.index()]
    }
}

/// Parses the body of `GET /campaigns/`; `redactor` hides the key in everything taken from
/// the body.
///
/// Each element should have an integer `id` (a number or a string of digits); `name`,
/// `status`, `client_id` and `parent_campaign_id` may be absent or `null`; other fields are
/// ignored. An element that is not an object or has no usable id is dropped and counted.
/// Runs in time linear in the body and never panics.
///
/// # Errors
/// A [`DecodeError`] saying what was found instead of a list of campaigns: HTML, an object
/// (with its message), truncated JSON, or a non-empty list with no campaign in it.
pub fn parse_list(body: &[u8], redactor: &Redactor) -> Result<CampaignList, DecodeError> {
    if let Some(refused) = not_an_array(body, "campaigns", Quoting::Redacted(redactor)) {
        return Err(refused);
    }
    let mut list = CampaignList::default();
    let mut ids = HashSet::new();
    let mut each = Each::new("a JSON array of campaigns", |index, element| {
        add_campaign(&mut list, &mut ids, redactor, index, element);
    });
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed = (&mut each)
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    if let Err(e) = parsed {
        return Err(unreadable_json(
            &e,
            "a list of campaigns",
            body,
            Quoting::Redacted(redactor),
        ));
    }
    if list.campaigns.is_empty() && list.oddities.dropped > 0 {
        return Err(DecodeError(format!(
            "the body is a list, but none of its {} elements is a campaign; the first: {}",
            list.oddities.dropped,
            list.oddities.drop_reason.as_deref().unwrap_or("unknown")
        )));
    }
    Ok(list)
}

/// One element of the list as it arrives.
#[derive(Default)]
struct ListEntry<'a> {
    id: Option<Field<'a>>,
    name: Option<Field<'a>>,
    status: Option<Field<'a>>,
    client_id: Option<Field<'a>>,
    parent_campaign_id: Option<Field<'a>>,
}

impl<'de> Record<'de> for ListEntry<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "id" => read(map, &mut self.id),
            "name" => read(map, &mut self.name),
            "status" => read(map, &mut self.status),
            "client_id" => read(map, &mut self.client_id),
            "parent_campaign_id" => read(map, &mut self.parent_campaign_id),
            _ => skip(map),
        }
    }
}

/// Adds one element of the list, leniently, counting what was odd about it.
fn add_campaign(
    list: &mut CampaignList,
    ids: &mut HashSet<u64>,
    redactor: &Redactor,
    index: usize,
    element: Element<ListEntry<'_>>,
) {
    let odd = &mut list.oddities;
    let entry = match element {
        Element::Record(entry) => entry,
        Element::Other(kind) => {
            odd.drop(|| format!("element {index}: invalid type: {kind}, expected a campaign"));
            return;
        }
    };
    let id = match entry.id.as_ref().map(id_of) {
        Some(Ok(id)) => id,
        problem => {
            odd.drop(|| match problem {
                Some(Err(what)) => {
                    format!("element {index}: its id is {what}, expected a non-negative integer id")
                }
                _ => format!("element {index}: missing field `id`"),
            });
            return;
        }
    };
    if !ids.insert(id) {
        odd.duplicates += 1;
        return;
    }
    let name = read_name(odd, entry.name, redactor);
    let status = read_status(odd, entry.status, redactor);
    if let CampaignStatus::Other(text) = &status {
        if list.unknown_statuses.len() < MAX_UNKNOWN_STATUSES {
            list.unknown_statuses
                .insert(excerpt(text, &Redactor::default(), TextEnd::Complete));
        }
    }
    let client_id = odd.value(optional_id_of(entry.client_id.as_ref()));
    let parent_campaign_id = odd.value(optional_id_of(entry.parent_campaign_id.as_ref()));
    list.campaigns.push(Campaign {
        id,
        name,
        status,
        client_id,
        parent_campaign_id,
    });
}

/// A name, redacted and cut; empty (and counted when present) when unreadable.
fn read_name(odd: &mut Oddities, field: Option<Field<'_>>, redactor: &Redactor) -> String {
    let raw = odd.value(text_of(field)).unwrap_or(Cow::Borrowed(""));
    let (name, cut) = text::name(raw, redactor, MAX_NAME_BYTES);
    if cut {
        odd.truncated_names += 1;
    }
    name
}

/// A status, with the key redacted from an unknown one; `Other("")` when absent or not text.
fn read_status(
    odd: &mut Oddities,
    field: Option<Field<'_>>,
    redactor: &Redactor,
) -> CampaignStatus {
    let raw = odd.value(text_of(field)).unwrap_or(Cow::Borrowed(""));
    // Redacted before it is classified and cut: an unknown status is kept as text.
    let (raw, _) = text::name(raw, redactor, MAX_NAME_BYTES);
    CampaignStatus::parse(&raw)
}

/// Parses the body of `GET /campaigns/{id}/analytics`: `None` when the campaign is gone (an
/// empty body, `null`, or an object without a usable `id`, as SmartLead answers for a deleted
/// campaign).
///
/// Counters may be numbers or strings of digits, `null` or absent; `campaign_lead_stats` takes
/// camelCase (`notStarted`, `inprogress`) and snake case keys; other fields are ignored. Runs
/// in time linear in the body and never panics.
///
/// # Errors
/// A [`DecodeError`] when the body is not a JSON object (or empty): HTML, an array, a number,
/// truncated JSON.
pub fn parse_analytics(
    body: &[u8],
    redactor: &Redactor,
) -> Result<Option<CampaignAnalytics>, DecodeError> {
    let first = body.iter().copied().find(|b| !b.is_ascii_whitespace());
    let expected = "a JSON object of campaign analytics";
    match first {
        None => return Ok(None),
        Some(b'<') => {
            return Err(DecodeError(format!(
                "expected {expected}, got HTML or XML: {}",
                quote(body, redactor)
            )))
        }
        Some(b'[') => {
            return Err(DecodeError(format!(
                "expected {expected}, got a JSON array"
            )))
        }
        _ => {}
    }
    let element: Result<Element<AnalyticsEntry<'_>>, _> = serde_json::from_slice(body);
    let entry = match element {
        Ok(Element::Record(entry)) => entry,
        Ok(Element::Other("null")) => return Ok(None),
        Ok(Element::Other(kind)) => {
            return Err(DecodeError(format!("expected {expected}, got {kind}")))
        }
        Err(e) => {
            return Err(unreadable_json(
                &e,
                "campaign analytics",
                body,
                Quoting::Redacted(redactor),
            ))
        }
    };
    let Some(Ok(id)) = entry.id.as_ref().map(id_of) else {
        return Ok(None);
    };
    let mut odd = Oddities::default();
    let name = read_name(&mut odd, entry.name, redactor);
    let status = entry
        .status
        .as_ref()
        .is_some_and(|s| !matches!(s, Field::Null))
        .then(|| read_status(&mut odd, entry.status, redactor));
    let client_id = odd.value(optional_id_of(entry.client_id.as_ref()));
    let mut count = |field: &Option<Field<'_>>| odd.value(count_of(field.as_ref()));
    let events = Event::ALL.map(|event| count(&entry.events[event.index()]));
    let unique = UniqueEvent::ALL.map(|event| count(&entry.unique[event.index()]));
    let stats = match entry.stats {
        Some(Element::Record(stats)) => stats,
        Some(Element::Other("null")) | None => LeadStats::default(),
        Some(Element::Other(_)) => {
            odd.unreadable_values += 1;
            LeadStats::default()
        }
    };
    let mut count = |field: &Option<Field<'_>>| odd.value(count_of(field.as_ref()));
    let leads = LeadState::ALL.map(|state| count(&stats.states[state.index()]));
    let total_leads = count(&stats.total);
    let interested = count(&stats.interested);
    Ok(Some(CampaignAnalytics {
        id,
        name,
        status,
        client_id,
        events,
        unique,
        leads,
        total_leads,
        interested,
        oddities: odd,
    }))
}

/// The analytics object as it arrives.
#[derive(Default)]
struct AnalyticsEntry<'a> {
    id: Option<Field<'a>>,
    name: Option<Field<'a>>,
    status: Option<Field<'a>>,
    client_id: Option<Field<'a>>,
    /// By [`Event::index`].
    events: [Option<Field<'a>>; 7],
    /// By [`UniqueEvent::index`].
    unique: [Option<Field<'a>>; 3],
    stats: Option<Element<LeadStats<'a>>>,
}

impl<'de> Record<'de> for AnalyticsEntry<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        let event = |e: Event| e.index();
        let unique = |e: UniqueEvent| e.index();
        match key {
            "id" => read(map, &mut self.id),
            "name" => read(map, &mut self.name),
            "status" => read(map, &mut self.status),
            "client_id" => read(map, &mut self.client_id),
            "sent_count" => read(map, &mut self.events[event(Event::Sent)]),
            "open_count" => read(map, &mut self.events[event(Event::Opened)]),
            "click_count" => read(map, &mut self.events[event(Event::Clicked)]),
            "reply_count" => read(map, &mut self.events[event(Event::Replied)]),
            "bounce_count" => read(map, &mut self.events[event(Event::Bounced)]),
            "unsubscribed_count" => read(map, &mut self.events[event(Event::Unsubscribed)]),
            "block_count" => read(map, &mut self.events[event(Event::Blocked)]),
            "unique_sent_count" => read(map, &mut self.unique[unique(UniqueEvent::Sent)]),
            "unique_open_count" => read(map, &mut self.unique[unique(UniqueEvent::Opened)]),
            "unique_click_count" => read(map, &mut self.unique[unique(UniqueEvent::Clicked)]),
            "campaign_lead_stats" => {
                self.stats = Some(map.next_value()?);
                Ok(())
            }
            _ => skip(map),
        }
    }
}

/// `campaign_lead_stats` as it arrives.
#[derive(Default)]
struct LeadStats<'a> {
    /// By [`LeadState::index`].
    states: [Option<Field<'a>>; 6],
    total: Option<Field<'a>>,
    interested: Option<Field<'a>>,
}

impl<'de> Record<'de> for LeadStats<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        let state = |s: LeadState| s.index();
        match key {
            "total" => read(map, &mut self.total),
            "interested" => read(map, &mut self.interested),
            "notStarted" | "not_started" => {
                read(map, &mut self.states[state(LeadState::NotStarted)])
            }
            "inprogress" | "inProgress" | "in_progress" => {
                read(map, &mut self.states[state(LeadState::InProgress)])
            }
            "completed" => read(map, &mut self.states[state(LeadState::Completed)]),
            "paused" => read(map, &mut self.states[state(LeadState::Paused)]),
            "stopped" => read(map, &mut self.states[state(LeadState::Stopped)]),
            "blocked" => read(map, &mut self.states[state(LeadState::Blocked)]),
            _ => skip(map),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smartlead::key::ApiKey;

    fn list(body: &[u8]) -> Result<CampaignList, DecodeError> {
        parse_list(body, &Redactor::default())
    }

    fn analytics(body: &[u8]) -> Result<Option<CampaignAnalytics>, DecodeError> {
        parse_analytics(body, &Redactor::default())
    }

    /// A campaign list in the shape real clients read, with settings objects and a subsequence.
    const LIST: &str = include_str!("../../tests/fixtures/campaigns.json");

    /// One campaign's analytics in the shape real clients read: counters as strings.
    const ANALYTICS: &str = include_str!("../../tests/fixtures/campaign-analytics.json");

    #[test]
    fn the_real_list_parses_in_order_with_statuses_and_clients() {
        let list = list(LIST.as_bytes()).unwrap();
        let ids: Vec<u64> = list.campaigns.iter().map(|c| c.id).collect();
        assert_eq!(ids, [1_204_587, 1_198_233, 1_187_002, 1_150_410, 1_150_409]);
        let statuses: Vec<&str> = list.campaigns.iter().map(|c| c.status.label()).collect();
        assert_eq!(
            statuses,
            ["active", "paused", "drafted", "completed", "other"]
        );
        assert_eq!(list.campaigns[4].status.as_upper(), "SCHEDULED");
        assert_eq!(list.campaigns[0].name, "Q3 Outbound — Founders");
        assert_eq!(list.campaigns[0].client_id, None);
        assert_eq!(list.campaigns[1].client_id, Some(4821));
        assert_eq!(list.campaigns[1].parent_campaign_id, Some(1_150_410));
        assert_eq!(
            list.unknown_statuses.iter().collect::<Vec<_>>(),
            ["SCHEDULED"]
        );
        assert!(!list.oddities.any(), "{:?}", list.oddities);
    }

    #[test]
    fn statuses_ignore_case_and_keep_unknown_text() {
        assert_eq!(CampaignStatus::parse(" active "), CampaignStatus::Active);
        assert_eq!(CampaignStatus::parse("Archived"), CampaignStatus::Archived);
        let odd = CampaignStatus::parse("queued");
        assert_eq!(odd.as_upper(), "QUEUED");
        assert_eq!(odd.label(), "other");
        assert_eq!(CampaignStatus::parse("").as_upper(), "");
        let long = CampaignStatus::parse(&"x".repeat(1000));
        assert_eq!(long.as_upper().len(), MAX_STATUS_BYTES);
        for (i, label) in CampaignStatus::LABELS.iter().enumerate() {
            let status = CampaignStatus::parse(label);
            assert_eq!(status.index(), i);
            assert_eq!(status.label(), *label);
        }
    }

    #[test]
    fn odd_campaigns_are_understood_or_dropped() {
        let body = br#"[
            {"id":"7","name":"seven","status":"ACTIVE","client_id":"12"},
            {"id":7,"name":"again"},
            {"name":"no id"},
            {"id":-3},
            "text",
            {"id":8,"name":null,"status":null,"client_id":"","parent_campaign_id":"x"},
            {"id":9,"name":123,"status":7,"client_id":{"a":1}}
        ]"#;
        let list = list(body).unwrap();
        let ids: Vec<u64> = list.campaigns.iter().map(|c| c.id).collect();
        assert_eq!(ids, [7, 8, 9]);
        assert_eq!(list.campaigns[0].client_id, Some(12));
        assert_eq!(list.campaigns[1].name, "");
        assert_eq!(list.campaigns[1].status, CampaignStatus::Other("".into()));
        assert_eq!(list.campaigns[1].client_id, None);
        assert_eq!(list.campaigns[2].name, "123");
        assert_eq!(list.campaigns[2].status.as_upper(), "7");
        let odd = &list.oddities;
        assert_eq!(odd.duplicates, 1);
        assert_eq!(odd.dropped, 3);
        assert_eq!(odd.unreadable_values, 2, "{odd:?}");
        assert_eq!(
            odd.drop_reason.as_deref(),
            Some("element 2: missing field `id`")
        );
    }

    #[test]
    fn refuses_what_is_not_a_campaign_list() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "empty"),
            (b"<html>524</html>", "HTML"),
            (br#"{"message":"Invalid API Key"}"#, "\"Invalid API Key\""),
            (b"[1,2]", "none of its 2 elements is a campaign"),
            (b"[{\"id\":1}", "EOF"),
            (b"\"[]\"", "invalid type"),
        ];
        for (body, expected) in cases {
            let err = list(body).expect_err(&String::from_utf8_lossy(body));
            assert!(
                err.to_string().contains(expected),
                "{:?}: {err}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(list(b" [ ] ").unwrap().campaigns.is_empty());
    }

    #[test]
    fn real_analytics_parse_counters_given_as_strings() {
        let a = analytics(ANALYTICS.as_bytes()).unwrap().unwrap();
        assert_eq!(a.id, 1_204_587);
        assert_eq!(a.status, Some(CampaignStatus::Active));
        assert_eq!(a.client_id, None);
        let events: Vec<Option<u64>> = Event::ALL.iter().map(|&e| a.event(e)).collect();
        assert_eq!(
            events,
            [
                Some(5120),
                Some(0),
                Some(31),
                Some(142),
                Some(87),
                Some(12),
                Some(3)
            ]
        );
        let unique: Vec<Option<u64>> = UniqueEvent::ALL.iter().map(|&e| a.unique(e)).collect();
        assert_eq!(unique, [Some(2300), Some(1210), Some(25)]);
        let leads: Vec<Option<u64>> = LeadState::ALL.iter().map(|&s| a.leads(s)).collect();
        assert_eq!(
            leads,
            [
                Some(700),
                Some(1450),
                Some(780),
                Some(40),
                Some(20),
                Some(10)
            ]
        );
        assert_eq!(a.total_leads, Some(3000));
        assert_eq!(
            leads.iter().flatten().sum::<u64>(),
            a.total_leads.unwrap(),
            "the six states sum to the total"
        );
        assert_eq!(a.interested, Some(38));
        assert!(!a.oddities.any(), "{:?}", a.oddities);
    }

    #[test]
    fn a_deleted_campaign_is_none_not_a_failure() {
        for body in [
            &b""[..],
            b"  \n",
            b"{}",
            b"null",
            br#"{"name":"x"}"#,
            br#"{"id":null}"#,
            br#"{"id":"abc","sent_count":"4"}"#,
        ] {
            assert_eq!(
                analytics(body),
                Ok(None),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn odd_analytics_values_are_absent_and_counted() {
        let a = analytics(
            br#"{"id":5,"sent_count":null,"open_count":"n/a","reply_count":"3",
                 "campaign_lead_stats":{"inProgress":"2","not_started":1,"total":"x"},
                 "status":"paused","client_id":"77"}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(a.event(Event::Sent), None);
        assert_eq!(a.event(Event::Opened), None);
        assert_eq!(a.event(Event::Replied), Some(3));
        assert_eq!(a.leads(LeadState::InProgress), Some(2));
        assert_eq!(a.leads(LeadState::NotStarted), Some(1));
        assert_eq!(a.total_leads, None);
        assert_eq!(a.status, Some(CampaignStatus::Paused));
        assert_eq!(a.client_id, Some(77));
        assert_eq!(a.oddities.unreadable_values, 2);
        let b = analytics(br#"{"id":5,"campaign_lead_stats":[1,2]}"#)
            .unwrap()
            .unwrap();
        assert_eq!(b.oddities.unreadable_values, 1);
        assert_eq!(b.status, None);
    }

    #[test]
    fn refuses_analytics_that_are_not_an_object() {
        for (body, expected) in [
            (&b"<html></html>"[..], "HTML"),
            (b"[]", "got a JSON array"),
            (b"42", "got a number"),
            (b"\"x\"", "got a string"),
            (b"{\"id\":1,", "EOF"),
        ] {
            let err = analytics(body).unwrap_err();
            assert!(err.to_string().contains(expected), "{err}");
        }
    }

    #[test]
    fn the_key_is_redacted_from_names_statuses_and_messages() {
        let key = "canary-7f3a9c-do-not-leak";
        let redactor = Redactor::new(&ApiKey::new(key).unwrap());
        let body = format!(r#"[{{"id":1,"name":"n {key}","status":"s {key}"}}]"#);
        let list = parse_list(body.as_bytes(), &redactor).unwrap();
        assert_eq!(list.campaigns[0].name, "n [redacted]");
        assert_eq!(list.campaigns[0].status.as_upper(), "S [REDACTED]");
        let err = parse_list(format!("<b>{key}</b>").as_bytes(), &redactor).unwrap_err();
        assert!(!err.to_string().contains("canary"), "{err}");
        let err = parse_analytics(format!("<b>{key}</b>").as_bytes(), &redactor).unwrap_err();
        assert!(!err.to_string().contains("canary"), "{err}");
    }

    mod properties {
        use super::*;
        use crate::smartlead::json::tests::json;
        use proptest::collection::vec;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..2048)) {
                let _ = list(&bytes);
                let _ = analytics(&bytes);
            }

            #[test]
            fn arbitrary_json_never_panics(value in json()) {
                let text = value.to_string();
                if let Ok(list) = list(text.as_bytes()) {
                    let mut ids: Vec<u64> = list.campaigns.iter().map(|c| c.id).collect();
                    ids.sort_unstable();
                    ids.dedup();
                    prop_assert_eq!(ids.len(), list.campaigns.len());
                }
                let _ = analytics(text.as_bytes());
            }

            #[test]
            fn arrays_of_near_campaigns_never_panic(items in vec(json(), 0..16)) {
                let _ = list(serde_json::Value::Array(items).to_string().as_bytes());
            }

            #[test]
            fn counters_round_trip_as_numbers_or_strings(
                counts in vec((any::<u64>(), any::<bool>()), 16)
            ) {
                let keys = [
                    "sent_count", "open_count", "click_count", "reply_count", "bounce_count",
                    "unsubscribed_count", "block_count", "unique_sent_count",
                    "unique_open_count", "unique_click_count",
                ];
                let value = |(n, as_text): (u64, bool)| {
                    if as_text { serde_json::Value::from(n.to_string()) } else { serde_json::Value::from(n) }
                };
                let mut object = serde_json::Map::new();
                object.insert("id".into(), serde_json::Value::from(1));
                for (key, count) in keys.iter().zip(&counts) {
                    object.insert((*key).into(), value(*count));
                }
                let stat_keys = ["notStarted", "inprogress", "completed", "paused", "stopped", "blocked"];
                let stats: serde_json::Map<String, serde_json::Value> = stat_keys
                    .iter()
                    .zip(&counts[keys.len()..])
                    .map(|(k, c)| ((*k).to_owned(), value(*c)))
                    .collect();
                object.insert("campaign_lead_stats".into(), stats.into());
                let body = serde_json::Value::Object(object).to_string();
                let a = analytics(body.as_bytes()).unwrap().unwrap();
                let got: Vec<Option<u64>> = a.events.iter()
                    .chain(&a.unique)
                    .chain(&a.leads)
                    .copied()
                    .collect();
                let want: Vec<Option<u64>> = counts.iter().map(|c| Some(c.0)).collect();
                prop_assert_eq!(got, want);
            }
        }
    }
}
