//! The table of every metric family the exporter writes by hand: name, type, help, and how
//! each sample is written from the state. Adding a family is one entry here and its writer.
//! The table's order is the exposition's: the per-account families by name, then the
//! exporter's own.

mod api;
mod categories;
mod collectors;
mod exporter;

use crate::state::{AccountState, ExporterState};

use super::samples::Samples;
use super::BuildInfo;

/// Says, in every HELP string of a polled value, that it is refreshed on the exporter's own
/// schedule, as the exporter-writing guide asks of cached metrics.
macro_rules! polled {
    ($help:literal) => {
        concat!($help, " Refreshed every poll interval, not at scrape time.")
    };
}

/// The metric type, as `# TYPE` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A value that goes up and down.
    Gauge,
    /// A count that only goes up.
    Counter,
    /// Buckets, sum and count.
    Histogram,
}

impl Kind {
    /// The `# TYPE` word.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Gauge => "gauge",
            Self::Counter => "counter",
            Self::Histogram => "histogram",
        }
    }
}

/// What a family's samples are written from.
pub(crate) enum Scope {
    /// Each account's state, in turn; every sample is labelled with the account first.
    Account(fn(&AccountState, &mut Samples<'_>)),
    /// The exporter's own facts, once.
    Exporter(fn(&Context<'_>, &mut Samples<'_>)),
}

/// What the exporter's own families are written from.
pub(crate) struct Context<'a> {
    /// Reload and shard facts.
    pub(crate) exporter: &'a ExporterState,
    /// Version and revision.
    pub(crate) build: &'a BuildInfo,
}

/// One family.
pub(crate) struct Family {
    /// The metric name.
    pub(crate) name: &'static str,
    /// Its type.
    pub(crate) kind: Kind,
    /// The `# HELP` text (no backslash, no newline).
    pub(crate) help: &'static str,
    /// How its samples are written.
    pub(crate) scope: Scope,
}

/// Every family, in exposition order.
pub(crate) static FAMILIES: [Family; 20] = [
    Family {
        name: "smartlead_api_rate_limit_limit",
        kind: Kind::Gauge,
        help: polled!(
            "X-RateLimit-Limit of the latest SmartLead answer that had it: the key's budget, \
             shared with every integration using the key; withdrawn when stale."
        ),
        scope: Scope::Account(api::rate_limit_limit),
    },
    Family {
        name: "smartlead_api_rate_limit_remaining",
        kind: Kind::Gauge,
        help: polled!(
            "X-RateLimit-Remaining of the latest SmartLead answer that had it; withdrawn when \
             stale."
        ),
        scope: Scope::Account(api::rate_limit_remaining),
    },
    Family {
        name: "smartlead_api_request_duration_seconds",
        kind: Kind::Histogram,
        help: "Duration of SmartLead API requests, from sending to the last body byte. Observed \
               once per poll, not at scrape time.",
        scope: Scope::Account(api::request_duration),
    },
    Family {
        name: "smartlead_api_request_failures_total",
        kind: Kind::Counter,
        help: "Failed polls of SmartLead by reason (timeout, transport, status, decode, \
               too_large). Counted once per poll.",
        scope: Scope::Account(api::request_failures),
    },
    Family {
        name: "smartlead_api_requests_total",
        kind: Kind::Counter,
        help: "SmartLead API responses received, by HTTP status code. Counted once per poll.",
        scope: Scope::Account(api::requests),
    },
    Family {
        name: "smartlead_categories",
        kind: Kind::Gauge,
        help: polled!("Number of lead categories by sentiment and origin; withdrawn when stale."),
        scope: Scope::Account(categories::counts),
    },
    Family {
        name: "smartlead_category_created_timestamp_seconds",
        kind: Kind::Gauge,
        help: polled!("Unix time a SmartLead lead category was created."),
        scope: Scope::Account(categories::created),
    },
    Family {
        name: "smartlead_category_info",
        kind: Kind::Gauge,
        help: polled!("A SmartLead lead category, value 1."),
        scope: Scope::Account(categories::info),
    },
    Family {
        name: "smartlead_collector_duration_seconds",
        kind: Kind::Gauge,
        help: polled!("How long the latest collection took, all its SmartLead calls together."),
        scope: Scope::Account(collectors::duration),
    },
    Family {
        name: "smartlead_collector_interval_seconds",
        kind: Kind::Gauge,
        help: polled!("Time between a collector's runs while they succeed, as in force."),
        scope: Scope::Account(collectors::interval),
    },
    Family {
        name: "smartlead_collector_last_success_timestamp_seconds",
        kind: Kind::Gauge,
        help: polled!("Unix time of a collector's latest successful run."),
        scope: Scope::Account(collectors::last_success),
    },
    Family {
        name: "smartlead_collector_polls_total",
        kind: Kind::Counter,
        help: "A collector's attempts, successful or not. Counted once per run.",
        scope: Scope::Account(collectors::polls),
    },
    Family {
        name: "smartlead_collector_success",
        kind: Kind::Gauge,
        help: polled!("1 if a collector's latest attempt succeeded, else 0."),
        scope: Scope::Account(collectors::success),
    },
    Family {
        name: "smartlead_last_success_timestamp_seconds",
        kind: Kind::Gauge,
        help: polled!("Unix time of the latest successful poll."),
        scope: Scope::Account(collectors::account_last_success),
    },
    Family {
        name: "smartlead_poll_consecutive_failures",
        kind: Kind::Gauge,
        help: polled!("Failed polls since the latest success; drives the backoff."),
        scope: Scope::Account(collectors::consecutive_failures),
    },
    Family {
        name: "smartlead_up",
        kind: Kind::Gauge,
        help: polled!("1 if the latest poll of SmartLead succeeded, else 0."),
        scope: Scope::Account(collectors::up),
    },
    Family {
        name: "smartlead_exporter_build_info",
        kind: Kind::Gauge,
        help: "A metric with a constant '1' value labelled by version, revision and \
               rustversion from which smartlead_exporter was built.",
        scope: Scope::Exporter(exporter::build_info),
    },
    Family {
        name: "smartlead_exporter_config_last_reload_success_timestamp_seconds",
        kind: Kind::Gauge,
        help: "Unix time of the last successful load of the configuration.",
        scope: Scope::Exporter(exporter::reload_time),
    },
    Family {
        name: "smartlead_exporter_config_last_reload_successful",
        kind: Kind::Gauge,
        help: "Whether the last reload of --config.file succeeded (1) or was refused, keeping \
               the configuration before it (0). 1 without --config.file.",
        scope: Scope::Exporter(exporter::reload_ok),
    },
    Family {
        name: "smartlead_exporter_shard_accounts",
        kind: Kind::Gauge,
        help: "SmartLead accounts this process polls: its shard's share of the configuration.",
        scope: Scope::Exporter(exporter::shard_accounts),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_sorted_by_name_within_their_scope_and_help_needs_no_escaping() {
        let per_account: Vec<&str> = FAMILIES
            .iter()
            .filter(|f| matches!(f.scope, Scope::Account(_)))
            .map(|f| f.name)
            .collect();
        let exporter: Vec<&str> = FAMILIES
            .iter()
            .filter(|f| matches!(f.scope, Scope::Exporter(_)))
            .map(|f| f.name)
            .collect();
        for names in [&per_account, &exporter] {
            assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
        }
        // The per-account families come first.
        let first_exporter = FAMILIES
            .iter()
            .position(|f| matches!(f.scope, Scope::Exporter(_)))
            .unwrap();
        assert_eq!(first_exporter, per_account.len());
        for family in &FAMILIES {
            assert!(family.name.starts_with("smartlead_"), "{}", family.name);
            assert!(!family.help.contains(['\\', '\n']), "{}", family.name);
            let counter = family.kind == Kind::Counter;
            assert_eq!(counter, family.name.ends_with("_total"), "{}", family.name);
        }
    }
}
