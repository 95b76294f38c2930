//! Reloading `--config.file`: read it, validate it whole, and only then hand the shard's
//! accounts to the [`Supervisor`]. An invalid file changes nothing that runs: one error names
//! the problem, and `smartlead_exporter_config_last_reload_successful` turns 0 until a good
//! file arrives.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

use tracing::{error, info};

use crate::accounts::{self, AccountsError, AccountsFile, Settings, Shard};
use crate::collect::Supervisor;
use crate::state::Store;

/// Why a reload happened, for the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// SIGHUP: reload even if the file looks unchanged (a key file or variable may have
    /// changed under it).
    Signal,
    /// The file's directory changed: reload only if the file's content did.
    FileChanged,
}

/// The accounts file and what was last made of it.
#[derive(Debug)]
pub struct Reloader {
    /// `--config.file`.
    path: PathBuf,
    /// The flags' settings, beneath the file's `defaults:`.
    defaults: Settings,
    /// This process's shard.
    shard: Shard,
    /// The content last read, good or bad: a change event with the same content is ignored,
    /// so a bad file is reported once, not at every unrelated event in its directory.
    last_seen: Option<String>,
    /// Where the reload and shard facts go.
    store: Arc<Store>,
}

impl Reloader {
    /// A reloader for `path`; nothing is read until [`Reloader::load`].
    pub fn new(path: PathBuf, defaults: Settings, shard: Shard, store: Arc<Store>) -> Self {
        Self {
            path,
            defaults,
            shard,
            last_seen: None,
            store,
        }
    }

    /// Reads and validates the file; on success remembers its content and returns the whole
    /// file's accounts.
    ///
    /// # Errors
    /// The [`AccountsError`] naming the file, line, account and field.
    pub fn load(&mut self) -> Result<AccountsFile, AccountsError> {
        let text = accounts::read_limited(&self.path)?;
        self.parse(text)
    }

    /// Validates `text`, just read from the file, and remembers it as the content last seen.
    fn parse(&mut self, text: String) -> Result<AccountsFile, AccountsError> {
        let parsed = AccountsFile::parse(&self.path, &text, &self.defaults, &env);
        self.last_seen = Some(text);
        parsed
    }

    /// Reloads and applies the file; returns whether the running configuration changed.
    pub fn reload(&mut self, cause: Cause, supervisor: &mut Supervisor) -> bool {
        // Read once: an unchanged file is not parsed again unless a signal asks for it.
        let loaded = accounts::read_limited(&self.path).and_then(|text| {
            if cause == Cause::FileChanged && self.last_seen.as_deref() == Some(text.as_str()) {
                return Ok(None);
            }
            self.parse(text).map(Some)
        });
        match loaded {
            Ok(None) => false,
            Ok(Some(file)) => {
                let owned = file.owned_by(self.shard);
                let polled = owned.len();
                let changes = supervisor.apply(owned);
                self.store.set_reload(true);
                self.store
                    .set_shard_accounts(self.shard.index, self.shard.total, polled);
                info!(file = %self.path.display(), ?cause, accounts = file.accounts.len(),
                    polled, added = changes.added.len(), removed = changes.removed.len(),
                    changed = changes.changed.len(), "configuration reloaded");
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

/// The process environment, for `api_key_env`.
pub fn env(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}
