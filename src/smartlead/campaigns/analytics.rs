//! One campaign's lifetime analytics: `GET /campaigns/{id}/analytics`, its model
//! [`CampaignAnalytics`] with the label vocabularies [`Event`], [`UniqueEvent`] and
//! [`LeadState`], and the lenient parser [`parse_analytics`].

use serde::de::MapAccess;

use super::{read_name, read_status, CampaignStatus};
use crate::smartlead::json::{
    count_of, id_of, optional_id_of, read, skip, unreadable_json, DecodeError, Element, Field,
    Oddities, Quoting, Record,
};
use crate::smartlead::key::Redactor;
use crate::smartlead::text::quote;

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
    /// The display name, cut to
    /// [`MAX_NAME_BYTES`](crate::smartlead::text::MAX_NAME_BYTES); empty when absent.
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
pub(crate) fn parse_analytics(
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

    fn analytics(body: &[u8]) -> Result<Option<CampaignAnalytics>, DecodeError> {
        parse_analytics(body, &Redactor::default())
    }

    /// One campaign's analytics in the shape real clients read: counters as strings.
    const ANALYTICS: &str = include_str!("../../../tests/fixtures/campaign-analytics.json");

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
        assert_eq!(a.oddities, crate::smartlead::Oddities::default());
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
    fn the_key_is_redacted_from_messages() {
        let key = "canary-7f3a9c-do-not-leak";
        let redactor = Redactor::new(&ApiKey::new(key).unwrap());
        let err = parse_analytics(format!("<b>{key}</b>").as_bytes(), &redactor).unwrap_err();
        assert!(!err.to_string().contains("canary"), "{err}");
        let named = format!(r#"{{"id":1,"name":"n {key}"}}"#);
        let a = parse_analytics(named.as_bytes(), &redactor)
            .unwrap()
            .unwrap();
        assert_eq!(a.name, "n [redacted]");
    }

    mod properties {
        use super::*;
        use crate::smartlead::json::tests::json;
        use proptest::collection::vec;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..2048)) {
                let _ = analytics(&bytes);
            }

            #[test]
            fn arbitrary_json_never_panics(value in json()) {
                let _ = analytics(value.to_string().as_bytes());
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
