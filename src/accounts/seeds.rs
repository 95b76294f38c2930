//! What every map of the accounts file is read with: a key that must be one of a known list
//! (with a "did you mean"), a value handed to one of the settings' parsers, and the rule that
//! a key is given once.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Visitor};

/// Fills an empty slot; a key given twice in one map is an error.
pub(super) fn set<T, E: de::Error>(slot: &mut Option<T>, key: &str, value: T) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::custom(format!("`{key}` is given twice")));
    }
    *slot = Some(value);
    Ok(())
}

/// A map key that must be one of a known list; anything else is an error with a "did you
/// mean", raised while the key is read so that its line is the one reported.
pub(super) struct Key(pub(super) &'static [&'static str], pub(super) &'static str);

impl<'de> DeserializeSeed<'de> for Key {
    type Value = &'static str;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = &'static str;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "one of {}", self.0.join(", "))
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        if let Some(known) = self.0.iter().find(|k| **k == key) {
            return Ok(known);
        }
        let (kind, known) = (self.1, self.0);
        let suggestion = closest(key, known)
            .map(|best| format!("; did you mean `{best}`?"))
            .unwrap_or_default();
        Err(E::custom(format!(
            "unknown {kind} `{key}`{suggestion} (known: {})",
            known.join(", ")
        )))
    }
}

/// The known key closest to `field`, if any is close.
fn closest<'a>(field: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(field, k), *k))
        .filter(|(distance, k)| *distance <= (k.len() / 3).max(2))
        .min()
        .map(|(_, k)| k)
}

/// A value written as text, or as a plain number (a size in bytes), handed to a parser; the
/// parser's complaint is the error, at the value's line.
pub(super) struct Text<T, F: Fn(&str) -> Result<T, String>>(pub(super) F);

impl<'de, T, F: Fn(&str) -> Result<T, String>> DeserializeSeed<'de> for Text<T, F> {
    type Value = T;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_any(TextVisitor(self.0, PhantomData))
    }
}

struct TextVisitor<T, F>(F, PhantomData<T>);

impl<'de, T, F: Fn(&str) -> Result<T, String>> Visitor<'de> for TextVisitor<T, F> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a text or a number")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        (self.0)(text).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<T, E> {
        self.visit_str(&n.to_string())
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<T, E> {
        self.visit_str(&n.to_string())
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<T, E> {
        self.visit_str(&n.to_string())
    }
}
