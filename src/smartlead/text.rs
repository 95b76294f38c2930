//! Upstream text made safe to keep or to quote: names cut for labels, and excerpts for
//! messages.
//!
//! Everything quoted from an answer goes through one path, [`excerpt`]: the API key is redacted
//! from the whole text first, and only then is the text cut. Names kept as data (category,
//! campaign, mailbox address) go through one function, `name`: redacted, then cut to
//! [`MAX_NAME_BYTES`].

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::key::{Redactor, TextEnd};

/// At most this many characters of upstream text are quoted in a message or a warning.
pub(crate) const MAX_QUOTED_BYTES: usize = 120;

/// At most this many bytes of an upstream text are examined for a quote. The key is redacted
/// in all of them before the quote is cut to [`MAX_QUOTED_BYTES`] characters; the window is
/// wide enough for the quote and any encoding of a key that straddles it, and a tail of the
/// window that could begin the key is dropped as well.
pub(crate) const QUOTE_WINDOW_BYTES: usize = 32 * 1024;

/// Names and sentiments (data, not messages) are searched for the key only when it is at
/// least this long. Real SmartLead keys are far longer; a short test key such as `k` would
/// otherwise mangle every name holding the letter.
pub(crate) const MIN_KEY_BYTES_HIDDEN_IN_DATA: usize = 16;

/// A name (category, campaign, mailbox address) is cut to this many bytes, on a character
/// boundary: it becomes a label value on every scrape, and Prometheus has no use for a longer
/// one.
pub(crate) const MAX_NAME_BYTES: usize = 1024;

/// Extracts a human-readable message from an error body, leniently: a JSON `message`,
/// `error` (string) or `error.message`, or else the first characters of the text; redacted,
/// then cut to [`MAX_QUOTED_BYTES`] characters.
pub(crate) fn error_message(body: &[u8], redactor: &Redactor) -> Option<String> {
    message_of(body, TextEnd::Complete, redactor)
}

/// [`error_message`] of the head of a longer body (read up to a cap): a tail that could begin
/// the key is dropped as well, since its rest was never read.
pub(crate) fn error_message_of_head(head: &[u8], redactor: &Redactor) -> Option<String> {
    message_of(head, TextEnd::Cut, redactor)
}

/// Only the message a JSON error body names (`message`, `error` or `error.message`), redacted
/// and cut; never the raw text. For answers that may hold secrets other than the key
/// (mailbox credentials), where a raw excerpt could quote one.
pub(crate) fn json_error_message(body: &[u8], redactor: &Redactor) -> Option<String> {
    json_message(body).map(|message| excerpt(&message, redactor, TextEnd::Complete))
}

fn message_of(body: &[u8], end: TextEnd, redactor: &Redactor) -> Option<String> {
    if let Some(message) = json_message(body) {
        return Some(excerpt(&message, redactor, TextEnd::Complete));
    }
    let text = excerpt_bytes(body, end, redactor);
    (!text.is_empty() && text != "…").then_some(text)
}

/// The message field of a JSON error body, as it is (neither redacted nor cut).
fn json_message(body: &[u8]) -> Option<Cow<'_, str>> {
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
    let envelope = serde_json::from_slice::<Envelope<'_>>(body).ok()?;
    envelope.message.or(match envelope.error {
        Some(ErrorField::Text(text)) => Some(text),
        Some(ErrorField::Object(nested)) => nested.message,
        _ => None,
    })
}

/// Upstream text made fit for a message: whitespace collapsed and control characters dropped,
/// the key redacted from all of it (or from the first [`QUOTE_WINDOW_BYTES`]), and only then
/// cut to [`MAX_QUOTED_BYTES`] characters, ending in `…` when cut. `end` says whether `text` is
/// already the head of a longer text.
pub(crate) fn excerpt(text: &str, redactor: &Redactor, end: TextEnd) -> String {
    let (window, end) = if text.len() > QUOTE_WINDOW_BYTES {
        (head(text, QUOTE_WINDOW_BYTES), TextEnd::Cut)
    } else {
        (text, end)
    };
    // Cleaning first: dropping a control character could otherwise join a key's halves.
    let cleaned = clean(window);
    let redacted = redactor.redact(&cleaned, end);
    let mut chars = redacted.char_indices();
    match chars.nth(MAX_QUOTED_BYTES - 1) {
        Some((at, _)) if chars.next().is_some() || end == TextEnd::Cut => {
            format!("{}…", &redacted[..at])
        }
        _ if end == TextEnd::Cut => format!("{redacted}…"),
        _ => redacted.into_owned(),
    }
}

/// [`excerpt`] of the head of a body that may not be UTF-8.
pub(crate) fn excerpt_bytes(body: &[u8], end: TextEnd, redactor: &Redactor) -> String {
    let (window, end) = if body.len() > QUOTE_WINDOW_BYTES {
        (&body[..QUOTE_WINDOW_BYTES], TextEnd::Cut)
    } else {
        (body, end)
    };
    excerpt(&String::from_utf8_lossy(window), redactor, end)
}

/// The first characters of a body, quoted, for a log line.
pub(crate) fn quote(body: &[u8], redactor: &Redactor) -> String {
    format!("{:?}", excerpt_bytes(body, TextEnd::Complete, redactor))
}

/// The longest head of `text` of at most `max` bytes that ends on a character boundary.
pub(crate) fn head(text: &str, max: usize) -> &str {
    let mut at = max.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    &text[..at]
}

/// Collapses runs of whitespace into one space and drops control characters.
fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().filter(|c| !c.is_control()));
    }
    out
}

/// A name kept as data: the key redacted from the whole of it (when the key is long enough to
/// be told apart from ordinary text, see [`MIN_KEY_BYTES_HIDDEN_IN_DATA`]), then cut to `max`
/// bytes on a character boundary. Also says whether it was cut.
pub(crate) fn name(raw: Cow<'_, str>, redactor: &Redactor, max: usize) -> (String, bool) {
    // Redacted whole, then cut: a key straddling the cut must not show its first half.
    let redacted = if redactor.key_len() >= MIN_KEY_BYTES_HIDDEN_IN_DATA {
        redactor.redact(&raw, TextEnd::Complete)
    } else {
        raw
    };
    if redacted.len() > max {
        (head(&redacted, max).to_owned(), true)
    } else {
        (redacted.into_owned(), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smartlead::key::ApiKey;

    const KEY: &str = "canary-7f3a9c-do-not-leak";

    fn redactor() -> Redactor {
        Redactor::new(&ApiKey::new(KEY).unwrap())
    }

    #[test]
    fn a_key_at_the_end_of_an_error_body_read_in_part_is_dropped() {
        let head = format!("refused: {}", &KEY[..12]);
        let message = super::error_message_of_head(head.as_bytes(), &redactor()).unwrap();
        assert_eq!(message, "refused: …");
        let message = super::error_message(head.as_bytes(), &redactor()).unwrap();
        assert_eq!(
            message, head,
            "a complete text keeps what is not the whole key"
        );
    }

    #[test]
    fn json_error_messages_never_fall_back_to_the_raw_text() {
        let r = Redactor::default();
        assert_eq!(
            json_error_message(br#"{"message": "limit must be <= 100"}"#, &r).as_deref(),
            Some("limit must be <= 100")
        );
        assert_eq!(
            json_error_message(br#"{"error": {"message": "bad offset"}}"#, &r).as_deref(),
            Some("bad offset")
        );
        assert_eq!(
            json_error_message(br#"[{"smtp_password": "hunter2"}]"#, &r),
            None
        );
        assert_eq!(json_error_message(b"smtp_password=hunter2", &r), None);
        assert_eq!(
            json_error_message(
                br#"{"message": "bad key canary-7f3a9c-do-not-leak"}"#,
                &redactor()
            )
            .as_deref(),
            Some("bad key [redacted]")
        );
    }

    #[test]
    fn names_are_redacted_then_cut_on_a_character_boundary() {
        let raw = format!("{}é", "a".repeat(MAX_NAME_BYTES - 1));
        let (cut, was_cut) = name(Cow::Borrowed(&raw), &Redactor::default(), MAX_NAME_BYTES);
        assert_eq!(cut, "a".repeat(MAX_NAME_BYTES - 1));
        assert!(was_cut);
        let (same, was_cut) = name(Cow::Borrowed("short"), &Redactor::default(), MAX_NAME_BYTES);
        assert_eq!((same.as_str(), was_cut), ("short", false));
        let raw = format!("{}{KEY}", "n".repeat(MAX_NAME_BYTES - 20));
        let (redacted, was_cut) = name(Cow::Borrowed(&raw), &redactor(), MAX_NAME_BYTES);
        assert!(!redacted.contains("canary"), "{redacted}");
        assert!(!was_cut);
    }
}
