//! The per-request checks of the web config: the `rate_limit` token bucket ([`RequestRate`]),
//! and basic auth ([`Users`] checked by a [`Gate`]): bcrypt, a small cache of verified
//! credentials, and a bound on the bcrypt work a flood of wrong passwords can cause.
//!
//! bcrypt is slow on purpose, so the [`Gate`] runs at most [`MAX_CONCURRENT_BCRYPT`] checks at
//! once, lets at most [`BCRYPT_QUEUE`] more wait, and refuses the rest at once
//! ([`Refusal::Busy`]): a request never holds its connection waiting behind an unbounded
//! queue. Credentials already verified are answered from the cache without waiting for any
//! bcrypt, so a flood of wrong passwords never delays a scraper whose password was checked
//! once.

use std::collections::{HashMap, HashSet, VecDeque};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use hyper::header::{HeaderValue, AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::{Request, Response, StatusCode};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::sync::lock;

/// Verified credentials remembered, so that a scrape every second does not cost a bcrypt each.
/// The exporter-toolkit keeps 100; a handful of scrapers need a handful of entries.
pub(crate) const AUTH_CACHE_CAPACITY: usize = 100;

/// bcrypt checks run at once. Each keeps a core busy for as long as the hash's cost asks
/// (that is bcrypt's point), so a flood of wrong passwords takes at most this many cores away
/// from scrapes.
pub(crate) const MAX_CONCURRENT_BCRYPT: usize = 1;

/// Requests with credentials not yet verified that may wait for a bcrypt slot; beyond them a
/// request is refused at once with 503. A few, so that two scrapers whose passwords changed at
/// once both get checked, and so that a flood holds no more than this many connections busy.
pub(crate) const BCRYPT_QUEUE: usize = 4;

/// How long a client refused for want of a bcrypt slot is asked to wait (`Retry-After`).
const BUSY_RETRY_AFTER: &str = "1";

/// `rate_limit`: Go's `rate.NewLimiter(rate.Every(interval), burst)` in front of every request.
#[derive(Debug)]
pub(crate) enum RequestRate {
    /// A burst of 0: Go's limiter then allows nothing.
    Never,
    /// One request per interval, up to the burst at once.
    Bucket(DefaultDirectRateLimiter),
}

impl RequestRate {
    /// The limiter for one request every `interval` (not zero) and `burst`.
    pub(crate) fn new(interval: Duration, burst: u32) -> Self {
        match (NonZeroU32::new(burst), Quota::with_period(interval)) {
            (Some(burst), Some(quota)) => {
                Self::Bucket(RateLimiter::direct(quota.allow_burst(burst)))
            }
            _ => Self::Never,
        }
    }

    /// Takes a token if one is there.
    pub(crate) fn allow(&self) -> bool {
        match self {
            Self::Never => false,
            Self::Bucket(limiter) => limiter.check().is_ok(),
        }
    }
}

/// `basic_auth_users`, ready for checks.
#[derive(Debug, Default)]
pub(crate) struct Users {
    /// User → bcrypt hash and its cost.
    by_name: HashMap<String, (String, u32)>,
    /// Every user's cost, in file order: an unknown user is checked at one of them.
    costs: Vec<u32>,
    /// Secret for picking an unknown name's cost, made when the file is loaded, so that
    /// nobody outside can tell which cost a name maps to.
    secret: [u8; 16],
}

impl Users {
    /// The users of a checked file: name, bcrypt hash, cost.
    pub(crate) fn new(users: &[(String, String, u32)]) -> Self {
        Self {
            by_name: users
                .iter()
                .map(|(user, hash, cost)| (user.clone(), (hash.clone(), *cost)))
                .collect(),
            costs: users.iter().map(|(_, _, cost)| *cost).collect(),
            secret: fastrand::u128(..).to_le_bytes(),
        }
    }

    /// Whether basic auth is required.
    pub(crate) fn enabled(&self) -> bool {
        !self.by_name.is_empty()
    }

    /// The bcrypt cost an attempt as `user` costs: the user's own, or for a name not listed,
    /// the cost of one of the listed users, picked by a keyed hash of the name. A name
    /// always maps to the same cost, and with mixed costs each cost is as likely as the users
    /// that have it, so the time an attempt takes never tells an unknown name from a user.
    pub(crate) fn cost_of(&self, user: &str) -> u32 {
        if let Some((_, cost)) = self.by_name.get(user) {
            return *cost;
        }
        let digest = Sha256::new()
            .chain_update(self.secret)
            .chain_update(user.as_bytes())
            .finalize();
        let mut pick = [0u8; 8];
        pick.copy_from_slice(&digest[..8]);
        let len = u64::try_from(self.costs.len().max(1)).unwrap_or(1);
        let index = usize::try_from(u64::from_le_bytes(pick) % len).unwrap_or(0);
        self.costs
            .get(index)
            .copied()
            .unwrap_or(bcrypt::DEFAULT_COST)
    }
}

/// Why a request is refused before it reaches the exporter's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `rate_limit` exceeded: 429.
    TooManyRequests,
    /// Missing or wrong credentials: 401 with `WWW-Authenticate: Basic`.
    Unauthorized,
    /// Credentials not verified yet and every bcrypt slot and queue place taken: 503 with
    /// `Retry-After`.
    Busy,
}

impl Refusal {
    /// The response, with `body` making the body from the text.
    pub fn into_response<B>(self, body: impl FnOnce(&'static str) -> B) -> Response<B> {
        let (status, text) = match self {
            Self::TooManyRequests => (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests\n"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "Unauthorized\n"),
            Self::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many credentials waiting to be checked; try again\n",
            ),
        };
        let mut response = Response::new(body(text));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            hyper::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        match self {
            Self::Unauthorized => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
            }
            Self::Busy => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static(BUSY_RETRY_AFTER));
            }
            Self::TooManyRequests => {}
        }
        response
    }
}

/// Credentials already verified, keyed by a SHA-256 of user, hash and password (never the
/// password itself), oldest forgotten first.
#[derive(Debug, Default)]
struct AuthCache {
    /// The keys, for lookup.
    keys: HashSet<[u8; 32]>,
    /// The same keys, oldest first, for eviction.
    order: VecDeque<[u8; 32]>,
}

impl AuthCache {
    fn contains(&self, key: &[u8; 32]) -> bool {
        self.keys.contains(key)
    }

    fn insert(&mut self, key: [u8; 32]) {
        if !self.keys.insert(key) {
            return;
        }
        self.order.push_back(key);
        while self.order.len() > AUTH_CACHE_CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.keys.remove(&old);
            }
        }
    }
}

fn cache_key(user: &str, hash: &str, password: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in [user.as_bytes(), hash.as_bytes(), password] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// User and password of an `Authorization: Basic` header, as Go's `Request.BasicAuth` reads it.
fn basic_credentials(value: &HeaderValue) -> Option<(String, Vec<u8>)> {
    let value = value.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

/// The state basic auth keeps across requests and reloads: the cache and the bcrypt bound.
#[derive(Debug)]
pub(crate) struct Gate {
    /// See [`AuthCache`].
    cache: Mutex<AuthCache>,
    /// Places for requests that need a bcrypt: running or waiting to run
    /// ([`MAX_CONCURRENT_BCRYPT`] + [`BCRYPT_QUEUE`]).
    places: Semaphore,
    /// Slots for running bcrypt, [`MAX_CONCURRENT_BCRYPT`].
    running: Semaphore,
    /// bcrypt checks done, for tests.
    runs: AtomicU64,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            cache: Mutex::default(),
            places: Semaphore::new(MAX_CONCURRENT_BCRYPT + BCRYPT_QUEUE),
            running: Semaphore::new(MAX_CONCURRENT_BCRYPT),
            runs: AtomicU64::new(0),
        }
    }
}

impl Gate {
    /// Checks the credentials of `request` against `users`; `None` lets it through.
    pub(crate) async fn check<B>(
        &self,
        users: &std::sync::Arc<Users>,
        request: &Request<B>,
    ) -> Option<Refusal> {
        let Some((user, password)) = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(basic_credentials)
        else {
            return Some(Refusal::Unauthorized);
        };
        let known = users.by_name.get(&user).map(|(hash, _)| hash.clone());
        if let Some(hash) = &known {
            if lock(&self.cache).contains(&cache_key(&user, hash, &password)) {
                return None;
            }
        }
        let Ok(_place) = self.places.try_acquire() else {
            return Some(Refusal::Busy);
        };
        let Ok(_running) = self.running.acquire().await else {
            return Some(Refusal::Busy);
        };
        self.runs.fetch_add(1, Ordering::Relaxed);
        let cost = users.cost_of(&user);
        let verified = tokio::task::spawn_blocking(move || match &known {
            Some(hash) => bcrypt::verify(&password, hash)
                .unwrap_or(false)
                .then(|| cache_key(&user, hash, &password)),
            None => {
                // An unknown user: the same work as a wrong password at that cost, then a
                // refusal.
                let _ = bcrypt::hash_with_salt(&password, cost, fastrand::u128(..).to_le_bytes());
                None
            }
        })
        .await
        .ok()
        .flatten();
        match verified {
            Some(key) => {
                lock(&self.cache).insert(key);
                None
            }
            None => Some(Refusal::Unauthorized),
        }
    }

    /// bcrypt checks done so far (the cache's hits cost none).
    pub(crate) fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_parse_like_go() {
        let header = |s: &str| HeaderValue::from_str(s).unwrap();
        assert_eq!(
            basic_credentials(&header("Basic YWxpY2U6c2VjcmV0")),
            Some(("alice".into(), b"secret".to_vec()))
        );
        assert_eq!(
            basic_credentials(&header("basic YWxpY2U6")),
            Some(("alice".into(), Vec::new()))
        );
        assert_eq!(basic_credentials(&header("Basic !!!")), None);
        assert_eq!(basic_credentials(&header("Bearer YWxpY2U6c2VjcmV0")), None);
        // No colon.
        assert_eq!(basic_credentials(&header("Basic YWxpY2U=")), None);
    }

    #[test]
    fn the_cache_is_bounded() {
        let mut cache = AuthCache::default();
        for i in 0..(AUTH_CACHE_CAPACITY + 10) {
            cache.insert(cache_key("u", "h", i.to_string().as_bytes()));
        }
        assert_eq!(cache.keys.len(), AUTH_CACHE_CAPACITY);
        assert!(!cache.contains(&cache_key("u", "h", b"0")));
        assert!(cache.contains(&cache_key(
            "u",
            "h",
            (AUTH_CACHE_CAPACITY + 9).to_string().as_bytes()
        )));
    }

    #[test]
    fn rate_limit_allows_a_burst_then_refuses() {
        let limit = RequestRate::new(Duration::from_secs(3600), 2);
        assert!(limit.allow());
        assert!(limit.allow());
        assert!(!limit.allow());
        assert!(!RequestRate::new(Duration::from_secs(1), 0).allow());
    }

    #[test]
    fn an_unknown_name_costs_one_of_the_users_costs_always_the_same() {
        let users = Users::new(&[
            ("a".into(), "h".into(), 4),
            ("b".into(), "h".into(), 12),
            ("c".into(), "h".into(), 12),
        ]);
        assert_eq!(users.cost_of("a"), 4);
        let costs: Vec<u32> = (0..200).map(|i| users.cost_of(&format!("x{i}"))).collect();
        assert!(costs.iter().all(|c| [4, 12].contains(c)));
        let fours = costs.iter().filter(|&&c| c == 4).count();
        // A third of the users have cost 4: about a third of unknown names map to it.
        assert!((40..=95).contains(&fours), "{fours} of 200");
        assert_eq!(users.cost_of("x7"), users.cost_of("x7"));
    }
}
