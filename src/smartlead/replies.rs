//! Replies by category over a window of days: `GET /analytics/lead/category-wise-response`,
//! its model [`Replies`], the window [`window`], and the lenient, linear-time parser [`parse`].
//!
//! SmartLead counts the responses received inside the window, by the category they are in
//! now; one call answers for the whole account. Two shapes are accepted: the one real clients
//! read, `{success, data: {lead_responses_by_category: {leadResponseGrouping: [{name,
//! sentiment_type, total_response, percentage}]}}}`, and the documented one, `{ok, data:
//! {lead_responses_by_category: [{category, total_response, percentage}]}}`. Neither carries
//! category ids: entries are joined to the category list on the name. `Uncategorized` is
//! SmartLead's bucket for responses in no category and has no sentiment.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::time::SystemTime;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use time::{Date, Duration, OffsetDateTime};

use super::categories::{note_unknown_sentiment, Category, Sentiment};
use super::json::{
    count_of, percent_of, read, skip, text_of, unreadable_json, DecodeError, Element, Field,
    Oddities, Quoting, Record,
};
use super::key::Redactor;
use super::text::{self, json_error_message, quote, MAX_NAME_BYTES};

/// The window the exporter asks for: this many UTC days, today included. SmartLead's clients
/// treat 30 days as the longest window it answers.
pub(crate) const WINDOW_DAYS: u16 = 30;

/// The name of SmartLead's bucket for responses in no category; it has no sentiment.
pub(crate) const UNCATEGORIZED: &str = "Uncategorized";

/// The last [`WINDOW_DAYS`] UTC days up to the day of `now`, both ends included, as
/// `(start_date, end_date)`. A clock outside the calendar's range gives its nearest end.
pub fn window(now: SystemTime) -> (Date, Date) {
    let seconds = match now.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    };
    let end = match OffsetDateTime::from_unix_timestamp(seconds) {
        Ok(time) => time.date(),
        Err(_) if seconds < 0 => Date::MIN,
        Err(_) => Date::MAX,
    };
    let start = end
        .checked_sub(Duration::days(i64::from(WINDOW_DAYS) - 1))
        .unwrap_or(Date::MIN);
    (start, end)
}

/// A date as SmartLead's query takes it: `YYYY-MM-DD`.
pub(crate) fn format_date(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// A `YYYY-MM-DD` date, when it is one.
pub(crate) fn parse_date(text: &str) -> Option<Date> {
    let mut parts = text.split('-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if parts.next().is_some() || !digits(year, 4) || !digits(month, 2) || !digits(day, 2) {
        return None;
    }
    let month = time::Month::try_from(month.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()
}

/// One category's replies in the window.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryReplies {
    /// The category's name (`name`, or `category` in the documented shape): the join key to
    /// the category list. Cut to [`MAX_NAME_BYTES`].
    pub name: String,
    /// The sentiment the answer gave (`sentiment_type`; `null` is [`Sentiment::None`]), or
    /// `None` when it gave none and the category list must say; see [`Replies::sentiments`].
    pub sentiment: Option<Sentiment>,
    /// `total_response`: responses received in the window.
    pub replies: u64,
    /// `percentage` as a ratio from 0 to 1 (`"0.2%"` is 0.002), when readable.
    pub share: Option<f64>,
}

impl CategoryReplies {
    /// Whether this is SmartLead's `Uncategorized` bucket (in any case).
    pub fn is_uncategorized(&self) -> bool {
        self.name.trim().eq_ignore_ascii_case(UNCATEGORIZED)
    }
}

/// A parsed answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replies {
    /// One entry per category name, in SmartLead's order (the first of a repeated name wins).
    pub categories: Vec<CategoryReplies>,
    /// Distinct unrecognised `sentiment_type` values, redacted and quoted, at most
    /// [`MAX_UNKNOWN_SENTIMENTS`](super::categories::MAX_UNKNOWN_SENTIMENTS).
    pub unknown_sentiments: BTreeSet<String>,
    /// What was odd: entries without a name or a readable `total_response` are dropped.
    pub oddities: Oddities,
}

impl Replies {
    /// The sentiment of each entry, in order: [`Sentiment::None`] for `Uncategorized`; else
    /// the one the answer gave; else that of the category of the same name in `categories`
    /// (the first one, when names repeat); else [`Sentiment::None`].
    pub fn sentiments(&self, categories: &[Category]) -> Vec<Sentiment> {
        let mut by_name: HashMap<&str, Sentiment> = HashMap::new();
        for category in categories {
            by_name
                .entry(category.name.as_str())
                .or_insert(category.sentiment);
        }
        self.categories
            .iter()
            .map(|entry| {
                if entry.is_uncategorized() {
                    return Sentiment::None;
                }
                entry
                    .sentiment
                    .or_else(|| by_name.get(entry.name.as_str()).copied())
                    .unwrap_or(Sentiment::None)
            })
            .collect()
    }
}

/// Parses the body of `GET /analytics/lead/category-wise-response`; `redactor` hides the key
/// in everything taken from the body.
///
/// Counts may be numbers or strings, percentages `"0.2%"` or numbers, sentiments `null` or
/// absent; unknown fields are ignored. An entry without a name or a readable
/// `total_response` is dropped and counted. Runs in time linear in the body and never panics.
///
/// # Errors
/// A [`DecodeError`] when the body is not a JSON object holding
/// `data.lead_responses_by_category` as a list or as `{leadResponseGrouping: [...]}`, saying
/// what was found instead (with SmartLead's message when it gave one).
pub(crate) fn parse(body: &[u8], redactor: &Redactor) -> Result<Replies, DecodeError> {
    let first = body.iter().copied().find(|b| !b.is_ascii_whitespace());
    let expected = "a JSON object with data.lead_responses_by_category";
    match first {
        None => return Err(DecodeError("the body is empty".into())),
        Some(b'<') => {
            return Err(DecodeError(format!(
                "expected {expected}, got HTML or XML: {}",
                quote(body, redactor)
            )))
        }
        Some(b'{') => {}
        Some(b'[') => {
            return Err(DecodeError(format!(
                "expected {expected}, got a JSON array"
            )))
        }
        Some(_) => {
            return Err(DecodeError(format!(
                "expected {expected}, got {}",
                quote(body, redactor)
            )))
        }
    }
    let mut top = Top {
        redactor,
        replies: Replies::default(),
        names: HashSet::new(),
        found: false,
        index: 0,
    };
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed =
        DeserializeSeed::deserialize(&mut top, &mut deserializer).and_then(|()| deserializer.end());
    if let Err(e) = parsed {
        return Err(unreadable_json(
            &e,
            "replies by category",
            body,
            Quoting::Redacted(redactor),
        ));
    }
    if !top.found {
        let detail = json_error_message(body, redactor)
            .map(|m| format!(" (SmartLead's message: {m:?})"))
            .unwrap_or_default();
        return Err(DecodeError(format!(
            "expected {expected}, got an object without it{detail}"
        )));
    }
    Ok(top.replies)
}

/// The whole answer, read as it streams: only the path to the entries is followed.
struct Top<'r> {
    /// Hides the key in names and sentiments.
    redactor: &'r Redactor,
    /// What was read so far.
    replies: Replies,
    /// Names seen, to drop repeats in linear time.
    names: HashSet<String>,
    /// Whether `data.lead_responses_by_category` was found.
    found: bool,
    /// The position of the next entry.
    index: usize,
}

impl<'de> DeserializeSeed<'de> for &mut Top<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for &mut Top<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with data.lead_responses_by_category")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "data" {
                map.next_value_seed(Data(&mut *self))?;
            } else {
                skip(&mut map)?;
            }
        }
        Ok(())
    }
}

/// `data`: an object holding `lead_responses_by_category`, or `null`.
struct Data<'a, 'r>(&'a mut Top<'r>);

impl<'de> DeserializeSeed<'de> for Data<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Data<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with lead_responses_by_category")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "lead_responses_by_category" {
                map.next_value_seed(Grouping(&mut *self.0))?;
            } else {
                skip(&mut map)?;
            }
        }
        Ok(())
    }
}

/// `lead_responses_by_category`: the list of entries (documented), or an object holding it
/// as `leadResponseGrouping` (real).
struct Grouping<'a, 'r>(&'a mut Top<'r>);

impl<'de> DeserializeSeed<'de> for Grouping<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Grouping<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of categories' replies, or an object with leadResponseGrouping")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        Entries(self.0).visit_seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "leadResponseGrouping" || key == "lead_response_grouping" {
                map.next_value_seed(Entries(&mut *self.0))?;
            } else {
                skip(&mut map)?;
            }
        }
        Ok(())
    }
}

/// The list of entries, each added as it arrives.
struct Entries<'a, 'r>(&'a mut Top<'r>);

impl<'de> DeserializeSeed<'de> for Entries<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Entries<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of categories' replies")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.found = true;
        while let Some(element) = seq.next_element::<Element<Entry<'de>>>()? {
            self.0.add(element);
        }
        Ok(())
    }
}

/// One entry as it arrives.
#[derive(Default)]
struct Entry<'a> {
    name: Option<Field<'a>>,
    category: Option<Field<'a>>,
    sentiment_type: Option<Field<'a>>,
    total_response: Option<Field<'a>>,
    percentage: Option<Field<'a>>,
}

impl<'de> Record<'de> for Entry<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "name" => read(map, &mut self.name),
            "category" => read(map, &mut self.category),
            "sentiment_type" => read(map, &mut self.sentiment_type),
            "total_response" => read(map, &mut self.total_response),
            "percentage" => read(map, &mut self.percentage),
            _ => skip(map),
        }
    }
}

impl Top<'_> {
    /// Adds one entry, leniently, counting what was odd about it.
    fn add(&mut self, element: Element<Entry<'_>>) {
        let index = self.index;
        self.index += 1;
        let oddities = &mut self.replies.oddities;
        let entry = match element {
            Element::Record(entry) => entry,
            Element::Other(kind) => {
                oddities.drop(|| {
                    format!("entry {index}: invalid type: {kind}, expected a category's replies")
                });
                return;
            }
        };
        let Some(raw_name) = oddities.value(text_of(entry.name.or(entry.category))) else {
            oddities.drop(|| format!("entry {index}: no readable `name` or `category`"));
            return;
        };
        let Some(replies) = oddities.value(count_of(entry.total_response.as_ref())) else {
            oddities.drop(|| format!("entry {index}: no readable `total_response`"));
            return;
        };
        let (name, cut) = text::name(raw_name, self.redactor, MAX_NAME_BYTES);
        if cut {
            oddities.truncated_names += 1;
        }
        if !self.names.insert(name.clone()) {
            oddities.duplicates += 1;
            return;
        }
        let share = oddities.value(percent_of(entry.percentage.as_ref()));
        let sentiment = entry.sentiment_type.as_ref().map(Sentiment::of_field);
        if sentiment == Some(Sentiment::Other) {
            note_unknown_sentiment(
                &mut self.replies.unknown_sentiments,
                entry.sentiment_type.as_ref(),
                self.redactor,
            );
        }
        self.replies.categories.push(CategoryReplies {
            name,
            sentiment,
            replies,
            share,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smartlead::categories::{self, Catalog};
    use crate::smartlead::key::ApiKey;

    fn parse(body: &[u8]) -> Result<Replies, DecodeError> {
        super::parse(body, &Redactor::default())
    }

    /// The shape real clients read, with SmartLead's real categories.
    pub(crate) const REAL: &str = include_str!("../../tests/fixtures/replies-real.json");

    /// The shape SmartLead's reference page shows.
    pub(crate) const DOCUMENTED: &str =
        include_str!("../../tests/fixtures/replies-documented.json");

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-12)
    }

    #[test]
    fn the_real_shape_parses_with_sentiments_and_percentages() {
        let replies = parse(REAL.as_bytes()).unwrap();
        let names: Vec<&str> = replies.categories.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Interested",
                "Meeting Request",
                "Not Interested",
                "Out Of Office",
                "Uncategorized"
            ]
        );
        let counts: Vec<u64> = replies.categories.iter().map(|c| c.replies).collect();
        assert_eq!(counts, [46, 12, 1480, 1302, 20267]);
        assert_eq!(replies.categories[0].sentiment, Some(Sentiment::Positive));
        assert_eq!(replies.categories[2].sentiment, Some(Sentiment::Negative));
        assert_eq!(replies.categories[3].sentiment, Some(Sentiment::None));
        assert_eq!(replies.categories[4].sentiment, None);
        assert!(replies.categories[4].is_uncategorized());
        assert!(close(replies.categories[0].share, 0.002));
        assert!(close(replies.categories[4].share, 0.8771));
        assert_eq!(replies.oddities, crate::smartlead::Oddities::default());
    }

    #[test]
    fn the_documented_shape_parses_and_joins_on_the_name() {
        let replies = parse(DOCUMENTED.as_bytes()).unwrap();
        let names: Vec<&str> = replies.categories.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Interested", "Not Interested", "Uncategorized"]);
        let counts: Vec<u64> = replies.categories.iter().map(|c| c.replies).collect();
        assert_eq!(counts, [25, 10, 3]);
        assert!(replies.categories.iter().all(|c| c.sentiment.is_none()));
        assert!(close(replies.categories[0].share, 0.25));

        let catalog = categories::parse(
            br#"[{"id":1,"name":"Interested","sentiment_type":"positive"},
                 {"id":3,"name":"Not Interested","sentiment_type":"negative"},
                 {"id":99,"name":"Uncategorized","sentiment_type":"positive"}]"#,
            &Redactor::default(),
        )
        .unwrap();
        assert_eq!(
            replies.sentiments(&catalog.categories),
            [Sentiment::Positive, Sentiment::Negative, Sentiment::None]
        );
        assert_eq!(replies.sentiments(&[]), [Sentiment::None; 3]);
    }

    #[test]
    fn the_answer_s_own_sentiment_wins_over_the_category_list() {
        let replies = parse(
            br#"{"data":{"lead_responses_by_category":[
                {"name":"Referral","sentiment_type":"negative","total_response":1},
                {"name":"Gone","total_response":"2"}]}}"#,
        )
        .unwrap();
        let catalog = Catalog {
            categories: vec![Category {
                id: 1451,
                name: "Referral".into(),
                sentiment: Sentiment::Positive,
                created_unix: None,
            }],
            ..Catalog::default()
        };
        assert_eq!(
            replies.sentiments(&catalog.categories),
            [Sentiment::Negative, Sentiment::None]
        );
    }

    #[test]
    fn odd_entries_are_dropped_and_counted() {
        let replies = parse(
            br#"{"success":true,"data":{"lead_responses_by_category":{"leadResponseGrouping":[
                {"name":"A","total_response":"7","percentage":"1.5%","extra":{"x":[1]}},
                "not an entry",
                {"total_response":3},
                {"name":"B","total_response":"many"},
                {"name":"A","total_response":9},
                {"name":"C","total_response":null},
                {"name":42,"total_response":1,"percentage":"lots","sentiment_type":7}
            ]}}}"#,
        )
        .unwrap();
        let names: Vec<&str> = replies.categories.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["A", "42"]);
        assert_eq!(replies.categories[0].replies, 7);
        assert!(close(replies.categories[0].share, 0.015));
        assert_eq!(replies.categories[1].share, None);
        assert_eq!(replies.categories[1].sentiment, Some(Sentiment::Other));
        assert_eq!(
            replies.unknown_sentiments.iter().collect::<Vec<_>>(),
            ["<a number>"]
        );
        let odd = &replies.oddities;
        assert_eq!(odd.dropped, 4);
        assert_eq!(odd.duplicates, 1);
        assert_eq!(odd.unreadable_values, 2, "{odd:?}");
        assert_eq!(
            odd.drop_reason.as_deref(),
            Some("entry 1: invalid type: a string, expected a category's replies")
        );
    }

    #[test]
    fn an_empty_window_is_an_empty_answer() {
        let replies =
            parse(br#"{"success":true,"data":{"lead_responses_by_category":{"leadResponseGrouping":[]}}}"#)
                .unwrap();
        assert!(replies.categories.is_empty());
    }

    #[test]
    fn refuses_what_is_not_replies_by_category() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "empty"),
            (b"<html>502</html>", "HTML"),
            (b"[]", "got a JSON array"),
            (b"42", "got \"42\""),
            (
                br#"{"success":false,"message":"start_date is required"}"#,
                "without it (SmartLead's message: \"start_date is required\")",
            ),
            (br#"{"data":null}"#, "without it"),
            (
                br#"{"data":{"lead_responses_by_category":7}}"#,
                "invalid type",
            ),
            (
                br#"{"data":{"lead_responses_by_category":{"leadResponseGrouping":{}}}}"#,
                "invalid type",
            ),
            (br#"{"data":{"lead_responses_by_category":["#, "EOF"),
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
    fn names_are_cut_and_the_key_redacted() {
        let key = "canary-7f3a9c-do-not-leak";
        let redactor = Redactor::new(&ApiKey::new(key).unwrap());
        let long = format!("{}é", "a".repeat(MAX_NAME_BYTES - 1));
        let body = format!(
            r#"{{"data":{{"lead_responses_by_category":[{{"category":"{long}","total_response":1}},
               {{"category":"x {key}","total_response":2}}]}}}}"#
        );
        let replies = super::parse(body.as_bytes(), &redactor).unwrap();
        assert_eq!(replies.categories[0].name, "a".repeat(MAX_NAME_BYTES - 1));
        assert_eq!(replies.categories[1].name, "x [redacted]");
        assert_eq!(replies.oddities.truncated_names, 1);
        let err = super::parse(format!("<p>{key}</p>").as_bytes(), &redactor).unwrap_err();
        assert!(!err.to_string().contains("canary"), "{err}");
    }

    #[test]
    fn the_window_is_thirty_utc_days_including_today() {
        // 2025-03-20T23:59:59Z and 2025-03-21T00:00:00Z.
        let at = |s| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s);
        let (start, end) = window(at(1_742_515_199));
        assert_eq!(format_date(start), "2025-02-19");
        assert_eq!(format_date(end), "2025-03-20");
        let (start, end) = window(at(1_742_515_200));
        assert_eq!(format_date(start), "2025-02-20");
        assert_eq!(format_date(end), "2025-03-21");
        assert_eq!((end - start).whole_days(), i64::from(WINDOW_DAYS) - 1);
        // A leap year's February.
        let (start, _) = window(at(1_709_337_600)); // 2024-03-02
        assert_eq!(format_date(start), "2024-02-02");
        // Clocks out of range do not panic.
        let (start, end) = window(SystemTime::UNIX_EPOCH - std::time::Duration::from_secs(86_400));
        assert_eq!(format_date(end), "1969-12-31");
        assert!(start < end);
        let _ = window(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(u64::MAX / 4));
    }

    #[test]
    fn dates_round_trip_through_the_query_format() {
        for text in ["2025-03-20", "2024-02-29", "1970-01-01", "9999-12-31"] {
            assert_eq!(format_date(parse_date(text).unwrap()), text);
        }
        for bad in [
            "2025-02-30",
            "2025-3-20",
            "20250320",
            "2025-03-20x",
            "",
            "2025-13-01",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn parse_time_is_linear_in_the_body() {
        use crate::smartlead::json::tests::{array_of, assert_linear, Shape};
        fn wrap(entries: String) -> String {
            format!(
                r#"{{"success":true,"data":{{"lead_responses_by_category":{{"leadResponseGrouping":{entries}}}}}}}"#
            )
        }
        let shapes: [Shape; 3] = [
            ("many categories", |n| {
                wrap(array_of(n, |i| {
                    format!(
                        r#"{{"name":"c{i}","sentiment_type":"positive","total_response":"{i}","percentage":"0.2%"}}"#
                    )
                }))
            }),
            ("repeated names", |n| {
                wrap(array_of(n, |i| {
                    format!(r#"{{"name":"c{}","total_response":1}}"#, i % 97)
                }))
            }),
            ("many unknown sentiments", |n| {
                wrap(array_of(n, |i| {
                    format!(r#"{{"name":"c{i}","sentiment_type":"odd{i}","total_response":1}}"#)
                }))
            }),
        ];
        assert_linear(&shapes, 2000, |body| {
            let _ = parse(body);
        });
    }

    mod properties {
        use super::*;
        use proptest::collection::vec;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..2048)) {
                let _ = parse(&bytes);
            }

            #[test]
            fn arbitrary_json_never_panics(value in crate::smartlead::json::tests::json()) {
                let _ = parse(value.to_string().as_bytes());
                let wrapped = serde_json::json!({"data": {"lead_responses_by_category": value}});
                let _ = parse(wrapped.to_string().as_bytes());
            }

            #[test]
            fn counts_and_percentages_round_trip(
                items in vec((any::<u64>(), any::<bool>(), 0u32..=10_000, any::<bool>()), 0..20)
            ) {
                let entries: Vec<serde_json::Value> = items
                    .iter()
                    .enumerate()
                    .map(|(i, (count, as_text, basis_points, with_sign))| {
                        let count = if *as_text {
                            serde_json::Value::from(count.to_string())
                        } else {
                            serde_json::Value::from(*count)
                        };
                        let percent = f64::from(*basis_points) / 100.0;
                        let percent = if *with_sign {
                            serde_json::Value::from(format!("{percent}%"))
                        } else {
                            serde_json::Value::from(percent)
                        };
                        serde_json::json!({"name": format!("c{i}"), "total_response": count, "percentage": percent})
                    })
                    .collect();
                let body = serde_json::json!({"success": true, "data": {"lead_responses_by_category": {"leadResponseGrouping": entries}}});
                let replies = parse(body.to_string().as_bytes()).unwrap();
                prop_assert_eq!(replies.categories.len(), items.len());
                for (entry, (count, _, basis_points, _)) in replies.categories.iter().zip(&items) {
                    prop_assert_eq!(entry.replies, *count);
                    let share = entry.share.unwrap();
                    prop_assert!((share - f64::from(*basis_points) / 10_000.0).abs() < 1e-12);
                }
            }
        }
    }
}
