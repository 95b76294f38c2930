//! An answer as a whole: a JSON array read element by element ([`read_array`]), why a body
//! is refused ([`DecodeError`], quoting only what [`Quoting`] allows), and what was odd in it
//! ([`Oddities`]), with the intake of a list's elements that every endpoint shares.

use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::{id_of, Element, Field, Unreadable};
use crate::smartlead::key::{Redactor, TextEnd};
use crate::smartlead::text::{error_message, excerpt, json_error_message, quote};

/// Why a body is not the answer expected. The message quotes at most
/// [`MAX_QUOTED_BYTES`](crate::smartlead::text::MAX_QUOTED_BYTES) characters of it, with the key
/// redacted, or nothing at all where the answer may hold other secrets (mailboxes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub(crate) String);

/// A JSON array read element by element: `add` gets each element's index and value as it
/// arrives.
struct Each<'w, E, F> {
    /// What the array holds, for serde's messages (`campaigns`).
    what: &'w str,
    /// Called once per element.
    add: F,
    /// The type of the elements.
    element: PhantomData<E>,
}

impl<'de, E: Deserialize<'de>, F: FnMut(usize, E)> DeserializeSeed<'de> for &mut Each<'_, E, F> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, E: Deserialize<'de>, F: FnMut(usize, E)> Visitor<'de> for &mut Each<'_, E, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a JSON array of {}", self.what)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        while let Some(element) = seq.next_element::<E>()? {
            (self.add)(index, element);
            index += 1;
        }
        Ok(())
    }
}

/// How much of a refused body a message may quote.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Quoting<'r> {
    /// A short excerpt, with the key redacted; an object is described by its JSON error
    /// message, when it has one.
    Redacted(&'r Redactor),
    /// As [`Quoting::Redacted`], and an object without a JSON error message by its first
    /// characters.
    RedactedOrStart(&'r Redactor),
    /// Nothing at all: the answer may hold secrets besides the key (mailbox credentials).
    Nothing,
}

/// Refuses a body that cannot be a JSON array at all (empty, HTML, an object), saying what it
/// is; `None` when it may be one. `what` names the elements (`campaigns`).
fn not_an_array(body: &[u8], what: &str, quoting: Quoting<'_>) -> Option<DecodeError> {
    let first = body.iter().copied().find(|b| !b.is_ascii_whitespace());
    let message = match first {
        None => "the body is empty".to_owned(),
        Some(b'<') => match quoting {
            Quoting::Redacted(redactor) | Quoting::RedactedOrStart(redactor) => format!(
                "expected a JSON array of {what}, got HTML or XML: {}",
                quote(body, redactor)
            ),
            Quoting::Nothing => format!("expected a JSON array of {what}, got HTML or XML"),
        },
        Some(b'{') => {
            let message = match quoting {
                Quoting::Redacted(redactor) => json_error_message(body, redactor),
                Quoting::RedactedOrStart(redactor) => error_message(body, redactor),
                Quoting::Nothing => None,
            };
            let detail = message
                .map(|m| format!(" with message {m:?}"))
                .unwrap_or_default();
            format!("expected a JSON array of {what}, got a JSON object{detail}")
        }
        Some(_) => return None,
    };
    Some(DecodeError(message))
}

/// Reads `body` as a JSON array, handing `add` each element and its position as it arrives,
/// so that no list of wire elements is ever held. `what` names the elements in messages
/// (`campaigns`).
///
/// # Errors
/// A [`DecodeError`] saying what the body is instead: empty, HTML, an object, or JSON that
/// is not an array of `E` (truncated, say), quoted as `quoting` allows.
pub(crate) fn read_array<'de, E: Deserialize<'de>>(
    body: &'de [u8],
    what: &str,
    quoting: Quoting<'_>,
    add: impl FnMut(usize, E),
) -> Result<(), DecodeError> {
    if let Some(refused) = not_an_array(body, what, quoting) {
        return Err(refused);
    }
    let mut each = Each {
        what,
        add,
        element: PhantomData,
    };
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    (&mut each)
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end())
        .map_err(|e| unreadable_json(&e, &format!("a list of {what}"), body, quoting))
}

/// A message for a body `serde_json` could not read as `what`. With [`Quoting::Nothing`], only
/// the kind of error and where it is: `serde_json`'s own text may quote a value.
pub(crate) fn unreadable_json(
    error: &serde_json::Error,
    what: &str,
    body: &[u8],
    quoting: Quoting<'_>,
) -> DecodeError {
    match quoting {
        Quoting::Redacted(redactor) | Quoting::RedactedOrStart(redactor) => DecodeError(format!(
            "the body is not {what}: {} (body starts {})",
            excerpt(&error.to_string(), redactor, TextEnd::Complete),
            quote(body, redactor)
        )),
        Quoting::Nothing => {
            let kind = match error.classify() {
                serde_json::error::Category::Io => "it could not be read",
                serde_json::error::Category::Syntax => "it is not valid JSON",
                serde_json::error::Category::Data => "it has the wrong shape",
                serde_json::error::Category::Eof => "it ends early",
            };
            DecodeError(format!(
                "the body is not {what}: {kind}, at line {} column {}",
                error.line(),
                error.column()
            ))
        }
    }
}

/// Counts what was odd in one answer, for a warning given once: elements dropped (with why the
/// first one was), values unreadable, names cut. Never holds a value taken from the answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Oddities {
    /// Elements dropped because they are not objects or have no usable id.
    pub dropped: usize,
    /// Why the first dropped element was dropped: its position and kind, never its content.
    pub drop_reason: Option<String>,
    /// Elements that repeated an id (or, for replies, a name) seen before in the same answer;
    /// the first one is kept.
    pub duplicates: usize,
    /// Values present but unreadable as what their field should be (a counter that is not a
    /// number, a flag that is not a bool...): each is taken as absent.
    pub unreadable_values: usize,
    /// Names cut to [`MAX_NAME_BYTES`](crate::smartlead::text::MAX_NAME_BYTES).
    pub truncated_names: usize,
}

impl Oddities {
    /// Counts a dropped element, keeping the first reason.
    pub(crate) fn drop(&mut self, reason: impl FnOnce() -> String) {
        self.dropped += 1;
        if self.drop_reason.is_none() {
            self.drop_reason = Some(reason());
        }
    }

    /// The record of list element `index`, or `None` when it is not an object: then it is
    /// dropped, the reason saying it should be `expected` (`a campaign`).
    pub(crate) fn record<T>(
        &mut self,
        index: usize,
        element: Element<T>,
        expected: &str,
    ) -> Option<T> {
        match element {
            Element::Record(record) => Some(record),
            Element::Other(kind) => {
                self.drop(|| format!("element {index}: invalid type: {kind}, expected {expected}"));
                None
            }
        }
    }

    /// The id of list element `index`, or `None` when it has no usable one: then the element
    /// is dropped, with why.
    pub(crate) fn id(&mut self, index: usize, id: Option<&Field<'_>>) -> Option<u64> {
        match id.map(id_of) {
            Some(Ok(id)) => Some(id),
            Some(Err(what)) => {
                self.drop(|| {
                    format!(
                        "element {index}: its id is {what}, expected a non-negative integer id \
                         (a number or a string of digits)"
                    )
                });
                None
            }
            None => {
                self.drop(|| format!("element {index}: missing field `id`"));
                None
            }
        }
    }

    /// The id of list element `index` when it is usable and not in `seen` yet, which then
    /// holds it; else `None`: the element is dropped (no usable id) or counted as a repeat.
    pub(crate) fn new_id(
        &mut self,
        index: usize,
        id: Option<&Field<'_>>,
        seen: &mut HashSet<u64>,
    ) -> Option<u64> {
        let id = self.id(index, id)?;
        if seen.insert(id) {
            Some(id)
        } else {
            self.duplicates += 1;
            None
        }
    }

    /// Refuses an answer whose list held elements but no usable one: then it is not a list of
    /// what it should hold (`element`: `a campaign`). `kept` is how many were kept.
    ///
    /// # Errors
    /// A [`DecodeError`] with the count and why the first element was dropped.
    pub(crate) fn none_kept(&self, kept: usize, element: &str) -> Result<(), DecodeError> {
        if kept > 0 || self.dropped == 0 {
            return Ok(());
        }
        Err(DecodeError(format!(
            "the body is a list, but none of its {} elements is {element}; the first: {}",
            self.dropped,
            self.drop_reason.as_deref().unwrap_or("unknown")
        )))
    }

    /// The value of a lenient read, counting an unreadable one and taking it as absent.
    pub(crate) fn value<T>(&mut self, read: Result<Option<T>, Unreadable>) -> Option<T> {
        read.unwrap_or_else(|Unreadable| {
            self.unreadable_values += 1;
            None
        })
    }
}
