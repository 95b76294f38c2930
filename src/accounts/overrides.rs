//! The settings one map of the accounts file sets (`defaults:` or an account): read key by
//! key as the file is parsed, checked where they are written, then laid over the settings
//! they override.

use std::fmt;
use std::time::Duration;

use reqwest::Url;
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};

use super::seeds::{set, Key, Text};
use crate::settings::{self, Collector, CollectorSettings, Settings};

/// The keys of one collector under `collectors:`.
const COLLECTOR_KEYS: &[&str] = &["enabled", "interval"];

/// The collector names, the keys of `collectors:`.
const COLLECTOR_NAMES: &[&str] = &[
    Collector::ALL[0].name(),
    Collector::ALL[1].name(),
    Collector::ALL[2].name(),
    Collector::ALL[3].name(),
];

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
    /// `enabled:`.
    enabled: Option<bool>,
    /// `interval:`.
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
    pub(super) fn categories_conflict(&self) -> Option<String> {
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
    pub(super) fn read<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<(), A::Error> {
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
