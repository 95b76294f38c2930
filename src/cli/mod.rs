//! Command-line flags, parsed and validated; nothing here reads a file or resolves a name
//! ([`crate::startup`] does that).
//!
//! Flags follow the Prometheus exporters' habits (`--web.*`, `--log.*`, one namespace per
//! component). Every invalid value is refused with a message that names the flag and says
//! why; `main` prints it and exits with status 2. The API key is never a flag value: it comes
//! from `SMARTLEAD_API_KEY` or from a file.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::settings::{
    self, Collector, Setting, Settings, Shard, DEFAULT_CALLS_PER_HOUR, DEFAULT_CALLS_PER_MINUTE,
};

mod args;

use crate::logging::{LogFormat, LogLevel};
use crate::smartlead::key::{ApiKey, KeyError};
pub use args::{Cli, CliExit};

/// The default port, registered for this exporter on the Prometheus wiki's port list.
pub(crate) const DEFAULT_PORT: u16 = 10072;

/// Polls closer than this are warned about: the key's budget is shared by everything using it.
pub(crate) const GENTLE_POLL_INTERVAL: Duration = Duration::from_secs(30);

/// The categories interval under `--demo` when `--poll.interval` is not given, so that the
/// dashboards fill quickly.
pub(crate) const DEMO_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// The per-minute budget under `--demo` when none is given: the stand-in's own limit.
pub(crate) const DEMO_CALLS_PER_MINUTE: u32 = 60;

/// The hourly budget under `--demo` when none is given: the stand-in's per-minute limit, all
/// hour long (it has no hourly one).
pub(crate) const DEMO_CALLS_PER_HOUR: u32 = 3600;

/// The environment variable holding the key.
pub const API_KEY_ENV: &str = "SMARTLEAD_API_KEY";

/// The `account` label in demo mode when `--smartlead.account` is not given.
pub(crate) const DEMO_ACCOUNT: &str = "demo";

/// The default of `--poll.concurrency`: requests in flight to SmartLead at once, over every
/// account.
pub(crate) const DEFAULT_POLL_CONCURRENCY: usize = 16;

/// The most requests in flight at once: each holds a connection and a file descriptor.
pub(crate) const MAX_POLL_CONCURRENCY: usize = 1024;

/// The most shards: more replicas than this would each poll a handful of accounts.
pub(crate) const MAX_SHARDS: u32 = 1024;

/// `--web.listen-address`, parsed; a host name is resolved at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// Addresses to try binding, in order (`:PORT` tries IPv6-any, then IPv4-any).
    Addresses(Vec<SocketAddr>),
    /// `HOST:PORT` with a host name.
    Name(String),
}

/// Where the one account of the flags gets its key.
#[derive(Debug, Clone)]
pub enum KeyFlag {
    /// `SMARTLEAD_API_KEY`, checked to be one plausible key.
    Env(ApiKey),
    /// `--smartlead.api-key-file`, read at start-up and before every poll.
    File(PathBuf),
}

/// Which accounts to poll.
#[derive(Debug, Clone)]
pub enum Mode {
    /// One account from the flags.
    Single {
        /// The `account` label.
        name: String,
        /// Its key.
        key: KeyFlag,
    },
    /// One account against the embedded stand-in, which supplies the base URL and the key.
    Demo {
        /// The `account` label.
        name: String,
    },
    /// The accounts of `--config.file`.
    File(PathBuf),
}

/// The flags, validated.
#[derive(Debug, Clone)]
pub struct Flags {
    /// `--web.listen-address`.
    pub listen: Listen,
    /// The path of the exposition.
    pub telemetry_path: String,
    /// The accounts, or where to find them.
    pub mode: Mode,
    /// Every account's settings unless the accounts file says otherwise.
    pub defaults: Settings,
    /// `--smartlead.allowed-hosts`: the hosts an account's `base_url` may name.
    pub allowed_hosts: Vec<String>,
    /// `--smartlead.key-dir`, as given (resolved at start-up).
    pub key_dir: Option<PathBuf>,
    /// Which accounts of the file this process polls.
    pub shard: Shard,
    /// `--poll.concurrency`.
    pub concurrency: usize,
    /// `--config.check`.
    pub check: bool,
    /// `--once`.
    pub once: bool,
    /// `--smartlead.ca-file`.
    pub ca_file: Option<PathBuf>,
    /// `--log.level`.
    pub log_level: LogLevel,
    /// `--log.format`.
    pub log_format: LogFormat,
    /// `--web.config.file`.
    pub web_config_file: Option<PathBuf>,
    /// `--web.health-unauthenticated`.
    pub health_unauthenticated: bool,
    /// `--web.health-listen-address`.
    pub health_listen: Option<Listen>,
    /// Things that are allowed but probably unwise, to log once logging is up.
    pub warnings: Vec<String>,
}

/// A configuration that cannot run. The message names the flag or variable and says why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A flag's value is out of range or malformed.
    #[error("invalid value for {flag}: {reason}")]
    Invalid {
        /// The flag, e.g. `--poll.interval`.
        flag: String,
        /// Why, with the value.
        reason: String,
    },
    /// No key, and not in demo mode.
    #[error(
        "no SmartLead API key: set the {API_KEY_ENV} environment variable, or name a file \
         holding the key with --smartlead.api-key-file (or SMARTLEAD_API_KEY_FILE); \
         or try --demo"
    )]
    MissingKey,
    /// Both key sources given.
    #[error(
        "both {API_KEY_ENV} and --smartlead.api-key-file are set: keep only one, so that it is \
         clear which key is used"
    )]
    TwoKeys,
    /// The key source is unusable.
    #[error("{source}; {hint}")]
    Key {
        /// What went wrong.
        source: KeyError,
        /// Which setting to fix.
        hint: &'static str,
    },
}

/// A [`ConfigError::Invalid`].
pub(crate) fn invalid(flag: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        flag: flag.into(),
        reason: reason.into(),
    }
}

impl Flags {
    /// Validates parsed flags; `env_key` is `SMARTLEAD_API_KEY`'s value.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the flag or variable at fault.
    pub fn from_cli(cli: Cli, env_key: Option<OsString>) -> Result<Self, ConfigError> {
        let mut warnings = Vec::new();
        let listen = parse_listen_address("--web.listen-address", &cli.listen_address)?;
        let health_listen = cli
            .health_listen_address
            .as_deref()
            .map(|text| parse_listen_address("--web.health-listen-address", text))
            .transpose()?;
        let telemetry_path = validate_telemetry_path(cli.telemetry_path.clone())?;
        let base_url = settings::parse_base_url(&cli.base_url)
            .map_err(|reason| invalid("--smartlead.base-url", reason))?;
        let poll_interval = categories_interval(&cli)?;
        let (per_minute, per_hour) = if cli.demo {
            (DEMO_CALLS_PER_MINUTE, DEMO_CALLS_PER_HOUR)
        } else {
            (DEFAULT_CALLS_PER_MINUTE, DEFAULT_CALLS_PER_HOUR)
        };
        let defaults = Settings {
            base_url,
            timeout: cli.timeout,
            max_body_size: cli.max_body_size,
            max_backoff: cli.max_backoff,
            stale_after: cli.stale_after,
            global_max_id: cli.global_max_id,
            collectors: cli.collectors(poll_interval),
            campaign_statuses: cli.campaign_statuses.0.clone(),
            max_calls_per_minute: cli.max_calls_per_minute.unwrap_or(per_minute),
            max_calls_per_hour: cli.max_calls_per_hour.unwrap_or(per_hour),
        };
        defaults.validate().map_err(|e| {
            let flag = match e.setting {
                Setting::Interval(Collector::Categories) if cli.poll_interval.is_none() => {
                    "--collector.categories.interval".to_owned()
                }
                field => field.flag(),
            };
            invalid(flag, e.reason)
        })?;
        if poll_interval < GENTLE_POLL_INTERVAL && !cli.demo {
            warnings.push(format!(
                "--poll.interval={} is below 30s: SmartLead's rate budget is shared by \
                 everything that uses the key",
                settings::show_duration(poll_interval)
            ));
        }
        let allowed_hosts = match &cli.allowed_hosts {
            Some(hosts) => settings::parse_hosts(hosts)
                .map_err(|reason| invalid("--smartlead.allowed-hosts", reason))?,
            None => defaults
                .base_url
                .host_str()
                .map(str::to_owned)
                .into_iter()
                .collect(),
        };
        let shard = parse_shard(&cli)?;
        if cli.poll_concurrency == 0 || cli.poll_concurrency > MAX_POLL_CONCURRENCY {
            return Err(invalid(
                "--poll.concurrency",
                format!(
                    "{} is out of range: from 1 to {MAX_POLL_CONCURRENCY}",
                    cli.poll_concurrency
                ),
            ));
        }
        let mode = parse_mode(&cli, env_key, shard)?;
        if matches!(mode, Mode::Single { .. }) {
            settings::check_host(&defaults.base_url, &allowed_hosts)
                .map_err(|reason| invalid("--smartlead.base-url", reason))?;
        }
        Ok(Self {
            listen,
            telemetry_path,
            mode,
            defaults,
            allowed_hosts,
            key_dir: cli.key_dir,
            shard,
            concurrency: cli.poll_concurrency,
            check: cli.config_check,
            once: cli.once,
            ca_file: cli.ca_file,
            log_level: cli.log_level,
            log_format: cli.log_format,
            web_config_file: cli.web_config_file,
            health_unauthenticated: cli.health_unauthenticated,
            health_listen,
            warnings,
        })
    }
}

/// `--poll.interval` or `--collector.categories.interval`, the same setting.
fn categories_interval(cli: &Cli) -> Result<Duration, ConfigError> {
    match (cli.poll_interval, cli.categories_interval) {
        (Some(poll), Some(categories)) if poll != categories => Err(invalid(
            "--collector.categories.interval",
            format!(
                "{} differs from --poll.interval ({}): both set the categories collector's \
                 interval; give one",
                settings::show_duration(categories),
                settings::show_duration(poll)
            ),
        )),
        (Some(interval), _) | (None, Some(interval)) => Ok(interval),
        (None, None) if cli.demo => Ok(DEMO_POLL_INTERVAL),
        (None, None) => Ok(Collector::Categories.default_interval()),
    }
}

/// `--shard` and `--total-shards`.
fn parse_shard(cli: &Cli) -> Result<Shard, ConfigError> {
    if cli.total_shards == 0 || cli.total_shards > MAX_SHARDS {
        return Err(invalid(
            "--total-shards",
            format!(
                "{} is out of range: from 1 to {MAX_SHARDS}",
                cli.total_shards
            ),
        ));
    }
    if cli.shard >= cli.total_shards {
        return Err(invalid(
            "--shard",
            format!(
                "{} is not below --total-shards ({}); shards count from 0",
                cli.shard, cli.total_shards
            ),
        ));
    }
    Ok(Shard {
        index: cli.shard,
        total: cli.total_shards,
    })
}

/// One account from the flags, the demo, or the accounts file, and the flags that go with each.
fn parse_mode(cli: &Cli, env_key: Option<OsString>, shard: Shard) -> Result<Mode, ConfigError> {
    let env_key = env_key.filter(|k| !k.is_empty());
    if let Some(path) = &cli.config_file {
        let conflict = if cli.demo {
            Some("--demo")
        } else if cli.account.is_some() {
            Some("--smartlead.account")
        } else if cli.api_key_file.is_some() {
            Some("--smartlead.api-key-file")
        } else if env_key.is_some() {
            Some(API_KEY_ENV)
        } else {
            None
        };
        if let Some(other) = conflict {
            return Err(invalid(
                "--config.file",
                format!(
                    "{other} is for one account without --config.file; with it, every \
                     account and its key is named in the file"
                ),
            ));
        }
        return Ok(Mode::File(path.clone()));
    }
    if shard.total > 1 {
        return Err(invalid(
            "--total-shards",
            "sharding splits the accounts of --config.file; without it there is one",
        ));
    }
    let name = match &cli.account {
        Some(account) => {
            settings::check_name(account)
                .map_err(|reason| invalid("--smartlead.account", reason))?;
            account.clone()
        }
        None if cli.demo => DEMO_ACCOUNT.to_owned(),
        None => "default".to_owned(),
    };
    if cli.demo {
        return Ok(Mode::Demo { name });
    }
    let key = match (env_key, &cli.api_key_file) {
        (Some(_), Some(_)) => return Err(ConfigError::TwoKeys),
        (None, None) => return Err(ConfigError::MissingKey),
        (Some(raw), None) => {
            let raw = raw.into_string().map_err(|_| ConfigError::Key {
                source: KeyError::Empty,
                hint: "SMARTLEAD_API_KEY must be valid UTF-8",
            })?;
            KeyFlag::Env(ApiKey::new(&raw).map_err(|source| ConfigError::Key {
                source,
                hint: "set SMARTLEAD_API_KEY to the key from SmartLead's settings",
            })?)
        }
        (None, Some(path)) => KeyFlag::File(path.clone()),
    };
    Ok(Mode::Single { name, key })
}

/// `:PORT` (every interface), `HOST:PORT` or `[V6]:PORT`.
fn parse_listen_address(flag: &'static str, text: &str) -> Result<Listen, ConfigError> {
    if let Some(port) = text.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| {
            invalid(
                flag,
                format!("{text:?}: the port must be a number from 0 to 65535"),
            )
        })?;
        return Ok(Listen::Addresses(vec![
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
        ]));
    }
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(Listen::Addresses(vec![address]));
    }
    if !text.contains(':') {
        return Err(invalid(
            flag,
            format!("{text:?} has no port: use HOST:PORT or :PORT (e.g. :{DEFAULT_PORT})"),
        ));
    }
    Ok(Listen::Name(text.to_owned()))
}

fn validate_telemetry_path(path: String) -> Result<String, ConfigError> {
    let flag = "--web.telemetry-path";
    if !path.starts_with('/') {
        return Err(invalid(flag, format!("{path:?} must start with '/'")));
    }
    if matches!(path.as_str(), "/" | "/-/healthy" | "/-/ready") {
        return Err(invalid(
            flag,
            format!("{path:?} is taken by another endpoint"),
        ));
    }
    if path.contains(['?', '#']) || path.chars().any(char::is_whitespace) {
        return Err(invalid(flag, format!("{path:?} must be a plain path")));
    }
    Ok(path)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::settings::{
        parse_duration, parse_size, MAX_BACKOFF, MAX_BODY_SIZE, MAX_INTERVAL, MAX_STALE_AFTER,
        MAX_TIMEOUT, MIN_BODY_SIZE,
    };

    /// The flags of the command line `args`, with `key` as `SMARTLEAD_API_KEY`; the message
    /// of the first error.
    pub(crate) fn config(args: &[&str], key: Option<&str>) -> Result<Flags, String> {
        let mut argv = vec!["smartlead_exporter"];
        argv.extend_from_slice(args);
        let cli = match Cli::parse_args(argv) {
            Ok(cli) => cli,
            Err(CliExit::Usage(message)) => return Err(message),
            Err(CliExit::Print(e)) => panic!("printed instead of parsed: {e}"),
        };
        Flags::from_cli(cli, key.map(OsString::from)).map_err(|e| e.to_string())
    }

    fn usage(args: &[&str]) -> String {
        let mut argv = vec!["smartlead_exporter"];
        argv.extend_from_slice(args);
        match Cli::parse_args(argv) {
            Err(CliExit::Usage(message)) => message,
            other => panic!("{args:?}: expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_match_the_documented_contract() {
        let c = config(&[], Some("k")).unwrap();
        let Listen::Addresses(listen) = &c.listen else {
            panic!("{:?}", c.listen)
        };
        assert_eq!(listen.len(), 2);
        assert_eq!(listen[1], "0.0.0.0:10072".parse().unwrap());
        assert_eq!(c.telemetry_path, "/metrics");
        let d = &c.defaults;
        assert_eq!(d.timeout, Duration::from_secs(10));
        assert_eq!(d.max_body_size, 16 * 1024 * 1024);
        assert_eq!(d.poll_interval(), Duration::from_secs(60));
        let intervals: Vec<(bool, u64)> = d
            .collectors
            .iter()
            .map(|c| (c.enabled, c.interval.as_secs()))
            .collect();
        assert_eq!(
            intervals,
            [(true, 60), (true, 900), (true, 300), (true, 300)]
        );
        assert_eq!(d.campaign_statuses, ["ACTIVE", "PAUSED"]);
        assert_eq!((d.max_calls_per_minute, d.max_calls_per_hour), (20, 500));
        assert_eq!(c.allowed_hosts, ["server.smartlead.ai"]);
        assert_eq!(c.key_dir, None);
        assert_eq!(d.max_backoff, Duration::from_secs(600));
        assert_eq!(d.global_max_id, 99);
        assert_eq!(d.stale_after, Duration::from_secs(300));
        assert_eq!(d.base_url.as_str(), "https://server.smartlead.ai/api/v1");
        assert_eq!(c.log_level, LogLevel::Info);
        assert_eq!(c.log_format, LogFormat::Logfmt);
        assert_eq!(c.concurrency, 16);
        assert_eq!(c.shard, Shard::default());
        assert!(c.warnings.is_empty());
        match c.mode {
            Mode::Single {
                name,
                key: KeyFlag::Env(key),
            } => {
                assert_eq!(name, "default");
                assert_eq!(key.expose(), "k");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn demo_needs_no_key_and_polls_every_5s() {
        let c = config(&["--demo"], None).unwrap();
        assert!(matches!(&c.mode, Mode::Demo { name } if name == "demo"));
        assert_eq!(c.defaults.poll_interval(), Duration::from_secs(5));
        assert_eq!(c.defaults.max_calls_per_minute, DEMO_CALLS_PER_MINUTE);
        let c = config(
            &["--demo", "--smartlead.account=acme", "--poll.interval=2s"],
            None,
        )
        .unwrap();
        assert!(matches!(&c.mode, Mode::Demo { name } if name == "acme"));
        assert_eq!(c.defaults.poll_interval(), Duration::from_secs(2));
    }

    #[test]
    fn missing_key_names_both_ways_to_give_one() {
        let err = config(&[], None).unwrap_err();
        assert!(
            err.contains("SMARTLEAD_API_KEY") && err.contains("--smartlead.api-key-file"),
            "{err}"
        );
        assert!(config(&[], Some(""))
            .unwrap_err()
            .contains("SMARTLEAD_API_KEY"));
    }

    #[test]
    fn key_file_and_variable_are_not_both_given() {
        let c = config(&["--smartlead.api-key-file=/nonexistent/key"], None).unwrap();
        assert!(matches!(
            c.mode,
            Mode::Single {
                key: KeyFlag::File(_),
                ..
            }
        ));
        let err = config(&["--smartlead.api-key-file=/etc/hostname"], Some("k")).unwrap_err();
        assert!(err.contains("both"), "{err}");
    }

    #[test]
    fn intervals_are_checked() {
        let err = config(&["--poll.interval=500ms"], Some("k")).unwrap_err();
        assert!(
            err.contains("--poll.interval") && err.contains("minimum of 1s"),
            "{err}"
        );
        let budget = [
            "--smartlead.max-calls-per-minute=60",
            "--smartlead.max-calls-per-hour=3600",
        ];
        let c = config(&["--poll.interval=10s", budget[0], budget[1]], Some("k")).unwrap();
        assert_eq!(c.warnings.len(), 1);
        assert!(c.warnings[0].contains("below 30s"));
        let err = config(&["--poll.interval=2m", "--poll.max-backoff=1m"], Some("k")).unwrap_err();
        assert!(err.contains("--poll.max-backoff"), "{err}");
        let err = config(&["--metrics.stale-after=30s"], Some("k")).unwrap_err();
        assert!(err.contains("--metrics.stale-after"), "{err}");
        let err = config(&["--poll.interval=soon"], Some("k")).unwrap_err();
        assert!(err.contains("--poll.interval"), "{err}");
        let err = config(&["--smartlead.timeout=0s"], Some("k")).unwrap_err();
        assert!(err.contains("--smartlead.timeout"), "{err}");
    }

    #[test]
    fn sizes_take_binary_suffixes() {
        let c = config(&["--smartlead.max-body-size=512KiB"], Some("k")).unwrap();
        assert_eq!(c.defaults.max_body_size, 512 * 1024);
        let c = config(&["--smartlead.max-body-size=2MB"], Some("k")).unwrap();
        assert_eq!(c.defaults.max_body_size, 2_000_000);
        let err = config(&["--smartlead.max-body-size=12"], Some("k")).unwrap_err();
        assert!(err.contains("--smartlead.max-body-size"), "{err}");
        let err = config(&["--smartlead.max-body-size=lots"], Some("k")).unwrap_err();
        assert!(err.contains("--smartlead.max-body-size"), "{err}");
    }

    #[test]
    fn addresses_paths_and_urls_are_checked() {
        assert_eq!(
            config(&["--web.listen-address=127.0.0.1:9"], Some("k"))
                .unwrap()
                .listen,
            Listen::Addresses(vec!["127.0.0.1:9".parse().unwrap()])
        );
        assert_eq!(
            config(&["--web.listen-address=[::1]:9"], Some("k"))
                .unwrap()
                .listen,
            Listen::Addresses(vec!["[::1]:9".parse().unwrap()])
        );
        for bad in [":http", "10072", ":70000"] {
            let err = config(&[&format!("--web.listen-address={bad}")], Some("k")).unwrap_err();
            assert!(err.contains("--web.listen-address"), "{bad}: {err}");
        }
        for bad in ["metrics", "/", "/-/ready", "/a b"] {
            let err = config(&["--web.telemetry-path", bad], Some("k")).unwrap_err();
            assert!(err.contains("--web.telemetry-path"), "{bad}: {err}");
        }
        for bad in [
            "ftp://x/api",
            "server.smartlead.ai",
            "https://x/api?api_key=1",
            "https://u:p@x/",
        ] {
            let err = config(&["--smartlead.base-url", bad], Some("k")).unwrap_err();
            assert!(err.contains("--smartlead.base-url"), "{bad}: {err}");
        }
    }

    #[test]
    fn accounts_file_sharding_and_concurrency_flags() {
        let c = config(
            &[
                "--config.file=/etc/accounts.yaml",
                "--shard=2",
                "--total-shards=3",
                "--poll.concurrency=4",
            ],
            None,
        )
        .unwrap();
        assert!(matches!(&c.mode, Mode::File(p) if p.as_os_str() == "/etc/accounts.yaml"));
        assert_eq!(c.shard, Shard { index: 2, total: 3 });
        assert_eq!(c.concurrency, 4);
        for (args, key, flag) in [
            (
                &["--config.file=/a", "--shard=3", "--total-shards=3"][..],
                None,
                "--shard",
            ),
            (
                &["--config.file=/a", "--total-shards=0"][..],
                None,
                "--total-shards",
            ),
            (&["--total-shards=2"][..], Some("k"), "--total-shards"),
            (
                &["--config.file=/a", "--poll.concurrency=0"][..],
                None,
                "--poll.concurrency",
            ),
            (&["--config.file=/a", "--demo"][..], None, "--config.file"),
            (&["--config.file=/a"][..], Some("k"), "--config.file"),
            (
                &["--config.file=/a", "--smartlead.account=x"][..],
                None,
                "--config.file",
            ),
            (
                &["--smartlead.account=Not Valid"][..],
                Some("k"),
                "--smartlead.account",
            ),
            (
                &["--smartlead.timeout=18446744073709551615s"][..],
                Some("k"),
                "--smartlead.timeout",
            ),
            (
                &["--metrics.stale-after=1000d"][..],
                Some("k"),
                "--metrics.stale-after",
            ),
            (
                &["--poll.max-backoff=1000d"][..],
                Some("k"),
                "--poll.max-backoff",
            ),
            (
                &["--smartlead.max-body-size=2GiB"][..],
                Some("k"),
                "--smartlead.max-body-size",
            ),
        ] {
            let err = config(args, key).unwrap_err();
            assert!(err.contains(flag), "{args:?}: {err}");
        }
    }

    #[test]
    fn the_key_is_not_a_flag_and_is_never_echoed() {
        for args in [
            &["--smartlead.api-key=s3cret-canary"][..],
            &["--smartlead.api-key", "s3cret-canary"],
            &["--smartlead.api-key"],
        ] {
            let err = usage(args);
            assert!(
                err.contains("never taken as a flag")
                    && err.contains("SMARTLEAD_API_KEY")
                    && err.contains("--smartlead.api-key-file"),
                "{args:?}: {err}"
            );
            assert!(!err.contains("s3cret-canary"), "{args:?}: {err}");
        }
        // Any unknown argument: named without its value, which may be a key put the wrong way.
        for args in [&["--smartlead.key=s3cret-canary"][..], &["s3cret-canary"]] {
            let err = usage(args);
            assert!(!err.contains("s3cret-canary"), "{args:?}: {err}");
        }
        assert!(usage(&["--smartlead.key=x"]).contains("--smartlead.key"));
    }

    #[test]
    fn clap_errors_read_like_ours() {
        let err = usage(&["--poll.intervall=5s"]);
        assert!(
            err.starts_with("unknown flag --poll.intervall")
                && err.contains("did you mean --poll.interval?"),
            "{err}"
        );
        for args in [
            &["--poll.interval=often"][..],
            &["--log.level=loud"],
            &["--smartlead.api-key-file"],
            &["--demo=yes"],
        ] {
            let err = usage(args);
            assert!(!err.contains('\n'), "{args:?}: one line: {err}");
            assert!(!err.starts_with("error"), "{args:?}: {err}");
            assert!(err.ends_with("(see --help)"), "{args:?}: {err}");
        }
        for args in [
            ["smartlead_exporter", "--help"],
            ["smartlead_exporter", "--version"],
        ] {
            assert!(
                matches!(Cli::parse_args(args), Err(CliExit::Print(_))),
                "{args:?}"
            );
        }
    }

    #[test]
    fn every_duration_and_size_has_an_upper_bound() {
        let cases: &[(&str, &str)] = &[
            ("--smartlead.timeout", "18446744073709551615s"),
            ("--smartlead.timeout", "11m"),
            ("--poll.interval", "25h"),
            ("--collector.replies.interval", "25h"),
            ("--smartlead.max-calls-per-minute", "301"),
            ("--smartlead.max-calls-per-hour", "18001"),
            ("--poll.max-backoff", "25h"),
            ("--metrics.stale-after", "8d"),
            ("--smartlead.max-body-size", "1025MiB"),
            ("--smartlead.max-body-size", "8EiB"),
        ];
        for (flag, value) in cases {
            // Large enough for each bound not to trip over the others' ordering rules.
            let args = [
                &format!("{flag}={value}")[..],
                "--metrics.stale-after=2d",
                "--poll.max-backoff=24h",
            ];
            let args: Vec<&str> =
                if *flag == "--metrics.stale-after" || *flag == "--poll.max-backoff" {
                    vec![args[0]]
                } else {
                    args.to_vec()
                };
            let err = config(&args, Some("k")).unwrap_err();
            assert!(
                err.contains(flag) && err.contains("maximum"),
                "{flag}={value}: {err}"
            );
        }
        // Overflowing the parser itself is an error too, not a panic.
        let err = config(&["--smartlead.timeout=99999999999999999999s"], Some("k")).unwrap_err();
        assert!(err.contains("--smartlead.timeout"), "{err}");
        let err = config(&["--smartlead.max-body-size=16EiB"], Some("k")).unwrap_err();
        assert!(err.contains("--smartlead.max-body-size"), "{err}");
        // Every maximum itself is accepted.
        let c = config(
            &[
                "--smartlead.timeout=10m",
                "--poll.interval=24h",
                "--poll.max-backoff=24h",
                "--metrics.stale-after=7d",
                "--smartlead.max-body-size=1GiB",
            ],
            Some("k"),
        )
        .unwrap();
        assert_eq!(c.defaults.timeout, MAX_TIMEOUT);
        assert_eq!(c.defaults.poll_interval(), MAX_INTERVAL);
        assert_eq!(c.defaults.max_backoff, MAX_BACKOFF);
        assert_eq!(c.defaults.stale_after, MAX_STALE_AFTER);
        assert_eq!(c.defaults.max_body_size, MAX_BODY_SIZE);
    }

    #[test]
    fn help_states_the_bounds_the_code_enforces() {
        use crate::settings::{MAX_CALLS_PER_HOUR, MAX_CALLS_PER_MINUTE};
        use clap::CommandFactory as _;
        let help = Cli::command().render_long_help().to_string();
        let durations = [
            ("--smartlead.timeout", "10m", MAX_TIMEOUT),
            ("--poll.interval", "24h", MAX_INTERVAL),
            ("--collector.mailboxes.interval", "24h", MAX_INTERVAL),
            ("--poll.max-backoff", "24h", MAX_BACKOFF),
            ("--metrics.stale-after", "7d", MAX_STALE_AFTER),
        ];
        for (flag, text, bound) in durations {
            assert_eq!(parse_duration(text).unwrap(), bound, "{flag}");
            let section = help
                .split(flag)
                .nth(1)
                .unwrap()
                .split("\n\n")
                .next()
                .unwrap();
            assert!(
                section.contains(text),
                "{flag} help must say {text}: {section}"
            );
        }
        assert_eq!(parse_size("1GiB").unwrap(), MAX_BODY_SIZE);
        assert_eq!(parse_size("1KiB").unwrap(), MIN_BODY_SIZE);
        let section = help.split("--smartlead.max-body-size").nth(1).unwrap();
        assert!(section.contains("1KiB to 1GiB"), "{section}");
        for (flag, bounds) in [
            (
                "--smartlead.max-calls-per-minute",
                format!("1 to {MAX_CALLS_PER_MINUTE}"),
            ),
            (
                "--smartlead.max-calls-per-hour",
                format!("1 to {MAX_CALLS_PER_HOUR}"),
            ),
        ] {
            let section = help
                .split(flag)
                .nth(1)
                .unwrap()
                .split("\n\n")
                .next()
                .unwrap();
            assert!(
                section.contains(&bounds),
                "{flag} help must say {bounds}: {section}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn no_duration_or_size_flag_value_panics(
            flag in proptest::sample::select(vec![
                "--smartlead.timeout", "--poll.interval", "--poll.max-backoff",
                "--metrics.stale-after", "--smartlead.max-body-size",
            ]),
            number in proptest::prelude::any::<u64>(),
            unit in proptest::sample::select(vec!["", "ns", "ms", "s", "m", "h", "d", "w", "y", "B", "KiB", "GiB", "EiB"]),
            text in "\\PC{0,24}",
        ) {
            let _ = config(&[&format!("{flag}={number}{unit}")], Some("k"));
            let _ = config(&[&format!("{flag}={text}")], Some("k"));
        }
    }

    #[test]
    fn collector_flags_set_each_collector() {
        let c = config(
            &[
                "--no-collector.replies",
                "--collector.mailboxes.interval=10m",
                "--no-collector.campaigns",
                "--collector.campaigns",
                "--collector.campaigns.statuses=active, stopped",
                "--collector.categories.interval=2m",
            ],
            Some("k"),
        )
        .unwrap();
        let d = &c.defaults;
        assert!(!d.collector(Collector::Replies).enabled);
        assert!(
            d.collector(Collector::Campaigns).enabled,
            "the last flag wins"
        );
        assert_eq!(
            d.collector(Collector::Mailboxes).interval,
            Duration::from_secs(600)
        );
        assert_eq!(d.poll_interval(), Duration::from_secs(120));
        assert_eq!(d.campaign_statuses, ["ACTIVE", "STOPPED"]);
        let same = config(
            &["--poll.interval=2m", "--collector.categories.interval=120s"],
            Some("k"),
        )
        .unwrap();
        assert_eq!(same.defaults.poll_interval(), Duration::from_secs(120));
        for (args, flag, why) in [
            (
                &["--poll.interval=2m", "--collector.categories.interval=3m"][..],
                "--collector.categories.interval",
                "--poll.interval (2m)",
            ),
            (
                &["--collector.categories.interval=500ms"],
                "--collector.categories.interval",
                "minimum",
            ),
            (
                &["--collector.campaigns.statuses="],
                "--collector.campaigns.statuses",
                "empty",
            ),
            (
                &["--collector.campaigns.statuses=ACTIVE,,PAUSED"],
                "--collector.campaigns.statuses",
                "empty",
            ),
            (
                &["--collector.campaigns.statuses=ACTIVE;X"],
                "--collector.campaigns.statuses",
                "not a campaign status",
            ),
            (
                &["--smartlead.max-calls-per-minute=0"],
                "--smartlead.max-calls-per-minute",
                "minimum of 1",
            ),
            (
                &["--smartlead.max-calls-per-hour=many"],
                "--smartlead.max-calls-per-hour",
                "invalid",
            ),
            (
                &["--poll.interval=2s"],
                "--smartlead.max-calls-per-minute",
                "cannot fit even the categories collector every 2s (30.0 calls a minute)",
            ),
            (
                &["--poll.interval=5s"],
                "--smartlead.max-calls-per-hour",
                "500 calls an hour cannot fit",
            ),
            (
                &[
                    "--no-collector.categories",
                    "--no-collector.replies",
                    "--no-collector.campaigns",
                    "--no-collector.mailboxes",
                ],
                "--collector.NAME",
                "every collector is disabled",
            ),
            (
                &["--smartlead.allowed-hosts=x:1"],
                "--smartlead.allowed-hosts",
                "not a host name",
            ),
            (
                &["--smartlead.allowed-hosts=other.example"],
                "--smartlead.base-url",
                "\"server.smartlead.ai\" is not one of --smartlead.allowed-hosts",
            ),
        ] {
            let err = config(args, Some("k")).unwrap_err();
            assert!(err.contains(flag) && err.contains(why), "{args:?}: {err}");
        }
        // Without the categories collector, its interval is not held against the budget.
        assert!(config(
            &["--poll.interval=2s", "--no-collector.categories"],
            Some("k")
        )
        .is_ok());
        let c = config(
            &[
                "--config.file=/a",
                "--smartlead.allowed-hosts=Api.Example, 127.0.0.1",
                "--smartlead.key-dir=/secrets",
            ],
            None,
        )
        .unwrap();
        assert_eq!(c.allowed_hosts, ["api.example", "127.0.0.1"]);
        assert_eq!(c.key_dir.as_deref(), Some(std::path::Path::new("/secrets")));
    }
}
