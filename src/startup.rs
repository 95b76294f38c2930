//! The I/O of start-up, in one place: the key read, the CA bundle loaded (once, handed to the
//! HTTP client), the listen address resolved, `--smartlead.key-dir` resolved, the accounts
//! file read and its keys read, `--config.check`, and the demo account. Parsing and
//! validation are [`crate::cli`]'s and [`crate::accounts`]'s; this module only feeds them.

use std::ffi::OsString;
use std::net::{SocketAddr, ToSocketAddrs as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tracing::{error, info};

use crate::accounts::{self, AccountSpec, AccountsError, Base, KeySpec};
use crate::cli::{invalid, ConfigError, Flags, KeyFlag, Listen, Mode};
use crate::fsread::ReadError;
use crate::logging::{LogFormat, LogLevel};
use crate::settings::{Account, Settings, Shard};
use crate::smartlead::client::{self, ClientError, HttpConfig, POOL_IDLE_TIMEOUT};
use crate::smartlead::key::{ApiKey, KeyError, KeySource};

/// Exit status for a configuration that cannot run.
pub(crate) const EXIT_USAGE: u8 = 2;

/// The largest CA bundle read: the whole public web PKI is a few hundred kilobytes.
pub(crate) const MAX_CA_BUNDLE_BYTES: u64 = 4 * 1024 * 1024;

/// Which accounts to poll, ready.
#[derive(Debug, Clone)]
pub enum Accounts {
    /// One account from the flags, its key read.
    Single(Box<Account>),
    /// One account against the embedded stand-in, started by [`demo_account`].
    Demo {
        /// The `account` label.
        name: String,
    },
    /// The accounts of `--config.file`, read by [`AccountsSource::load`] (and on reload).
    File(Box<AccountsSource>),
}

/// The configuration, its files read and its names resolved.
#[derive(Debug, Clone)]
pub struct Config {
    /// Addresses to try binding, in order.
    pub listen: Vec<SocketAddr>,
    /// The path of the exposition.
    pub telemetry_path: String,
    /// The accounts, or where to find them.
    pub accounts: Accounts,
    /// Every account's settings unless the accounts file says otherwise.
    pub defaults: Settings,
    /// Which accounts of the file this process polls.
    pub shard: Shard,
    /// `--poll.concurrency`.
    pub concurrency: usize,
    /// `--config.check`.
    pub check: bool,
    /// `--once`.
    pub once: bool,
    /// `--smartlead.ca-file`, loaded: trusted besides the built-in roots.
    pub ca_certificates: Vec<reqwest::Certificate>,
    /// `--log.level`.
    pub log_level: LogLevel,
    /// `--log.format`.
    pub log_format: LogFormat,
    /// `--web.config.file`.
    pub web_config_file: Option<PathBuf>,
    /// `--web.health-unauthenticated`.
    pub health_unauthenticated: bool,
    /// `--web.health-listen-address`: addresses to try binding, in order.
    pub health_listen: Option<Vec<SocketAddr>>,
    /// Things that are allowed but probably unwise, to log once logging is up.
    pub warnings: Vec<String>,
}

impl Config {
    /// Does the I/O the validated flags call for.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the flag or variable at fault.
    pub fn load(flags: Flags) -> Result<Self, ConfigError> {
        let listen = resolve("--web.listen-address", &flags.listen)?;
        let health_listen = flags
            .health_listen
            .as_ref()
            .map(|listen| resolve("--web.health-listen-address", listen))
            .transpose()?;
        let ca_certificates = match &flags.ca_file {
            Some(path) => {
                load_ca_bundle(path).map_err(|e| invalid("--smartlead.ca-file", e.to_string()))?
            }
            None => Vec::new(),
        };
        let key_dir = match &flags.key_dir {
            Some(dir) => Some(resolve_key_dir(dir)?),
            None => None,
        };
        let accounts = match flags.mode {
            Mode::Single { name, key } => {
                let (key_source, initial_key) = match key {
                    KeyFlag::Env(key) => (KeySource::Fixed(key.clone()), key),
                    KeyFlag::File(path) => {
                        let source = KeySource::File(path);
                        let key = source.load().map_err(|source| ConfigError::Key {
                            source,
                            hint: "check --smartlead.api-key-file",
                        })?;
                        (source, key)
                    }
                };
                Accounts::Single(Box::new(Account {
                    name,
                    key_source,
                    initial_key,
                    settings: flags.defaults.clone(),
                }))
            }
            Mode::Demo { name } => Accounts::Demo { name },
            Mode::File(path) => Accounts::File(Box::new(AccountsSource {
                path,
                base: Base {
                    defaults: flags.defaults.clone(),
                    allowed_hosts: flags.allowed_hosts,
                },
                key_dir,
            })),
        };
        Ok(Self {
            listen,
            telemetry_path: flags.telemetry_path,
            accounts,
            defaults: flags.defaults,
            shard: flags.shard,
            concurrency: flags.concurrency,
            check: flags.check,
            once: flags.once,
            ca_certificates,
            log_level: flags.log_level,
            log_format: flags.log_format,
            web_config_file: flags.web_config_file,
            health_unauthenticated: flags.health_unauthenticated,
            health_listen,
            warnings: flags.warnings,
        })
    }
}

/// A listen address flag's host name resolved to its addresses.
fn resolve(flag: &'static str, listen: &Listen) -> Result<Vec<SocketAddr>, ConfigError> {
    match listen {
        Listen::Addresses(addresses) => Ok(addresses.clone()),
        Listen::Name(text) => {
            let addresses: Vec<SocketAddr> = text
                .to_socket_addrs()
                .map_err(|e| invalid(flag, format!("{text:?}: {e}")))?
                .collect();
            if addresses.is_empty() {
                return Err(invalid(flag, format!("{text:?} resolves to no address")));
            }
            Ok(addresses)
        }
    }
}

/// `--smartlead.key-dir`, symlinks and `..` resolved; it must be a directory.
fn resolve_key_dir(dir: &Path) -> Result<PathBuf, ConfigError> {
    let flag = "--smartlead.key-dir";
    let resolved =
        std::fs::canonicalize(dir).map_err(|e| invalid(flag, format!("{}: {e}", dir.display())))?;
    if !resolved.is_dir() {
        return Err(invalid(
            flag,
            format!("{} is not a directory", dir.display()),
        ));
    }
    Ok(resolved)
}

/// Why a `--smartlead.ca-file` bundle cannot be used. The message names the file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CaBundleError {
    /// The file cannot be read, is not a regular file, or is too large.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The file is not a PEM bundle of certificates, or one of them is not a usable CA.
    #[error("{path} is not a PEM bundle of CA certificates: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Reads a PEM bundle of CA certificates (`--smartlead.ca-file`), which are trusted in
/// addition to the public roots compiled in: a TLS-inspecting corporate proxy re-signs
/// SmartLead's certificate with its own CA.
///
/// # Errors
/// [`CaBundleError`] when the file cannot be read, holds no `CERTIFICATE` block, or a block is
/// not a certificate that can serve as a trust anchor.
pub(crate) fn load_ca_bundle(path: &Path) -> Result<Vec<reqwest::Certificate>, CaBundleError> {
    let invalid = |reason: String| CaBundleError::Invalid {
        path: path.display().to_string(),
        reason,
    };
    let pem = crate::fsread::read(path, MAX_CA_BUNDLE_BYTES)?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| invalid(client::describe(&e, None)))?;
    if certs.is_empty() {
        return Err(invalid("it holds no \"BEGIN CERTIFICATE\" block".into()));
    }
    // reqwest parses each certificate only when a client is built: build one per certificate
    // now, so that a bad one is refused at start-up with its position in the file.
    for (n, cert) in certs.iter().enumerate() {
        reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(cert.clone())
            .build()
            .map_err(|e| {
                invalid(format!(
                    "certificate {}: {}",
                    n + 1,
                    client::describe(&e, None)
                ))
            })?;
    }
    Ok(certs)
}

/// The HTTP client every account shares, with the CA bundle loaded at start-up. Idle
/// connections are kept only if some call comes, on average, before [`POOL_IDLE_TIMEOUT`]
/// would close them.
///
/// # Errors
/// When the TLS backend cannot be initialised.
pub fn shared_http_client(
    config: &Config,
    accounts: &[Account],
) -> Result<reqwest::Client, ClientError> {
    let per_idle = |settings: &Settings| {
        POOL_IDLE_TIMEOUT.as_secs_f64() / settings.poll_interval().as_secs_f64()
    };
    let calls_per_idle: f64 = if accounts.is_empty() {
        per_idle(&config.defaults)
    } else {
        accounts.iter().map(|a| per_idle(&a.settings)).sum()
    };
    client::http_client(&HttpConfig {
        pool_connections: calls_per_idle > 1.0,
        ca_certificates: config.ca_certificates.clone(),
    })
}

/// The accounts file and what it is read against: the flags' settings and hosts, and the
/// directory its key files must lie in.
#[derive(Debug, Clone)]
pub struct AccountsSource {
    /// `--config.file`.
    pub path: PathBuf,
    /// The flags' settings and allowed hosts.
    pub base: Base,
    /// `--smartlead.key-dir`, resolved.
    pub key_dir: Option<PathBuf>,
}

/// A loaded accounts file: every account it names (whatever the shard), keys read.
#[derive(Debug, Clone)]
pub struct AccountsFile {
    /// In file order.
    pub accounts: Vec<Account>,
}

impl AccountsFile {
    /// The accounts `shard` polls, in file order.
    pub fn owned_by(&self, shard: Shard) -> Vec<Account> {
        self.accounts
            .iter()
            .filter(|a| shard.owns(&a.name))
            .cloned()
            .collect()
    }
}

impl AccountsSource {
    /// Reads the file: at most [`accounts::MAX_FILE_BYTES`] of a regular file, without
    /// blocking on a FIFO.
    ///
    /// # Errors
    /// [`AccountsError::Read`] or [`AccountsError::File`] naming the file.
    pub fn read(&self) -> Result<String, AccountsError> {
        let text =
            crate::fsread::read_text(&self.path, accounts::MAX_FILE_BYTES).map_err(
                |e| match e {
                    ReadError::Io { path, source } => AccountsError::Read { path, source },
                    ReadError::NotAFile { path, kind } => AccountsError::File {
                        path,
                        reason: format!("{kind}, not a regular file"),
                    },
                    ReadError::TooLarge { path, max } => AccountsError::File {
                        path,
                        reason: format!("larger than {max} bytes"),
                    },
                },
            )?;
        text.ok_or_else(|| AccountsError::File {
            path: self.path.clone(),
            reason: "not UTF-8 text".into(),
        })
    }

    /// Reads, parses and validates the file, and reads every key it names.
    ///
    /// # Errors
    /// An [`AccountsError`] naming the file, and where it can the line, account and field.
    pub fn load(&self) -> Result<AccountsFile, AccountsError> {
        let text = self.read()?;
        self.parse(&text, &process_env)
    }

    /// As [`AccountsSource::load`], from text already read; `env` looks up `api_key_env`
    /// variables.
    ///
    /// # Errors
    /// See [`AccountsSource::load`].
    pub fn parse(
        &self,
        text: &str,
        env: &dyn Fn(&str) -> Option<OsString>,
    ) -> Result<AccountsFile, AccountsError> {
        let specs = accounts::parse(&self.path, text, &self.base)?;
        let accounts = specs
            .into_iter()
            .map(|spec| self.resolve(spec, env))
            .collect::<Result<_, _>>()?;
        Ok(AccountsFile { accounts })
    }

    /// Reads one account's key, checking that its file lies under `--smartlead.key-dir`.
    fn resolve(
        &self,
        spec: AccountSpec,
        env: &dyn Fn(&str) -> Option<OsString>,
    ) -> Result<Account, AccountsError> {
        let error = |field: &str, reason: String| {
            AccountsError::account(&self.path, &spec.name, field, reason)
        };
        let (key_source, initial_key) = match &spec.key {
            KeySpec::File(file) => {
                if let Some(dir) = &self.key_dir {
                    check_under(file, dir).map_err(|reason| error("api_key_file", reason))?;
                }
                let source = KeySource::File(file.clone());
                let key = source
                    .load()
                    .map_err(|e| error("api_key_file", e.to_string()))?;
                (source, key)
            }
            KeySpec::Env(variable) => {
                let key = key_from_env(variable, env).map_err(|r| error("api_key_env", r))?;
                (KeySource::Fixed(key.clone()), key)
            }
        };
        Ok(Account {
            name: spec.name,
            key_source,
            initial_key,
            settings: spec.settings,
        })
    }
}

/// Whether `file`, with symlinks and `..` resolved, lies under `dir` (already resolved).
fn check_under(file: &Path, dir: &Path) -> Result<(), String> {
    // A file that cannot be resolved cannot be read either; the read says why.
    let Ok(resolved) = std::fs::canonicalize(file) else {
        return Ok(());
    };
    if resolved.starts_with(dir) {
        return Ok(());
    }
    Err(format!(
        "{} resolves to {}, outside --smartlead.key-dir ({})",
        file.display(),
        resolved.display(),
        dir.display()
    ))
}

/// The process environment, for `api_key_env`.
pub(crate) fn process_env(name: &str) -> Option<OsString> {
    std::env::var_os(name)
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

/// Prints a configuration error the one way every such error is printed; the status to exit
/// with.
pub fn usage_error(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("smartlead_exporter: error: {error}");
    ExitCode::from(EXIT_USAGE)
}

/// `--config.check`: the flags are valid (and the key readable) by now; checks the accounts
/// file too, and says what would run.
pub fn check(config: &Config) -> ExitCode {
    let what = match &config.accounts {
        Accounts::File(source) => match source.load() {
            Ok(file) => format!(
                "--config.file {}: {} accounts, {} polled by shard {} of {}",
                source.path.display(),
                file.accounts.len(),
                file.owned_by(config.shard).len(),
                config.shard.index,
                config.shard.total
            ),
            Err(e) => return usage_error(&e),
        },
        Accounts::Single(account) => format!("one account, {:?}", account.name),
        Accounts::Demo { name } => format!("demo mode, account {name:?}"),
    };
    println!("smartlead_exporter: configuration OK: {what}");
    ExitCode::SUCCESS
}

/// Starts the demo stand-in and returns its account, with `defaults` but the stand-in's URL.
pub async fn demo_account(name: &str, defaults: &Settings) -> Option<Account> {
    match crate::demo::start().await {
        Ok(upstream) => {
            info!(base_url = %upstream.base_url,
                "demo mode: polling the embedded SmartLead stand-in, which answers some polls \
                 with 429 or 500 and one category with an odd sentiment on purpose; the \
                 warnings about them are expected");
            let mut settings = defaults.clone();
            settings.base_url = upstream.base_url;
            Some(Account {
                name: name.to_owned(),
                key_source: KeySource::Fixed(upstream.key.clone()),
                initial_key: upstream.key,
                settings,
            })
        }
        Err(e) => {
            error!(error = %e, "cannot start the demo SmartLead stand-in");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsread::testing::{mkfifo, temp_dir};

    /// The configuration of the command line `args`, with `key` as `SMARTLEAD_API_KEY`; the
    /// message of the first error.
    fn config(args: &[&str], key: Option<&str>) -> Result<Config, String> {
        crate::cli::tests::config(args, key)
            .and_then(|flags| Config::load(flags).map_err(|e| e.to_string()))
    }

    #[test]
    fn the_key_file_is_read_at_start() {
        let err = config(&["--smartlead.api-key-file=/nonexistent/key"], None).unwrap_err();
        assert!(
            err.contains("/nonexistent/key") && err.contains("--smartlead.api-key-file"),
            "{err}"
        );
        let dir = temp_dir("startup-key");
        let path = dir.join("key");
        std::fs::write(&path, "sk-1\n").unwrap();
        let c = config(
            &[&format!("--smartlead.api-key-file={}", path.display())],
            None,
        )
        .unwrap();
        let Accounts::Single(account) = c.accounts else {
            panic!("one account")
        };
        assert_eq!(account.initial_key.expose(), "sk-1");
        assert!(matches!(account.key_source, KeySource::File(_)));
        assert_eq!(c.listen.len(), 2);
    }

    #[test]
    fn ca_file_must_be_a_readable_pem_bundle() {
        let dir = temp_dir("startup-ca-file");
        let missing = dir.join("missing.pem");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let garbage = dir.join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let fifo = dir.join("fifo.pem");
        mkfifo(&fifo);
        for (path, why) in [
            (&missing, "cannot read"),
            (&empty, "no \"BEGIN CERTIFICATE\" block"),
            (&garbage, "certificate 1"),
            (&fifo, "a FIFO, not a regular file"),
        ] {
            let flag = format!("--smartlead.ca-file={}", path.display());
            let err = config(&[&flag], Some("k")).unwrap_err();
            assert!(err.contains("--smartlead.ca-file"), "{err}");
            assert!(err.contains(&path.display().to_string()), "{err}");
            assert!(err.contains(why), "{why}: {err}");
        }
        assert!(config(&[], Some("k")).unwrap().ca_certificates.is_empty());
    }

    #[test]
    fn key_files_must_lie_under_the_key_dir_once_resolved() {
        let dir = temp_dir("startup-key-dir");
        let keys = dir.join("keys");
        std::fs::create_dir_all(keys.join("a")).unwrap();
        std::fs::write(keys.join("a/key"), "k").unwrap();
        std::fs::write(dir.join("other"), "k").unwrap();
        std::os::unix::fs::symlink(dir.join("other"), keys.join("link")).unwrap();
        let resolved = std::fs::canonicalize(&keys).unwrap();
        assert_eq!(check_under(&keys.join("a/key"), &resolved), Ok(()));
        assert!(check_under(&keys.join("link"), &resolved).is_err());
        assert!(check_under(&keys.join("a/../../other"), &resolved).is_err());
        // A file that cannot be resolved is left to the read, which names the problem.
        assert_eq!(check_under(&keys.join("missing"), &resolved), Ok(()));
        let err = config(
            &[
                "--demo",
                &format!("--smartlead.key-dir={}", keys.join("a/key").display()),
            ],
            None,
        )
        .unwrap_err();
        assert!(
            err.contains("--smartlead.key-dir") && err.contains("not a directory"),
            "{err}"
        );
    }
}
