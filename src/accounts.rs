//! The accounts this process polls: one from the flags, or many from `--config.file` (YAML);
//! their settings with defaults applied, validation with messages that name the file, the line,
//! the account and the field, and the sharding filter (`--shard`, `--total-shards`).
//!
//! Nothing here polls: [`crate::supervisor`] starts one poller per [`Account`] and restarts it
//! when a reload changes it.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;
use serde::{Deserialize, Deserializer};

use crate::fsread::ReadError;
use crate::settings::Collector;
use crate::smartlead::key::{ApiKey, KeyError, KeySource};

/// Polls closer than this are refused: SmartLead's budget is a few calls a second at best.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The longest poll interval accepted: a day. Polling less often than that makes the data
/// useless for the dashboards and alerts, and the staleness limit must still exceed it.
pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// The shortest request timeout accepted: zero would fail every poll.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// The longest request timeout accepted. An answer that takes longer than ten minutes is not
/// coming, and until the timeout fires the poller waits and `smartlead_up` keeps its old value.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// The longest backoff accepted: a day, like the longest interval. Longer would leave a
/// recovered SmartLead unnoticed for days.
pub const MAX_BACKOFF: Duration = Duration::from_secs(24 * 3600);

/// The longest staleness limit accepted: a week. Category counts older than that are not
/// worth showing as current, and every bound here keeps time arithmetic far from overflow.
pub const MAX_STALE_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// The smallest body cap accepted: an error page must still fit.
pub const MIN_BODY_SIZE: u64 = 1024;

/// The largest body cap accepted. The whole answer is held in memory and parsed at once, at a
/// peak of several times its size, and SmartLead's largest real answers are a few hundred
/// kilobytes; a cap beyond 1 GiB is a typo (a missing unit prefix), not a plan.
pub const MAX_BODY_SIZE: u64 = 1024 * 1024 * 1024;

/// The longest account name: a Kubernetes label value's limit, so that names travel anywhere.
pub const MAX_NAME_LEN: usize = 63;

/// At most this many accounts in one file: the exporter is measured up to 500, and the limit
/// keeps a mistaken generator from starting a million pollers.
pub const MAX_ACCOUNTS: usize = 10_000;

/// The largest accounts file read: 10,000 accounts of a few lines each fit easily.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The settings every account has; a file's `defaults:` and the flags supply what an account
/// leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The API root; the exporter calls `{base}/leads/fetch-categories`.
    pub base_url: Url,
    /// Time between poll starts while polls succeed.
    pub poll_interval: Duration,
    /// Limit on one whole request, body included.
    pub timeout: Duration,
    /// Largest answer accepted.
    pub max_body_size: u64,
    /// Longest delay between polls while they keep failing.
    pub max_backoff: Duration,
    /// Categories are withdrawn this long after the last success.
    pub stale_after: Duration,
    /// Ids up to this are `origin="global"`.
    pub global_max_id: u64,
}

/// A setting, for messages: its flag and its name in the accounts file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `--smartlead.base-url`, `base_url`.
    BaseUrl,
    /// `--poll.interval`, `poll_interval`.
    PollInterval,
    /// `--smartlead.timeout`, `timeout`.
    Timeout,
    /// `--smartlead.max-body-size`, `max_body_size`.
    MaxBodySize,
    /// `--poll.max-backoff`, `max_backoff`.
    MaxBackoff,
    /// `--metrics.stale-after`, `stale_after`.
    StaleAfter,
}

impl Field {
    /// The command-line flag.
    pub const fn flag(self) -> &'static str {
        match self {
            Self::BaseUrl => "--smartlead.base-url",
            Self::PollInterval => "--poll.interval",
            Self::Timeout => "--smartlead.timeout",
            Self::MaxBodySize => "--smartlead.max-body-size",
            Self::MaxBackoff => "--poll.max-backoff",
            Self::StaleAfter => "--metrics.stale-after",
        }
    }

    /// The key in the accounts file.
    pub const fn key(self) -> &'static str {
        match self {
            Self::BaseUrl => "base_url",
            Self::PollInterval => "poll_interval",
            Self::Timeout => "timeout",
            Self::MaxBodySize => "max_body_size",
            Self::MaxBackoff => "max_backoff",
            Self::StaleAfter => "stale_after",
        }
    }
}

/// A setting out of range, or inconsistent with another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    /// Which setting.
    pub field: Field,
    /// Why, with the value.
    pub reason: String,
}

/// One collector's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorSettings {
    /// Whether it runs.
    pub enabled: bool,
    /// The time between its runs.
    pub interval: Duration,
}

impl Settings {
    /// `collector`'s settings: the categories collector at the poll interval.
    pub fn collector(&self, collector: Collector) -> CollectorSettings {
        CollectorSettings {
            enabled: collector == Collector::Categories,
            interval: match collector {
                Collector::Categories => self.poll_interval,
                other => other.default_interval(),
            },
        }
    }

    /// Checks every bound and the relations between settings.
    ///
    /// # Errors
    /// The first setting at fault, with the reason.
    pub fn validate(&self) -> Result<(), SettingError> {
        let fmt = |d: Duration| humantime::format_duration(d).to_string();
        let err = |field, reason: String| Err(SettingError { field, reason });
        let durations = [
            (Field::Timeout, self.timeout, MIN_TIMEOUT, MAX_TIMEOUT),
            (
                Field::PollInterval,
                self.poll_interval,
                MIN_POLL_INTERVAL,
                MAX_POLL_INTERVAL,
            ),
            (
                Field::MaxBackoff,
                self.max_backoff,
                Duration::ZERO,
                MAX_BACKOFF,
            ),
            (
                Field::StaleAfter,
                self.stale_after,
                Duration::ZERO,
                MAX_STALE_AFTER,
            ),
        ];
        for (field, value, min, max) in durations {
            if let Some(reason) = out_of_bounds(value, min, max, fmt) {
                return err(field, reason);
            }
        }
        if let Some(reason) =
            out_of_bounds(self.max_body_size, MIN_BODY_SIZE, MAX_BODY_SIZE, show_size)
        {
            return err(Field::MaxBodySize, reason);
        }
        if self.max_backoff < self.poll_interval {
            return err(
                Field::MaxBackoff,
                format!(
                    "{} is shorter than the poll interval ({})",
                    fmt(self.max_backoff),
                    fmt(self.poll_interval)
                ),
            );
        }
        if self.stale_after <= self.poll_interval {
            return err(
                Field::StaleAfter,
                format!(
                    "{} must be longer than the poll interval ({}), or every series would go \
                     stale between polls",
                    fmt(self.stale_after),
                    fmt(self.poll_interval)
                ),
            );
        }
        Ok(())
    }
}

/// Why `value` lies outside `min..=max`, naming the bound it crosses; `None` inside.
fn out_of_bounds<T: PartialOrd + Copy>(
    value: T,
    min: T,
    max: T,
    show: impl Fn(T) -> String,
) -> Option<String> {
    if value < min {
        Some(format!(
            "{} is below the minimum of {}",
            show(value),
            show(min)
        ))
    } else if value > max {
        Some(format!(
            "{} is above the maximum of {}",
            show(value),
            show(max)
        ))
    } else {
        None
    }
}

/// A byte count as written in flags: `16MiB` when it is a whole number of a binary unit,
/// else in bytes.
fn show_size(bytes: u64) -> String {
    for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= size && bytes % size == 0 {
            return format!("{}{unit}", bytes / size);
        }
    }
    format!("{bytes} bytes")
}

/// Parses a duration (`30s`, `5m`, `1h30m`); values too large for any bound are refused by
/// [`Settings::validate`], never overflow.
///
/// # Errors
/// The parser's message with examples.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| format!("{e} (examples: 30s, 5m, 1h30m)"))
}

/// Parses a size (`512KiB`, `16MiB`, `2MB`).
///
/// # Errors
/// The parser's message with examples.
pub fn parse_size(text: &str) -> Result<u64, String> {
    parse_size::parse_size(text.trim()).map_err(|e| format!("{e} (examples: 512KiB, 16MiB)"))
}

/// Parses an API root: http or https, a host, no query, fragment or credentials.
///
/// # Errors
/// What is wrong with it.
pub fn parse_base_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("{text:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?}: the scheme must be http or https"));
    }
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(format!("{text:?} has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment: the exporter adds the key itself".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".into());
    }
    Ok(url)
}

/// Checks an account name: `[a-z0-9_-]{1,63}`, since it becomes the `account` label and part
/// of Kubernetes object names in the chart.
///
/// # Errors
/// Why the name is refused.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!(
            "{name:?}: a name has 1 to {MAX_NAME_LEN} characters"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
    {
        return Err(format!(
            "{name:?}: {bad:?} is not allowed; use lower-case letters, digits, '_' and '-'"
        ));
    }
    Ok(())
}

/// Where an account's key comes from, as the file says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySpec {
    /// `SMARTLEAD_API_KEY` (flags), the demo key, or an `api_key_env` variable's value at load.
    Fixed(ApiKey),
    /// A file re-read before every poll.
    File(PathBuf),
}

/// One account, ready to poll.
#[derive(Debug, Clone)]
pub struct Account {
    /// The `account` label; unique.
    pub name: String,
    /// Where the key is read from before every poll.
    pub key_source: KeySource,
    /// The key read at load, proving the source works.
    pub initial_key: ApiKey,
    /// Interval, timeout, caps.
    pub settings: Settings,
}

impl Account {
    /// Whether a reload must restart this account's poller: its key source or a setting
    /// changed. A rotated key in the same file is not a change: the file is re-read anyway.
    pub fn differs_from(&self, other: &Self) -> bool {
        self.name != other.name
            || self.settings != other.settings
            || match (&self.key_source, &other.key_source) {
                (KeySource::File(a), KeySource::File(b)) => a != b,
                (KeySource::Fixed(a), KeySource::Fixed(b)) => a != b,
                _ => true,
            }
    }
}

/// Which accounts of a file this process polls: those whose stable hash of the name modulo
/// `total` is `index`, as kube-state-metrics shards its objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// `--shard`.
    pub index: u32,
    /// `--total-shards`.
    pub total: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Self { index: 0, total: 1 }
    }
}

impl Shard {
    /// Whether this shard polls the account called `name`.
    pub fn owns(self, name: &str) -> bool {
        self.total <= 1 || shard_of(name, self.total) == self.index
    }
}

/// The shard an account belongs to among `total`: FNV-1a (64 bits) of the name, modulo `total`.
/// Stable across processes, versions and platforms, so every replica agrees.
pub fn shard_of(name: &str, total: u32) -> u32 {
    let total = u64::from(total.max(1));
    u32::try_from(stable_hash(name) % total).unwrap_or(0)
}

/// FNV-1a, 64 bits: tiny, stable, and well spread for short strings.
pub fn stable_hash(text: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    text.bytes().fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// The accounts file could not be used. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// The file could not be read.
    #[error("--config.file {path}: cannot read it: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The YAML is malformed, or a value has the wrong type or form; the parser's message
    /// carries the line and column.
    #[error("--config.file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, where.
        message: String,
    },
    /// An account is unusable.
    #[error("--config.file {path}: account {account:?}: {field}: {reason}")]
    Account {
        /// The file.
        path: PathBuf,
        /// The account's name (or its position when it has none).
        account: String,
        /// The field at fault.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The file as a whole is unusable.
    #[error("--config.file {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The fields of `defaults:` and of each account, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    #[serde(default, deserialize_with = "base_url_field")]
    base_url: Option<Url>,
    #[serde(default, deserialize_with = "poll_interval_field")]
    poll_interval: Option<Duration>,
    #[serde(default, deserialize_with = "timeout_field")]
    timeout: Option<Duration>,
    #[serde(default, deserialize_with = "max_body_size_field")]
    max_body_size: Option<u64>,
    #[serde(default, deserialize_with = "max_backoff_field")]
    max_backoff: Option<Duration>,
    #[serde(default, deserialize_with = "stale_after_field")]
    stale_after: Option<Duration>,
    #[serde(default)]
    global_max_id: Option<u64>,
}

/// The known keys of an account, for "did you mean" suggestions.
const ACCOUNT_KEYS: [&str; 10] = [
    "name",
    "api_key_file",
    "api_key_env",
    "base_url",
    "poll_interval",
    "timeout",
    "max_body_size",
    "max_backoff",
    "stale_after",
    "global_max_id",
];

/// The known keys at the top of the file.
const TOP_KEYS: [&str; 2] = ["defaults", "accounts"];

/// One account as written. The settings are repeated rather than flattened: serde cannot deny
/// unknown fields through a flatten.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    #[serde(deserialize_with = "account_name")]
    name: String,
    #[serde(default)]
    api_key_file: Option<PathBuf>,
    #[serde(default)]
    api_key_env: Option<String>,
    #[serde(default, deserialize_with = "base_url_field")]
    base_url: Option<Url>,
    #[serde(default, deserialize_with = "poll_interval_field")]
    poll_interval: Option<Duration>,
    #[serde(default, deserialize_with = "timeout_field")]
    timeout: Option<Duration>,
    #[serde(default, deserialize_with = "max_body_size_field")]
    max_body_size: Option<u64>,
    #[serde(default, deserialize_with = "max_backoff_field")]
    max_backoff: Option<Duration>,
    #[serde(default, deserialize_with = "stale_after_field")]
    stale_after: Option<Duration>,
    #[serde(default)]
    global_max_id: Option<u64>,
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    defaults: RawSettings,
    accounts: Vec<RawAccount>,
}

/// A value written as text, or as a plain number (a size in bytes).
#[derive(Deserialize)]
#[serde(untagged)]
enum TextOrNumber {
    Number(u64),
    Text(String),
}

/// Deserialisers for the settings parsed from text, one per field, so that a bad value's
/// message names its field (the YAML parser's location is the account's).
macro_rules! field_parsers {
    ($($function:ident: $field:literal => $parse:ident as $ty:ty;)*) => {$(
        fn $function<'de, D: Deserializer<'de>>(d: D) -> Result<Option<$ty>, D::Error> {
            let text = match TextOrNumber::deserialize(d)? {
                TextOrNumber::Number(n) => n.to_string(),
                TextOrNumber::Text(text) => text,
            };
            $parse(&text)
                .map(Some)
                .map_err(|e| serde::de::Error::custom(format!("{}: {e}", $field)))
        }
    )*};
}

field_parsers! {
    base_url_field: "base_url" => parse_base_url as Url;
    poll_interval_field: "poll_interval" => parse_duration as Duration;
    timeout_field: "timeout" => parse_duration as Duration;
    max_body_size_field: "max_body_size" => parse_size as u64;
    max_backoff_field: "max_backoff" => parse_duration as Duration;
    stale_after_field: "stale_after" => parse_duration as Duration;
}

fn account_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let name = String::deserialize(d)?;
    check_name(&name).map_err(serde::de::Error::custom)?;
    Ok(name)
}

impl RawSettings {
    /// These settings over `base`.
    fn over(&self, base: &Settings) -> Settings {
        Settings {
            base_url: self
                .base_url
                .clone()
                .unwrap_or_else(|| base.base_url.clone()),
            poll_interval: self.poll_interval.unwrap_or(base.poll_interval),
            timeout: self.timeout.unwrap_or(base.timeout),
            max_body_size: self.max_body_size.unwrap_or(base.max_body_size),
            max_backoff: self.max_backoff.unwrap_or(base.max_backoff),
            stale_after: self.stale_after.unwrap_or(base.stale_after),
            global_max_id: self.global_max_id.unwrap_or(base.global_max_id),
        }
    }
}

impl RawAccount {
    fn settings(&self) -> RawSettings {
        RawSettings {
            base_url: self.base_url.clone(),
            poll_interval: self.poll_interval,
            timeout: self.timeout,
            max_body_size: self.max_body_size,
            max_backoff: self.max_backoff,
            stale_after: self.stale_after,
            global_max_id: self.global_max_id,
        }
    }
}

/// A loaded accounts file: every account it names (whatever the shard), validated.
#[derive(Debug, Clone)]
pub struct AccountsFile {
    /// In file order.
    pub accounts: Vec<Account>,
}

impl AccountsFile {
    /// Reads, parses and validates `path`: every account's settings over `defaults:` over
    /// `flags`, and every key source (an unset variable or an unreadable file is an error).
    /// `env` looks up environment variables (the process environment, in the binary).
    ///
    /// # Errors
    /// An [`AccountsError`] naming the file, and where it can the line, account and field.
    pub fn load(
        path: &Path,
        flags: &Settings,
        env: &dyn Fn(&str) -> Option<OsString>,
    ) -> Result<Self, AccountsError> {
        let text = read_limited(path)?;
        Self::parse(path, &text, flags, env)
    }

    /// As [`AccountsFile::load`], from text already read.
    ///
    /// # Errors
    /// See [`AccountsFile::load`].
    pub fn parse(
        path: &Path,
        text: &str,
        flags: &Settings,
        env: &dyn Fn(&str) -> Option<OsString>,
    ) -> Result<Self, AccountsError> {
        let raw: RawFile = serde_yaml_ng::from_str(text).map_err(|e| AccountsError::Parse {
            path: path.to_owned(),
            message: explain_parse_error(&e.to_string(), text),
        })?;
        let defaults = raw.defaults.over(flags);
        let account_error =
            |account: &str, field: &'static str, reason: String| AccountsError::Account {
                path: path.to_owned(),
                account: account.to_owned(),
                field,
                reason,
            };
        if let Err(e) = defaults.validate() {
            return Err(account_error("defaults", e.field.key(), e.reason).into_defaults());
        }
        if raw.accounts.is_empty() {
            return Err(AccountsError::File {
                path: path.to_owned(),
                reason: "`accounts:` is empty: name at least one account".into(),
            });
        }
        if raw.accounts.len() > MAX_ACCOUNTS {
            return Err(AccountsError::File {
                path: path.to_owned(),
                reason: format!(
                    "{} accounts is more than the {MAX_ACCOUNTS} one process polls; split \
                     them across replicas with --shard and --total-shards",
                    raw.accounts.len()
                ),
            });
        }
        let mut seen = HashSet::new();
        let mut accounts = Vec::with_capacity(raw.accounts.len());
        for entry in &raw.accounts {
            let name = entry.name.as_str();
            if !seen.insert(name) {
                return Err(account_error(
                    name,
                    "name",
                    "the name is used twice; each account needs its own".into(),
                ));
            }
            let settings = entry.settings().over(&defaults);
            settings
                .validate()
                .map_err(|e| account_error(name, e.field.key(), e.reason))?;
            let (key_source, initial_key) = match (&entry.api_key_file, &entry.api_key_env) {
                (Some(_), Some(_)) => {
                    return Err(account_error(
                        name,
                        "api_key_file",
                        "both api_key_file and api_key_env are set: keep one".into(),
                    ))
                }
                (None, None) => {
                    return Err(account_error(
                        name,
                        "api_key_file",
                        "no key: set api_key_file (a file holding the key) or api_key_env (a \
                         variable holding it); keys never sit in this file"
                            .into(),
                    ))
                }
                (Some(file), None) => {
                    let source = KeySource::File(file.clone());
                    let key = source
                        .load()
                        .map_err(|e| account_error(name, "api_key_file", e.to_string()))?;
                    (source, key)
                }
                (None, Some(variable)) => {
                    let key = key_from_env(variable, env)
                        .map_err(|reason| account_error(name, "api_key_env", reason))?;
                    (KeySource::Fixed(key.clone()), key)
                }
            };
            accounts.push(Account {
                name: name.to_owned(),
                key_source,
                initial_key,
                settings,
            });
        }
        Ok(Self { accounts })
    }

    /// The accounts `shard` polls, in file order.
    pub fn owned_by(&self, shard: Shard) -> Vec<Account> {
        self.accounts
            .iter()
            .filter(|a| shard.owns(&a.name))
            .cloned()
            .collect()
    }
}

impl AccountsError {
    /// Errors in `defaults:` are about the defaults, not an account.
    fn into_defaults(self) -> Self {
        match self {
            Self::Account {
                path,
                field,
                reason,
                ..
            } => Self::File {
                path,
                reason: format!("defaults: {field}: {reason}"),
            },
            other => other,
        }
    }
}

/// Reads an accounts file: at most [`MAX_FILE_BYTES`] of a regular file.
///
/// # Errors
/// [`AccountsError::Read`] or [`AccountsError::File`] naming the file.
pub fn read_limited(path: &Path) -> Result<String, AccountsError> {
    let text = crate::fsread::read_text(path, MAX_FILE_BYTES).map_err(|e| match e {
        ReadError::Io { path, source } => AccountsError::Read { path, source },
        ReadError::NotAFile { path, kind } => AccountsError::File {
            path,
            reason: format!("{kind}, not a regular file"),
        },
        ReadError::TooLarge { path, max } => AccountsError::File {
            path,
            reason: format!("larger than {max} bytes"),
        },
    })?;
    text.ok_or_else(|| AccountsError::File {
        path: path.to_owned(),
        reason: "not UTF-8 text".into(),
    })
}

fn key_from_env(variable: &str, env: &dyn Fn(&str) -> Option<OsString>) -> Result<ApiKey, String> {
    let value = env(variable)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("the environment variable {variable} is not set, or empty"))?;
    let value = value
        .into_string()
        .map_err(|_| format!("the environment variable {variable} is not valid UTF-8"))?;
    ApiKey::new(&value).map_err(|e: KeyError| format!("{variable}: {e}"))
}

/// Adds a "did you mean" to serde's unknown-field message, and the account's name where the
/// parser names its position (`accounts[3]`).
fn explain_parse_error(message: &str, text: &str) -> String {
    let mut out = message.to_owned();
    if let Some(rest) = message.split("unknown field `").nth(1) {
        if let Some(field) = rest.split('`').next() {
            let known: &[&str] = if message.starts_with("accounts") {
                &ACCOUNT_KEYS
            } else if message.starts_with("defaults") {
                &ACCOUNT_KEYS[3..]
            } else {
                &TOP_KEYS
            };
            if let Some(best) = closest(field, known) {
                out.push_str(&format!("; did you mean `{best}`?"));
            }
        }
    }
    if let Some(index) = message
        .strip_prefix("accounts[")
        .and_then(|rest| rest.split(']').next())
        .and_then(|n| n.parse::<usize>().ok())
    {
        if let Some(name) = name_at(text, index) {
            out = format!("account {name:?}: {out}");
        }
    }
    out
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

/// The `name:` of the account at `index`, read loosely (the strict parse failed).
fn name_at(text: &str, index: usize) -> Option<String> {
    let value: BTreeMap<String, serde_yaml_ng::Value> = serde_yaml_ng::from_str(text).ok()?;
    let account = value.get("accounts")?.as_sequence()?.get(index)?;
    account.get("name")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> Settings {
        Settings {
            base_url: Url::parse("https://server.smartlead.ai/api/v1").unwrap(),
            poll_interval: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            max_body_size: 16 << 20,
            max_backoff: Duration::from_secs(600),
            stale_after: Duration::from_secs(300),
            global_max_id: 99,
        }
    }

    fn env(name: &str) -> Option<OsString> {
        match name {
            "GLOBEX_KEY" => Some("globex-key".into()),
            "EMPTY" => Some("".into()),
            _ => None,
        }
    }

    fn parse(text: &str) -> Result<AccountsFile, String> {
        AccountsFile::parse(Path::new("/etc/sl/accounts.yaml"), text, &flags(), &env)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_per_account_settings_layer_over_the_flags() {
        let file = parse(
            "defaults:\n  poll_interval: 2m\n  timeout: 5s\naccounts:\n  - name: acme\n    \
             api_key_env: GLOBEX_KEY\n  - name: globex\n    api_key_env: GLOBEX_KEY\n    \
             base_url: http://127.0.0.1:9/api/v1\n    global_max_id: 7\n    max_body_size: 2MiB\n",
        )
        .unwrap();
        let [acme, globex] = &file.accounts[..] else {
            panic!("two accounts")
        };
        assert_eq!(acme.name, "acme");
        assert_eq!(acme.settings.poll_interval, Duration::from_secs(120));
        assert_eq!(acme.settings.timeout, Duration::from_secs(5));
        assert_eq!(acme.settings.max_backoff, Duration::from_secs(600));
        assert_eq!(acme.settings.global_max_id, 99);
        assert_eq!(
            globex.settings.base_url.as_str(),
            "http://127.0.0.1:9/api/v1"
        );
        assert_eq!(globex.settings.global_max_id, 7);
        assert_eq!(globex.settings.max_body_size, 2 << 20);
        assert_eq!(globex.initial_key.expose(), "globex-key");
    }

    #[test]
    fn every_mistake_names_the_file_the_account_and_the_field() {
        let cases: &[(&str, &[&str])] = &[
            ("accounts: []\n", &["accounts.yaml", "empty"]),
            (
                "accounts:\n  - name: Acme\n    api_key_env: GLOBEX_KEY\n",
                &["accounts.yaml", "line 2", "\"Acme\"", "lower-case"],
            ),
            (
                "accounts:\n  - name: a\n    api_key_env: GLOBEX_KEY\n  - name: a\n    api_key_env: GLOBEX_KEY\n",
                &["account \"a\"", "name", "twice"],
            ),
            (
                "accounts:\n  - name: a\n",
                &["account \"a\"", "api_key_file", "api_key_env"],
            ),
            (
                "accounts:\n  - name: a\n    api_key_env: GLOBEX_KEY\n    api_key_file: /k\n",
                &["account \"a\"", "both"],
            ),
            (
                "accounts:\n  - name: a\n    api_key_env: NOT_SET\n",
                &["account \"a\"", "api_key_env", "NOT_SET", "not set"],
            ),
            (
                "accounts:\n  - name: a\n    api_key_env: EMPTY\n",
                &["account \"a\"", "EMPTY"],
            ),
            (
                "accounts:\n  - name: a\n    api_key_file: /nonexistent/key\n",
                &["account \"a\"", "api_key_file", "/nonexistent/key"],
            ),
            (
                "accounts:\n  - name: a\n    api_key_env: GLOBEX_KEY\n    polll_interval: 1m\n",
                &["account \"a\"", "polll_interval", "did you mean `poll_interval`", "line 4"],
            ),
            (
                "accounts:\n  - name: a\n    api_key_env: GLOBEX_KEY\n    poll_interval: soon\n",
                &["account \"a\"", "line 2", "poll_interval", "examples"],
            ),
            (
                "accounts:\n  - name: a\n    api_key_env: GLOBEX_KEY\n    max_body_size: lots\n",
                &["account \"a\"", "max_body_size", "512KiB"],
            ),
            (
                "accounts:\n  - name: a\n    api_key_env: GLOBEX_KEY\n    timeout: 18446744073709551615s\n",
                &["account \"a\"", "timeout", "above the maximum of 10m"],
            ),
            (
                "accounts:\n  - name: a\n    api_key_env: GLOBEX_KEY\n    stale_after: 30s\n",
                &["account \"a\"", "stale_after", "longer than the poll interval"],
            ),
            (
                "defaults:\n  poll_interval: 500ms\naccounts:\n  - name: a\n    api_key_env: GLOBEX_KEY\n",
                &["defaults", "poll_interval"],
            ),
            (
                "acounts:\n  - name: a\n",
                &["did you mean `accounts`"],
            ),
            ("accounts: [\n", &["accounts.yaml", "line"]),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err();
            assert!(
                err.starts_with("--config.file /etc/sl/accounts.yaml: "),
                "{err}"
            );
            for part in *expected {
                assert!(err.contains(part), "{text:?}: {err:?} lacks {part:?}");
            }
            assert!(!err.contains("globex-key"), "{err}");
        }
    }

    #[test]
    fn names_are_label_safe() {
        assert!(check_name("acme-corp_2").is_ok());
        for bad in ["", "ACME", "a b", "é", &"a".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_partition_the_accounts() {
        let names: Vec<String> = (0..300).map(|i| format!("client-{i}")).collect();
        for total in [1, 2, 3, 7] {
            let mut counts = vec![0; total as usize];
            for name in &names {
                let owners: Vec<u32> = (0..total)
                    .filter(|&index| Shard { index, total }.owns(name))
                    .collect();
                assert_eq!(owners.len(), 1, "{name} in {total}");
                counts[owners[0] as usize] += 1;
            }
            // Spread: no shard has less than half its fair share.
            assert!(
                counts
                    .iter()
                    .all(|&c| c * total as usize * 2 >= names.len()),
                "{counts:?}"
            );
        }
        // Stable: the same answer as any other process computes.
        assert_eq!(stable_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
