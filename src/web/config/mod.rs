//! `--web.config.file`: TLS, mutual TLS, basic auth, extra response headers and a rate limit,
//! in the file format of the Prometheus exporter-toolkit, so that a web config written for any
//! Go exporter works here unchanged. Split by concern, as the toolkit is:
//!
//! - `file` and [`schema`]: the file as written, parsed and checked without I/O;
//! - [`tls`]: the rustls configuration, the client certificate verifier, and the handshake;
//! - [`auth`]: the rate limit, basic auth, its cache and the bound on bcrypt work;
//! - [`reload`]: the files read (through [`crate::fsread`]), and the config in force kept
//!   current as they change ([`WebSecurity`]).
//!
//! This module joins them: [`WebConfig`] is what one version of the file means, compiled.

mod auth;
mod file;
mod reload;
mod schema;
pub(super) mod tls;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hyper::header::{HeaderName, HeaderValue};
use rustls::ServerConfig;

use crate::watch::Fingerprint;

pub use reload::WebSecurity;

/// A web config that cannot be used; the message names the file and the field.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    /// The web config file itself cannot be read.
    #[error("--web.config.file: {0}")]
    Read(#[source] crate::fsread::ReadError),
    /// Not YAML, or not the schema (unknown key, wrong type, a user given twice).
    #[error("--web.config.file {path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with the key and line.
        message: String,
    },
    /// A field's value is refused.
    #[error("--web.config.file {path}: {field}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The field, e.g. `tls_server_config.key_file`.
        field: String,
        /// Why, naming the certificate or key file where there is one.
        message: String,
    },
}

fn invalid(path: &Path, field: &str, message: impl fmt::Display) -> WebConfigError {
    WebConfigError::Invalid {
        path: path.to_owned(),
        field: field.to_owned(),
        message: message.to_string(),
    }
}

/// A validated, compiled web config: what one version of the file means.
pub struct WebConfig {
    /// The rustls configuration; `None` serves plain HTTP.
    tls: Option<Arc<ServerConfig>>,
    /// Extra headers on every response.
    headers: Vec<(HeaderName, HeaderValue)>,
    /// `basic_auth_users`; empty: no basic auth.
    users: Arc<auth::Users>,
    /// `rate_limit`, when its interval is not zero.
    rate: Option<auth::RequestRate>,
    /// What the file asks for that this exporter skipped, one line each.
    warnings: Vec<String>,
    /// The files this version was made from (the config file first), to watch.
    files: Vec<PathBuf>,
    /// Of the content of every one of `files`, to notice a change.
    fingerprint: Fingerprint,
}

impl fmt::Debug for WebConfig {
    // Hashes and keys stay out of logs and panics.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("headers", &self.headers.len())
            .field("users", &self.users.enabled())
            .field("rate_limit", &self.rate.is_some())
            .finish_non_exhaustive()
    }
}

impl WebConfig {
    /// Reads, validates and compiles the file at `path` and the files it names (relative paths
    /// are relative to the file's directory, as in the exporter-toolkit). Every file is read
    /// through [`crate::fsread`]: a FIFO, a device or a file over
    /// [`MAX_FILE_BYTES`](reload::MAX_FILE_BYTES) is refused at once.
    ///
    /// # Errors
    /// Unreadable files, unknown keys, bad values, a key that does not match its certificate,
    /// an invalid bcrypt hash: each names the file and the field.
    pub fn load(path: &Path) -> Result<Self, WebConfigError> {
        reload::read(path)
    }

    /// What the file asks for that this exporter cannot do and skipped (a curve, a cipher
    /// suite, TLS 1.0), one line each; the server logs them as warnings.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsread::testing::{mkfifo, temp_dir};

    #[test]
    fn missing_cert_files_name_the_field_and_the_file() {
        let dir = temp_dir("web-config-missing");
        let path = dir.join("web.yml");
        std::fs::write(
            &path,
            "tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n",
        )
        .unwrap();
        let e = WebConfig::load(&path).unwrap_err().to_string();
        assert!(e.contains("tls_server_config.cert_file"), "{e}");
        assert!(e.contains("nope.crt"), "{e}");
    }

    #[test]
    fn a_cert_file_that_is_a_device_or_a_fifo_is_refused_at_once() {
        let dir = temp_dir("web-config-device");
        std::os::unix::fs::symlink("/dev/zero", dir.join("zero.crt")).unwrap();
        let fifo = dir.join("fifo.key");
        mkfifo(&fifo);
        let path = dir.join("web.yml");
        std::fs::write(
            &path,
            "tls_server_config:\n  cert_file: zero.crt\n  key_file: fifo.key\n",
        )
        .unwrap();
        let started = std::time::Instant::now();
        let e = WebConfig::load(&path).unwrap_err().to_string();
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert!(
            e.contains("tls_server_config.cert_file") && e.contains("a device"),
            "{e}"
        );
        std::fs::remove_file(dir.join("zero.crt")).unwrap();
        std::fs::write(dir.join("zero.crt"), "x").unwrap();
        let e = WebConfig::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("tls_server_config.key_file") && e.contains("a FIFO"),
            "{e}"
        );
        std::os::unix::fs::symlink("/dev/zero", dir.join("zero.yml")).unwrap();
        let e = WebConfig::load(&dir.join("zero.yml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("a device"), "{e}");
    }
}
