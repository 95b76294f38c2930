//! Content negotiation for the exposition: whether a request's `Accept-Encoding` asks for gzip
//! (RFC 9110, section 12.5.3), with q-values honoured.
//!
//! Written here rather than taken from a crate: `accept-encoding` is archived and depends on
//! the deprecated `failure`; `headers` has no public `Accept-Encoding` with q-values; the
//! parser in `tower-http` is private. The grammar is small, and the property tests below run
//! it on arbitrary input.
//!
//! The rules: a coding with `q=0` is refused; `*` stands for every coding not named in the
//! header; `identity` (no encoding) is acceptable unless refused by name or by `*;q=0`. gzip
//! is chosen when it is acceptable and weighs at least as much as identity, where the client
//! gave identity a weight (by name or through `*`), since it is much the smaller answer. When
//! the client refuses both, the answer is plain anyway: a scrape is never failed over its
//! encoding.

use hyper::header::HeaderValue;

/// A q-value in thousandths (`q=0.5` is 500); 1,000 when the item has none.
type Quality = u16;

/// The weight of a coding with no q-value, and the highest.
const FULL: Quality = 1000;

/// What one `Accept-Encoding` list says about the codings this server can produce.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Weights {
    /// `gzip` or `x-gzip` named explicitly (the highest weight given).
    gzip: Option<Quality>,
    /// `identity` named explicitly.
    identity: Option<Quality>,
    /// `*`, which covers the codings not named.
    any: Option<Quality>,
}

impl Weights {
    /// Adds the items of one header value.
    fn add(&mut self, value: &str) {
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or_default().trim();
            if coding.is_empty() {
                continue;
            }
            let mut quality = Some(FULL);
            for param in parts {
                let Some((name, value)) = param.split_once('=') else {
                    continue;
                };
                if name.trim().eq_ignore_ascii_case("q") {
                    quality = parse_quality(value.trim());
                }
            }
            // An item with a malformed q-value is ignored, as if it were absent.
            let Some(quality) = quality else { continue };
            let slot =
                if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                    &mut self.gzip
                } else if coding.eq_ignore_ascii_case("identity") {
                    &mut self.identity
                } else if coding == "*" {
                    &mut self.any
                } else {
                    continue;
                };
            *slot = Some(slot.map_or(quality, |q| q.max(quality)));
        }
    }

    /// Whether to answer with gzip.
    fn gzip(&self) -> bool {
        let gzip = self.gzip.or(self.any).unwrap_or(0);
        // Identity weighs in only when the client weighed it, by name or through `*`.
        let identity = self.identity.or(self.any).unwrap_or(0);
        gzip > 0 && gzip >= identity
    }
}

/// A q-value (`0`, `0.5`, `1.000`) in thousandths; `None` when it does not follow the
/// grammar `0[.ddd]` or `1[.000]`.
fn parse_quality(text: &str) -> Option<Quality> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: Quality = 0;
    for (i, digit) in fraction.bytes().enumerate() {
        let place = [100, 10, 1][i];
        thousandths += Quality::from(digit - b'0') * place;
    }
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(FULL),
        _ => None,
    }
}

/// Whether the request's `Accept-Encoding` headers, taken together as one list, ask for gzip.
/// Values that are not text are skipped; no header means no gzip.
pub(crate) fn wants_gzip<'a>(values: impl IntoIterator<Item = &'a HeaderValue>) -> bool {
    let mut weights = Weights::default();
    for value in values {
        // A value of `gzip` alone, what Prometheus sends, gives gzip the highest weight, which
        // no other item can lower or outweigh: the answer is gzip without parsing the rest.
        if value.as_bytes().eq_ignore_ascii_case(b"gzip") {
            return true;
        }
        if let Ok(value) = value.to_str() {
            weights.add(value);
        }
    }
    weights.gzip()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Whether one `Accept-Encoding` value asks for gzip.
    fn accepts_gzip(header: &str) -> bool {
        let mut weights = Weights::default();
        weights.add(header);
        weights.gzip()
    }

    #[test]
    fn a_wildcard_does_not_cover_a_coding_refused_by_name() {
        assert!(!accepts_gzip("gzip;q=0, *"));
        assert!(!accepts_gzip("*, gzip;q=0"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("gzip; q=0.0, br"));
        assert!(!accepts_gzip("GZIP;Q=0.000"));
        assert!(accepts_gzip("gzip;q=0.001"));
    }

    #[test]
    fn what_prometheus_and_others_send() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("gzip, deflate, br"));
        assert!(accepts_gzip("deflate, GZIP;q=0.5"));
        assert!(accepts_gzip("x-gzip"));
        assert!(accepts_gzip("identity, *"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip("br, deflate"));
        assert!(!accepts_gzip("x-gzip2"));
        assert!(!accepts_gzip(""));
        assert!(!accepts_gzip(" , ;q=1"));
    }

    #[test]
    fn identity_is_weighed_against_gzip() {
        assert!(!accepts_gzip("gzip;q=0.5, identity"));
        assert!(accepts_gzip("gzip;q=0.5, identity;q=0.5"));
        assert!(accepts_gzip("gzip;q=0.1, identity;q=0"));
        // `*;q=0` refuses identity too, so gzip at any weight wins.
        assert!(accepts_gzip("gzip;q=0.2, *;q=0"));
        // `*` at a low weight weighs identity down as well; `*` covers identity too.
        assert!(accepts_gzip("*;q=0.3"));
        assert!(!accepts_gzip("gzip;q=0.5, *"));
        // Both refused: plain all the same (not gzip).
        assert!(!accepts_gzip("*;q=0"));
        assert!(!accepts_gzip("gzip;q=0, identity;q=0"));
    }

    #[test]
    fn malformed_q_values_drop_their_item() {
        assert!(!accepts_gzip("gzip;q=2"));
        assert!(!accepts_gzip("gzip;q=1.5"));
        assert!(!accepts_gzip("gzip;q=0.0001"));
        assert!(!accepts_gzip("gzip;q=-1"));
        assert!(!accepts_gzip("gzip;q="));
        assert!(!accepts_gzip("gzip;q=abc"));
        assert!(accepts_gzip("gzip;q=nan, *"));
        assert!(accepts_gzip("gzip;level=9"));
        assert!(accepts_gzip("gzip ; q = 1.000"));
    }

    #[test]
    fn several_headers_are_one_list() {
        let values = [
            HeaderValue::from_static("*"),
            HeaderValue::from_static("gzip;q=0"),
        ];
        assert!(!wants_gzip(&values));
        let values = [
            HeaderValue::from_static("br"),
            HeaderValue::from_static("gzip"),
        ];
        assert!(wants_gzip(&values));
        let values = [HeaderValue::from_bytes(b"gzip\xff").unwrap()];
        assert!(!wants_gzip(&values));
        assert!(!wants_gzip(&[]));
    }

    /// Whether `values`, every one parsed, ask for gzip: [`wants_gzip`] without its shortcut.
    fn weighed(values: &[HeaderValue]) -> bool {
        let mut weights = Weights::default();
        for value in values {
            if let Ok(value) = value.to_str() {
                weights.add(value);
            }
        }
        weights.gzip()
    }

    proptest! {
        #[test]
        fn a_plain_gzip_value_answers_as_the_whole_list_would(
            values in proptest::collection::vec("[ ,;=a-zA-Z0-9.*qQ-]{0,24}|(?i:gzip)", 0..5)
        ) {
            let values: Vec<HeaderValue> =
                values.iter().filter_map(|v| HeaderValue::from_str(v).ok()).collect();
            prop_assert_eq!(wants_gzip(&values), weighed(&values));
        }

        #[test]
        fn never_panics_on_arbitrary_text(header in any::<String>()) {
            let _ = accepts_gzip(&header);
        }

        #[test]
        fn never_panics_on_header_like_text(header in "[ ,;=a-zA-Z0-9.*qQ-]{0,64}") {
            let _ = accepts_gzip(&header);
        }

        #[test]
        fn a_named_refusal_wins_over_any_wildcard(
            before in "[ ,a-z*;=.0-9]{0,24}", after in "[ ,a-z*;=.0-9]{0,24}"
        ) {
            // Whatever surrounds it (and no other gzip item), gzip;q=0 refuses gzip.
            prop_assume!(!before.contains("gzip") && !after.contains("gzip"));
            let header = format!("{before}, gzip;q=0, {after}");
            prop_assert!(!accepts_gzip(&header));
        }

        #[test]
        fn quality_round_trips(q in 0u16..=1000) {
            let text = format!("{}.{:03}", q / 1000, q % 1000);
            prop_assert_eq!(parse_quality(&text), Some(q));
        }
    }
}
