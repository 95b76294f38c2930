//! Mailboxes: one page of `GET /email-accounts/?offset=N&limit=100`, its model
//! [`MailboxPage`], and the lenient, linear-time parser [`parse`].
//!
//! Each element is one sending mailbox: its connection health (SMTP, IMAP), whether SmartLead
//! suspended it, its daily limit and today's sends, and its warmup (`warmup_details`, which may
//! be `null`). The answer also carries the mailbox's credentials (`smtp_password`,
//! `imap_password`): they are skipped unread, never held in a model type, and no message about
//! an answer of this endpoint quotes any of its body, even when it cannot be read.

use std::borrow::Cow;
use std::collections::HashSet;

use serde::de::MapAccess;

use super::json::{
    count_of, flag_of, optional_id_of, percent_of, read, read_array, skip, text_of, DecodeError,
    Element, Field, Oddities, Quoting, Record,
};
use super::key::Redactor;
use super::text::{self, MAX_NAME_BYTES};

/// The largest page SmartLead serves (`limit` above it is answered 422).
pub(crate) const MAX_PAGE_SIZE: u64 = 100;

/// A mailbox's `type` (`GMAIL`, `OUTLOOK`, `SMTP`, `ZOHO`...) is kept up to this many bytes.
pub(crate) const MAX_TYPE_BYTES: usize = 64;

/// A mailbox's warmup state, from `warmup_details.status`: the `warmup_status` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WarmupStatus {
    /// `ACTIVE`: warming up.
    Active,
    /// `INACTIVE`: warmup off.
    Inactive,
    /// `PAUSED`.
    Paused,
    /// Any other value, or none.
    Other,
}

impl WarmupStatus {
    /// Classifies a raw status, ignoring case and surrounding whitespace.
    pub fn parse(raw: &str) -> Self {
        let raw = raw.trim();
        if raw.eq_ignore_ascii_case("ACTIVE") {
            Self::Active
        } else if raw.eq_ignore_ascii_case("INACTIVE") {
            Self::Inactive
        } else if raw.eq_ignore_ascii_case("PAUSED") {
            Self::Paused
        } else {
            Self::Other
        }
    }

    /// The label value.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Paused => "paused",
            Self::Other => "other",
        }
    }
}

/// A mailbox's warmup, from `warmup_details`.
#[derive(Debug, Clone, PartialEq)]
pub struct Warmup {
    /// `status`, when given.
    pub status: Option<WarmupStatus>,
    /// `warmup_reputation` as a ratio from 0 to 1 (`"95%"`, `95` and `"95"` are all 0.95);
    /// `None` when SmartLead gave none or it was unreadable.
    pub reputation: Option<f64>,
    /// `is_warmup_blocked`: the warmup network refused the mailbox.
    pub blocked: Option<bool>,
}

/// One mailbox. Flags and counts are `None` when SmartLead gave none (`null`, absent or
/// unreadable).
#[derive(Debug, Clone, PartialEq)]
pub struct Mailbox {
    /// SmartLead's id; unique within a page (repeats are dropped).
    pub id: u64,
    /// `from_email`, cut to [`MAX_NAME_BYTES`]; empty when absent.
    pub email: String,
    /// `type` as sent (`GMAIL`, `OUTLOOK`, `SMTP`...), cut to [`MAX_TYPE_BYTES`]; empty when
    /// absent.
    pub kind: String,
    /// The agency client; `None` when SmartLead left it null.
    pub client_id: Option<u64>,
    /// `campaign_count`: campaigns sending from this mailbox.
    pub campaigns: Option<u64>,
    /// `message_per_day`: the daily sending limit.
    pub daily_limit: Option<u64>,
    /// `daily_sent_count`: sent today.
    pub daily_sent: Option<u64>,
    /// `is_smtp_success`: the last SMTP connection worked.
    pub smtp_ok: Option<bool>,
    /// `is_imap_success`: the last IMAP connection worked.
    pub imap_ok: Option<bool>,
    /// `is_suspended`.
    pub suspended: Option<bool>,
    /// `warmup_details`; `None` when it was `null` or absent.
    pub warmup: Option<Warmup>,
}

/// One parsed page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MailboxPage {
    /// In SmartLead's order, each id once (the first occurrence wins).
    pub mailboxes: Vec<Mailbox>,
    /// How many elements the array held, dropped and repeated ones included: a page with
    /// fewer than the `limit` asked for is the last.
    pub returned: usize,
    /// What was odd: elements that are not objects or have no usable id are dropped.
    pub oddities: Oddities,
}

/// Parses one page of `GET /email-accounts/`; `redactor` hides the key in the addresses.
///
/// Each element should have an integer `id` (a number or a string of digits); every other
/// field may be absent, `null`, or of another type (counts as strings, flags as `0`/`1`); other
/// fields, credentials among them, are skipped unread. An element that is not an object or has
/// no usable id is dropped and counted. Runs in time linear in the body and never panics.
///
/// # Errors
/// A [`DecodeError`] saying what kind of thing was found instead of a list of mailboxes, and
/// where JSON broke off; it never quotes the body, which holds credentials.
pub(crate) fn parse(body: &[u8], redactor: &Redactor) -> Result<MailboxPage, DecodeError> {
    let mut page = MailboxPage::default();
    let mut ids = HashSet::new();
    read_array(body, "mailboxes", Quoting::Nothing, |index, element| {
        page.returned += 1;
        add_mailbox(&mut page, &mut ids, redactor, index, element);
    })?;
    page.oddities.none_kept(page.mailboxes.len(), "a mailbox")?;
    Ok(page)
}

/// One element as it arrives: only the fields kept. Credentials are named here only to be
/// skipped.
#[derive(Default)]
struct Entry<'a> {
    id: Option<Field<'a>>,
    from_email: Option<Field<'a>>,
    kind: Option<Field<'a>>,
    client_id: Option<Field<'a>>,
    campaign_count: Option<Field<'a>>,
    message_per_day: Option<Field<'a>>,
    daily_sent_count: Option<Field<'a>>,
    is_smtp_success: Option<Field<'a>>,
    is_imap_success: Option<Field<'a>>,
    is_suspended: Option<Field<'a>>,
    warmup_details: Option<Element<WarmupEntry<'a>>>,
}

impl<'de> Record<'de> for Entry<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "id" => read(map, &mut self.id),
            "from_email" => read(map, &mut self.from_email),
            "type" => read(map, &mut self.kind),
            "client_id" => read(map, &mut self.client_id),
            "campaign_count" => read(map, &mut self.campaign_count),
            "message_per_day" => read(map, &mut self.message_per_day),
            "daily_sent_count" => read(map, &mut self.daily_sent_count),
            "is_smtp_success" => read(map, &mut self.is_smtp_success),
            "is_imap_success" => read(map, &mut self.is_imap_success),
            "is_suspended" => read(map, &mut self.is_suspended),
            "warmup_details" => {
                self.warmup_details = Some(map.next_value()?);
                Ok(())
            }
            // Never read: credentials, and everything else not kept.
            "smtp_password" | "imap_password" => skip(map),
            _ => skip(map),
        }
    }
}

/// `warmup_details` as it arrives.
#[derive(Default)]
struct WarmupEntry<'a> {
    status: Option<Field<'a>>,
    warmup_reputation: Option<Field<'a>>,
    is_warmup_blocked: Option<Field<'a>>,
}

impl<'de> Record<'de> for WarmupEntry<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "status" => read(map, &mut self.status),
            "warmup_reputation" => read(map, &mut self.warmup_reputation),
            "is_warmup_blocked" => read(map, &mut self.is_warmup_blocked),
            _ => skip(map),
        }
    }
}

/// Adds one element, leniently, counting what was odd about it.
fn add_mailbox(
    page: &mut MailboxPage,
    ids: &mut HashSet<u64>,
    redactor: &Redactor,
    index: usize,
    element: Element<Entry<'_>>,
) {
    let odd = &mut page.oddities;
    let Some(entry) = odd.record(index, element, "a mailbox") else {
        return;
    };
    let Some(id) = odd.new_id(index, entry.id.as_ref(), ids) else {
        return;
    };
    let email = odd
        .value(text_of(entry.from_email))
        .unwrap_or(Cow::Borrowed(""));
    let (email, cut) = text::name(email, redactor, MAX_NAME_BYTES);
    if cut {
        odd.truncated_names += 1;
    }
    let kind = odd.value(text_of(entry.kind)).unwrap_or(Cow::Borrowed(""));
    let kind = text::head(kind.trim(), MAX_TYPE_BYTES).to_owned();
    let warmup = match entry.warmup_details {
        None | Some(Element::Other("null")) => None,
        Some(Element::Other(_)) => {
            odd.unreadable_values += 1;
            None
        }
        Some(Element::Record(w)) => Some(Warmup {
            status: odd
                .value(text_of(w.status))
                .map(|s| WarmupStatus::parse(&s)),
            reputation: odd.value(percent_of(w.warmup_reputation.as_ref())),
            blocked: odd.value(flag_of(w.is_warmup_blocked.as_ref())),
        }),
    };
    let mailbox = Mailbox {
        id,
        email,
        kind,
        client_id: odd.value(optional_id_of(entry.client_id.as_ref())),
        campaigns: odd.value(count_of(entry.campaign_count.as_ref())),
        daily_limit: odd.value(count_of(entry.message_per_day.as_ref())),
        daily_sent: odd.value(count_of(entry.daily_sent_count.as_ref())),
        smtp_ok: odd.value(flag_of(entry.is_smtp_success.as_ref())),
        imap_ok: odd.value(flag_of(entry.is_imap_success.as_ref())),
        suspended: odd.value(flag_of(entry.is_suspended.as_ref())),
        warmup,
    };
    page.mailboxes.push(mailbox);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smartlead::key::ApiKey;

    fn parse(body: &[u8]) -> Result<MailboxPage, DecodeError> {
        super::parse(body, &Redactor::default())
    }

    /// A page in the shape real clients read, credentials included (fake ones).
    const PAGE: &str = include_str!("../../tests/fixtures/email-accounts.json");

    /// Canaries in the credential fields: none may appear in anything the parser returns.
    const SMTP_CANARY: &str = "smtp-canary-5b1e0f";
    const IMAP_CANARY: &str = "imap-canary-90c2d4";

    fn assert_no_canary(text: &str) {
        for canary in [SMTP_CANARY, IMAP_CANARY, "canary"] {
            assert!(!text.contains(canary), "{canary} in {text}");
        }
    }

    #[test]
    fn the_real_page_parses_with_health_and_warmup() {
        let page = parse(PAGE.as_bytes()).unwrap();
        assert_eq!(page.returned, 3);
        let m = &page.mailboxes[0];
        assert_eq!(m.id, 2_215_431);
        assert_eq!(m.email, "alex@outbound-mail.example");
        assert_eq!(m.kind, "GMAIL");
        assert_eq!(m.client_id, None);
        assert_eq!(m.campaigns, Some(3));
        assert_eq!(m.daily_limit, Some(40));
        assert_eq!(m.daily_sent, Some(17));
        assert_eq!(m.smtp_ok, Some(true));
        assert_eq!(m.imap_ok, Some(true));
        assert_eq!(m.suspended, Some(false));
        let w = m.warmup.as_ref().unwrap();
        assert_eq!(w.status, Some(WarmupStatus::Active));
        assert_eq!(w.reputation, Some(0.95));
        assert_eq!(w.blocked, Some(false));

        let m = &page.mailboxes[1];
        assert_eq!(m.kind, "OUTLOOK");
        assert_eq!(m.client_id, Some(4821));
        assert_eq!(m.smtp_ok, Some(false));
        let w = m.warmup.as_ref().unwrap();
        assert_eq!(w.reputation, Some(0.62));
        assert_eq!(w.blocked, Some(true));
        assert_eq!(w.status, Some(WarmupStatus::Paused));

        let m = &page.mailboxes[2];
        assert_eq!(m.warmup, None);
        assert_eq!(m.kind, "SMTP");
        assert_eq!(page.oddities, crate::smartlead::Oddities::default());
    }

    #[test]
    fn reputations_read_as_ratios_in_every_form() {
        for (raw, ratio) in [
            ("\"95%\"", Some(0.95)),
            ("95", Some(0.95)),
            ("\"95\"", Some(0.95)),
            ("null", None),
            ("\"\"", None),
        ] {
            let body = format!(r#"[{{"id":1,"warmup_details":{{"warmup_reputation":{raw}}}}}]"#);
            let page = parse(body.as_bytes()).unwrap();
            let reputation = page.mailboxes[0].warmup.as_ref().unwrap().reputation;
            assert_eq!(reputation, ratio, "{raw}");
        }
        let page = parse(br#"[{"id":1,"warmup_details":{"status":"ACTIVE"}}]"#).unwrap();
        assert_eq!(page.mailboxes[0].warmup.as_ref().unwrap().reputation, None);
    }

    #[test]
    fn odd_mailboxes_are_understood_or_dropped() {
        let body = br#"[
            {"id":"10","from_email":"a@x.example","is_smtp_success":"1","is_imap_success":0,
             "campaign_count":"2","message_per_day":"50","daily_sent_count":null,
             "client_id":"","warmup_details":[]},
            {"id":10,"from_email":"dup@x.example"},
            {"from_email":"no-id@x.example"},
            7,
            {"id":11,"is_suspended":"maybe","type":null,"warmup_details":{"warmup_reputation":"150%"}}
        ]"#;
        let page = parse(body).unwrap();
        assert_eq!(page.returned, 5);
        let ids: Vec<u64> = page.mailboxes.iter().map(|m| m.id).collect();
        assert_eq!(ids, [10, 11]);
        let a = &page.mailboxes[0];
        assert_eq!((a.smtp_ok, a.imap_ok), (Some(true), Some(false)));
        assert_eq!(
            (a.campaigns, a.daily_limit, a.daily_sent),
            (Some(2), Some(50), None)
        );
        assert_eq!(a.client_id, None);
        assert_eq!(a.warmup, None);
        let b = &page.mailboxes[1];
        assert_eq!(b.suspended, None);
        assert_eq!(b.kind, "");
        assert_eq!(b.warmup.as_ref().unwrap().reputation, None);
        let odd = &page.oddities;
        assert_eq!(odd.duplicates, 1);
        assert_eq!(odd.dropped, 2);
        assert_eq!(odd.unreadable_values, 3, "{odd:?}");
        assert_eq!(
            odd.drop_reason.as_deref(),
            Some("element 2: missing field `id`")
        );
    }

    #[test]
    fn credentials_are_never_kept() {
        let page = parse(PAGE.as_bytes()).unwrap();
        assert!(PAGE.contains(SMTP_CANARY) && PAGE.contains(IMAP_CANARY));
        assert_no_canary(&format!("{page:?}"));
    }

    #[test]
    fn a_broken_answer_quotes_nothing_of_its_body() {
        let element = format!(
            r#"{{"id":1,"from_email":"a@x.example","smtp_password":"{SMTP_CANARY}","imap_password":"{IMAP_CANARY}"}}"#
        );
        let broken = [
            // Cut off inside a password.
            format!("[{}", &element[..element.len() - 10]),
            // A syntax error right after one.
            format!("[{element},{{\"smtp_password\":\"{SMTP_CANARY}\" \"x\"}}]"),
            // A structure that is not a list, holding the credentials.
            format!(r#"{{"message":"{SMTP_CANARY}","data":[{element}]}}"#),
            format!(r#"{{"error":{{"message":"{IMAP_CANARY}"}}}}"#),
            // HTML quoting them.
            format!("<html>{SMTP_CANARY} {IMAP_CANARY}</html>"),
            // A list of nothing but odd elements.
            format!(r#"["{SMTP_CANARY}", {{"smtp_password":"{IMAP_CANARY}"}}]"#),
            // Not UTF-8 right after a password.
            format!("[{element},\"{SMTP_CANARY}\u{7f}"),
            // Trailing garbage.
            format!("[{element}] {SMTP_CANARY}"),
            // A bare string.
            format!("\"{SMTP_CANARY}\""),
        ];
        let mut bodies: Vec<Vec<u8>> = broken.iter().map(|b| b.as_bytes().to_vec()).collect();
        // Not UTF-8 in a field that is read, after a password.
        let mut invalid =
            format!("[{{\"id\":1,\"smtp_password\":\"{SMTP_CANARY}\",\"from_email\":\"")
                .into_bytes();
        invalid.extend_from_slice(b"\xff\xfe\"}]");
        bodies.push(invalid);
        for body in bodies {
            let err = parse(&body).expect_err(&String::from_utf8_lossy(&body));
            assert_no_canary(&err.to_string());
            assert_no_canary(&format!("{err:?}"));
        }
    }

    #[test]
    fn refuses_what_is_not_a_page_of_mailboxes() {
        for (body, expected) in [
            (&b""[..], "the body is empty"),
            (
                b"<html></html>",
                "expected a JSON array of mailboxes, got HTML or XML",
            ),
            (
                br#"{"message":"x"}"#,
                "expected a JSON array of mailboxes, got a JSON object",
            ),
            (b"[1]", "none of its 1 elements is a mailbox"),
            (b"[{\"id\":1}", "it ends early, at line 1 column 9"),
            (b"[{\"id\":1} x]", "it is not valid JSON"),
            (b"null", "it has the wrong shape"),
        ] {
            let err = parse(body).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
        let page = parse(b"[]").unwrap();
        assert_eq!((page.returned, page.mailboxes.len()), (0, 0));
    }

    #[test]
    fn addresses_are_cut_and_the_key_redacted() {
        let key = "canary-7f3a9c-do-not-leak";
        let redactor = Redactor::new(&ApiKey::new(key).unwrap());
        let long = "é".repeat(600);
        let body = format!(
            r#"[{{"id":1,"from_email":"{long}"}},{{"id":2,"from_email":"{key}@x.example"}}]"#
        );
        let page = super::parse(body.as_bytes(), &redactor).unwrap();
        assert_eq!(page.mailboxes[0].email, "é".repeat(512));
        assert_eq!(page.mailboxes[1].email, "[redacted]@x.example");
        assert_eq!(page.oddities.truncated_names, 1);
    }

    #[test]
    fn parse_time_is_linear_in_the_body() {
        use crate::smartlead::json::tests::{array_of, assert_linear, Shape};
        let shapes: [Shape; 4] = [
            ("many mailboxes", |n| {
                array_of(n, |i| {
                    format!(
                        r#"{{"id":{i},"from_email":"m{i}@x.example","smtp_password":"p{i}",
                        "imap_password":"q{i}","type":"GMAIL","client_id":"{i}",
                        "message_per_day":"40","daily_sent_count":"7","campaign_count":3,
                        "is_smtp_success":true,"is_imap_success":"1","is_suspended":false,
                        "warmup_details":{{"status":"ACTIVE","warmup_reputation":"95%",
                        "is_warmup_blocked":false}}}}"#
                    )
                })
            }),
            ("duplicates in reverse", |n| {
                array_of(n, |i| {
                    format!(r#"{{"id":{},"from_email":"d"}}"#, (n - i) % 97)
                })
            }),
            ("one long escaped password", |n| {
                format!(
                    r#"[{{"id":1,"smtp_password":"{}"}}]"#,
                    "\\u00e9\\\"".repeat(n)
                )
            }),
            ("nesting in unknown fields", |n| {
                array_of(n, |i| {
                    format!(r#"{{"id":{i},"x":[[[[{{"y":[1,{{}}]}}]]]]}}"#)
                })
            }),
        ];
        assert_linear(&shapes, 1000, |body| {
            let _ = parse(body);
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
                let _ = parse(&bytes);
            }

            #[test]
            fn arbitrary_json_never_panics(value in json()) {
                if let Ok(page) = parse(value.to_string().as_bytes()) {
                    prop_assert!(page.mailboxes.len() <= page.returned);
                    for m in &page.mailboxes {
                        if let Some(r) = m.warmup.as_ref().and_then(|w| w.reputation) {
                            prop_assert!((0.0..=1.0).contains(&r));
                        }
                    }
                }
            }

            #[test]
            fn arrays_of_near_mailboxes_never_panic(items in vec(json(), 0..16)) {
                let _ = parse(serde_json::Value::Array(items).to_string().as_bytes());
            }

            #[test]
            fn counts_and_reputations_round_trip(
                sent in any::<u64>(), sent_as_text in any::<bool>(),
                reputation in 0u32..=100, form in 0u8..3,
            ) {
                let sent = if sent_as_text {
                    serde_json::Value::from(sent.to_string())
                } else {
                    serde_json::Value::from(sent)
                };
                let raw = match form {
                    0 => serde_json::Value::from(format!("{reputation}%")),
                    1 => serde_json::Value::from(reputation),
                    _ => serde_json::Value::from(reputation.to_string()),
                };
                let body = serde_json::json!([{
                    "id": 1, "daily_sent_count": sent, "smtp_password": "x",
                    "warmup_details": {"warmup_reputation": raw}
                }]);
                let page = parse(body.to_string().as_bytes()).unwrap();
                let m = &page.mailboxes[0];
                prop_assert_eq!(
                    m.daily_sent.map(|n| n.to_string()),
                    Some(body[0]["daily_sent_count"].to_string().trim_matches('"').to_owned())
                );
                let got = m.warmup.as_ref().unwrap().reputation.unwrap();
                prop_assert!((got - f64::from(reputation) / 100.0).abs() < 1e-12);
            }
        }
    }
}
