//! Reloading `--config.file`: read it, validate it whole and read its keys on a blocking
//! thread (never on the one that serves), and only then hand the shard's accounts to the
//! [`Supervisor`]. An invalid file changes nothing that runs: one error names the problem, and
//! `smartlead_exporter_config_last_reload_successful` turns 0 until a good file arrives.
//!
//! A configuration that leaves this shard no account (fewer accounts than shards) is loaded
//! like any other: the process polls nothing and is ready at once. One warning says so, at
//! start and again only when a new content of the file still leaves the shard empty.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::accounts::AccountsError;
use crate::collect::Supervisor;
use crate::settings::Shard;
use crate::startup::{process_env, AccountsFile, AccountsSource};
use crate::state::Store;
use crate::watch::Fingerprint;

/// The longest a reload may take before it is given up, the previous configuration kept. The
/// file's size and shape are bounded (see [`crate::accounts`]), so only a stuck file system
/// comes near it.
pub(crate) const RELOAD_DEADLINE: Duration = Duration::from_secs(10);

/// Why a reload happened, for the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// SIGHUP: reload even if the file looks unchanged (a key file or variable may have
    /// changed under it).
    Signal,
    /// The file's directory changed: reload only if the file's content did.
    FileChanged,
}

/// What a reload's blocking half found.
enum Outcome {
    /// The content is the one last seen; nothing to do.
    Unchanged,
    /// The file was read (its fingerprint) and parsed, well or not.
    Parsed(Fingerprint, Result<AccountsFile, AccountsError>),
    /// The file could not be read.
    Unreadable(AccountsError),
}

/// The accounts file and what was last made of it.
#[derive(Debug)]
pub struct Reloader {
    /// The file and what it is read against.
    source: Arc<AccountsSource>,
    /// This process's shard.
    shard: Shard,
    /// The content last read, good or bad: a change event with the same content is ignored,
    /// so a bad file is reported once, not at every unrelated event in its directory.
    last_seen: Option<Fingerprint>,
    /// A reload that outlived [`RELOAD_DEADLINE`], still running on its blocking thread: no
    /// other starts until it ends.
    stuck: Option<JoinHandle<Outcome>>,
    /// Where the reload and shard facts go.
    store: Arc<Store>,
    /// The content last warned about for leaving this shard without accounts: a SIGHUP that
    /// applies the same content again does not repeat the warning.
    warned_empty: Option<Fingerprint>,
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Unchanged => "Unchanged",
            Self::Parsed(..) => "Parsed",
            Self::Unreadable(_) => "Unreadable",
        })
    }
}

impl Reloader {
    /// A reloader for `source`; nothing is read until [`Reloader::load`].
    pub fn new(source: AccountsSource, shard: Shard, store: Arc<Store>) -> Self {
        Self {
            source: Arc::new(source),
            shard,
            last_seen: None,
            stuck: None,
            store,
            warned_empty: None,
        }
    }

    /// Reads and validates the file on a blocking thread; on success remembers its content
    /// and returns the whole file's accounts.
    ///
    /// # Errors
    /// The [`AccountsError`] naming the file, line, account and field.
    pub async fn load(&mut self) -> Result<AccountsFile, AccountsError> {
        match self.read_and_parse(None).await {
            Ok(Outcome::Parsed(fingerprint, parsed)) => {
                if let Ok(file) = &parsed {
                    self.warn_if_shard_empty(fingerprint, file);
                }
                parsed
            }
            Ok(Outcome::Unreadable(e)) => Err(e),
            Ok(Outcome::Unchanged) | Err(()) => Err(AccountsError::File {
                path: self.source.path.clone(),
                reason: format!(
                    "not read within {}",
                    humantime::format_duration(RELOAD_DEADLINE)
                ),
            }),
        }
    }

    /// Reads, on a blocking thread, the file, and unless its content is `unless` parses it.
    /// `Err` when that takes longer than [`RELOAD_DEADLINE`] or is still running since an
    /// earlier call.
    async fn read_and_parse(&mut self, unless: Option<Fingerprint>) -> Result<Outcome, ()> {
        if let Some(stuck) = &self.stuck {
            if !stuck.is_finished() {
                return Err(());
            }
            self.stuck = None;
        }
        let source = Arc::clone(&self.source);
        let mut job = tokio::task::spawn_blocking(move || {
            let text = match source.read() {
                Ok(text) => text,
                Err(e) => return Outcome::Unreadable(e),
            };
            let fingerprint = Fingerprint::of([text.as_bytes()]);
            if unless == Some(fingerprint) {
                return Outcome::Unchanged;
            }
            Outcome::Parsed(fingerprint, source.parse(&text, &process_env))
        });
        match tokio::time::timeout(RELOAD_DEADLINE, &mut job).await {
            Ok(Ok(outcome)) => {
                if let Outcome::Parsed(fingerprint, _) = &outcome {
                    self.last_seen = Some(*fingerprint);
                }
                Ok(outcome)
            }
            Ok(Err(_panicked)) => Err(()),
            Err(_elapsed) => {
                self.stuck = Some(job);
                Err(())
            }
        }
    }

    /// Warns when `file`, whose content is `fingerprint`, leaves this shard no account, unless
    /// that content was warned about last.
    fn warn_if_shard_empty(&mut self, fingerprint: Fingerprint, file: &AccountsFile) {
        if file.accounts.iter().any(|a| self.shard.owns(&a.name)) {
            self.warned_empty = None;
            return;
        }
        if self.warned_empty == Some(fingerprint) {
            return;
        }
        self.warned_empty = Some(fingerprint);
        warn!(file = %self.source.path.display(), shard = self.shard.index,
            total_shards = self.shard.total, accounts = file.accounts.len(),
            "this shard owns none of the file's accounts: it polls nothing and is ready; \
             with fewer accounts than --total-shards some shards stay empty, otherwise check \
             --shard and --total-shards");
    }

    /// Reloads and applies the file; returns whether the running configuration changed.
    pub async fn reload(&mut self, cause: Cause, supervisor: &mut Supervisor) -> bool {
        // Read once: an unchanged file is not parsed again unless a signal asks for it.
        let unless = match cause {
            Cause::FileChanged => self.last_seen,
            Cause::Signal => None,
        };
        let parsed = match self.read_and_parse(unless).await {
            Ok(Outcome::Unchanged) => return false,
            Ok(Outcome::Parsed(fingerprint, parsed)) => {
                if let Ok(file) = &parsed {
                    self.warn_if_shard_empty(fingerprint, file);
                }
                parsed
            }
            Ok(Outcome::Unreadable(e)) => Err(e),
            Err(()) => Err(AccountsError::File {
                path: self.source.path.clone(),
                reason: format!(
                    "not read and checked within {}",
                    humantime::format_duration(RELOAD_DEADLINE)
                ),
            }),
        };
        match parsed {
            Ok(file) => {
                let owned = file.owned_by(self.shard);
                let polled = owned.len();
                let changes = supervisor.apply(owned);
                self.store.set_reload(true);
                self.store
                    .set_shard_accounts(self.shard.index, self.shard.total, polled);
                info!(file = %self.source.path.display(), ?cause,
                    accounts = file.accounts.len(), polled, added = changes.added.len(),
                    removed = changes.removed.len(), changed = changes.changed.len(),
                    "configuration reloaded");
                true
            }
            Err(e) => {
                self.store.set_reload(false);
                error!(error = %e, ?cause,
                    "configuration reload refused; the previous configuration keeps running");
                false
            }
        }
    }
}
