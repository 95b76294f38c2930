//! The settings every account has, shared by the flags ([`crate::cli`]) and the accounts file
//! ([`crate::accounts`]): their bounds, their parsers and the checks between them. Nothing
//! here reads a file or the environment.

use std::time::Duration;

use reqwest::Url;

use crate::smartlead::key::{ApiKey, KeySource};

mod parse;
mod shard;

pub(crate) use parse::{
    check_host, check_name, parse_base_url, parse_duration, parse_hosts, parse_size, parse_status,
    parse_statuses, show_duration, show_size,
};
pub use shard::shard_of;
pub(crate) use shard::stable_hash;
pub(crate) use shard::Shard;

/// Collections closer than this are refused: SmartLead's budget is a few calls a second at
/// best.
pub(crate) const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// The longest interval accepted: a day. Collecting less often than that makes the data
/// useless for the dashboards and alerts, and the staleness limit must still exceed it.
pub(crate) const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// The shortest request timeout accepted: zero would fail every call.
pub(crate) const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// The longest request timeout accepted. An answer that takes longer than ten minutes is not
/// coming, and until the timeout fires the collector waits and `smartlead_up` keeps its old
/// value.
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// The longest backoff accepted: a day, like the longest interval. Longer would leave a
/// recovered SmartLead unnoticed for days.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(24 * 3600);

/// The longest staleness limit accepted: a week. Data older than that is not worth showing as
/// current, and every bound here keeps time arithmetic far from overflow.
pub(crate) const MAX_STALE_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// The smallest body cap accepted: an error page must still fit.
pub(crate) const MIN_BODY_SIZE: u64 = 1024;

/// The largest body cap accepted. The whole answer is held in memory and parsed at once, at a
/// peak of several times its size; a cap beyond 1 GiB is a typo (a missing unit prefix), not
/// a plan.
pub(crate) const MAX_BODY_SIZE: u64 = 1024 * 1024 * 1024;

/// The longest account name: a Kubernetes label value's limit, so that names travel anywhere.
pub(crate) const MAX_NAME_LEN: usize = 63;

/// Calls to SmartLead are paced to at most this many in any one second, whatever the budget.
pub(crate) const MAX_CALLS_PER_SECOND: u32 = 5;

/// The largest per-minute budget accepted: more could never be spent at
/// [`MAX_CALLS_PER_SECOND`].
pub(crate) const MAX_CALLS_PER_MINUTE: u32 = MAX_CALLS_PER_SECOND * 60;

/// The largest hourly budget accepted: [`MAX_CALLS_PER_MINUTE`] for a whole hour.
pub(crate) const MAX_CALLS_PER_HOUR: u32 = MAX_CALLS_PER_MINUTE * 60;

/// The default per-minute budget: a third of SmartLead's standard plan (60 a minute), so that
/// the exporter never crowds out the other integrations sharing the key.
pub(crate) const DEFAULT_CALLS_PER_MINUTE: u32 = 20;

/// The default hourly budget: half of the standard plan's 1,000 an hour.
pub(crate) const DEFAULT_CALLS_PER_HOUR: u32 = 500;

/// The campaign statuses whose analytics are collected unless told otherwise, as
/// `--collector.campaigns.statuses` takes them.
pub(crate) const DEFAULT_CAMPAIGN_STATUSES: &str = "ACTIVE,PAUSED";

/// The most campaign statuses in one list: SmartLead has six.
pub(crate) const MAX_CAMPAIGN_STATUSES: usize = 16;

/// The longest campaign status accepted.
pub(crate) const MAX_STATUS_LEN: usize = 32;

/// One of the exporter's collectors: each reads one part of SmartLead's API on its own
/// interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Collector {
    /// The lead categories (`/leads/fetch-categories`).
    Categories,
    /// Replies by category over the last 30 days.
    Replies,
    /// The campaigns and the analytics of those with a chosen status.
    Campaigns,
    /// The sending mailboxes.
    Mailboxes,
}

impl Collector {
    /// Every collector, in the order of [`Collector::index`].
    pub const ALL: [Self; 4] = [
        Self::Categories,
        Self::Replies,
        Self::Campaigns,
        Self::Mailboxes,
    ];

    /// The name in flags, the accounts file and the `collector` label.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Categories => "categories",
            Self::Replies => "replies",
            Self::Campaigns => "campaigns",
            Self::Mailboxes => "mailboxes",
        }
    }

    /// The position in [`Collector::ALL`] and in [`Settings::collectors`].
    pub const fn index(self) -> usize {
        match self {
            Self::Categories => 0,
            Self::Replies => 1,
            Self::Campaigns => 2,
            Self::Mailboxes => 3,
        }
    }

    /// The interval when nothing says otherwise.
    pub const fn default_interval(self) -> Duration {
        match self {
            Self::Categories => Duration::from_secs(60),
            Self::Replies => Duration::from_secs(15 * 60),
            Self::Campaigns | Self::Mailboxes => Duration::from_secs(5 * 60),
        }
    }

    /// The collector called `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Whether a collector runs, and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorSettings {
    /// Off: the collector never calls SmartLead and exports nothing.
    pub enabled: bool,
    /// Time between the starts of two runs while they succeed.
    pub interval: Duration,
}

/// The settings every account has; a file's `defaults:` and the flags supply what an account
/// leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The API root, e.g. `https://server.smartlead.ai/api/v1`.
    pub base_url: Url,
    /// Limit on one whole request, body included.
    pub timeout: Duration,
    /// Largest answer accepted.
    pub max_body_size: u64,
    /// Longest delay between runs while they keep failing.
    pub max_backoff: Duration,
    /// Data is withdrawn this long after the last success.
    pub stale_after: Duration,
    /// Category ids up to this are `origin="global"`.
    pub global_max_id: u64,
    /// Each collector's switch and interval, indexed by [`Collector::index`].
    pub collectors: [CollectorSettings; 4],
    /// The campaign statuses whose analytics are collected, upper case.
    pub campaign_statuses: Vec<String>,
    /// The key's budget: at most this many calls in any 60 seconds.
    pub max_calls_per_minute: u32,
    /// The key's budget: at most this many calls in any hour.
    pub max_calls_per_hour: u32,
}

impl Settings {
    /// The settings of collector `c`.
    pub fn collector(&self, c: Collector) -> &CollectorSettings {
        &self.collectors[c.index()]
    }

    /// The categories collector's interval: `--poll.interval`, `poll_interval`.
    pub fn poll_interval(&self) -> Duration {
        self.collector(Collector::Categories).interval
    }

    /// Checks every bound and the relations between settings.
    ///
    /// # Errors
    /// The first setting at fault, with the reason.
    pub fn validate(&self) -> Result<(), SettingError> {
        let err = |setting, reason: String| Err(SettingError { setting, reason });
        let mut durations = vec![(Setting::Timeout, self.timeout, MIN_TIMEOUT, MAX_TIMEOUT)];
        for c in Collector::ALL {
            if self.collector(c).enabled {
                let interval = self.collector(c).interval;
                durations.push((Setting::Interval(c), interval, MIN_INTERVAL, MAX_INTERVAL));
            }
        }
        durations.push((
            Setting::MaxBackoff,
            self.max_backoff,
            Duration::ZERO,
            MAX_BACKOFF,
        ));
        durations.push((
            Setting::StaleAfter,
            self.stale_after,
            Duration::ZERO,
            MAX_STALE_AFTER,
        ));
        for (setting, value, min, max) in durations {
            if let Some(reason) = out_of_bounds(value, min, max, show_duration) {
                return err(setting, reason);
            }
        }
        if let Some(reason) =
            out_of_bounds(self.max_body_size, MIN_BODY_SIZE, MAX_BODY_SIZE, show_size)
        {
            return err(Setting::MaxBodySize, reason);
        }
        let calls = [
            (
                Setting::MaxCallsPerMinute,
                self.max_calls_per_minute,
                MAX_CALLS_PER_MINUTE,
            ),
            (
                Setting::MaxCallsPerHour,
                self.max_calls_per_hour,
                MAX_CALLS_PER_HOUR,
            ),
        ];
        for (setting, value, max) in calls {
            if let Some(reason) = out_of_bounds(value, 1, max, |n| n.to_string()) {
                return err(setting, reason);
            }
        }
        check_statuses(&self.campaign_statuses)
            .or_else(|reason| err(Setting::CampaignStatuses, reason))?;
        if Collector::ALL.iter().all(|&c| !self.collector(c).enabled) {
            return err(
                Setting::Collectors,
                "every collector is disabled: enable at least one".into(),
            );
        }
        let poll = self.poll_interval();
        if self.max_backoff < poll {
            return err(
                Setting::MaxBackoff,
                format!(
                    "{} is shorter than the poll interval ({})",
                    show_duration(self.max_backoff),
                    show_duration(poll)
                ),
            );
        }
        if self.stale_after <= poll {
            return err(
                Setting::StaleAfter,
                format!(
                    "{} must be longer than the poll interval ({}), or every series would go \
                     stale between polls",
                    show_duration(self.stale_after),
                    show_duration(poll)
                ),
            );
        }
        self.check_budget()
    }

    /// The budget must hold the categories collector at its interval, the one collector the
    /// scheduler never stretches to make room.
    fn check_budget(&self) -> Result<(), SettingError> {
        let categories = self.collector(Collector::Categories);
        if !categories.enabled {
            return Ok(());
        }
        let windows = [
            (
                Setting::MaxCallsPerMinute,
                self.max_calls_per_minute,
                Duration::from_secs(60),
                "a minute",
            ),
            (
                Setting::MaxCallsPerHour,
                self.max_calls_per_hour,
                Duration::from_secs(3600),
                "an hour",
            ),
        ];
        for (setting, budget, window, per) in windows {
            // Calls in the window at one per interval, compared without rounding.
            let needed = window.as_millis();
            let allowed = u128::from(budget) * categories.interval.as_millis();
            if needed > allowed {
                return Err(SettingError {
                    setting,
                    reason: format!(
                        "{budget} calls {per} cannot fit even the categories collector every \
                         {} ({:.1} calls {per}); raise the budget or lengthen the poll interval",
                        show_duration(categories.interval),
                        window.as_secs_f64() / categories.interval.as_secs_f64()
                    ),
                });
            }
        }
        Ok(())
    }
}

/// A setting, for messages: its flag and its name in the accounts file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// `--smartlead.timeout`, `timeout`.
    Timeout,
    /// `--smartlead.max-body-size`, `max_body_size`.
    MaxBodySize,
    /// `--poll.max-backoff`, `max_backoff`.
    MaxBackoff,
    /// `--metrics.stale-after`, `stale_after`.
    StaleAfter,
    /// A collector's interval; the categories collector's is `--poll.interval`,
    /// `poll_interval`.
    Interval(Collector),
    /// The collectors as a whole: `--collector.NAME`, `collectors`.
    Collectors,
    /// `--collector.campaigns.statuses`, `campaign_statuses`.
    CampaignStatuses,
    /// `--smartlead.max-calls-per-minute`, `max_calls_per_minute`.
    MaxCallsPerMinute,
    /// `--smartlead.max-calls-per-hour`, `max_calls_per_hour`.
    MaxCallsPerHour,
}

impl Setting {
    /// The command-line flag.
    pub fn flag(self) -> String {
        match self {
            Self::Timeout => "--smartlead.timeout".into(),
            Self::MaxBodySize => "--smartlead.max-body-size".into(),
            Self::MaxBackoff => "--poll.max-backoff".into(),
            Self::StaleAfter => "--metrics.stale-after".into(),
            Self::Interval(Collector::Categories) => "--poll.interval".into(),
            Self::Interval(c) => format!("--collector.{}.interval", c.name()),
            Self::Collectors => "--collector.NAME".into(),
            Self::CampaignStatuses => "--collector.campaigns.statuses".into(),
            Self::MaxCallsPerMinute => "--smartlead.max-calls-per-minute".into(),
            Self::MaxCallsPerHour => "--smartlead.max-calls-per-hour".into(),
        }
    }

    /// The key in the accounts file.
    pub fn key(self) -> String {
        match self {
            Self::Timeout => "timeout".into(),
            Self::MaxBodySize => "max_body_size".into(),
            Self::MaxBackoff => "max_backoff".into(),
            Self::StaleAfter => "stale_after".into(),
            Self::Interval(Collector::Categories) => "poll_interval".into(),
            Self::Interval(c) => format!("collectors.{}.interval", c.name()),
            Self::Collectors => "collectors".into(),
            Self::CampaignStatuses => "campaign_statuses".into(),
            Self::MaxCallsPerMinute => "max_calls_per_minute".into(),
            Self::MaxCallsPerHour => "max_calls_per_hour".into(),
        }
    }
}

/// A setting out of range, or inconsistent with another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    /// Which setting.
    pub setting: Setting,
    /// Why, with the value.
    pub reason: String,
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

/// Why a list of statuses cannot be used: empty or too long.
fn check_statuses(statuses: &[String]) -> Result<(), String> {
    if statuses.is_empty() {
        return Err(
            "the list is empty: name at least one status (e.g. ACTIVE), or disable \
                    the campaigns collector"
                .into(),
        );
    }
    if statuses.len() > MAX_CAMPAIGN_STATUSES {
        return Err(format!(
            "{} statuses is more than {MAX_CAMPAIGN_STATUSES}",
            statuses.len()
        ));
    }
    Ok(())
}

/// One account, ready to collect.
#[derive(Debug, Clone)]
pub struct Account {
    /// The `account` label; unique.
    pub name: String,
    /// Where the key is read from before every call.
    pub key_source: KeySource,
    /// The key read at load, proving the source works.
    pub initial_key: ApiKey,
    /// Intervals, timeout, caps, budget.
    pub settings: Settings,
}

impl Account {
    /// Whether a reload must restart this account: its key source or a setting changed. A
    /// rotated key in the same file is not a change: the file is re-read anyway.
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Settings that pass validation: every collector on at its default interval.
    pub(crate) fn settings() -> Settings {
        Settings {
            base_url: Url::parse("https://server.smartlead.ai/api/v1").unwrap(),
            timeout: Duration::from_secs(10),
            max_body_size: 16 << 20,
            max_backoff: Duration::from_secs(600),
            stale_after: Duration::from_secs(300),
            global_max_id: 99,
            collectors: Collector::ALL.map(|c| CollectorSettings {
                enabled: true,
                interval: c.default_interval(),
            }),
            campaign_statuses: vec!["ACTIVE".into(), "PAUSED".into()],
            max_calls_per_minute: DEFAULT_CALLS_PER_MINUTE,
            max_calls_per_hour: DEFAULT_CALLS_PER_HOUR,
        }
    }

    #[test]
    fn collectors_are_indexed_in_order() {
        for (i, c) in Collector::ALL.into_iter().enumerate() {
            assert_eq!(c.index(), i);
            assert_eq!(Collector::from_name(c.name()), Some(c));
        }
        let defaults = Collector::ALL.map(|c| c.default_interval().as_secs());
        assert_eq!(defaults, [60, 900, 300, 300]);
        assert!(settings().validate().is_ok());
    }

    #[test]
    fn a_budget_too_small_for_the_categories_collector_is_refused() {
        let mut s = settings();
        s.collectors[0].interval = Duration::from_secs(3);
        assert!(s.validate().is_err(), "3 s: 1,200 an hour over 500");
        s.max_calls_per_hour = 1200;
        assert!(s.validate().is_ok(), "20 a minute, 1,200 an hour: exactly");
        s.collectors[0].interval = Duration::from_millis(2999);
        let e = s.validate().unwrap_err();
        assert_eq!(e.setting, Setting::MaxCallsPerMinute);
        assert!(
            e.reason
                .contains("cannot fit even the categories collector"),
            "{}",
            e.reason
        );
        // Without the categories collector there is nothing the budget must hold.
        s.collectors[0].enabled = false;
        assert!(s.validate().is_ok());
        for c in &mut s.collectors {
            c.enabled = false;
        }
        assert_eq!(s.validate().unwrap_err().setting, Setting::Collectors);
    }

    #[test]
    fn bounds_name_their_setting() {
        let mut s = settings();
        s.collectors[2].interval = Duration::from_millis(10);
        assert_eq!(
            s.validate().unwrap_err().setting,
            Setting::Interval(Collector::Campaigns)
        );
        // A disabled collector's interval is not checked.
        s.collectors[2].enabled = false;
        assert!(s.validate().is_ok());
        let mut s = settings();
        s.max_calls_per_minute = MAX_CALLS_PER_MINUTE + 1;
        assert_eq!(
            s.validate().unwrap_err().setting,
            Setting::MaxCallsPerMinute
        );
        s.max_calls_per_minute = 0;
        assert_eq!(
            s.validate().unwrap_err().setting,
            Setting::MaxCallsPerMinute
        );
        let mut s = settings();
        s.campaign_statuses.clear();
        assert_eq!(s.validate().unwrap_err().setting, Setting::CampaignStatuses);
        assert_eq!(
            Setting::Interval(Collector::Replies).flag(),
            "--collector.replies.interval"
        );
        assert_eq!(
            Setting::Interval(Collector::Categories).key(),
            "poll_interval"
        );
    }
}
