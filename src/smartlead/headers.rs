//! The rate-limit headers of an answer (`X-RateLimit-*`, `Retry-After`), read leniently and
//! with time arithmetic that saturates whatever the headers say.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// How far ahead a time taken from outside (a header, a deadline from a flag) may lie; one
/// further ahead is taken as this far ahead. It keeps every addition to a clock in range, so
/// none can overflow and panic; nothing waits this long (the collectors cap server waits
/// far lower).
pub(crate) const FAR_FUTURE: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// The rate-limit headers of one answer. SmartLead's budget is per key and shared with every
/// other integration using the key, so the exporter shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// `X-RateLimit-Limit`.
    pub limit: Option<u64>,
    /// `X-RateLimit-Remaining`.
    pub remaining: Option<u64>,
    /// `X-RateLimit-Reset`: when the budget refills.
    pub reset: Option<SystemTime>,
}

/// A time from a header, no further ahead of `now` than [`FAR_FUTURE`]; `None` (overflow)
/// counts as far ahead.
fn clamp_ahead(at: Option<SystemTime>, now: SystemTime) -> SystemTime {
    let limit = now.checked_add(FAR_FUTURE).unwrap_or(now);
    match at {
        Some(at) if at <= limit => at,
        _ => limit,
    }
}

/// A header's whole number: `None` unless it is one, in digits.
fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    whole_number(headers.get(name)?.to_str().ok()?)?.ok()
}

/// Text as a non-negative whole number: `Some(Ok(n))`, `Some(Err(()))` for digits too large
/// for a `u64`, `None` for anything else. Some proxies send a fraction; the whole part
/// counts.
fn whole_number(text: &str) -> Option<Result<u64, ()>> {
    let whole = text.trim().split('.').next()?;
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(whole.parse().map_err(|_| ()))
}

/// A number of seconds from a header, saturating: digits too large for a `u64` count as
/// `u64::MAX`, which every later step clamps to [`FAR_FUTURE`].
fn header_seconds(headers: &HeaderMap, name: impl reqwest::header::AsHeaderName) -> Option<u64> {
    Some(whole_number(headers.get(name)?.to_str().ok()?)?.unwrap_or(u64::MAX))
}

/// Timestamps below this are taken as seconds from now rather than Unix seconds: some APIs
/// send `X-RateLimit-Reset` as a delay, and no real reset lies before 2001.
const RESET_IS_A_DELAY_BELOW: u64 = 1_000_000_000;

pub(crate) fn rate_limit(headers: &HeaderMap, now: SystemTime) -> RateLimit {
    let reset = header_seconds(headers, "x-ratelimit-reset").map(|v| {
        let at = if v < RESET_IS_A_DELAY_BELOW {
            now.checked_add(Duration::from_secs(v))
        } else {
            SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(v))
        };
        clamp_ahead(at, now)
    });
    RateLimit {
        limit: header_u64(headers, "x-ratelimit-limit"),
        remaining: header_u64(headers, "x-ratelimit-remaining"),
        reset,
    }
}

/// `Retry-After` as seconds or as an HTTP date, no further ahead than [`FAR_FUTURE`].
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<SystemTime> {
    if let Some(seconds) = header_seconds(headers, RETRY_AFTER) {
        return Some(clamp_ahead(
            now.checked_add(Duration::from_secs(seconds)),
            now,
        ));
    }
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let at = httpdate::parse_http_date(text).ok()?;
    Some(clamp_ahead(Some(at), now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            retry_after(&headers(&[("retry-after", "120")]), now),
            Some(now + Duration::from_secs(120))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]),
                now
            ),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480))
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn rate_limit_headers_are_read_leniently() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let limits = rate_limit(
            &headers(&[
                ("x-ratelimit-limit", "60"),
                ("x-ratelimit-remaining", " 12 "),
                ("x-ratelimit-reset", "1700000030"),
            ]),
            now,
        );
        assert_eq!(limits.limit, Some(60));
        assert_eq!(limits.remaining, Some(12));
        assert_eq!(limits.reset, Some(now + Duration::from_secs(30)));
        let delay = rate_limit(&headers(&[("x-ratelimit-reset", "45")]), now);
        assert_eq!(delay.reset, Some(now + Duration::from_secs(45)));
        assert_eq!(
            rate_limit(&headers(&[("x-ratelimit-limit", "-3")]), now),
            RateLimit::default()
        );
    }

    #[test]
    fn header_times_saturate_instead_of_overflowing() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let far = now + FAR_FUTURE;
        for huge in [
            "9223372036854775808",
            "18446744073709551615",
            "99999999999999999999999999",
            "9223372036854775807.5",
        ] {
            let limits = rate_limit(&headers(&[("x-ratelimit-reset", huge)]), now);
            assert_eq!(limits.reset, Some(far), "{huge}");
            let wait = retry_after(&headers(&[("retry-after", huge)]), now);
            assert_eq!(wait, Some(far), "{huge}");
        }
        // An HTTP date can name the year 9999: too far ahead, clamped.
        let date = retry_after(
            &headers(&[("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT")]),
            now,
        );
        assert_eq!(date, Some(far));
        // Limits too large for a number are left out, not wrapped.
        let limits = rate_limit(
            &headers(&[("x-ratelimit-remaining", "99999999999999999999999")]),
            now,
        );
        assert_eq!(limits.remaining, None);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Header values: arbitrary text, and numbers around every overflow boundary.
        fn value() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<String>(),
                "[ -~]{0,40}",
                any::<u64>().prop_map(|n| n.to_string()),
                any::<i64>().prop_map(|n| n.to_string()),
                any::<u128>().prop_map(|n| n.to_string()),
                (any::<u64>(), any::<u32>()).prop_map(|(a, b)| format!("{a}.{b}")),
                "[0-9]{15,40}",
                "(Mon|Fri|Sun), [0-9]{2} (Jan|Feb|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT",
            ]
        }

        proptest! {
            #[test]
            fn header_parsing_never_panics_and_stays_in_range(
                reset in value(),
                retry in value(),
                limit in value(),
                now_secs in 0u64..8_000_000_000,
            ) {
                let now = SystemTime::UNIX_EPOCH + Duration::from_secs(now_secs);
                let mut map = HeaderMap::new();
                for (name, text) in [
                    ("x-ratelimit-reset", &reset),
                    ("retry-after", &retry),
                    ("x-ratelimit-limit", &limit),
                    ("x-ratelimit-remaining", &limit),
                ] {
                    if let Ok(v) = HeaderValue::from_str(text) {
                        map.insert(name, v);
                    }
                }
                let limits = rate_limit(&map, now);
                let wait = retry_after(&map, now);
                for at in [limits.reset, wait].into_iter().flatten() {
                    prop_assert!(at <= now + FAR_FUTURE);
                    // What a collector does with it cannot overflow either.
                    let _ = at.duration_since(now);
                }
            }
        }
    }
}
