//! The accounts file's YAML, from text to what it says, once [`super::guard`] has let it
//! through: the file, its accounts, their maps of settings and their collectors. What one map
//! of settings holds is `overrides`; the keys and values every map is read with are `seeds`.
//!
//! The serde visitors are written by hand rather than derived, so that an unknown key gets a
//! "did you mean" and an error inside an account can name it: the visitor records the name
//! of the account it is in as soon as it has read it. `serde_yaml_ng` gives every error the
//! path of the value (`accounts[2].timeout`) and its line and column.

use std::cell::RefCell;
use std::fmt;
use std::path::PathBuf;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserializer as _;

use super::overrides::Overrides;
use super::seeds::{set, Key, Text};
use crate::settings;

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
