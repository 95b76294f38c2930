//! The lead-categories response: [`Category`], [`Sentiment`], [`Origin`], and the lenient,
//! linear-time parser [`parse`].
//!
//! What SmartLead really sends differs from its reference page (see `README.md`, "What the
//! exporter expects from SmartLead"): `sentiment_type` is often `null` or absent, ids sometimes
//! arrive as strings of digits, and unknown fields come and go. The parser accepts all of that
//! and refuses, with a message that says what it saw, anything that is not a list of
//! categories.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;

/// At most this many distinct unrecognised `sentiment_type` values are reported per response,
/// so that a hostile answer cannot make the warning set grow with its size.
pub const MAX_UNKNOWN_SENTIMENTS: usize = 16;

/// At most this many bytes of a refused body are quoted in an error message.
pub const MAX_QUOTED_BYTES: usize = 120;

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
pub enum Origin {
    /// Shared by every SmartLead user.
    Global,
    /// Created by this account.
    User,
}

impl Origin {
    /// Every value, in exposition order.
    pub const ALL: [Self; 2] = [Self::Global, Self::User];

    /// Ids up to `global_max_id` are global, larger ones are the user's.
    pub const fn of(id: u64, global_max_id: u64) -> Self {
        if id <= global_max_id {
            Self::Global
        } else {
            Self::User
        }
    }

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::User => "user",
        }
    }

    /// Position in [`Origin::ALL`], for counting into arrays.
    pub const fn index(self) -> usize {
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
    /// Distinct unrecognised `sentiment_type` values, at most [`MAX_UNKNOWN_SENTIMENTS`].
    pub unknown_sentiments: BTreeSet<String>,
    /// How many elements repeated an id seen before in the same response.
    pub duplicates: usize,
    /// How many `created_at` strings were present but not readable as RFC 3339 timestamps.
    pub unreadable_timestamps: usize,
}

/// Why a body is not a category list. The message quotes at most [`MAX_QUOTED_BYTES`] of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(String);

/// Parses the body of `GET /leads/fetch-categories`.
///
/// Each element must have an integer `id` (a JSON number, or a string of digits) and a string
/// `name`; `sentiment_type` and `created_at` may be strings, `null` or absent; other fields are
/// ignored. Runs in time linear in the body and never panics.
///
/// # Errors
/// A [`DecodeError`] that says what was found instead: HTML, an object (with its error message
/// when it has one), truncated JSON, a wrong type, invalid UTF-8.
pub fn parse(body: &[u8]) -> Result<Catalog, DecodeError> {
    let first = body.iter().copied().find(|b| !b.is_ascii_whitespace());
    match first {
        None => return Err(DecodeError("the body is empty".into())),
        Some(b'<') => {
            return Err(DecodeError(format!(
                "expected a JSON array of categories, got HTML or XML: {}",
                quote(body)
            )))
        }
        Some(b'{') => {
            let detail = error_message(body)
                .map(|m| format!(" with message {m:?}"))
                .unwrap_or_default();
            return Err(DecodeError(format!(
                "expected a JSON array of categories, got a JSON object{detail}"
            )));
        }
        Some(_) => {}
    }
    let list: CategoryList = serde_json::from_slice(body).map_err(|e| {
        DecodeError(format!(
            "the body is not a list of categories: {e} (body starts {})",
            quote(body)
        ))
    })?;
    let mut catalog = list.0;
    // SmartLead sorts by id already; a stable sort is linear on sorted input and keeps the
    // first of equal ids.
    catalog.categories.sort_by_key(|c| c.id);
    let before = catalog.categories.len();
    catalog.categories.dedup_by_key(|c| c.id);
    catalog.duplicates = before - catalog.categories.len();
    Ok(catalog)
}

/// Extracts a human-readable message from an error body, leniently: a JSON `message`,
/// `error` (string) or `error.message`, or else the first bytes of the text.
pub fn error_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Nested<'a> {
        #[serde(borrow, default)]
        message: Option<Cow<'a, str>>,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ErrorField<'a> {
        Text(#[serde(borrow)] Cow<'a, str>),
        Object(#[serde(borrow)] Nested<'a>),
        Other(IgnoredAny),
    }
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow, default)]
        message: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        error: Option<ErrorField<'a>>,
    }
    if let Ok(envelope) = serde_json::from_slice::<Envelope<'_>>(body) {
        let found = envelope.message.or(match envelope.error {
            Some(ErrorField::Text(text)) => Some(text),
            Some(ErrorField::Object(nested)) => nested.message,
            _ => None,
        });
        if let Some(message) = found {
            return Some(clean(&message));
        }
    }
    let text = clean(&String::from_utf8_lossy(
        &body[..body.len().min(MAX_QUOTED_BYTES)],
    ));
    (!text.is_empty()).then_some(text)
}

/// The first bytes of a body, as printable text for a log line.
fn quote(body: &[u8]) -> String {
    let head = &body[..body.len().min(MAX_QUOTED_BYTES)];
    let mut text = format!("{:?}", clean(&String::from_utf8_lossy(head)));
    if body.len() > MAX_QUOTED_BYTES {
        text.push('…');
    }
    text
}

/// Collapses whitespace and drops control characters, bounded to [`MAX_QUOTED_BYTES`] chars.
fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_QUOTED_BYTES));
    for word in text.split_whitespace().take(MAX_QUOTED_BYTES) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().filter(|c| !c.is_control()));
        if out.chars().count() >= MAX_QUOTED_BYTES {
            break;
        }
    }
    if out.chars().count() > MAX_QUOTED_BYTES {
        out = out.chars().take(MAX_QUOTED_BYTES - 1).collect();
        out.push('…');
    }
    out
}

/// One element as it arrives; strings are borrowed from the body where no unescaping is needed.
#[derive(Deserialize)]
struct WireCategory<'a> {
    #[serde(deserialize_with = "id_from_number_or_digits")]
    id: u64,
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    sentiment_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    created_at: Option<Cow<'a, str>>,
}

/// Deserialises the top-level array element by element, so that no intermediate list of wire
/// elements is ever held.
struct CategoryList(Catalog);

impl<'de> Deserialize<'de> for CategoryList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = CategoryList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON array of categories")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CategoryList, A::Error> {
                let mut catalog = Catalog::default();
                // The hint comes from the input; bound it so it cannot reserve unbounded memory.
                catalog
                    .categories
                    .reserve(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(wire) = seq.next_element::<WireCategory<'de>>()? {
                    let sentiment = Sentiment::classify(wire.sentiment_type.as_deref());
                    if sentiment == Sentiment::Other
                        && catalog.unknown_sentiments.len() < MAX_UNKNOWN_SENTIMENTS
                    {
                        if let Some(raw) = wire.sentiment_type.as_deref() {
                            if !catalog.unknown_sentiments.contains(raw) {
                                catalog.unknown_sentiments.insert(clean(raw));
                            }
                        }
                    }
                    let created_unix = match wire.created_at.as_deref() {
                        None => None,
                        Some(text) => {
                            let parsed = unix_seconds(text);
                            if parsed.is_none() {
                                catalog.unreadable_timestamps += 1;
                            }
                            parsed
                        }
                    };
                    catalog.categories.push(Category {
                        id: wire.id,
                        name: wire.name.into_owned(),
                        sentiment,
                        created_unix,
                    });
                }
                Ok(CategoryList(catalog))
            }
        }
        deserializer.deserialize_seq(ListVisitor)
    }
}

/// `created_at` (`2024-01-15T10:30:00.000Z`) as Unix seconds.
fn unix_seconds(text: &str) -> Option<f64> {
    let time = humantime::parse_rfc3339_weak(text.trim()).ok()?;
    let since = time.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(since.as_secs_f64())
}

/// Accepts `12`, and `"12"` as some SmartLead endpoints send numbers as strings.
fn id_from_number_or_digits<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    struct IdVisitor;
    impl Visitor<'_> for IdVisitor {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a non-negative integer id, as a number or a string of digits")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            let digits = v.trim();
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(E::invalid_value(de::Unexpected::Str(v), &self));
            }
            digits
                .parse()
                .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
        }
    }
    deserializer.deserialize_any(IdVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(catalog.duplicates, 0);
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
        assert_eq!(catalog.duplicates, 1);
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
            (br#"[{"id":1}]"#, "missing field `name`"),
            (br#"[{"name":"a"}]"#, "missing field `id`"),
            (br#"[{"id":1,"name":7}]"#, "invalid type"),
            (
                br#"[{"id":1,"name":"a","sentiment_type":3}]"#,
                "invalid type",
            ),
            (br#"[1,2]"#, "invalid type"),
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
        use super::super::*;
        use proptest::collection::{btree_map, vec};
        use proptest::prelude::*;
        use serde_json::Value;

        /// Any JSON value, nested a few levels, with keys that often are the real ones.
        fn json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                any::<u64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                ".{0,12}".prop_map(Value::String),
                "[0-9]{1,22}".prop_map(Value::String),
            ];
            let key = prop_oneof!["id", "name", "sentiment_type", "created_at", ".{0,6}"];
            leaf.prop_recursive(4, 64, 8, move |inner| {
                prop_oneof![
                    vec(inner.clone(), 0..8).prop_map(Value::Array),
                    btree_map(key.clone(), inner, 0..6)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

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
                prop_assert_eq!(catalog.duplicates, items.len() - expected.len());
                for category in &catalog.categories {
                    let first = items.iter().find(|i| i.0 == category.id).unwrap();
                    prop_assert_eq!(&category.name, &first.1);
                    prop_assert_eq!(category.sentiment, Sentiment::classify(first.2.as_deref()));
                }
            }
        }

        /// The fastest of a few runs, to see through a busy machine.
        fn fastest(body: &[u8]) -> std::time::Duration {
            (0..5)
                .map(|_| {
                    let started = std::time::Instant::now();
                    let _ = std::hint::black_box(parse(std::hint::black_box(body)));
                    started.elapsed()
                })
                .min()
                .unwrap()
        }

        /// Parse time grows linearly with the body: eight times the input takes about eight
        /// times as long (quadratic growth would take 64 times). Each shape is a way to make a
        /// naive parser go quadratic: many elements, duplicates, one long escaped string,
        /// nesting in unknown fields, many unknown sentiments.
        #[test]
        fn parse_time_is_linear_in_the_body() {
            type Shape = (&'static str, fn(usize) -> String);
            let shapes: [Shape; 5] = [
                ("many categories", |n| {
                    let items: Vec<String> = (0..n)
                        .map(|i| format!(r#"{{"id":{i},"name":"c{i}","sentiment_type":"positive","created_at":"2024-01-15T10:30:00.000Z"}}"#))
                        .collect();
                    format!("[{}]", items.join(","))
                }),
                ("duplicates in reverse", |n| {
                    let items: Vec<String> = (0..n)
                        .map(|i| format!(r#"{{"id":{},"name":"d"}}"#, (n - i) % 97))
                        .collect();
                    format!("[{}]", items.join(","))
                }),
                ("one long escaped name", |n| {
                    format!(r#"[{{"id":1,"name":"{}"}}]"#, "\\u00e9\\\"".repeat(n))
                }),
                ("nesting in unknown fields", |n| {
                    let items: Vec<String> = (0..n)
                        .map(|i| format!(r#"{{"id":{i},"name":"n","x":[[[[{{"y":[1,{{}}]}}]]]]}}"#))
                        .collect();
                    format!("[{}]", items.join(","))
                }),
                ("many unknown sentiments", |n| {
                    let items: Vec<String> = (0..n)
                        .map(|i| format!(r#"{{"id":{i},"name":"s","sentiment_type":"odd{i}"}}"#))
                        .collect();
                    format!("[{}]", items.join(","))
                }),
            ];
            for (shape, make) in shapes {
                let small = make(5_000);
                let large = make(40_000);
                let ratio = fastest(large.as_bytes()).as_secs_f64()
                    / fastest(small.as_bytes()).as_secs_f64();
                assert!(
                    ratio < 24.0,
                    "{shape}: 8x the input took {ratio:.1}x the time"
                );
            }
        }
    }
}
