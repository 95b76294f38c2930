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

use serde::de::MapAccess;

mod analytics;

pub(crate) use analytics::{parse_analytics, CampaignAnalytics};
pub use analytics::{Event, LeadState, UniqueEvent};

use super::json::{
    optional_id_of, read, read_array, skip, text_of, DecodeError, Element, Field, Oddities,
    Quoting, Record,
};
use super::key::{Redactor, TextEnd};
use super::text::{self, excerpt, MAX_NAME_BYTES};

/// A status SmartLead does not document is kept up to this many bytes.
pub(crate) const MAX_STATUS_BYTES: usize = 64;

/// At most this many distinct unknown statuses are reported per answer, so that a hostile
/// answer cannot make the warning set grow with its size.
pub(crate) const MAX_UNKNOWN_STATUSES: usize = 16;

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
pub(crate) fn parse_list(body: &[u8], redactor: &Redactor) -> Result<CampaignList, DecodeError> {
    let mut list = CampaignList::default();
    let mut ids = HashSet::new();
    read_array(
        body,
        "campaigns",
        Quoting::Redacted(redactor),
        |index, element| {
            add_campaign(&mut list, &mut ids, redactor, index, element);
        },
    )?;
    list.oddities
        .none_kept(list.campaigns.len(), "a campaign")?;
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
    let Some(entry) = odd.record(index, element, "a campaign") else {
        return;
    };
    let Some(id) = odd.new_id(index, entry.id.as_ref(), ids) else {
        return;
    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smartlead::key::ApiKey;

    fn list(body: &[u8]) -> Result<CampaignList, DecodeError> {
        parse_list(body, &Redactor::default())
    }

    /// A campaign list in the shape real clients read, with settings objects and a subsequence.
    const LIST: &str = include_str!("../../../tests/fixtures/campaigns.json");

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
        assert_eq!(list.oddities, crate::smartlead::Oddities::default());
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
    fn the_key_is_redacted_from_names_statuses_and_messages() {
        let key = "canary-7f3a9c-do-not-leak";
        let redactor = Redactor::new(&ApiKey::new(key).unwrap());
        let body = format!(r#"[{{"id":1,"name":"n {key}","status":"s {key}"}}]"#);
        let list = parse_list(body.as_bytes(), &redactor).unwrap();
        assert_eq!(list.campaigns[0].name, "n [redacted]");
        assert_eq!(list.campaigns[0].status.as_upper(), "S [REDACTED]");
        let err = parse_list(format!("<b>{key}</b>").as_bytes(), &redactor).unwrap_err();
        assert!(!err.to_string().contains("canary"), "{err}");
    }

    #[test]
    fn parse_time_is_linear_in_the_body() {
        use crate::smartlead::json::tests::{array_of, assert_linear, Shape};
        let shapes: [Shape; 4] = [
            ("many campaigns", |n| {
                array_of(n, |i| {
                    format!(
                        r#"{{"id":{i},"name":"c{i}","status":"ACTIVE","client_id":null,
                        "parent_campaign_id":null,"track_settings":[],
                        "scheduler_cron_value":{{"tz":"UTC","days":[1,2,3]}}}}"#
                    )
                })
            }),
            ("duplicates in reverse", |n| {
                array_of(n, |i| format!(r#"{{"id":{},"name":"d"}}"#, (n - i) % 97))
            }),
            ("one long escaped name", |n| {
                format!(r#"[{{"id":1,"name":"{}"}}]"#, "\\u00e9\\\"".repeat(n))
            }),
            ("many unknown statuses", |n| {
                array_of(n, |i| format!(r#"{{"id":{i},"status":"ODD{i}"}}"#))
            }),
        ];
        assert_linear(&shapes, 2000, |body| {
            let _ = list(body);
        });
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
            }

            #[test]
            fn arrays_of_near_campaigns_never_panic(items in vec(json(), 0..16)) {
                let _ = list(serde_json::Value::Array(items).to_string().as_bytes());
            }
        }
    }
}
