//! The HTTP client shared by every account: rustls with the public roots compiled in (plus
//! those of `--smartlead.ca-file`), no redirects, an explicit User-Agent, and the pool's idle
//! timeout; and the one-line descriptions of its errors.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT};

/// An idle pooled connection is closed after this long, so that a connection the server
/// already dropped is not reused for the next poll. With a poll interval this long or longer
/// no connection is kept at all: it could never be reused, and closing it later would be a
/// wake-up between polls for nothing.
pub(crate) const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The client could not be built (only at start-up).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The TLS backend or the connector could not be initialised.
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

/// What the shared HTTP client needs from the configuration: settings common to every
/// account.
#[derive(Debug, Clone, Default)]
pub struct HttpConfig {
    /// Whether idle connections are kept for the next poll: worth it only when some account
    /// polls more often than [`POOL_IDLE_TIMEOUT`] closes them; otherwise a kept connection
    /// could never be reused, and closing it later would be a wake-up for nothing.
    pub pool_connections: bool,
    /// CA certificates trusted besides the built-in roots (`--smartlead.ca-file`, loaded
    /// once at start-up), for TLS-intercepting proxies.
    pub ca_certificates: Vec<reqwest::Certificate>,
}

/// Builds the HTTP client shared by every account: rustls with the public roots compiled in
/// (plus those of `--smartlead.ca-file`), no redirects, explicit User-Agent. Proxies named by
/// `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` are used (reqwest's default).
/// Deadlines are per request (see
/// [`ClientConfig::timeout`](super::client::ClientConfig::timeout)), so accounts can differ.
///
/// # Errors
/// [`ClientError::Build`] when the TLS backend cannot be initialised.
pub fn http_client(config: &HttpConfig) -> Result<reqwest::Client, ClientError> {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    let mut builder = reqwest::Client::builder();
    for cert in &config.ca_certificates {
        builder = builder.add_root_certificate(cert.clone());
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
