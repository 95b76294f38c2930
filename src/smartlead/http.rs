//! The HTTP client shared by every account: rustls with the public roots compiled in (plus
//! those of `--smartlead.ca-file`), no redirects, an explicit User-Agent, and the pool's idle
//! timeout; and the one-line descriptions of its errors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT};

/// An idle pooled connection is closed after this long, so that a connection the server
/// already dropped is not reused for the next poll. With a poll interval this long or longer
/// no connection is kept at all: it could never be reused, and closing it later would be a
/// wake-up between polls for nothing.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The client could not be built (only at start-up).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The TLS backend or the connector could not be initialised.
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
    /// The `--smartlead.ca-file` bundle is unreadable or holds no usable certificate.
    #[error(transparent)]
    CaBundle(#[from] CaBundleError),
}

/// Why a `--smartlead.ca-file` bundle cannot be used. The message names the file.
#[derive(Debug, thiserror::Error)]
pub enum CaBundleError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
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
pub fn load_ca_bundle(path: &Path) -> Result<Vec<reqwest::Certificate>, CaBundleError> {
    let shown = path.display().to_string();
    let invalid = |reason: String| CaBundleError::Invalid {
        path: shown.clone(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|source| CaBundleError::Read {
        path: shown.clone(),
        source,
    })?;
    let certs =
        reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| invalid(describe(&e, None)))?;
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
            .map_err(|e| invalid(format!("certificate {}: {}", n + 1, describe(&e, None))))?;
    }
    Ok(certs)
}

/// What the shared HTTP client needs from the configuration: settings common to every
/// account.
#[derive(Debug, Clone, Default)]
pub struct HttpConfig {
    /// Whether idle connections are kept for the next poll: worth it only when some account
    /// polls more often than [`POOL_IDLE_TIMEOUT`] closes them; otherwise a kept connection
    /// could never be reused, and closing it later would be a wake-up for nothing.
    pub pool_connections: bool,
    /// A PEM bundle of CA certificates trusted besides the built-in roots
    /// (`--smartlead.ca-file`), for TLS-intercepting proxies.
    pub ca_file: Option<PathBuf>,
}

/// Builds the HTTP client shared by every account: rustls with the public roots compiled in
/// (plus those of `--smartlead.ca-file`), no redirects, explicit User-Agent. Proxies named by
/// `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` are used (reqwest's default).
/// Deadlines are per request (see [`ClientConfig::timeout`](super::client::ClientConfig::timeout)), so accounts can differ.
///
/// # Errors
/// [`ClientError::CaBundle`] when the bundle cannot be used, [`ClientError::Build`] when the
/// TLS backend cannot be initialised.
pub fn http_client(config: &HttpConfig) -> Result<reqwest::Client, ClientError> {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    let mut builder = reqwest::Client::builder();
    if let Some(path) = &config.ca_file {
        for cert in load_ca_bundle(path)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .user_agent(crate::USER_AGENT)
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_max_idle_per_host(if config.pool_connections {
            usize::MAX
        } else {
            0
        })
        .build()
        .map_err(|e| ClientError::Build(describe(&e.without_url(), None)))
}

/// An error and its sources, as one line: `context: outer: inner: ...`.
pub(crate) fn describe(error: &dyn std::error::Error, context: Option<&str>) -> String {
    let mut text = context.map(str::to_owned).unwrap_or_default();
    let mut current: Option<&dyn std::error::Error> = Some(error);
    let mut last = String::new();
    while let Some(e) = current {
        let part = e.to_string();
        // Wrappers often repeat their source's text; print each distinct part once.
        if !last.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        last = part;
        current = e.source();
    }
    text
}

/// What rustls says when no trusted CA signed the server's certificate.
const UNTRUSTED_CERTIFICATE: &str = "invalid peer certificate";

/// Adds what to do to a transport failure caused by an untrusted certificate: in a company
/// network that is usually a TLS-inspecting proxy, whose CA the exporter must be given.
pub(crate) fn with_certificate_hint(mut message: String) -> String {
    if message.contains(UNTRUSTED_CERTIFICATE) {
        message.push_str(
            "; if a proxy between here and SmartLead inspects TLS, name its CA bundle with \
             --smartlead.ca-file",
        );
    }
    message
}
