//! The accounts file's YAML, from text to what it says, once [`super::guard`] has let it
//! through.
//!
//! The serde visitors are written by hand rather than derived, so that an unknown key gets a
//! "did you mean" and an error inside an account can name it: the visitor records the name
//! of the account it is in as soon as it has read it. `serde_yaml_ng` gives every error the
//! path of the value (`accounts[2].timeout`) and its line and column.

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserializer as _;

use crate::settings::{self, Collector, CollectorSettings, Settings};

/// The top-level keys.
const TOP_KEYS: &[&str] = &["defaults", "accounts"];

/// Every key of an account: who it is, then its settings.
const ACCOUNT_KEYS: &[&str] = &[
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
    "collectors",
    "campaign_statuses",
    "max_calls_per_minute",
    "max_calls_per_hour",
];

/// The settings keys, of `defaults:` and of each account.
const SETTINGS_KEYS: &[&str] = ACCOUNT_KEYS.split_at(3).1;

/// The keys of one collector under `collectors:`.
const COLLECTOR_KEYS: &[&str] = &["enabled", "interval"];

/// The collector names, the keys of `collectors:`.
const COLLECTOR_NAMES: &[&str] = &[
    Collector::ALL[0].name(),
    Collector::ALL[1].name(),
    Collector::ALL[2].name(),
    Collector::ALL[3].name(),
];

/// The file as written.
#[derive(Debug, Default)]
pub(super) struct RawFile {
    /// `defaults:`.
    pub defaults: Overrides,
    /// `accounts:`, in file order.
    pub accounts: Vec<RawAccount>,
}

/// One account as written.
#[derive(Debug, Default)]
pub(super) struct RawAccount {
    /// `name:`, checked to be a valid label.
    pub name: String,
    /// `api_key_file:`.
    pub api_key_file: Option<PathBuf>,
    /// `api_key_env:`.
    pub api_key_env: Option<String>,
    /// Its settings.
    pub overrides: Overrides,
}

/// The settings a map (`defaults:` or an account) sets; `None` where it leaves one out.
#[derive(Debug, Default, Clone)]
pub(super) struct Overrides {
    base_url: Option<Url>,
    timeout: Option<Duration>,
    max_body_size: Option<u64>,
    max_backoff: Option<Duration>,
    stale_after: Option<Duration>,
    global_max_id: Option<u64>,
    /// `poll_interval`: the categories collector's interval, like
    /// `collectors.categories.interval`.
    poll_interval: Option<Duration>,
    collectors: [CollectorOverride; 4],
    campaign_statuses: Option<Vec<String>>,
    max_calls_per_minute: Option<u32>,
    max_calls_per_hour: Option<u32>,
}

/// One collector's settings under `collectors:`.
#[derive(Debug, Default, Clone, Copy)]
struct CollectorOverride {
    enabled: Option<bool>,
    interval: Option<Duration>,
}

impl Overrides {
    /// These settings over `base`.
    pub(super) fn over(&self, base: &Settings) -> Settings {
        let mut collectors: [CollectorSettings; 4] = base.collectors.clone();
        for (setting, over) in collectors.iter_mut().zip(&self.collectors) {
            setting.enabled = over.enabled.unwrap_or(setting.enabled);
            setting.interval = over.interval.unwrap_or(setting.interval);
        }
        if let Some(interval) = self.poll_interval {
            collectors[Collector::Categories.index()].interval = interval;
        }
        Settings {
            base_url: self
                .base_url
                .clone()
                .unwrap_or_else(|| base.base_url.clone()),
            timeout: self.timeout.unwrap_or(base.timeout),
            max_body_size: self.max_body_size.unwrap_or(base.max_body_size),
            max_backoff: self.max_backoff.unwrap_or(base.max_backoff),
            stale_after: self.stale_after.unwrap_or(base.stale_after),
            global_max_id: self.global_max_id.unwrap_or(base.global_max_id),
            collectors,
            campaign_statuses: self
                .campaign_statuses
                .clone()
                .unwrap_or_else(|| base.campaign_statuses.clone()),
            max_calls_per_minute: self
                .max_calls_per_minute
                .unwrap_or(base.max_calls_per_minute),
            max_calls_per_hour: self.max_calls_per_hour.unwrap_or(base.max_calls_per_hour),
        }
    }

    /// Whether `poll_interval` and `collectors.categories.interval`, the same setting, are
    /// both given with different values.
    fn categories_conflict(&self) -> Option<String> {
        let poll = self.poll_interval?;
        let categories = self.collectors[Collector::Categories.index()].interval?;
        (poll != categories).then(|| {
            format!(
                "poll_interval ({}) and collectors.categories.interval ({}) both set the \
                 categories collector's interval; give one",
                settings::show_duration(poll),
                settings::show_duration(categories)
            )
        })
    }

    /// Reads the value of settings key `key` into these settings.
    fn read<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "base_url" => set(
                &mut self.base_url,
                key,
                map.next_value_seed(Text(settings::parse_base_url))?,
            ),
            "poll_interval" => set(
                &mut self.poll_interval,
                key,
                map.next_value_seed(Text(settings::parse_duration))?,
            ),
            "timeout" => set(
                &mut self.timeout,
                key,
                map.next_value_seed(Text(settings::parse_duration))?,
            ),
            "max_body_size" => set(
                &mut self.max_body_size,
                key,
                map.next_value_seed(Text(settings::parse_size))?,
            ),
            "max_backoff" => set(
                &mut self.max_backoff,
                key,
                map.next_value_seed(Text(settings::parse_duration))?,
            ),
            "stale_after" => set(
                &mut self.stale_after,
                key,
                map.next_value_seed(Text(settings::parse_duration))?,
            ),
            "global_max_id" => set(&mut self.global_max_id, key, map.next_value()?),
            "collectors" => {
                let collectors = map.next_value_seed(CollectorsSeed)?;
                if std::mem::replace(&mut self.collectors, collectors)
                    .iter()
                    .any(|c| c.enabled.is_some() || c.interval.is_some())
                {
                    return Err(de::Error::custom("`collectors` is given twice"));
                }
                Ok(())
            }
            "campaign_statuses" => {
                let statuses: Vec<Status> = map.next_value()?;
                let statuses = statuses.into_iter().map(|s| s.0).collect();
                set(&mut self.campaign_statuses, key, statuses)
            }
            "max_calls_per_minute" => set(&mut self.max_calls_per_minute, key, map.next_value()?),
            "max_calls_per_hour" => set(&mut self.max_calls_per_hour, key, map.next_value()?),
            _ => Err(de::Error::custom(format!("`{key}` is not a setting"))),
        }
    }
}

/// One campaign status in `campaign_statuses:`, checked where it is written.
struct Status(String);

impl<'de> de::Deserialize<'de> for Status {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Text(settings::parse_status).deserialize(d).map(Self)
    }
}

/// Fills an empty slot; a key given twice in one map is an error.
fn set<T, E: de::Error>(slot: &mut Option<T>, key: &str, value: T) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::custom(format!("`{key}` is given twice")));
    }
    *slot = Some(value);
    Ok(())
}

/// Parses `text` as the accounts file; `current` holds the name of the account being read
/// when an error stops it, so that the error can name it.
pub(super) fn parse(
    text: &str,
    current: &RefCell<Option<String>>,
) -> Result<RawFile, serde_yaml_ng::Error> {
    serde_yaml_ng::Deserializer::from_str(text).deserialize_map(FileVisitor { current })
}

/// The top of the file.
struct FileVisitor<'a> {
    current: &'a RefCell<Option<String>>,
}

impl<'de> Visitor<'de> for FileVisitor<'_> {
    type Value = RawFile;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map with `accounts:` and, optionally, `defaults:`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawFile, A::Error> {
        let mut file = RawFile::default();
        let mut defaults = None;
        let mut accounts = None;
        while let Some(key) = map.next_key_seed(Key(TOP_KEYS, "key"))? {
            if key == "defaults" {
                let value = map.next_value_seed(SettingsSeed { current: None })?;
                set(&mut defaults, key, value.overrides)?;
            } else {
                let value = map.next_value_seed(AccountsSeed {
                    current: self.current,
                })?;
                set(&mut accounts, key, value)?;
            }
        }
        file.defaults = defaults.unwrap_or_default();
        file.accounts = accounts.ok_or_else(|| de::Error::missing_field("accounts"))?;
        Ok(file)
    }
}

/// `accounts:`: a sequence of accounts, at most [`super::MAX_ACCOUNTS`].
struct AccountsSeed<'a> {
    current: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for AccountsSeed<'_> {
    type Value = Vec<RawAccount>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for AccountsSeed<'_> {
    type Value = Vec<RawAccount>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of accounts")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut accounts = Vec::new();
        loop {
            *self.current.borrow_mut() = None;
            let Some(account) = seq.next_element_seed(SettingsSeed {
                current: Some(self.current),
            })?
            else {
                break;
            };
            if accounts.len() == super::MAX_ACCOUNTS {
                return Err(de::Error::custom(format!(
                    "more than {} accounts, the most one process polls; split them across \
                     replicas with --shard and --total-shards",
                    super::MAX_ACCOUNTS
                )));
            }
            accounts.push(account);
        }
        *self.current.borrow_mut() = None;
        Ok(accounts)
    }
}

/// A map of settings: `defaults:` (`current` is `None`), or an account, whose name goes to
/// `current` as soon as it is read.
struct SettingsSeed<'a> {
    current: Option<&'a RefCell<Option<String>>>,
}

impl<'de> DeserializeSeed<'de> for SettingsSeed<'_> {
    type Value = RawAccount;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SettingsSeed<'_> {
    type Value = RawAccount;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.current {
            Some(_) => f.write_str("an account: a map with `name:` and its settings"),
            None => f.write_str("a map of settings"),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawAccount, A::Error> {
        let mut account = RawAccount::default();
        let mut name = None;
        let keys: &[&str] = if self.current.is_some() {
            ACCOUNT_KEYS
        } else {
            SETTINGS_KEYS
        };
        while let Some(key) = map.next_key_seed(Key(keys, "field"))? {
            match key {
                "name" => {
                    let value = map.next_value_seed(Text(|text: &str| {
                        settings::check_name(text).map(|()| text.to_owned())
                    }))?;
                    set(&mut name, key, value.clone())?;
                    if let Some(current) = self.current {
                        *current.borrow_mut() = Some(value);
                    }
                }
                "api_key_file" => set(&mut account.api_key_file, key, map.next_value()?)?,
                "api_key_env" => set(&mut account.api_key_env, key, map.next_value()?)?,
                _ => account.overrides.read(key, &mut map)?,
            }
        }
        if let Some(conflict) = account.overrides.categories_conflict() {
            return Err(de::Error::custom(conflict));
        }
        if self.current.is_some() {
            account.name = name.ok_or_else(|| de::Error::missing_field("name"))?;
        }
        Ok(account)
    }
}

/// `collectors:`: a map from collector names to their settings.
struct CollectorsSeed;

impl<'de> DeserializeSeed<'de> for CollectorsSeed {
    type Value = [CollectorOverride; 4];

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for CollectorsSeed {
    type Value = [CollectorOverride; 4];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map from collector names to their settings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut collectors = [CollectorOverride::default(); 4];
        let mut seen = [false; 4];
        while let Some(name) = map.next_key_seed(Key(COLLECTOR_NAMES, "collector"))? {
            let collector = Collector::from_name(name)
                .ok_or_else(|| de::Error::custom(format!("unknown collector `{name}`")))?;
            if std::mem::replace(&mut seen[collector.index()], true) {
                return Err(de::Error::custom(format!("`{name}` is given twice")));
            }
            collectors[collector.index()] = map.next_value_seed(CollectorSeed)?;
        }
        Ok(collectors)
    }
}

/// One collector's `enabled:` and `interval:`.
struct CollectorSeed;

impl<'de> DeserializeSeed<'de> for CollectorSeed {
    type Value = CollectorOverride;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for CollectorSeed {
    type Value = CollectorOverride;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map with `enabled:` and `interval:`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut setting = CollectorOverride::default();
        while let Some(key) = map.next_key_seed(Key(COLLECTOR_KEYS, "field"))? {
            if key == "enabled" {
                set(&mut setting.enabled, key, map.next_value()?)?;
            } else {
                let value = map.next_value_seed(Text(settings::parse_duration))?;
                set(&mut setting.interval, key, value)?;
            }
        }
        Ok(setting)
    }
}

/// A map key that must be one of a known list; anything else is an error with a "did you
/// mean", raised while the key is read so that its line is the one reported.
struct Key(&'static [&'static str], &'static str);

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
struct Text<T, F: Fn(&str) -> Result<T, String>>(F);

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
