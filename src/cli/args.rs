//! The flags as clap parses them, and clap's errors in the style of every other
//! configuration error.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use super::{API_KEY_ENV, DEFAULT_POLL_CONCURRENCY};
use crate::logging::{LogFormat, LogLevel};
use crate::settings::{self, CollectorSettings, DEFAULT_CAMPAIGN_STATUSES};

/// The flags, as clap parses them.
#[derive(Debug, Parser)]
#[command(
    name = "smartlead_exporter",
    version,
    about = "Prometheus exporter for SmartLead: lead categories, replies, campaigns, mailboxes, \
             API latency and errors.",
    after_help = "The API key is read from the SMARTLEAD_API_KEY environment variable or from \
                  the file named by --smartlead.api-key-file (re-read before every poll); it is \
                  never accepted as a flag value."
)]
pub struct Cli {
    /// Address to serve on: `:PORT` for every interface, or `HOST:PORT`.
    #[arg(
        long = "web.listen-address",
        value_name = "ADDRESS",
        default_value = ":10072"
    )]
    pub listen_address: String,

    /// Path under which to expose metrics.
    #[arg(
        long = "web.telemetry-path",
        value_name = "PATH",
        default_value = "/metrics"
    )]
    pub telemetry_path: String,

    /// SmartLead API root; the exporter calls {base}/leads/fetch-categories and the like.
    #[arg(
        long = "smartlead.base-url",
        env = "SMARTLEAD_BASE_URL",
        value_name = "URL",
        default_value = "https://server.smartlead.ai/api/v1"
    )]
    pub base_url: String,

    /// Host names every account's base_url must have, comma-separated [default: the host of
    /// --smartlead.base-url].
    #[arg(long = "smartlead.allowed-hosts", value_name = "HOSTS")]
    pub allowed_hosts: Option<String>,

    /// Directory under which every api_key_file of --config.file must lie (after symlinks and
    /// `..` are resolved) [default: anywhere].
    #[arg(long = "smartlead.key-dir", value_name = "DIR")]
    pub key_dir: Option<PathBuf>,

    /// File holding the API key, re-read before every poll (a rotated Kubernetes Secret takes
    /// effect without a restart). Alternative to the SMARTLEAD_API_KEY environment variable.
    #[arg(
        long = "smartlead.api-key-file",
        env = "SMARTLEAD_API_KEY_FILE",
        value_name = "FILE"
    )]
    pub api_key_file: Option<PathBuf>,

    /// PEM bundle of CA certificates trusted in addition to the public roots compiled in,
    /// for a TLS-inspecting proxy between the exporter and SmartLead.
    #[arg(long = "smartlead.ca-file", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,

    /// Value of the `account` label [default: default, or demo with --demo].
    #[arg(long = "smartlead.account", value_name = "NAME")]
    pub account: Option<String>,

    /// Limit on one whole request to SmartLead, body included; 1ms to 10m.
    #[arg(long = "smartlead.timeout", value_name = "DURATION", default_value = "10s",
          value_parser = settings::parse_duration)]
    pub timeout: Duration,

    /// Largest answer accepted from SmartLead (B, KiB, MiB, GiB, or KB, MB...); 1KiB to 1GiB.
    #[arg(long = "smartlead.max-body-size", value_name = "SIZE", default_value = "16MiB",
          value_parser = settings::parse_size)]
    pub max_body_size: u64,

    /// The key's budget: calls in any 60 seconds, over every collector [default: 20, or 60
    /// with --demo]; 1 to 300.
    #[arg(long = "smartlead.max-calls-per-minute", value_name = "N")]
    pub max_calls_per_minute: Option<u32>,

    /// The key's budget: calls in any hour, over every collector [default: 500, or 3600 with
    /// --demo]; 1 to 18000.
    #[arg(long = "smartlead.max-calls-per-hour", value_name = "N")]
    pub max_calls_per_hour: Option<u32>,

    /// Time between polls of the categories collector [default: 60s, or 5s with --demo]; 1s
    /// to 24h.
    #[arg(long = "poll.interval", value_name = "DURATION", value_parser = settings::parse_duration)]
    pub poll_interval: Option<Duration>,

    /// Longest delay between polls while they keep failing (exponential backoff with jitter);
    /// at least --poll.interval, at most 24h.
    #[arg(long = "poll.max-backoff", value_name = "DURATION", default_value = "10m",
          value_parser = settings::parse_duration)]
    pub max_backoff: Duration,

    /// Enable the categories collector (the default).
    #[arg(long = "collector.categories", overrides_with = "no_categories")]
    pub categories: bool,
    /// Disable the categories collector.
    #[arg(long = "no-collector.categories", overrides_with = "categories")]
    pub no_categories: bool,
    /// Same as --poll.interval.
    #[arg(long = "collector.categories.interval", value_name = "DURATION",
          value_parser = settings::parse_duration)]
    pub categories_interval: Option<Duration>,

    /// Enable the replies collector (the default).
    #[arg(long = "collector.replies", overrides_with = "no_replies")]
    pub replies: bool,
    /// Disable the replies collector.
    #[arg(long = "no-collector.replies", overrides_with = "replies")]
    pub no_replies: bool,
    /// Time between runs of the replies collector; 1s to 24h.
    #[arg(long = "collector.replies.interval", value_name = "DURATION", default_value = "15m",
          value_parser = settings::parse_duration)]
    pub replies_interval: Duration,

    /// Enable the campaigns collector (the default).
    #[arg(long = "collector.campaigns", overrides_with = "no_campaigns")]
    pub campaigns: bool,
    /// Disable the campaigns collector.
    #[arg(long = "no-collector.campaigns", overrides_with = "campaigns")]
    pub no_campaigns: bool,
    /// Time between runs of the campaigns collector; 1s to 24h.
    #[arg(long = "collector.campaigns.interval", value_name = "DURATION", default_value = "5m",
          value_parser = settings::parse_duration)]
    pub campaigns_interval: Duration,
    /// Campaign statuses whose analytics are collected, comma-separated (case does not matter).
    #[arg(long = "collector.campaigns.statuses", value_name = "STATUSES",
          default_value = DEFAULT_CAMPAIGN_STATUSES, value_parser = Statuses::parse)]
    pub campaign_statuses: Statuses,

    /// Enable the mailboxes collector (the default).
    #[arg(long = "collector.mailboxes", overrides_with = "no_mailboxes")]
    pub mailboxes: bool,
    /// Disable the mailboxes collector.
    #[arg(long = "no-collector.mailboxes", overrides_with = "mailboxes")]
    pub no_mailboxes: bool,
    /// Time between runs of the mailboxes collector; 1s to 24h.
    #[arg(long = "collector.mailboxes.interval", value_name = "DURATION", default_value = "5m",
          value_parser = settings::parse_duration)]
    pub mailboxes_interval: Duration,

    /// Category ids up to this are origin="global", larger ones origin="user".
    #[arg(
        long = "categories.global-max-id",
        value_name = "ID",
        default_value_t = 99
    )]
    pub global_max_id: u64,

    /// After this long without a successful poll, category series are withdrawn; longer than
    /// --poll.interval, at most 7d.
    #[arg(long = "metrics.stale-after", value_name = "DURATION", default_value = "5m",
          value_parser = settings::parse_duration)]
    pub stale_after: Duration,

    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", value_name = "LEVEL", value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,

    /// Output format of log messages, on stderr.
    #[arg(long = "log.format", value_name = "FORMAT", value_enum, default_value_t = LogFormat::Logfmt)]
    pub log_format: LogFormat,

    /// Run against an embedded SmartLead stand-in on loopback; no key needed.
    #[arg(long = "demo")]
    pub demo: bool,

    /// Poll once, print the exposition to stdout, exit 0 if the poll succeeded, 1 if not.
    /// With --config.file: every account once, exit 0 only if every poll succeeded.
    #[arg(long = "once")]
    pub once: bool,

    /// Web config file (exporter-toolkit format): TLS, mutual TLS, basic auth, extra headers.
    /// Reloaded when it or the certificates it names change, and on SIGHUP.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,

    /// Leave /-/healthy and /-/ready open without basic auth credentials (for kubelet probes).
    #[arg(long = "web.health-unauthenticated")]
    pub health_unauthenticated: bool,

    /// Also serve /-/healthy and /-/ready (nothing else) in plain HTTP, without TLS or basic
    /// auth, on this address (`:PORT` or `HOST:PORT`): for probes when the web config requires
    /// client certificates. Off by default.
    #[arg(long = "web.health-listen-address", value_name = "ADDRESS")]
    pub health_listen_address: Option<String>,

    /// YAML file naming many SmartLead accounts, each with its key file or variable; reloaded
    /// on SIGHUP and when it changes. The flags above become every account's defaults.
    #[arg(long = "config.file", value_name = "FILE")]
    pub config_file: Option<PathBuf>,

    /// Validate the flags, --config.file and the keys it names, then exit 0, or 2 naming the
    /// problem; nothing is polled.
    #[arg(long = "config.check")]
    pub config_check: bool,

    /// Requests to SmartLead in flight at once, over every account (1 to 1024).
    #[arg(long = "poll.concurrency", value_name = "N", default_value_t = DEFAULT_POLL_CONCURRENCY)]
    pub poll_concurrency: usize,

    /// This process's shard: it polls the accounts whose name hashes to it modulo
    /// --total-shards.
    #[arg(long = "shard", value_name = "N", default_value_t = 0)]
    pub shard: u32,

    /// How many shards split the accounts of --config.file (1 to 1024).
    #[arg(long = "total-shards", value_name = "M", default_value_t = 1)]
    pub total_shards: u32,
}

/// `--collector.campaigns.statuses`: one flag value holding a list.
#[derive(Debug, Clone)]
pub struct Statuses(pub Vec<String>);

impl Statuses {
    /// Parses the flag's value (see [`settings::parse_statuses`]).
    fn parse(text: &str) -> Result<Self, String> {
        settings::parse_statuses(text).map(Self)
    }
}

/// The flag that people try for the key, and which does not exist on purpose.
const API_KEY_FLAG: &str = "--smartlead.api-key";

/// Why the command line does not lead to a run.
#[derive(Debug)]
pub enum CliExit {
    /// `--help` or `--version`: print it (clap's own rendering) and exit 0.
    Print(clap::Error),
    /// A bad command line: the message (without the `smartlead_exporter: error: ` prefix
    /// every configuration error gets), for exit status 2.
    Usage(String),
}

impl Cli {
    /// Parses `args` (the program name first), turning clap's errors into one-line messages in
    /// the style of every other configuration error. An unknown argument is never repeated
    /// with its value, since it may be a key given the wrong way.
    ///
    /// # Errors
    /// [`CliExit::Print`] for `--help` and `--version`, [`CliExit::Usage`] for the rest.
    pub fn parse_args<I, T>(args: I) -> Result<Self, CliExit>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        Self::try_parse_from(args).map_err(|e| match e.kind() {
            clap::error::ErrorKind::DisplayHelp
            | clap::error::ErrorKind::DisplayVersion
            | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => CliExit::Print(e),
            _ => CliExit::Usage(usage_message(&e)),
        })
    }

    /// The collectors' switches and intervals as the flags give them.
    pub(super) fn collectors(&self, categories_interval: Duration) -> [CollectorSettings; 4] {
        let setting = |no: bool, interval| CollectorSettings {
            enabled: !no,
            interval,
        };
        [
            setting(self.no_categories, categories_interval),
            setting(self.no_replies, self.replies_interval),
            setting(self.no_campaigns, self.campaigns_interval),
            setting(self.no_mailboxes, self.mailboxes_interval),
        ]
    }
}

/// One line for a clap error: what is wrong, clap's tip if it has one, and where to look.
fn usage_message(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() == ErrorKind::UnknownArgument {
        let given = match e.get(ContextKind::InvalidArg) {
            Some(ContextValue::String(arg)) => arg.as_str(),
            _ => "",
        };
        let name = given.split_once('=').map_or(given, |(name, _)| name);
        if name == API_KEY_FLAG {
            return format!(
                "{API_KEY_FLAG} does not exist: the API key is never taken as a flag, because \
                 flags show in `ps` and in shell history; set the {API_KEY_ENV} environment \
                 variable, or name a file holding the key with --smartlead.api-key-file"
            );
        }
        if !name.starts_with('-') {
            return "unexpected argument (not repeated here, in case it is a key): every \
                    setting is a flag such as --poll.interval=60s (see --help)"
                .to_owned();
        }
        let suggestion = match e.get(ContextKind::SuggestedArg) {
            Some(ContextValue::String(s)) => format!("; did you mean {s}?"),
            _ => String::new(),
        };
        return format!("unknown flag {name}{suggestion} (see --help)");
    }
    let rendered = e.render().to_string();
    let mut lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid command line");
    let mut message = first.strip_prefix("error: ").unwrap_or(first).to_owned();
    for tip in lines.filter(|l| l.starts_with("tip:")) {
        message.push_str("; ");
        message.push_str(tip);
    }
    message.push_str(" (see --help)");
    message
}
