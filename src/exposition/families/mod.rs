//! The table of every metric family the exporter writes by hand: name, type, help, and how
//! each sample is written from the state. Adding a family is one entry here and its writer.
//! The table's order is the exposition's: the per-account families by name, then the
//! exporter's own.

mod api;
mod campaigns;
mod categories;
mod collectors;
mod exporter;
mod mailboxes;
mod replies;

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
pub(crate) static FAMILIES: &[Family] = &[
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
               once per call, not at scrape time.",
        scope: Scope::Account(api::request_duration),
    },
    Family {
        name: "smartlead_api_request_failures_total",
        kind: Kind::Counter,
        help: "Failed calls to SmartLead by reason (timeout, transport, status, decode, \
               too_large). Counted once per call.",
        scope: Scope::Account(api::request_failures),
    },
    Family {
        name: "smartlead_api_requests_total",
        kind: Kind::Counter,
        help: "SmartLead API responses received, by HTTP status code. Counted once per call.",
        scope: Scope::Account(api::requests),
    },
    Family {
        name: "smartlead_campaign_emails",
        kind: Kind::Gauge,
        help: polled!(
            "A campaign's lifetime email events (sent, opened, clicked, replied, bounced, \
             unsubscribed, blocked). A gauge: SmartLead's totals fall when leads are deleted."
        ),
        scope: Scope::Account(campaigns::emails),
    },
    Family {
        name: "smartlead_campaign_info",
        kind: Kind::Gauge,
        help: polled!("A SmartLead campaign, value 1, for every campaign in the list."),
        scope: Scope::Account(campaigns::info),
    },
    Family {
        name: "smartlead_campaign_interested_leads",
        kind: Kind::Gauge,
        help: polled!("A campaign's leads categorised as interested."),
        scope: Scope::Account(campaigns::interested_leads),
    },
    Family {
        name: "smartlead_campaign_leads",
        kind: Kind::Gauge,
        help: polled!("A campaign's leads by state."),
        scope: Scope::Account(campaigns::leads),
    },
    Family {
        name: "smartlead_campaign_unique_leads",
        kind: Kind::Gauge,
        help: polled!("A campaign's distinct leads sent to, opened and clicked."),
        scope: Scope::Account(campaigns::unique_leads),
    },
    Family {
        name: "smartlead_campaigns",
        kind: Kind::Gauge,
        help: polled!("SmartLead campaigns by status."),
        scope: Scope::Account(campaigns::by_status),
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
        name: "smartlead_category_replies",
        kind: Kind::Gauge,
        help: polled!(
            "Replies received in the last 30 days (UTC) by lead category; Uncategorized has \
             sentiment none."
        ),
        scope: Scope::Account(replies::replies),
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
        name: "smartlead_exporter_api_budget_calls",
        kind: Kind::Gauge,
        help: "The key's API budget the exporter keeps to, in calls per window \
               (--smartlead.max-calls-per-minute, --smartlead.max-calls-per-hour).",
        scope: Scope::Account(collectors::budget_calls),
    },
    Family {
        name: "smartlead_exporter_api_planned_calls",
        kind: Kind::Gauge,
        help: "Calls per window the enabled collectors make at their intervals in force, from \
               each collector's last seen cost per run.",
        scope: Scope::Account(collectors::planned_calls),
    },
    Family {
        name: "smartlead_last_success_timestamp_seconds",
        kind: Kind::Gauge,
        help: polled!("Unix time of the latest successful poll."),
        scope: Scope::Account(collectors::account_last_success),
    },
    Family {
        name: "smartlead_mailbox_campaigns",
        kind: Kind::Gauge,
        help: polled!("Campaigns sending from a mailbox."),
        scope: Scope::Account(mailboxes::campaigns),
    },
    Family {
        name: "smartlead_mailbox_daily_limit_emails",
        kind: Kind::Gauge,
        help: polled!("A mailbox's daily sending limit."),
        scope: Scope::Account(mailboxes::daily_limit),
    },
    Family {
        name: "smartlead_mailbox_daily_sent_emails",
        kind: Kind::Gauge,
        help: polled!("Emails a mailbox sent today."),
        scope: Scope::Account(mailboxes::daily_sent),
    },
    Family {
        name: "smartlead_mailbox_imap_up",
        kind: Kind::Gauge,
        help: polled!("1 if a mailbox's last IMAP connection worked, else 0."),
        scope: Scope::Account(mailboxes::imap_up),
    },
    Family {
        name: "smartlead_mailbox_info",
        kind: Kind::Gauge,
        help: polled!("A SmartLead sending mailbox, value 1."),
        scope: Scope::Account(mailboxes::info),
    },
    Family {
        name: "smartlead_mailbox_smtp_up",
        kind: Kind::Gauge,
        help: polled!("1 if a mailbox's last SMTP connection worked, else 0."),
        scope: Scope::Account(mailboxes::smtp_up),
    },
    Family {
        name: "smartlead_mailbox_suspended",
        kind: Kind::Gauge,
        help: polled!("1 if SmartLead suspended a mailbox, else 0."),
        scope: Scope::Account(mailboxes::suspended),
    },
    Family {
        name: "smartlead_mailbox_warmup_blocked",
        kind: Kind::Gauge,
        help: polled!("1 if a mailbox's warmup is blocked, else 0."),
        scope: Scope::Account(mailboxes::warmup_blocked),
    },
    Family {
        name: "smartlead_mailbox_warmup_reputation_ratio",
        kind: Kind::Gauge,
        help: polled!("A mailbox's warmup reputation, 0 to 1; absent when SmartLead gives none."),
        scope: Scope::Account(mailboxes::warmup_reputation),
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
        assert!(
            per_account.windows(2).all(|w| w[0] < w[1])
                && exporter.iter().all(|e| per_account.iter().all(|a| a != e))
        );
        for family in FAMILIES {
            assert!(family.name.starts_with("smartlead_"), "{}", family.name);
            assert!(!family.help.contains(['\\', '\n']), "{}", family.name);
            let counter = family.kind == Kind::Counter;
            assert_eq!(counter, family.name.ends_with("_total"), "{}", family.name);
        }
    }
}
