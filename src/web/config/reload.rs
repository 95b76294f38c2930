//! The web config while the process runs: every file read through [`crate::fsread`] (regular
//! files only, opened without blocking, at most [`MAX_FILE_BYTES`]), and [`WebSecurity`], the
//! version in force behind an [`ArcSwap`], reloaded when [`FileWatch`] reports a change or on
//! [`WebSecurity::request_reload`] (SIGHUP). One reload runs at a time, on one blocking
//! thread, and requests that arrive meanwhile are folded into the next one. A version whose
//! [`Fingerprint`] matches the one in force changes nothing; a broken one is logged once and
//! leaves the last good one in force.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use hyper::{HeaderMap, Request};
use tokio::sync::Notify;
use tracing::{error, info, warn};

use super::auth::{Gate, Refusal, RequestRate, Users};
use super::schema::{self, Checked, Pem};
use super::{invalid, tls, WebConfig, WebConfigError};
use crate::fsread;
use crate::shutdown::Shutdown;
use crate::sync::lock;
use crate::watch::{FileWatch, Fingerprint};

/// The largest web config file, certificate, key or CA bundle read. A certificate chain is a
/// few kilobytes; the limit stops a file that grows without end (or a mistaken path to a
/// large file) from exhausting memory.
pub(crate) const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// What one version of the file is made of: the file checked, and every file it names, read.
struct Sources {
    /// The checked file.
    checked: Checked,
    /// The named files' contents, by path.
    files: HashMap<PathBuf, Vec<u8>>,
    /// Of the config file's and the named files' contents.
    fingerprint: Fingerprint,
}

/// Reads the file at `path` and every file it names; on failure, the error and the files to
/// watch for a fix.
fn read_sources(path: &Path) -> Result<Sources, (WebConfigError, Vec<PathBuf>)> {
    let mut watched = vec![path.to_owned()];
    let text = fsread::read(path, MAX_FILE_BYTES)
        .map_err(|e| (WebConfigError::Read(e), watched.clone()))?;
    let checked = schema::check(path, &text).map_err(|e| (e, watched.clone()))?;
    watched.extend(checked.files().into_iter().map(|(_, file)| file.to_owned()));
    let mut files = HashMap::new();
    let mut parts: Vec<Vec<u8>> = vec![text];
    for (field, file) in checked.files() {
        let bytes = fsread::read(file, MAX_FILE_BYTES).map_err(|e| {
            (
                invalid(path, &format!("tls_server_config.{field}"), e),
                watched.clone(),
            )
        })?;
        parts.push(file.as_os_str().as_encoded_bytes().to_vec());
        parts.push(bytes.clone());
        files.insert(file.to_owned(), bytes);
    }
    Ok(Sources {
        checked,
        files,
        fingerprint: Fingerprint::of(parts.iter().map(Vec::as_slice)),
    })
}

/// Compiles what [`read_sources`] read.
fn compile(path: &Path, sources: Sources) -> Result<WebConfig, WebConfigError> {
    let Sources {
        checked,
        files,
        fingerprint,
    } = sources;
    let pem = |field: &'static str, pem: &Pem| match pem {
        Pem::Inline(text) => (
            format!("tls_server_config.{field}"),
            text.clone().into_bytes(),
        ),
        Pem::File(file) => (
            format!("tls_server_config.{field}_file ({})", file.display()),
            files.get(file).cloned().unwrap_or_default(),
        ),
    };
    let tls = match &checked.tls {
        Some(section) => Some(Arc::new(tls::build(path, section, checked.http2, &pem)?)),
        None => None,
    };
    let mut watched = vec![path.to_owned()];
    watched.extend(checked.files().into_iter().map(|(_, file)| file.to_owned()));
    Ok(WebConfig {
        tls,
        users: Arc::new(Users::new(&checked.users)),
        rate: checked
            .rate_limit
            .map(|(interval, burst)| RequestRate::new(interval, burst)),
        headers: checked.headers,
        warnings: checked.warnings,
        files: watched,
        fingerprint,
    })
}

/// Reads and compiles the web config at `path`; see [`WebConfig::load`].
pub(super) fn read(path: &Path) -> Result<WebConfig, WebConfigError> {
    read_sources(path)
        .map_err(|(e, _)| e)
        .and_then(|sources| compile(path, sources))
}

/// The web config in force while the process runs, and the state its checks keep.
pub struct WebSecurity {
    /// `--web.config.file`.
    path: PathBuf,
    /// The last good version of the file.
    current: ArcSwap<WebConfig>,
    /// `--web.health-unauthenticated`: `/-/healthy` and `/-/ready` need no credentials and
    /// are outside the rate limit.
    health_unauthenticated: bool,
    /// Basic auth's cache and bcrypt bound, kept across reloads.
    gate: Gate,
    /// Woken by [`WebSecurity::request_reload`]; a request while a reload runs is kept for
    /// the next one.
    reload_requested: Notify,
    /// The files the last attempt named (the config file first), for the watch.
    watched: Mutex<Vec<PathBuf>>,
    /// The fingerprint (if the files could be read) and error of the last version that failed
    /// to load, so that a broken file is reported once, not at every change event.
    last_failure: Mutex<Option<(Option<Fingerprint>, String)>>,
}

impl fmt::Debug for WebSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSecurity")
            .field("path", &self.path)
            .field("current", &self.current.load())
            .finish_non_exhaustive()
    }
}

impl WebSecurity {
    /// Starts from `config`, loaded from `path` with [`WebConfig::load`], and logs what it
    /// skipped.
    pub fn new(path: PathBuf, config: WebConfig, health_unauthenticated: bool) -> Self {
        for warning in config.warnings() {
            warn!(file = %path.display(), "{warning}");
        }
        Self {
            path,
            watched: Mutex::new(config.files.clone()),
            current: ArcSwap::from_pointee(config),
            health_unauthenticated,
            gate: Gate::default(),
            reload_requested: Notify::new(),
            last_failure: Mutex::new(None),
        }
    }

    /// The TLS acceptor for a new connection, with the certificate in force now; `None`
    /// when the exporter serves plain HTTP.
    pub fn tls_acceptor(&self) -> Option<tokio_rustls::TlsAcceptor> {
        self.current
            .load()
            .tls
            .as_ref()
            .map(|config| tokio_rustls::TlsAcceptor::from(Arc::clone(config)))
    }

    /// Asks [`WebSecurity::watch`] to reload (SIGHUP). Never blocks; requests made while a
    /// reload runs lead to one more reload, not one each.
    pub fn request_reload(&self) {
        self.reload_requested.notify_one();
    }

    /// Re-reads the file and the files it names; a changed, valid version takes over for new
    /// connections and requests. Blocking (file reads): call it from a blocking thread. A
    /// broken version is logged once and leaves the old one in force. Returns whether the
    /// version in force changed.
    ///
    /// # Errors
    /// The broken version's error (already logged when new).
    pub fn reload(&self) -> Result<bool, WebConfigError> {
        let (fingerprint, result) = match read_sources(&self.path) {
            Err((e, watched)) => {
                *lock(&self.watched) = watched;
                (None, Err(e))
            }
            Ok(sources) => (Some(sources.fingerprint), self.apply(sources)),
        };
        let mut last = lock(&self.last_failure);
        match &result {
            Ok(changed) => {
                *last = None;
                if *changed {
                    info!(file = %self.path.display(), "reloaded the web config");
                }
            }
            Err(e) => {
                let message = e.to_string();
                let repeat = match (&*last, fingerprint) {
                    (Some((Some(old), _)), Some(new)) => *old == new,
                    (Some((_, old)), _) => *old == message,
                    (None, _) => false,
                };
                if !repeat {
                    error!(error = %message, "cannot reload the web config; keeping the previous one");
                    *last = Some((fingerprint, message));
                }
            }
        }
        result
    }

    /// Compiles `sources` and puts it in force unless it is the version in force already or
    /// the one that failed last.
    fn apply(&self, sources: Sources) -> Result<bool, WebConfigError> {
        let fingerprint = sources.fingerprint;
        *lock(&self.watched) = {
            let mut watched = vec![self.path.clone()];
            watched.extend(
                sources
                    .checked
                    .files()
                    .into_iter()
                    .map(|(_, f)| f.to_owned()),
            );
            watched
        };
        if fingerprint == self.current.load().fingerprint {
            return Ok(false);
        }
        if let Some((Some(failed), message)) = &*lock(&self.last_failure) {
            if *failed == fingerprint {
                return Err(invalid(&self.path, "(unchanged)", message));
            }
        }
        let config = compile(&self.path, sources)?;
        if config.tls.is_some() != self.current.load().tls.is_some() {
            return Err(invalid(
                &self.path,
                "tls_server_config",
                "turning TLS on or off takes a restart",
            ));
        }
        for warning in config.warnings() {
            warn!(file = %self.path.display(), "{warning}");
        }
        self.current.store(Arc::new(config));
        Ok(true)
    }

    /// Reloads when the file or a file it names changes ([`FileWatch`]) and when asked
    /// ([`WebSecurity::request_reload`]), until shutdown.
    pub async fn watch(self: Arc<Self>, mut shutdown: Shutdown) {
        let mut files = FileWatch::new(self.watched_files());
        // The first pass catches a change made between the load and the start of the watch.
        let mut first = true;
        loop {
            if !std::mem::take(&mut first) {
                tokio::select! {
                    () = files.changed() => {}
                    () = self.reload_requested.notified() => {}
                    () = shutdown.requested() => return,
                }
            }
            let this = Arc::clone(&self);
            let Ok(watched) = tokio::task::spawn_blocking(move || {
                let _ = this.reload();
                this.watched_files()
            })
            .await
            else {
                continue;
            };
            if watched != files.files() {
                files.set_files(watched);
            }
        }
    }

    fn watched_files(&self) -> Vec<PathBuf> {
        lock(&self.watched).clone()
    }

    /// Adds the configured extra headers.
    pub fn add_headers(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.current.load().headers {
            headers.insert(name.clone(), value.clone());
        }
    }

    /// Checks the rate limit and the credentials; `None` lets the request through. With
    /// `--web.health-unauthenticated`, the probes skip both.
    pub async fn authorize<B>(&self, request: &Request<B>) -> Option<Refusal> {
        if self.health_unauthenticated && matches!(request.uri().path(), "/-/healthy" | "/-/ready")
        {
            return None;
        }
        let config = self.current.load_full();
        if let Some(rate) = &config.rate {
            if !rate.allow() {
                return Some(Refusal::TooManyRequests);
            }
        }
        if !config.users.enabled() {
            return None;
        }
        self.gate.check(&config.users, request).await
    }

    /// bcrypt checks done so far (the cache's hits cost none), for tests.
    pub fn bcrypt_verifications(&self) -> u64 {
        self.gate.runs()
    }
}
