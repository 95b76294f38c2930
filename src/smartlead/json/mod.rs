//! Lenient reading of SmartLead's JSON, shared by every endpoint's parser.
//!
//! SmartLead sends counters as numbers or strings of digits, percentages as `95`, `"95"` or
//! `"95%"`, flags as bools or `0`/`1`, and `null` anywhere. A [`Field`] holds one value of any
//! of these types (nested arrays and objects are skipped, never kept) and the `*_of` functions
//! read it as what a field should be, or say it is unreadable. A [`Record`] is an object read
//! field by field into a struct of [`Field`]s; [`Element`] is one list element, a record or
//! what else it was. The answer as a whole is `answer`'s: [`read_array`] streams a JSON array
//! element by element, so that no list of wire elements is ever held, [`Oddities`] counts what
//! was odd, and [`DecodeError`] says why a body is not the answer expected. Everything is
//! linear in the body; `serde_json`'s recursion limit refuses deep nesting.

mod answer;

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

pub(crate) use answer::{read_array, unreadable_json, DecodeError, Oddities, Quoting};

/// One JSON value where a field was expected, understood as far as a field needs.
/// Nested arrays and objects are skipped, not kept.
pub(crate) enum Field<'a> {
    Text(Cow<'a, str>),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Bool(bool),
    Null,
    Array,
    Object,
}

impl Field<'_> {
    /// What the value is, for messages and warnings (never the value itself).
    pub(crate) const fn kind(&self) -> &'static str {
        match self {
            Self::Text(_) => "a string",
            Self::Unsigned(_) | Self::Signed(_) | Self::Float(_) => "a number",
            Self::Bool(_) => "a bool",
            Self::Null => "null",
            Self::Array => "an array",
            Self::Object => "an object",
        }
    }
}

impl<'de> Deserialize<'de> for Field<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Field<'de>, E> {
        Ok(Field::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Field<'de>, E> {
        Ok(Field::Signed(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Field<'de>, E> {
        Ok(Field::Unsigned(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Field<'de>, E> {
        Ok(Field::Float(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Field<'de>, E> {
        Ok(Field::Text(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Field<'de>, E> {
        Ok(Field::Text(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Field<'de>, E> {
        Ok(Field::Text(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<Field<'de>, E> {
        Ok(Field::Null)
    }
    fn visit_none<E>(self) -> Result<Field<'de>, E> {
        Ok(Field::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Field::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::Object)
    }
}

/// A value that is present but cannot be read as what its field should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unreadable;

/// Largest integer a JSON number with a fraction part can stand for exactly.
const MAX_EXACT_FLOAT_ID: f64 = 9_007_199_254_740_992.0;

/// A whole float as an integer, when it is non-negative and exactly representable.
fn whole(value: f64) -> Option<u64> {
    if value.fract() == 0.0 && (0.0..=MAX_EXACT_FLOAT_ID).contains(&value) {
        // Whole, non-negative and exactly representable: the conversion is exact.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(value as u64)
    } else {
        None
    }
}

/// An id: a non-negative integer, as a number (`12`, `12.0`) or a string of digits (`"12"`,
/// as some SmartLead endpoints send numbers); otherwise what was found instead.
pub(crate) fn id_of(field: &Field<'_>) -> Result<u64, &'static str> {
    match field {
        Field::Unsigned(id) => Ok(*id),
        Field::Signed(id) => u64::try_from(*id).map_err(|_| "a negative number"),
        Field::Float(id) => whole(*id).ok_or("a number with a fraction or too large"),
        Field::Text(text) => {
            let digits = text.trim();
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err("a string that is not a whole number");
            }
            digits.parse().map_err(|_| "a string of digits too large")
        }
        other => Err(other.kind()),
    }
}

/// An optional id (`client_id`): `null`, absent or `""` is none.
pub(crate) fn optional_id_of(field: Option<&Field<'_>>) -> Result<Option<u64>, Unreadable> {
    match field {
        None | Some(Field::Null) => Ok(None),
        Some(Field::Text(text)) if text.trim().is_empty() => Ok(None),
        Some(field) => id_of(field).map(Some).map_err(|_| Unreadable),
    }
}

/// A count: a non-negative integer as a number (`359`, `359.0`) or a string (`"359"`,
/// `"359.0"`); `null`, absent or `""` is none.
pub(crate) fn count_of(field: Option<&Field<'_>>) -> Result<Option<u64>, Unreadable> {
    match field {
        None | Some(Field::Null) => Ok(None),
        Some(Field::Unsigned(n)) => Ok(Some(*n)),
        Some(Field::Signed(n)) => u64::try_from(*n).map(Some).map_err(|_| Unreadable),
        Some(Field::Float(n)) => whole(*n).map(Some).ok_or(Unreadable),
        Some(Field::Text(text)) => {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            if text.bytes().all(|b| b.is_ascii_digit()) {
                return text.parse().map(Some).map_err(|_| Unreadable);
            }
            finite(text).and_then(whole).map(Some).ok_or(Unreadable)
        }
        Some(_) => Err(Unreadable),
    }
}

/// A percentage as a ratio from 0 to 1: `95`, `"95"`, `"95%"` and `"95 %"` are all 0.95, and
/// `"0.2%"` is 0.002; `null`, absent or `""` is none. A value below 0 or above 100 is
/// unreadable.
pub(crate) fn percent_of(field: Option<&Field<'_>>) -> Result<Option<f64>, Unreadable> {
    #[allow(clippy::cast_precision_loss)]
    let percent = match field {
        None | Some(Field::Null) => return Ok(None),
        Some(Field::Unsigned(n)) => *n as f64,
        Some(Field::Signed(n)) => *n as f64,
        Some(Field::Float(n)) => *n,
        Some(Field::Text(text)) => {
            let text = text.trim();
            let number = text.strip_suffix('%').unwrap_or(text).trim_end();
            if number.is_empty() {
                return if text.is_empty() {
                    Ok(None)
                } else {
                    Err(Unreadable)
                };
            }
            finite(number).ok_or(Unreadable)?
        }
        Some(_) => return Err(Unreadable),
    };
    if (0.0..=100.0).contains(&percent) {
        Ok(Some(percent / 100.0))
    } else {
        Err(Unreadable)
    }
}

/// A decimal number written in plain digits (`12`, `-3`, `0.25`, `.5`), finite. Rust's own
/// parser also takes `inf`, `NaN` and exponents, which no counter is written as.
fn finite(text: &str) -> Option<f64> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let plain = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().filter(|&b| b == b'.').count() <= 1
        && digits.bytes().any(|b| b.is_ascii_digit());
    if !plain {
        return None;
    }
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A flag: `true`/`false`, `1`/`0`, or those as strings in any case; `null` or absent is
/// none.
pub(crate) fn flag_of(field: Option<&Field<'_>>) -> Result<Option<bool>, Unreadable> {
    match field {
        None | Some(Field::Null) => Ok(None),
        Some(Field::Bool(b)) => Ok(Some(*b)),
        Some(Field::Unsigned(0) | Field::Signed(0)) => Ok(Some(false)),
        Some(Field::Unsigned(1) | Field::Signed(1)) => Ok(Some(true)),
        Some(Field::Text(text)) => {
            let text = text.trim();
            if text.eq_ignore_ascii_case("true") || text == "1" {
                Ok(Some(true))
            } else if text.eq_ignore_ascii_case("false") || text == "0" {
                Ok(Some(false))
            } else if text.is_empty() {
                Ok(None)
            } else {
                Err(Unreadable)
            }
        }
        Some(_) => Err(Unreadable),
    }
}

/// Text: a string as it is, a number as its digits; `null` or absent is none.
pub(crate) fn text_of<'a>(field: Option<Field<'a>>) -> Result<Option<Cow<'a, str>>, Unreadable> {
    match field {
        None | Some(Field::Null) => Ok(None),
        Some(Field::Text(text)) => Ok(Some(text)),
        Some(Field::Unsigned(n)) => Ok(Some(n.to_string().into())),
        Some(Field::Signed(n)) => Ok(Some(n.to_string().into())),
        Some(Field::Float(n)) => Ok(serde_json::Number::from_f64(n).map(|n| n.to_string().into())),
        Some(_) => Err(Unreadable),
    }
}

/// An object read field by field. `field` must consume the value of every key, reading the
/// ones that matter (as [`Field`]s or nested records) and skipping the rest.
pub(crate) trait Record<'de>: Default {
    /// Reads or skips the value of `key`. A repeated key: the last one counts.
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error>;
}

/// One value where an object was expected: the record, or what it was instead.
pub(crate) enum Element<T> {
    /// An object, read.
    Record(T),
    /// Something else: its kind (`a string`, `null`...), never its value.
    Other(&'static str),
}

impl<'de, T: Record<'de>> Deserialize<'de> for Element<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ElementVisitor(PhantomData))
    }
}

struct ElementVisitor<T>(PhantomData<T>);

impl<'de, T: Record<'de>> Visitor<'de> for ElementVisitor<T> {
    type Value = Element<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Element<T>, A::Error> {
        let mut record = T::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            record.field(&key, &mut map)?;
        }
        Ok(Element::Record(record))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Element<T>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Element::Other("an array"))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Element<T>, E> {
        Ok(Element::Other("a bool"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Element<T>, E> {
        Ok(Element::Other("a number"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Element<T>, E> {
        Ok(Element::Other("a number"))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Element<T>, E> {
        Ok(Element::Other("a number"))
    }
    fn visit_str<E>(self, _: &str) -> Result<Element<T>, E> {
        Ok(Element::Other("a string"))
    }
    fn visit_unit<E>(self) -> Result<Element<T>, E> {
        Ok(Element::Other("null"))
    }
    fn visit_none<E>(self) -> Result<Element<T>, E> {
        Ok(Element::Other("null"))
    }
}

/// Reads the next value of `map` as a [`Field`] into `slot`.
pub(crate) fn read<'de, A: MapAccess<'de>>(
    map: &mut A,
    slot: &mut Option<Field<'de>>,
) -> Result<(), A::Error> {
    *slot = Some(map.next_value()?);
    Ok(())
}

/// Skips the next value of `map`, unread: unknown fields, and fields that must never be held
/// (credentials).
pub(crate) fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>()?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::collection::{btree_map, vec};
    use proptest::prelude::*;
    use serde_json::Value;
    use std::time::Duration;

    /// Any JSON value, nested a few levels, with keys that often are the ones SmartLead's
    /// answers have, and numbers often written as strings or percentages.
    pub(crate) fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::String),
            "[0-9]{1,22}".prop_map(Value::String),
            "-?[0-9]{1,4}(\\.[0-9]{1,3})? ?%?".prop_map(Value::String),
        ];
        let key = prop_oneof![
            "id",
            "name",
            "sentiment_type",
            "created_at",
            "status",
            "client_id",
            "data",
            "lead_responses_by_category",
            "leadResponseGrouping",
            "total_response",
            "percentage",
            "sent_count",
            "campaign_lead_stats",
            "notStarted",
            "from_email",
            "warmup_details",
            "warmup_reputation",
            "is_smtp_success",
            ".{0,6}",
        ];
        leaf.prop_recursive(4, 64, 8, move |inner| {
            prop_oneof![
                vec(inner.clone(), 0..8).prop_map(Value::Array),
                btree_map(key.clone(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn field(json: &str) -> Field<'static> {
        let value: Field<'_> = serde_json::from_str(json).unwrap();
        match value {
            Field::Text(text) => Field::Text(Cow::Owned(text.into_owned())),
            Field::Unsigned(n) => Field::Unsigned(n),
            Field::Signed(n) => Field::Signed(n),
            Field::Float(n) => Field::Float(n),
            Field::Bool(b) => Field::Bool(b),
            Field::Null => Field::Null,
            Field::Array => Field::Array,
            Field::Object => Field::Object,
        }
    }

    /// A shape of input that could make a naive parser quadratic: its name, and a body of
    /// `n` elements.
    pub(crate) type Shape = (&'static str, fn(usize) -> String);

    /// How much faster a parse may grow than a read of the same bodies: 1 for a linear
    /// parser, 16 for a quadratic one; 4 lies between them on a logarithmic scale.
    const MAX_EXCESS_GROWTH: f64 = 4.0;

    /// How many times a shape is measured before it fails.
    const ATTEMPTS: usize = 3;

    /// How long the parse of the small body of a shape takes at least.
    const MIN_TIMED_PARSE: Duration = Duration::from_millis(10);

    /// How long one parse takes.
    fn timed(parse: fn(&[u8]), body: &[u8]) -> std::time::Duration {
        let started = std::time::Instant::now();
        parse(std::hint::black_box(body));
        started.elapsed()
    }

    /// Only reads the JSON, as a linear reference: `serde_json` skipping every value.
    fn skim(body: &[u8]) {
        let _ = serde_json::from_slice::<IgnoredAny>(body);
    }

    /// Parse time grows linearly with the body. Sixteen times the input takes about sixteen
    /// times as long to parse, as it does to merely read it as JSON; a quadratic parser would
    /// take sixteen times longer than that again. The growth of the parse is compared with the
    /// growth of the read on the same bodies, so that what slows large bodies alike (caches,
    /// memory shared with other processes) cancels out. Small and large bodies are timed in
    /// turn and the fastest run of each kept, and a shape over the bound is measured again (up
    /// to [`ATTEMPTS`] times) before it fails: a busy machine can spoil one measurement, while
    /// a quadratic parser fails every one.
    pub(crate) fn assert_linear(shapes: &[Shape], small: usize, parse: fn(&[u8])) {
        assert!(small > 0);
        for (shape, make) in shapes {
            // A small body whose parse outlasts a scheduler's time slice, so that the timing
            // measures parsing rather than noise.
            let mut n = small;
            let mut small_body = make(n);
            while timed(parse, small_body.as_bytes()) < MIN_TIMED_PARSE && n < small * 1024 {
                n *= 2;
                small_body = make(n);
            }
            let large_body = make(n * 16);
            let (small_body, large_body) = (small_body.as_bytes(), large_body.as_bytes());
            let mut excesses = Vec::new();
            while excesses.len() < ATTEMPTS {
                let mut fastest = [Duration::MAX; 4];
                for _ in 0..5 {
                    let runs = [
                        timed(parse, small_body),
                        timed(parse, large_body),
                        timed(skim, small_body),
                        timed(skim, large_body),
                    ];
                    for (best, run) in fastest.iter_mut().zip(runs) {
                        *best = (*best).min(run);
                    }
                }
                let growth = |small: Duration, large: Duration| {
                    large.as_secs_f64() / small.as_secs_f64().max(1e-9)
                };
                let excess = growth(fastest[0], fastest[1]) / growth(fastest[2], fastest[3]);
                if excess < MAX_EXCESS_GROWTH {
                    break;
                }
                excesses.push(excess);
            }
            assert!(
                excesses.len() < ATTEMPTS,
                "{shape}: 16x the input took {excesses:.1?}x longer to parse than to read"
            );
        }
    }

    /// `n` JSON objects made by `element`, as an array.
    pub(crate) fn array_of(n: usize, element: impl Fn(usize) -> String) -> String {
        let items: Vec<String> = (0..n).map(element).collect();
        format!("[{}]", items.join(","))
    }

    fn count(json: &str) -> Result<Option<u64>, Unreadable> {
        count_of(Some(&field(json)))
    }

    fn percent(json: &str) -> Result<Option<f64>, Unreadable> {
        percent_of(Some(&field(json)))
    }

    fn flag(json: &str) -> Result<Option<bool>, Unreadable> {
        flag_of(Some(&field(json)))
    }

    #[test]
    fn counts_are_numbers_or_strings_of_digits() {
        assert_eq!(count("359"), Ok(Some(359)));
        assert_eq!(count("\"359\""), Ok(Some(359)));
        assert_eq!(count("\" 359 \""), Ok(Some(359)));
        assert_eq!(count("359.0"), Ok(Some(359)));
        assert_eq!(count("\"359.0\""), Ok(Some(359)));
        assert_eq!(count("null"), Ok(None));
        assert_eq!(count("\"\""), Ok(None));
        assert_eq!(count_of(None), Ok(None));
        for bad in [
            "-1",
            "\"-1\"",
            "1.5",
            "\"1.5\"",
            "\"12a\"",
            "\"inf\"",
            "\"NaN\"",
            "\"1e3\"",
            "true",
            "[1]",
            "{}",
            "\"99999999999999999999\"",
        ] {
            assert_eq!(count(bad), Err(Unreadable), "{bad}");
        }
    }

    #[test]
    fn percentages_are_ratios_whatever_their_form() {
        for (json, ratio) in [
            ("95", 0.95),
            ("\"95\"", 0.95),
            ("\"95%\"", 0.95),
            ("\" 95 % \"", 0.95),
            ("95.0", 0.95),
            ("\"0.2%\"", 0.002),
            ("\"87.71%\"", 0.8771),
            ("0", 0.0),
            ("\"100%\"", 1.0),
        ] {
            let got = percent(json).unwrap().unwrap();
            assert!((got - ratio).abs() < 1e-12, "{json}: {got}");
        }
        assert_eq!(percent("null"), Ok(None));
        assert_eq!(percent("\"\""), Ok(None));
        for bad in [
            "\"%\"", "\"abc%\"", "-1", "\"101%\"", "true", "\"NaN%\"", "{}",
        ] {
            assert_eq!(percent(bad), Err(Unreadable), "{bad}");
        }
    }

    #[test]
    fn flags_are_bools_or_their_spellings() {
        assert_eq!(flag("true"), Ok(Some(true)));
        assert_eq!(flag("false"), Ok(Some(false)));
        assert_eq!(flag("1"), Ok(Some(true)));
        assert_eq!(flag("0"), Ok(Some(false)));
        assert_eq!(flag("\"TRUE\""), Ok(Some(true)));
        assert_eq!(flag("\"0\""), Ok(Some(false)));
        assert_eq!(flag("null"), Ok(None));
        assert_eq!(flag("2"), Err(Unreadable));
        assert_eq!(flag("\"yes please\""), Err(Unreadable));
    }

    #[test]
    fn optional_ids_take_null_and_empty_as_none() {
        assert_eq!(optional_id_of(None), Ok(None));
        assert_eq!(optional_id_of(Some(&field("null"))), Ok(None));
        assert_eq!(optional_id_of(Some(&field("\"\""))), Ok(None));
        assert_eq!(optional_id_of(Some(&field("\"42\""))), Ok(Some(42)));
        assert_eq!(optional_id_of(Some(&field("42"))), Ok(Some(42)));
        assert_eq!(optional_id_of(Some(&field("-4"))), Err(Unreadable));
    }
}
