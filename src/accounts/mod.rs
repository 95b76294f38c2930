//! The accounts file (`--config.file`), from its text to validated accounts: every account's
//! settings over `defaults:` over the flags, and messages that name the file, the line, the
//! account and the field. Nothing here reads a file or the environment: [`crate::startup`]
//! reads the file and the keys it names.

mod guard;
mod overrides;
mod seeds;
mod yaml;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::settings::Settings;

/// At most this many accounts in one file (the counts measured are in
/// `docs/performance.md#many-accounts-500`): the limit keeps a mistaken generator from
/// starting a million collectors.
pub(crate) const MAX_ACCOUNTS: usize = 10_000;

/// The largest accounts file read: 10,000 accounts of a few lines each fit easily.
pub(crate) const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Where an account's key comes from, as the file says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeySpec {
    /// `api_key_file`: a file re-read before every call.
    File(PathBuf),
    /// `api_key_env`: the environment variable holding the key, read at load.
    Env(String),
}

/// One account of the file, validated, its key not yet read.
#[derive(Debug, Clone)]
pub(crate) struct AccountSpec {
    /// The `account` label; unique in the file.
    pub name: String,
    /// Where its key comes from.
    pub key: KeySpec,
    /// Its settings, over `defaults:` over the flags.
    pub settings: Settings,
}

/// What the flags impose on every account of the file.
#[derive(Debug, Clone)]
pub struct Base {
    /// The flags' settings, beneath the file's `defaults:`.
    pub defaults: Settings,
    /// `--smartlead.allowed-hosts`: every account's `base_url` names one of these.
    pub allowed_hosts: Vec<String>,
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
    /// The YAML is malformed, or a value has the wrong type or form; the message carries the
    /// account when known, the path of the value, and its line and column.
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
        /// The account's name.
        account: String,
        /// The field at fault.
        field: String,
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

impl AccountsError {
    /// An [`AccountsError::Account`].
    pub fn account(path: &Path, account: &str, field: &str, reason: impl Into<String>) -> Self {
        Self::Account {
            path: path.to_owned(),
            account: account.to_owned(),
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Parses and validates the text of the accounts file `path`: every account, whatever the
/// shard, with its settings over `defaults:` over `base.defaults`.
///
/// # Errors
/// An [`AccountsError`] naming the file, and where it can the line, account and field.
pub(crate) fn parse(
    path: &Path,
    text: &str,
    base: &Base,
) -> Result<Vec<AccountSpec>, AccountsError> {
    let parse_error = |message| AccountsError::Parse {
        path: path.to_owned(),
        message,
    };
    guard::guard(text).map_err(parse_error)?;
    let current = std::cell::RefCell::new(None);
    let raw = yaml::parse(text, &current).map_err(|e| match current.take() {
        Some(account) => parse_error(format!("account {account:?}: {e}")),
        None => parse_error(e.to_string()),
    })?;
    let defaults = raw.defaults.over(&base.defaults);
    if let Err(e) = defaults.validate() {
        return Err(AccountsError::File {
            path: path.to_owned(),
            reason: format!("defaults: {}: {}", e.setting.key(), e.reason),
        });
    }
    if raw.accounts.is_empty() {
        return Err(AccountsError::File {
            path: path.to_owned(),
            reason: "`accounts:` is empty: name at least one account".into(),
        });
    }
    let mut seen = HashSet::new();
    let mut accounts = Vec::with_capacity(raw.accounts.len());
    for entry in raw.accounts {
        let name = entry.name.as_str();
        let error = |field: &str, reason: String| AccountsError::account(path, name, field, reason);
        if !seen.insert(entry.name.clone()) {
            return Err(error(
                "name",
                "the name is used twice; each account needs its own".into(),
            ));
        }
        let settings = entry.overrides.over(&defaults);
        settings
            .validate()
            .map_err(|e| error(&e.setting.key(), e.reason))?;
        crate::settings::check_host(&settings.base_url, &base.allowed_hosts)
            .map_err(|reason| error("base_url", reason))?;
        let key = match (entry.api_key_file, entry.api_key_env) {
            (Some(_), Some(_)) => {
                return Err(error(
                    "api_key_file",
                    "both api_key_file and api_key_env are set: keep one".into(),
                ))
            }
            (None, None) => {
                return Err(error(
                    "api_key_file",
                    "no key: set api_key_file (a file holding the key) or api_key_env (a \
                     variable holding it); keys never sit in this file"
                        .into(),
                ))
            }
            (Some(file), None) => KeySpec::File(file),
            (None, Some(variable)) => KeySpec::Env(variable),
        };
        accounts.push(AccountSpec {
            name: entry.name,
            key,
            settings,
        });
    }
    Ok(accounts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Collector;
    use std::time::Duration;

    fn base() -> Base {
        Base {
            defaults: crate::settings::tests::settings(),
            allowed_hosts: vec!["server.smartlead.ai".into(), "127.0.0.1".into()],
        }
    }

    fn parse_text(text: &str) -> Result<Vec<AccountSpec>, String> {
        parse(Path::new("/etc/sl/accounts.yaml"), text, &base()).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_per_account_settings_layer_over_the_flags() {
        let file = parse_text(
            "defaults:\n  poll_interval: 2m\n  timeout: 5s\n  collectors:\n    replies: {enabled: false}\n\
             accounts:\n  - name: acme\n    api_key_env: GLOBEX_KEY\n  - name: globex\n    \
             api_key_file: /k\n    base_url: http://127.0.0.1:9/api/v1\n    global_max_id: 7\n    \
             max_body_size: 2MiB\n    campaign_statuses: [active, Stopped]\n    \
             max_calls_per_minute: 30\n    max_calls_per_hour: 900\n    collectors:\n      \
             campaigns: {interval: 10m}\n      replies: {enabled: true}\n",
        )
        .unwrap();
        let [acme, globex] = &file[..] else {
            panic!("two accounts")
        };
        assert_eq!(acme.name, "acme");
        assert_eq!(acme.key, KeySpec::Env("GLOBEX_KEY".into()));
        let s = &acme.settings;
        assert_eq!(s.poll_interval(), Duration::from_secs(120));
        assert_eq!(s.timeout, Duration::from_secs(5));
        assert_eq!(s.max_backoff, Duration::from_secs(600));
        assert_eq!(s.global_max_id, 99);
        assert!(!s.collector(Collector::Replies).enabled);
        assert_eq!(s.campaign_statuses, ["ACTIVE", "PAUSED"]);
        let s = &globex.settings;
        assert_eq!(globex.key, KeySpec::File("/k".into()));
        assert_eq!(s.base_url.as_str(), "http://127.0.0.1:9/api/v1");
        assert_eq!(s.global_max_id, 7);
        assert_eq!(s.max_body_size, 2 << 20);
        assert_eq!(s.campaign_statuses, ["ACTIVE", "STOPPED"]);
        assert_eq!((s.max_calls_per_minute, s.max_calls_per_hour), (30, 900));
        let campaigns = s.collector(Collector::Campaigns);
        assert_eq!(campaigns.interval, Duration::from_secs(600));
        assert!(campaigns.enabled);
        assert!(s.collector(Collector::Replies).enabled);
        assert_eq!(s.poll_interval(), Duration::from_secs(120));
    }

    #[test]
    fn every_mistake_names_the_file_the_account_and_the_field() {
        let key = "    api_key_env: K\n";
        let account = |extra: &str| format!("accounts:\n  - name: a\n{key}{extra}");
        let cases: Vec<(String, &[&str])> = vec![
            ("accounts: []\n".into(), &["empty"]),
            (
                format!("accounts:\n  - name: Acme\n{key}"),
                &["line 2", "\"Acme\"", "lower-case", "accounts[0].name"],
            ),
            (
                format!("accounts:\n  - name: a\n{key}  - name: a\n{key}"),
                &["account \"a\"", "name", "twice"],
            ),
            (
                "accounts:\n  - name: a\n".into(),
                &["account \"a\"", "api_key_file", "api_key_env"],
            ),
            (
                account("    api_key_file: /k\n"),
                &["account \"a\"", "both"],
            ),
            (
                account("    polll_interval: 1m\n"),
                &[
                    "account \"a\"",
                    "polll_interval",
                    "did you mean `poll_interval`",
                    "line 4",
                ],
            ),
            (
                account("    poll_interval: soon\n"),
                &["account \"a\"", "line 4", "poll_interval", "examples"],
            ),
            (
                account("    max_body_size: lots\n"),
                &["account \"a\"", "max_body_size", "512KiB"],
            ),
            (
                account("    timeout: 18446744073709551615s\n"),
                &["account \"a\"", "timeout", "above the maximum of 10m"],
            ),
            (
                account("    stale_after: 30s\n"),
                &[
                    "account \"a\"",
                    "stale_after",
                    "longer than the poll interval",
                ],
            ),
            (
                format!("defaults:\n  poll_interval: 500ms\naccounts:\n  - name: a\n{key}"),
                &["defaults", "poll_interval", "minimum of 1s"],
            ),
            (
                "acounts:\n  - name: a\n".into(),
                &["did you mean `accounts`"],
            ),
            ("accounts: [\n".into(), &["line"]),
            (
                account("    collectors:\n      campaings: {enabled: true}\n"),
                &[
                    "account \"a\"",
                    "unknown collector `campaings`",
                    "did you mean `campaigns`",
                    "line 5",
                ],
            ),
            (
                account("    collectors:\n      replies: {enable: true}\n"),
                &[
                    "account \"a\"",
                    "did you mean `enabled`",
                    "collectors.replies",
                ],
            ),
            (
                account("    collectors:\n      mailboxes: {interval: 10ms}\n"),
                &[
                    "account \"a\"",
                    "collectors.mailboxes.interval",
                    "minimum of 1s",
                ],
            ),
            (
                account("    poll_interval: 1m\n    collectors: {categories: {interval: 2m}}\n"),
                &[
                    "account \"a\"",
                    "poll_interval (1m)",
                    "collectors.categories.interval (2m)",
                ],
            ),
            (
                account("    campaign_statuses: []\n"),
                &["account \"a\"", "campaign_statuses", "empty"],
            ),
            (
                account("    campaign_statuses: [ACTIVE, \"NOT ACTIVE\"]\n"),
                &[
                    "account \"a\"",
                    "campaign_statuses",
                    "not a campaign status",
                ],
            ),
            (
                account("    poll_interval: 20s\n    max_calls_per_minute: 2\n"),
                &[
                    "account \"a\"",
                    "max_calls_per_minute",
                    "cannot fit even the categories",
                ],
            ),
            (
                account("    max_calls_per_hour: 0\n"),
                &["account \"a\"", "max_calls_per_hour"],
            ),
            (
                account("    base_url: https://evil.example/api\n"),
                &[
                    "account \"a\"",
                    "base_url",
                    "\"evil.example\"",
                    "--smartlead.allowed-hosts",
                ],
            ),
            (
                account("    timeout: 1s\n    timeout: 2s\n"),
                &["account \"a\"", "timeout", "twice"],
            ),
            ("a: &x 1\naccounts: *x\n".into(), &["line 2", "aliases"]),
        ];
        for (text, expected) in cases {
            let err = parse_text(&text).unwrap_err();
            assert!(
                err.starts_with("--config.file /etc/sl/accounts.yaml: "),
                "{err}"
            );
            for part in expected {
                assert!(err.contains(part), "{text:?}: {err:?} lacks {part:?}");
            }
        }
    }

    #[test]
    fn the_same_interval_twice_is_fine() {
        let file = parse_text(
            "accounts:\n  - name: a\n    api_key_env: K\n    poll_interval: 2m\n    \
             collectors: {categories: {interval: 120s}}\n",
        )
        .unwrap();
        assert_eq!(file[0].settings.poll_interval(), Duration::from_secs(120));
    }
}
