//! The lead-categories response: [`Category`], [`Sentiment`], [`Origin`], and the lenient,
//! linear-time parser [`parse`].
//!
//! What SmartLead really sends differs from its reference page (see `README.md`, "What the
//! exporter expects from SmartLead"): `sentiment_type` is often `null` or absent, ids sometimes
//! arrive as strings of digits, and unknown fields come and go. The parser is lenient field by
//! field: an odd value is understood where it can be (a number as a name) or dropped and
//! counted, so that the collector warns once, and the rest of the category is kept. It refuses,
//! with a message that says what it saw, only an answer that is not a list of categories.
//!
//! Upstream text quoted in a message goes through one path, [`excerpt`]: the API key is
//! redacted from the whole text first, and only then is the text cut.
//!
//! [`excerpt`]: super::text::excerpt

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde::de::MapAccess;

pub(crate) use super::json::DecodeError;
use super::json::{read, read_array, skip, text_of, Element, Field, Oddities, Quoting, Record};
use super::key::{Redactor, TextEnd};
use super::text::{self, excerpt, MAX_NAME_BYTES};

/// At most this many distinct unrecognised `sentiment_type` values are reported per response,
/// so that a hostile answer cannot make the warning set grow with its size.
pub(crate) const MAX_UNKNOWN_SENTIMENTS: usize = 16;

/// A category name is cut to this many bytes (on a character boundary): the name becomes a
/// label value on every scrape, and Prometheus has no use for a longer one.
pub(crate) const MAX_CATEGORY_NAME_BYTES: usize = MAX_NAME_BYTES;

/// A category's sentiment, as exported in the `sentiment` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sentiment {
    /// `"positive"`, in any case.
    Positive,
    /// `"negative"`, in any case.
    Negative,
    /// `"neutral"`, in any case (documented, never seen live).
    Neutral,
    /// `null` or absent: SmartLead's Out Of Office, for one.
    None,
    /// Any other value; warned about once per distinct value.
    Other,
}

impl Sentiment {
    /// Every value, in exposition order.
    pub const ALL: [Self; 5] = [
        Self::Positive,
        Self::Negative,
        Self::Neutral,
        Self::None,
        Self::Other,
    ];

    /// Classifies a raw `sentiment_type`, ignoring case and surrounding whitespace.
    pub fn classify(raw: Option<&str>) -> Self {
        let Some(raw) = raw else { return Self::None };
        let raw = raw.trim();
        if raw.eq_ignore_ascii_case("positive") {
            Self::Positive
        } else if raw.eq_ignore_ascii_case("negative") {
            Self::Negative
        } else if raw.eq_ignore_ascii_case("neutral") {
            Self::Neutral
        } else {
            Self::Other
        }
    }

    /// Classifies a `sentiment_type` as it arrives: `null` is [`Sentiment::None`], a string
    /// is classified, any other value is [`Sentiment::Other`].
    pub(crate) fn of_field(field: &Field<'_>) -> Self {
        match field {
            Field::Null => Self::None,
            Field::Text(text) => Self::classify(Some(text)),
            _ => Self::Other,
        }
    }

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Positive => "positive",
            Self::Negative => "negative",
            Self::Neutral => "neutral",
            Self::None => "none",
            Self::Other => "other",
        }
    }

    /// Position in [`Sentiment::ALL`], for counting into arrays.
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Whether a category is one of SmartLead's global ones or the user's own.
///
/// SmartLead does not say; global categories have low ids, so the id decides, with the cut-off
/// set by `--categories.global-max-id`. It is a heuristic: SmartLead added globals 8 and 9
/// after user-created id 1451 existed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Origin {
    /// Shared by every SmartLead user.
    Global,
    /// Created by this account.
    User,
}

impl Origin {
    /// Every value, in exposition order.
    pub(crate) const ALL: [Self; 2] = [Self::Global, Self::User];

    /// Ids up to `global_max_id` are global, larger ones are the user's.
    pub(crate) const fn of(id: u64, global_max_id: u64) -> Self {
        if id <= global_max_id {
            Self::Global
        } else {
            Self::User
        }
    }

    /// The label value.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::User => "user",
        }
    }

    /// Position in [`Origin::ALL`], for counting into arrays.
    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

/// One lead category.
#[derive(Debug, Clone, PartialEq)]
pub struct Category {
    /// SmartLead's id; unique within a response (duplicates are dropped).
    pub id: u64,
    /// The display name, exported as a label of `smartlead_category_info`.
    pub name: String,
    /// The classified `sentiment_type`.
    pub sentiment: Sentiment,
    /// `created_at` as Unix seconds, when present and readable as RFC 3339.
    pub created_unix: Option<f64>,
}

/// A parsed response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    /// Sorted by id, each id once (the first occurrence wins).
    pub categories: Vec<Category>,
    /// Distinct unrecognised `sentiment_type` values (a non-string one as `<a number>` and
    /// the like), redacted and quoted, at most [`MAX_UNKNOWN_SENTIMENTS`].
    pub unknown_sentiments: BTreeSet<String>,
    /// What was odd: elements that are not objects or have no usable id are dropped, repeated
    /// ids are counted once, names are cut to [`MAX_CATEGORY_NAME_BYTES`].
    pub oddities: Oddities,
    /// How many `created_at` values were present but not RFC 3339 timestamps (a number, an
    /// object, an unreadable string): their categories are kept without a timestamp.
    pub unreadable_timestamps: usize,
    /// How many categories had no readable `name` (absent, null, a bool, an object): they are
    /// kept with an empty name.
    pub unreadable_names: usize,
}

/// Parses the body of `GET /leads/fetch-categories`; `redactor` hides the key in everything
/// taken from the body (messages, names, sentiments).
///
/// Each element should have an integer `id` (a JSON number, or a string of digits) and a
/// string `name`; `sentiment_type` and `created_at` may be strings, `null` or absent; other
/// fields are ignored. Field by field, odd values are lenient: a numeric `name` is its text, a
/// name that is not text is empty, a `sentiment_type` that is not text is `other`, a
/// `created_at` that is not a timestamp only loses the timestamp; each is counted in the
/// [`Catalog`]. An element that is not an object, or has no usable id, cannot be a category:
/// it is dropped and counted. Only when a non-empty list holds no category at all is the answer
/// refused, as it is then not a list of categories. Runs in time linear in the body and never
/// panics.
///
/// # Errors
/// A [`DecodeError`] that says what was found instead: HTML, an object (with its error message
/// when it has one), truncated JSON, something other than a list, a list with no category,
/// invalid UTF-8.
pub fn parse(body: &[u8], redactor: &Redactor) -> Result<Catalog, DecodeError> {
    let mut catalog = Catalog::default();
    read_array(
        body,
        "categories",
        Quoting::RedactedOrStart(redactor),
        |index, element| add(&mut catalog, redactor, index, element),
    )?;
    catalog
        .oddities
        .none_kept(catalog.categories.len(), "a category")?;
    // SmartLead sorts by id already; a stable sort is linear on sorted input and keeps the
    // first of equal ids.
    catalog.categories.sort_by_key(|c| c.id);
    let before = catalog.categories.len();
    catalog.categories.dedup_by_key(|c| c.id);
    catalog.oddities.duplicates = before - catalog.categories.len();
    Ok(catalog)
}

/// One element of the list as it arrives: the four fields that matter, whatever their types.
#[derive(Default)]
struct Entry<'a> {
    id: Option<Field<'a>>,
    name: Option<Field<'a>>,
    sentiment_type: Option<Field<'a>>,
    created_at: Option<Field<'a>>,
}

impl<'de> Record<'de> for Entry<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "id" => read(map, &mut self.id),
            "name" => read(map, &mut self.name),
            "sentiment_type" => read(map, &mut self.sentiment_type),
            "created_at" => read(map, &mut self.created_at),
            _ => skip(map),
        }
    }
}

/// Adds one element, leniently, counting what was odd about it.
fn add(catalog: &mut Catalog, redactor: &Redactor, index: usize, element: Element<Entry<'_>>) {
    let odd = &mut catalog.oddities;
    let Some(entry) = odd.record(index, element, "a category object") else {
        return;
    };
    let Some(id) = odd.id(index, entry.id.as_ref()) else {
        return;
    };
    let name = match text_of(entry.name) {
        Ok(Some(name)) => name,
        _ => {
            catalog.unreadable_names += 1;
            Cow::Borrowed("")
        }
    };
    let (name, cut) = text::name(name, redactor, MAX_CATEGORY_NAME_BYTES);
    if cut {
        odd.truncated_names += 1;
    }
    let sentiment = entry
        .sentiment_type
        .as_ref()
        .map_or(Sentiment::None, Sentiment::of_field);
    if sentiment == Sentiment::Other {
        note_unknown_sentiment(
            &mut catalog.unknown_sentiments,
            entry.sentiment_type.as_ref(),
            redactor,
        );
    }
    let created_unix = match &entry.created_at {
        None | Some(Field::Null) => None,
        Some(field) => {
            let parsed = match field {
                Field::Text(text) => rfc3339_seconds(text),
                _ => None,
            };
            if parsed.is_none() {
                catalog.unreadable_timestamps += 1;
            }
            parsed
        }
    };
    catalog.categories.push(Category {
        id,
        name,
        sentiment,
        created_unix,
    });
}

/// Remembers an unrecognised `sentiment_type` for the warning, at most
/// [`MAX_UNKNOWN_SENTIMENTS`] distinct ones: a string quoted, with the key redacted (when the
/// key is long enough to be told apart from data), anything else by its kind (`<a number>`).
pub(crate) fn note_unknown_sentiment(
    unknown: &mut BTreeSet<String>,
    sentiment_type: Option<&Field<'_>>,
    redactor: &Redactor,
) {
    if unknown.len() >= MAX_UNKNOWN_SENTIMENTS {
        return;
    }
    let shown = match sentiment_type {
        Some(Field::Text(text)) if redactor.key_len() >= text::MIN_KEY_BYTES_HIDDEN_IN_DATA => {
            excerpt(text, redactor, TextEnd::Complete)
        }
        Some(Field::Text(text)) => excerpt(text, &Redactor::default(), TextEnd::Complete),
        Some(other) => format!("<{}>", other.kind()),
        None => String::new(),
    };
    unknown.insert(shown);
}

/// `created_at` (`2024-01-15T10:30:00.000Z`) as Unix seconds.
fn rfc3339_seconds(text: &str) -> Option<f64> {
    let time = humantime::parse_rfc3339_weak(text.trim()).ok()?;
    let since = time.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(since.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smartlead::key::ApiKey;
    use crate::smartlead::text::{MAX_QUOTED_BYTES, QUOTE_WINDOW_BYTES};

    /// Parses with no key to hide.
    fn parse(body: &[u8]) -> Result<Catalog, DecodeError> {
        super::parse(body, &Redactor::default())
    }

    /// The message of an error body, with no key to hide.
    fn error_message(body: &[u8]) -> Option<String> {
        text::error_message(body, &Redactor::default())
    }

    /// The example response from SmartLead's reference page, verbatim.
    const SEED_EXAMPLE: &str = include_str!("../../tests/fixtures/seed-example.json");

    #[test]
    fn seed_example_parses_verbatim() {
        let catalog = parse(SEED_EXAMPLE.as_bytes()).unwrap();
        let ids: Vec<u64> = catalog.categories.iter().map(|c| c.id).collect();
        assert_eq!(ids, [1, 2, 3, 789]);
        assert_eq!(catalog.categories[1].name, "Not Interested");
        assert_eq!(catalog.categories[0].sentiment, Sentiment::Positive);
        assert_eq!(catalog.categories[1].sentiment, Sentiment::Negative);
        assert_eq!(catalog.categories[3].sentiment, Sentiment::Neutral);
        assert_eq!(catalog.categories[0].created_unix, Some(1_705_314_600.0));
        assert_eq!(catalog.categories[3].created_unix, Some(1_763_648_520.0));
        assert_eq!(catalog.oddities.duplicates, 0);
        assert!(catalog.unknown_sentiments.is_empty());
    }

    #[test]
    fn null_and_missing_sentiments_are_none() {
        let body = br#"[{"id":6,"name":"Out Of Office","sentiment_type":null,"created_at":"2022-08-30T10:00:00.000Z"},
                        {"id":7,"name":"Wrong Person"}]"#;
        let catalog = parse(body).unwrap();
        assert_eq!(catalog.categories[0].sentiment, Sentiment::None);
        assert_eq!(catalog.categories[1].sentiment, Sentiment::None);
        assert_eq!(catalog.categories[1].created_unix, None);
        assert_eq!(catalog.unreadable_timestamps, 0);
    }

    #[test]
    fn sentiments_are_case_insensitive_and_unknown_ones_are_reported() {
        let body = br#"[{"id":1,"name":"a","sentiment_type":"POSITIVE"},
                        {"id":2,"name":"b","sentiment_type":" Negative "},
                        {"id":3,"name":"c","sentiment_type":"mixed"},
                        {"id":4,"name":"d","sentiment_type":"mixed"},
                        {"id":5,"name":"e","sentiment_type":""}]"#;
        let catalog = parse(body).unwrap();
        let sentiments: Vec<Sentiment> = catalog.categories.iter().map(|c| c.sentiment).collect();
        assert_eq!(
            sentiments,
            [
                Sentiment::Positive,
                Sentiment::Negative,
                Sentiment::Other,
                Sentiment::Other,
                Sentiment::Other
            ]
        );
        let unknown: Vec<&str> = catalog
            .unknown_sentiments
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(unknown, ["", "mixed"]);
    }

    #[test]
    fn string_ids_unknown_fields_and_duplicates() {
        let body = br#"[{"id":"1451","name":"Referral","extra":{"nested":[1,2]},"sentiment_type":"positive"},
                        {"id":9,"name":"Sender Originated Bounce","created_at":null},
                        {"id":1451,"name":"Referral again"}]"#;
        let catalog = parse(body).unwrap();
        let ids: Vec<u64> = catalog.categories.iter().map(|c| c.id).collect();
        assert_eq!(ids, [9, 1451]);
        assert_eq!(catalog.categories[1].name, "Referral");
        assert_eq!(catalog.oddities.duplicates, 1);
    }

    #[test]
    fn escaped_names_are_unescaped() {
        let catalog = parse(br#"[{"id":1,"name":"Say \"hi\"\n\u00e9"}]"#).unwrap();
        assert_eq!(catalog.categories[0].name, "Say \"hi\"\né");
    }

    #[test]
    fn unreadable_created_at_is_dropped_not_fatal() {
        let catalog = parse(br#"[{"id":1,"name":"a","created_at":"yesterday"}]"#).unwrap();
        assert_eq!(catalog.categories[0].created_unix, None);
        assert_eq!(catalog.unreadable_timestamps, 1);
    }

    #[test]
    fn empty_array_is_a_valid_empty_catalog() {
        assert_eq!(parse(b" [] ").unwrap().categories.len(), 0);
    }

    #[test]
    fn refuses_what_is_not_a_category_list() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "empty"),
            (b"<html><body>502 Bad Gateway</body></html>", "HTML"),
            (br#"{"error": "Invalid API Key"}"#, "\"Invalid API Key\""),
            (br#"{"message": "nope"}"#, "\"nope\""),
            (br#"[{"id":1,"name":"a"}"#, "EOF"),
            (br#"[{"id":1.5,"name":"a"}]"#, "integer id"),
            (br#"[{"id":-1,"name":"a"}]"#, "integer id"),
            (br#"[{"id":"12a","name":"a"}]"#, "integer id"),
            (br#"[{"id":"","name":"a"}]"#, "integer id"),
            (
                br#"[{"id":"99999999999999999999","name":"a"}]"#,
                "integer id",
            ),
            (br#"[{"name":"a"}]"#, "missing field `id`"),
            (br#"[1,2]"#, "invalid type"),
            (br#"[{"id":{"a":1},"name":["x"]}]"#, "integer id"),
            (b"[{\"id\":1,\"name\":\"\xff\xfe\"}]", "invalid unicode"),
            (b"null", "invalid type"),
            (b"\"[]\"", "invalid type"),
        ];
        for (body, expected) in cases {
            let err = parse(body).expect_err(&String::from_utf8_lossy(body));
            assert!(
                err.to_string().contains(expected),
                "{:?}: {err}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn odd_fields_are_understood_or_dropped_one_by_one() {
        let body = br#"[
            {"id":1,"name":7,"sentiment_type":3,"created_at":1705314600},
            {"id":2,"name":"b","sentiment_type":{"x":1},"created_at":{"t":1}},
            {"id":3,"name":null,"sentiment_type":true,"created_at":false},
            {"id":4,"sentiment_type":[1],"created_at":[]},
            {"id":5.0,"name":-2.5,"sentiment_type":"positive","created_at":"2024-01-15T10:30:00Z"},
            {"id":6,"name":"f","id":7},
            "not an object",
            {"id":-1,"name":"negative id"},
            {"name":"no id"}
        ]"#;
        let catalog = parse(body).unwrap();
        let ids: Vec<u64> = catalog.categories.iter().map(|c| c.id).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5, 7]);
        let names: Vec<&str> = catalog.categories.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["7", "b", "", "", "-2.5", "f"]);
        let sentiments: Vec<Sentiment> = catalog.categories.iter().map(|c| c.sentiment).collect();
        use Sentiment::{None as Absent, Other, Positive};
        assert_eq!(sentiments, [Other, Other, Other, Other, Positive, Absent]);
        let unknown: Vec<&str> = catalog
            .unknown_sentiments
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(
            unknown,
            ["<a bool>", "<a number>", "<an array>", "<an object>"]
        );
        let times: Vec<Option<f64>> = catalog.categories.iter().map(|c| c.created_unix).collect();
        assert_eq!(times, [None, None, None, None, Some(1_705_314_600.0), None]);
        assert_eq!(catalog.unreadable_timestamps, 4);
        assert_eq!(catalog.unreadable_names, 2);
        assert_eq!(catalog.oddities.dropped, 3);
        assert_eq!(
            catalog.oddities.drop_reason.as_deref(),
            Some("element 6: invalid type: a string, expected a category object")
        );
    }

    #[test]
    fn long_names_are_cut_on_a_character_boundary() {
        // 'é' is two bytes: 1,023 bytes of 'a' then 'é' would straddle the limit.
        let name = format!(
            "{}é{}",
            "a".repeat(MAX_CATEGORY_NAME_BYTES - 1),
            "b".repeat(10_000)
        );
        let body = format!(r#"[{{"id":1,"name":"{name}"}},{{"id":2,"name":"short"}}]"#);
        let catalog = parse(body.as_bytes()).unwrap();
        assert_eq!(
            catalog.categories[0].name,
            "a".repeat(MAX_CATEGORY_NAME_BYTES - 1)
        );
        assert_eq!(catalog.categories[1].name, "short");
        assert_eq!(catalog.oddities.truncated_names, 1);
        let exact = "x".repeat(MAX_CATEGORY_NAME_BYTES);
        let catalog = parse(format!(r#"[{{"id":1,"name":"{exact}"}}]"#).as_bytes()).unwrap();
        assert_eq!(catalog.categories[0].name, exact);
        assert_eq!(catalog.oddities.truncated_names, 0);
    }

    const KEY: &str = "canary-7f3a9c-do-not-leak";

    fn redactor() -> Redactor {
        Redactor::new(&ApiKey::new(KEY).unwrap())
    }

    /// No part of the key that gives anything away: its first 8 characters, in any case.
    fn assert_no_key(text: &str) {
        let lower = text.to_ascii_lowercase();
        for needle in ["canary-7", "canary%2d7", "canary\\u002d7"] {
            assert!(!lower.contains(needle), "{needle} in {text:?}");
        }
    }

    #[test]
    fn a_key_straddling_the_quote_cut_is_redacted_first() {
        for start in [100, 110, MAX_QUOTED_BYTES - 5, MAX_QUOTED_BYTES - 1] {
            for key in [
                KEY.to_owned(),
                KEY.replace('-', "%2d"),
                KEY.replace('-', "%2D"),
            ] {
                let text = format!("{}{key} trailing text", "x".repeat(start));
                let message = text::error_message(text.as_bytes(), &redactor()).unwrap();
                assert_no_key(&message);
                assert!(message.starts_with(&"x".repeat(start)), "{message}");
                let json = format!(r#"{{"message": "{}{key}"}}"#, "y".repeat(start));
                let message = text::error_message(json.as_bytes(), &redactor()).unwrap();
                assert_no_key(&message);
                let html = format!("<html>{}{key}</html>", "z".repeat(start));
                let err = super::parse(html.as_bytes(), &redactor()).unwrap_err();
                assert_no_key(&err.to_string());
            }
        }
    }

    #[test]
    fn a_key_split_by_control_characters_is_still_redacted() {
        let text = "bad key canary-7f3a\u{1}9c-do-not-\u{7f}leak";
        let message = text::error_message(text.as_bytes(), &redactor()).unwrap();
        assert_eq!(message, "bad key [redacted]");
    }

    #[test]
    fn a_key_at_the_end_of_a_long_body_cut_is_dropped() {
        let text = format!("{}{KEY}", "w".repeat(QUOTE_WINDOW_BYTES - 10));
        let message = text::error_message(text.as_bytes(), &redactor()).unwrap();
        assert_no_key(&message);
        assert_eq!(message.chars().count(), MAX_QUOTED_BYTES);
        // A long string the parser's own message would quote whole is cut too.
        let body = format!("\"{}{KEY}\"", "v".repeat(100));
        let err = super::parse(body.as_bytes(), &redactor()).unwrap_err();
        assert_no_key(&err.to_string());
        assert!(err.to_string().len() < 600, "{err}");
    }

    #[test]
    fn keys_in_names_and_sentiments_are_redacted() {
        let body = format!(
            r#"[{{"id":1,"name":"{}{KEY}","sentiment_type":"odd {}"}}]"#,
            "n".repeat(MAX_CATEGORY_NAME_BYTES - 20),
            KEY.replace('-', "%2d")
        );
        let catalog = super::parse(body.as_bytes(), &redactor()).unwrap();
        assert_no_key(&catalog.categories[0].name);
        // Raw, the name is over the limit; redacted first, it is under, and nothing is cut.
        assert!(catalog.categories[0].name.ends_with("nnnnn[redacted]"));
        assert_eq!(catalog.oddities.truncated_names, 0);
        let unknown: Vec<&String> = catalog.unknown_sentiments.iter().collect();
        assert_eq!(unknown, ["odd [redacted]"]);

        // A short (test) key leaves names alone.
        let short = Redactor::new(&ApiKey::new("k").unwrap());
        let catalog = super::parse(br#"[{"id":1,"name":"Meeting Booked"}]"#, &short).unwrap();
        assert_eq!(catalog.categories[0].name, "Meeting Booked");
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let mut body = b"[{\"id\":1,\"name\":\"a\",\"x\":".to_vec();
        body.extend(std::iter::repeat_n(b'[', 100_000));
        assert!(parse(&body).is_err());
    }

    #[test]
    fn error_messages_are_found_in_every_documented_shape() {
        assert_eq!(
            error_message(br#"{"message": "Invalid API Key"}"#).as_deref(),
            Some("Invalid API Key")
        );
        assert_eq!(
            error_message(br#"{"error": {"code": 401, "message": "Unauthorized"}}"#).as_deref(),
            Some("Unauthorized")
        );
        assert_eq!(
            error_message(br#"{"success": false, "error": "Plan has no API access"}"#).as_deref(),
            Some("Plan has no API access")
        );
        assert_eq!(
            error_message(b"<html>\n<title>520:  Web server\treturned</title>").as_deref(),
            Some("<html> <title>520: Web server returned</title>")
        );
        assert_eq!(error_message(b"  \n"), None);
        let long = "x".repeat(10_000);
        assert_eq!(
            error_message(long.as_bytes()).unwrap().chars().count(),
            MAX_QUOTED_BYTES
        );
    }

    #[test]
    fn origin_follows_the_configured_cut_off() {
        assert_eq!(Origin::of(9, 99), Origin::Global);
        assert_eq!(Origin::of(99, 99), Origin::Global);
        assert_eq!(Origin::of(100, 99), Origin::User);
        assert_eq!(Origin::of(789, 99), Origin::User);
        assert_eq!(Origin::of(789, 1000), Origin::Global);
    }

    mod properties {
        use super::*;
        use crate::smartlead::json::tests::{array_of, assert_linear, json, Shape};
        use proptest::collection::vec;
        use proptest::prelude::*;
        use serde_json::Value;

        fn sentiment() -> impl Strategy<Value = Option<String>> {
            proptest::option::of(prop_oneof![
                Just("positive".to_owned()),
                Just("NEGATIVE".to_owned()),
                Just("neutral".to_owned()),
                ".{0,10}",
            ])
        }

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..2048)) {
                let _ = parse(&bytes);
                let _ = error_message(&bytes);
            }

            #[test]
            fn arbitrary_json_never_panics(value in json()) {
                let text = value.to_string();
                if let Ok(catalog) = parse(text.as_bytes()) {
                    prop_assert!(catalog.categories.windows(2).all(|w| w[0].id < w[1].id));
                    prop_assert!(catalog.unknown_sentiments.len() <= MAX_UNKNOWN_SENTIMENTS);
                    prop_assert!(catalog
                        .categories
                        .iter()
                        .all(|c| c.name.len() <= MAX_CATEGORY_NAME_BYTES));
                }
                let _ = error_message(text.as_bytes());
            }

            #[test]
            fn arrays_of_near_categories_never_panic(items in vec(json(), 0..16)) {
                let _ = parse(Value::Array(items).to_string().as_bytes());
            }

            #[test]
            fn valid_lists_parse_to_sorted_unique_categories(
                items in vec((0u64..500, ".{0,16}", sentiment(), any::<bool>()), 0..40)
            ) {
                let json: Vec<Value> = items
                    .iter()
                    .map(|(id, name, sentiment, id_as_string)| {
                        let id = if *id_as_string { Value::from(id.to_string()) } else { Value::from(*id) };
                        serde_json::json!({"id": id, "name": name, "sentiment_type": sentiment})
                    })
                    .collect();
                let catalog = parse(Value::Array(json).to_string().as_bytes()).unwrap();
                let mut expected: Vec<u64> = items.iter().map(|i| i.0).collect();
                expected.sort_unstable();
                expected.dedup();
                let ids: Vec<u64> = catalog.categories.iter().map(|c| c.id).collect();
                prop_assert_eq!(&ids, &expected);
                prop_assert_eq!(catalog.oddities.duplicates, items.len() - expected.len());
                for category in &catalog.categories {
                    let first = items.iter().find(|i| i.0 == category.id).unwrap();
                    prop_assert_eq!(&category.name, &first.1);
                    prop_assert_eq!(category.sentiment, Sentiment::classify(first.2.as_deref()));
                }
            }
        }

        /// Parse time grows linearly with the body. Each shape is a way to make a naive
        /// parser go quadratic: many elements, duplicates, one long escaped string, nesting in
        /// unknown fields, many unknown sentiments.
        #[test]
        fn parse_time_is_linear_in_the_body() {
            let shapes: [Shape; 5] = [
                ("many categories", |n| {
                    array_of(n, |i| {
                        format!(
                            r#"{{"id":{i},"name":"c{i}","sentiment_type":"positive","created_at":"2024-01-15T10:30:00.000Z"}}"#
                        )
                    })
                }),
                ("duplicates in reverse", |n| {
                    array_of(n, |i| format!(r#"{{"id":{},"name":"d"}}"#, (n - i) % 97))
                }),
                ("one long escaped name", |n| {
                    format!(r#"[{{"id":1,"name":"{}"}}]"#, "\\u00e9\\\"".repeat(n))
                }),
                ("nesting in unknown fields", |n| {
                    array_of(n, |i| {
                        format!(r#"{{"id":{i},"name":"n","x":[[[[{{"y":[1,{{}}]}}]]]]}}"#)
                    })
                }),
                ("many unknown sentiments", |n| {
                    array_of(n, |i| {
                        format!(r#"{{"id":{i},"name":"s","sentiment_type":"odd{i}"}}"#)
                    })
                }),
            ];
            assert_linear(&shapes, 5000, |body| {
                let _ = parse(body);
            });
        }
    }
}
