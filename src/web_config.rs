//! `--web.config.file`: TLS, mutual TLS, basic auth, extra response headers and a rate limit,
//! in the file format of the Prometheus exporter-toolkit, so that a web config written for any
//! Go exporter works here unchanged.
//!
//! This module owns the file: parsing ([`WebConfig::load`]), validation (every refusal is a
//! [`WebConfigError`] naming the file and the field), compiling it into a rustls
//! [`ServerConfig`], and keeping it current while the process runs ([`WebSecurity`]: the
//! compiled config behind an [`ArcSwap`], re-read every [`RELOAD_CHECK_INTERVAL`] and on
//! [`WebSecurity::reload`], so that a rotated certificate reaches new connections without a
//! restart and a broken file leaves the last good one in force). It also owns the per-request
//! checks ([`WebSecurity::authorize`]: rate limit, then basic auth with bcrypt, whose verified
//! credentials are remembered in a small cache) and the extra headers
//! ([`WebSecurity::add_headers`]). The TLS handshake itself is in [`crate::tls`].

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use base64::Engine as _;
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use hyper::{HeaderMap, Request, Response, StatusCode};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tracing::{error, info};

use crate::shutdown::Shutdown;

/// How often the file and the certificate files it names are re-read to look for a change.
/// cert-manager renews well ahead of expiry, so a few seconds of delay cost nothing, and
/// reading a few small files this often costs nothing either.
pub const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// Verified credentials remembered, so that a scrape every second does not cost a bcrypt each.
/// The exporter-toolkit keeps 100; a handful of scrapers need a handful of entries.
pub const AUTH_CACHE_CAPACITY: usize = 100;

/// bcrypt verifications run at once. Each keeps a core busy for as long as the hash's cost
/// asks (that is bcrypt's point), so a flood of wrong passwords takes at most this many cores
/// away from scrapes.
pub const MAX_CONCURRENT_BCRYPT: usize = 1;

/// The headers `http_server_config.headers` may set, with the values allowed (`None`: any).
/// The same list as the exporter-toolkit's: every other name is refused.
const ALLOWED_HEADERS: &[(&str, Option<&[&str]>)] = &[
    ("Strict-Transport-Security", None),
    ("X-Content-Type-Options", Some(&["nosniff"])),
    ("X-Frame-Options", Some(&["deny", "sameorigin"])),
    ("X-XSS-Protection", None),
    ("Content-Security-Policy", None),
];

/// The password an unknown user's attempt is checked against, so that it costs the same
/// bcrypt time as a known user's wrong password and does not tell which users exist.
const DUMMY_PASSWORD: &str = "smartlead_exporter unknown user";

/// The file as written: the exporter-toolkit's schema, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    /// TLS; absent: plain HTTP.
    #[serde(default)]
    tls_server_config: Option<TlsFile>,
    /// HTTP/2 and extra headers.
    #[serde(default)]
    http_server_config: HttpFile,
    /// User name → bcrypt hash; empty: no basic auth.
    #[serde(default)]
    basic_auth_users: Option<HashMap<String, String>>,
    /// Token bucket in front of every request.
    #[serde(default)]
    rate_limit: Option<RateLimitFile>,
}

/// `tls_server_config`, with the exporter-toolkit's field names.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    /// Inline certificate chain (PEM).
    #[serde(default)]
    cert: String,
    /// Inline private key (PEM).
    #[serde(default)]
    key: String,
    /// Inline client CA bundle (PEM).
    #[serde(default)]
    client_ca: String,
    /// Certificate chain file, relative to the web config file's directory.
    #[serde(default)]
    cert_file: String,
    /// Private key file.
    #[serde(default)]
    key_file: String,
    /// Client CA bundle file.
    #[serde(default)]
    client_ca_file: String,
    /// Go's `tls.ClientAuthType` names.
    #[serde(default)]
    client_auth_type: String,
    /// TLS 1.2 suites by Go name.
    #[serde(default)]
    cipher_suites: Vec<String>,
    /// Key exchange groups by Go name, in preference order.
    #[serde(default)]
    curve_preferences: Vec<String>,
    /// `TLS12` or `TLS13`.
    #[serde(default)]
    min_version: Option<String>,
    /// `TLS12` or `TLS13`.
    #[serde(default)]
    max_version: Option<String>,
    /// Server's suite order first (default true, as in the toolkit).
    #[serde(default)]
    prefer_server_cipher_suites: Option<bool>,
    /// A client certificate must carry one of these SANs.
    #[serde(default)]
    client_allowed_sans: Option<Vec<String>>,
}

/// `http_server_config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    /// Offer `h2` in ALPN (default true).
    #[serde(default)]
    http2: Option<bool>,
    /// Extra response headers, from [`ALLOWED_HEADERS`].
    #[serde(default)]
    headers: HashMap<String, String>,
}

/// `rate_limit`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitFile {
    /// Go duration between two requests; `0` disables the limit.
    #[serde(default)]
    interval: Option<String>,
    /// Requests allowed at once.
    #[serde(default)]
    burst: u32,
}

/// A web config that cannot be used; the message names the file and the field.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    /// The web config file itself cannot be read.
    #[error("cannot read --web.config.file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Not YAML, or not the schema (unknown key, wrong type).
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

/// A token bucket, as Go's `rate.NewLimiter(rate.Every(interval), burst)`.
#[derive(Debug)]
struct RateLimit {
    /// One token comes back every `interval`.
    interval: Duration,
    /// At most this many tokens.
    burst: u32,
    /// Tokens now, and when they were counted.
    state: Mutex<(f64, Instant)>,
}

impl RateLimit {
    fn allow(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let refill = now.duration_since(state.1).as_secs_f64() / self.interval.as_secs_f64();
        state.0 = (state.0 + refill).min(f64::from(self.burst));
        state.1 = now;
        if state.0 >= 1.0 {
            state.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A validated, compiled web config: what one version of the file means.
pub struct WebConfig {
    /// The rustls configuration; `None` serves plain HTTP.
    tls: Option<Arc<ServerConfig>>,
    /// Extra headers on every response.
    headers: Vec<(HeaderName, HeaderValue)>,
    /// User → bcrypt hash; empty: no basic auth.
    users: HashMap<String, String>,
    /// The highest bcrypt cost among `users`.
    max_cost: u32,
    /// A hash of [`DUMMY_PASSWORD`] at `max_cost`, made on the first unknown user's attempt
    /// (making it costs a bcrypt, which loading the file should not).
    dummy_hash: std::sync::OnceLock<String>,
    /// `rate_limit`, when its interval is not zero.
    rate_limit: Option<RateLimit>,
    /// SHA-256 of the file and of every file it names, to notice a change.
    fingerprint: [u8; 32],
}

impl fmt::Debug for WebConfig {
    // Hashes and keys stay out of logs and panics.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("headers", &self.headers.len())
            .field("users", &self.users.len())
            .field("rate_limit", &self.rate_limit.is_some())
            .finish_non_exhaustive()
    }
}

/// What a version of the file consists of: its text, parsed, and every file it names, read.
struct Sources {
    /// The parsed file.
    file: FileConfig,
    /// Contents of the named files, by field.
    files: HashMap<&'static str, (PathBuf, Vec<u8>)>,
    /// See [`WebConfig::fingerprint`].
    fingerprint: [u8; 32],
}

impl WebConfig {
    /// Reads, validates and compiles the file at `path` and the files it names (relative paths
    /// are relative to the file's directory, as in the exporter-toolkit). Costs one bcrypt
    /// when `basic_auth_users` is set (see [`DUMMY_PASSWORD`]).
    ///
    /// # Errors
    /// Unreadable files, unknown keys, bad values, a key that does not match its certificate,
    /// an invalid bcrypt hash: each names the file and the field.
    pub fn load(path: &Path) -> Result<Self, WebConfigError> {
        compile(path, read_sources(path)?)
    }

    /// Whether connections are TLS.
    pub fn tls_enabled(&self) -> bool {
        self.tls.is_some()
    }

    /// Whether basic auth is required.
    pub fn basic_auth_enabled(&self) -> bool {
        !self.users.is_empty()
    }
}

fn syntax(path: &Path, message: impl fmt::Display) -> WebConfigError {
    WebConfigError::Syntax {
        path: path.to_owned(),
        message: message.to_string(),
    }
}

fn invalid(path: &Path, field: &str, message: impl fmt::Display) -> WebConfigError {
    WebConfigError::Invalid {
        path: path.to_owned(),
        field: field.to_owned(),
        message: message.to_string(),
    }
}

fn read_sources(path: &Path) -> Result<Sources, WebConfigError> {
    let text = std::fs::read(path).map_err(|source| WebConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let file: FileConfig = if text.iter().all(u8::is_ascii_whitespace) {
        FileConfig::default()
    } else {
        serde_yaml_ng::from_slice(&text).map_err(|e| syntax(path, e))?
    };
    let mut hasher = Sha256::new();
    hasher.update((text.len() as u64).to_le_bytes());
    hasher.update(&text);
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut files = HashMap::new();
    if let Some(tls) = &file.tls_server_config {
        for (field, name) in [
            ("cert_file", &tls.cert_file),
            ("key_file", &tls.key_file),
            ("client_ca_file", &tls.client_ca_file),
        ] {
            if name.is_empty() {
                continue;
            }
            let named = dir.join(name);
            let bytes = std::fs::read(&named).map_err(|e| {
                invalid(
                    path,
                    &format!("tls_server_config.{field}"),
                    format_args!("cannot read {}: {e}", named.display()),
                )
            })?;
            hasher.update(field.as_bytes());
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(&bytes);
            files.insert(field, (named, bytes));
        }
    }
    Ok(Sources {
        file,
        files,
        fingerprint: hasher.finalize().into(),
    })
}

/// The PEM of a field given inline (`inline`) or as a file (`{inline}_file`), with where it
/// came from for error messages.
fn pem_source<'a>(
    sources: &'a Sources,
    inline_field: &'static str,
    inline: &'a str,
) -> Option<(String, &'a [u8])> {
    let file_field: &'static str = match inline_field {
        "cert" => "cert_file",
        "key" => "key_file",
        _ => "client_ca_file",
    };
    if let Some((named, bytes)) = sources.files.get(file_field) {
        return Some((
            format!("tls_server_config.{file_field} ({})", named.display()),
            bytes,
        ));
    }
    (!inline.is_empty()).then(|| {
        (
            format!("tls_server_config.{inline_field}"),
            inline.as_bytes(),
        )
    })
}

fn compile(path: &Path, sources: Sources) -> Result<WebConfig, WebConfigError> {
    let http2 = sources.file.http_server_config.http2.unwrap_or(true);
    let tls = match &sources.file.tls_server_config {
        Some(tls) if tls_configured(tls) => {
            Some(Arc::new(compile_tls(path, &sources, tls, http2)?))
        }
        _ => None,
    };
    let headers = compile_headers(path, &sources.file.http_server_config.headers)?;
    let users = sources.file.basic_auth_users.clone().unwrap_or_default();
    let mut max_cost = 0;
    for (user, hash) in &users {
        // The parser's message would echo the hash: keep it out.
        let parts: bcrypt::HashParts = hash.parse().map_err(|_| {
            invalid(
                path,
                &format!("basic_auth_users.{user}"),
                "not a valid bcrypt hash; make one with htpasswd -nBC 10 \"\" | tr -d ':\\n'",
            )
        })?;
        max_cost = max_cost.max(parts.get_cost());
    }
    let rate_limit = match &sources.file.rate_limit {
        None => None,
        Some(limit) => {
            let interval = match limit.interval.as_deref().map(str::trim) {
                None | Some("" | "0" | "0s") => Duration::ZERO,
                Some(text) => humantime::parse_duration(text).map_err(|e| {
                    invalid(path, "rate_limit.interval", format_args!("{text:?}: {e}"))
                })?,
            };
            (!interval.is_zero()).then(|| RateLimit {
                interval,
                burst: limit.burst,
                state: Mutex::new((f64::from(limit.burst), Instant::now())),
            })
        }
    };
    Ok(WebConfig {
        tls,
        headers,
        users,
        max_cost,
        dummy_hash: std::sync::OnceLock::new(),
        rate_limit,
        fingerprint: sources.fingerprint,
    })
}

/// Whether the section asks for TLS: the exporter-toolkit's `IsEnabled`.
fn tls_configured(tls: &TlsFile) -> bool {
    !(tls.cert_file.is_empty()
        && tls.cert.is_empty()
        && tls.key_file.is_empty()
        && tls.key.is_empty()
        && tls.client_ca_file.is_empty()
        && tls.client_ca.is_empty()
        && tls.client_auth_type.is_empty())
}

fn compile_headers(
    path: &Path,
    headers: &HashMap<String, String>,
) -> Result<Vec<(HeaderName, HeaderValue)>, WebConfigError> {
    let mut out = Vec::new();
    let mut names: Vec<_> = headers.keys().collect();
    names.sort();
    for name in names {
        let value = &headers[name];
        let field = format!("http_server_config.headers.{name}");
        let Some((_, allowed)) = ALLOWED_HEADERS.iter().find(|(n, _)| *n == name.as_str()) else {
            let names: Vec<_> = ALLOWED_HEADERS.iter().map(|(n, _)| *n).collect();
            return Err(invalid(
                path,
                &field,
                format_args!(
                    "HTTP header {name:?} can not be configured (allowed: {})",
                    names.join(", ")
                ),
            ));
        };
        if let Some(allowed) = allowed {
            if !allowed.contains(&value.as_str()) {
                return Err(invalid(
                    path,
                    &field,
                    format_args!("{value:?} is not one of {allowed:?}"),
                ));
            }
        }
        if value.is_empty() {
            continue;
        }
        let header_value = HeaderValue::from_str(value)
            .map_err(|_| invalid(path, &field, "not a valid header value"))?;
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| invalid(path, &field, "not a valid header name"))?;
        out.push((header_name, header_value));
    }
    Ok(out)
}

/// How the server asks for, and checks, client certificates: Go's `tls.ClientAuthType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientAuth {
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

fn tls_version(
    path: &Path,
    field: &str,
    value: Option<&str>,
) -> Result<Option<&'static rustls::SupportedProtocolVersion>, WebConfigError> {
    match value {
        None => Ok(None),
        Some("TLS12") => Ok(Some(&rustls::version::TLS12)),
        Some("TLS13") => Ok(Some(&rustls::version::TLS13)),
        Some(old @ ("TLS10" | "TLS11")) => Err(invalid(
            path,
            field,
            format_args!(
                "{old} is not supported: the oldest TLS version this exporter speaks is TLS12"
            ),
        )),
        Some(other) => Err(invalid(
            path,
            field,
            format_args!("unknown TLS version {other:?} (use TLS12 or TLS13)"),
        )),
    }
}

/// Go's cipher suite names (those `tls.CipherSuites()` lists) that rustls implements.
fn cipher_suite(name: &str) -> Option<rustls::SupportedCipherSuite> {
    use rustls::crypto::ring::cipher_suite as cs;
    Some(match name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"
        | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" => {
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" => {
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_AES_128_GCM_SHA256" => cs::TLS13_AES_128_GCM_SHA256,
        "TLS_AES_256_GCM_SHA384" => cs::TLS13_AES_256_GCM_SHA384,
        "TLS_CHACHA20_POLY1305_SHA256" => cs::TLS13_CHACHA20_POLY1305_SHA256,
        _ => return None,
    })
}

/// Go names that `tls.CipherSuites()` or `tls.InsecureCipherSuites()` list but rustls lacks
/// (CBC modes, RSA key exchange, 3DES, RC4): refused by name rather than called unknown.
const GO_SUITES_WITHOUT_RUSTLS: &[&str] = &[
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
];

fn compile_tls(
    path: &Path,
    sources: &Sources,
    tls: &TlsFile,
    http2: bool,
) -> Result<ServerConfig, WebConfigError> {
    let field = |name: &str| format!("tls_server_config.{name}");
    if !tls.cert_file.is_empty() && !tls.cert.is_empty() {
        return Err(invalid(
            path,
            &field("cert"),
            "give cert or cert_file, not both",
        ));
    }
    if !tls.key_file.is_empty() && !tls.key.is_empty() {
        return Err(invalid(
            path,
            &field("key"),
            "give key or key_file, not both",
        ));
    }
    if !tls.client_ca_file.is_empty() && !tls.client_ca.is_empty() {
        return Err(invalid(
            path,
            &field("client_ca"),
            "give client_ca or client_ca_file, not both",
        ));
    }
    let Some((cert_from, cert_pem)) = pem_source(sources, "cert", &tls.cert) else {
        return Err(invalid(
            path,
            &field("cert_file"),
            "missing one of cert or cert_file",
        ));
    };
    let Some((key_from, key_pem)) = pem_source(sources, "key", &tls.key) else {
        return Err(invalid(
            path,
            &field("key_file"),
            "missing one of key or key_file",
        ));
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(path, &cert_from, format_args!("not a PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(path, &cert_from, "no PEM certificate found"));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| {
        invalid(
            path,
            &key_from,
            format_args!("no PEM private key found: {e}"),
        )
    })?;

    let mut provider = rustls::crypto::ring::default_provider();
    if !tls.cipher_suites.is_empty() {
        let mut tls12 = Vec::new();
        for name in &tls.cipher_suites {
            match cipher_suite(name) {
                Some(suite) if suite.version() == &rustls::version::TLS12 => tls12.push(suite),
                // Go does not let TLS 1.3 suites be chosen either: every one stays on.
                Some(_) => {}
                None if GO_SUITES_WITHOUT_RUSTLS.contains(&name.as_str()) => {
                    return Err(invalid(
                        path,
                        &field("cipher_suites"),
                        format_args!("{name} is not supported (rustls implements only AEAD suites with ECDHE key exchange)"),
                    ))
                }
                None => {
                    return Err(invalid(path, &field("cipher_suites"), format_args!("unknown cipher: {name}")))
                }
            }
        }
        let tls13 = provider
            .cipher_suites
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS13)
            .copied();
        provider.cipher_suites = tls12.into_iter().chain(tls13).collect();
    }
    if !tls.curve_preferences.is_empty() {
        use rustls::crypto::ring::kx_group;
        let mut groups: Vec<&'static dyn rustls::crypto::SupportedKxGroup> = Vec::new();
        for name in &tls.curve_preferences {
            groups.push(match name.as_str() {
                "CurveP256" => kx_group::SECP256R1,
                "CurveP384" => kx_group::SECP384R1,
                "X25519" => kx_group::X25519,
                "CurveP521" => {
                    return Err(invalid(
                        path,
                        &field("curve_preferences"),
                        "CurveP521 is not supported by this exporter's TLS library (use X25519, CurveP256 or CurveP384)",
                    ))
                }
                other => {
                    return Err(invalid(path, &field("curve_preferences"), format_args!("unknown curve: {other}")))
                }
            });
        }
        provider.kx_groups = groups;
    }
    let provider = Arc::new(provider);

    let min = tls_version(path, &field("min_version"), tls.min_version.as_deref())?
        .unwrap_or(&rustls::version::TLS12);
    let max = tls_version(path, &field("max_version"), tls.max_version.as_deref())?
        .unwrap_or(&rustls::version::TLS13);
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = match (min.version, max.version)
    {
        (rustls::ProtocolVersion::TLSv1_3, rustls::ProtocolVersion::TLSv1_2) => {
            return Err(invalid(
                path,
                &field("max_version"),
                "max_version TLS12 is below min_version TLS13",
            ))
        }
        (rustls::ProtocolVersion::TLSv1_3, _) => vec![&rustls::version::TLS13],
        (_, rustls::ProtocolVersion::TLSv1_2) => vec![&rustls::version::TLS12],
        _ => vec![&rustls::version::TLS13, &rustls::version::TLS12],
    };
    if versions == [&rustls::version::TLS12]
        && !provider
            .cipher_suites
            .iter()
            .any(|s| s.version() == &rustls::version::TLS12)
    {
        return Err(invalid(
            path,
            &field("cipher_suites"),
            "no TLS12 cipher suite left",
        ));
    }

    let client_auth = match tls.client_auth_type.as_str() {
        "" | "NoClientCert" => ClientAuth::NoClientCert,
        "RequestClientCert" => ClientAuth::RequestClientCert,
        // "RequireClientCert" is the old name the toolkit still accepts.
        "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAnyClientCert,
        "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
        "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
        other => {
            return Err(invalid(
                path,
                &field("client_auth_type"),
                format_args!("invalid ClientAuth: {other} (use NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert)"),
            ))
        }
    };
    let ca = pem_source(sources, "client_ca", &tls.client_ca);
    if ca.is_some() && client_auth == ClientAuth::NoClientCert {
        return Err(invalid(
            path,
            &field("client_auth_type"),
            "client CA's have been configured without a Client Auth Policy",
        ));
    }
    let mut roots = RootCertStore::empty();
    if let Some((ca_from, ca_pem)) = &ca {
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            let cert = cert
                .map_err(|e| invalid(path, ca_from, format_args!("not a PEM certificate: {e}")))?;
            roots.add(cert).map_err(|e| {
                invalid(
                    path,
                    ca_from,
                    format_args!("not a usable CA certificate: {e}"),
                )
            })?;
        }
        if roots.is_empty() {
            return Err(invalid(path, ca_from, "no PEM certificate found"));
        }
    }
    let verifies = matches!(
        client_auth,
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
    );
    if verifies && roots.is_empty() {
        return Err(invalid(
            path,
            &field("client_ca_file"),
            format_args!("client_auth_type {} needs client_ca_file or client_ca to verify client certificates against", tls.client_auth_type),
        ));
    }
    if tls.client_allowed_sans.is_some()
        && !matches!(
            client_auth,
            ClientAuth::RequireAnyClientCert | ClientAuth::RequireAndVerifyClientCert
        )
    {
        return Err(invalid(
            path,
            &field("client_allowed_sans"),
            "client_allowed_sans requires client_auth_type to be one of RequireAnyClientCert or RequireAndVerifyClientCert",
        ));
    }
    let verifier: Arc<dyn ClientCertVerifier> = if client_auth == ClientAuth::NoClientCert {
        WebPkiClientVerifier::no_client_auth()
    } else {
        let roots = Arc::new(roots);
        let webpki = if verifies {
            let builder = WebPkiClientVerifier::builder_with_provider(
                Arc::clone(&roots),
                Arc::clone(&provider),
            );
            let builder = if client_auth == ClientAuth::VerifyClientCertIfGiven {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            Some(
                builder
                    .build()
                    .map_err(|e| invalid(path, &field("client_ca_file"), e))?,
            )
        } else {
            None
        };
        Arc::new(ClientVerifier {
            webpki,
            mandatory: matches!(
                client_auth,
                ClientAuth::RequireAnyClientCert | ClientAuth::RequireAndVerifyClientCert
            ),
            hints: roots.subjects(),
            allowed_sans: tls.client_allowed_sans.clone(),
            provider: Arc::clone(&provider),
        })
    };

    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| invalid(path, &key_from, format_args!("unusable private key: {e}")))?;
    let certified = CertifiedKey::new(certs, signing_key);
    certified.keys_match().map_err(|e| {
        invalid(
            path,
            &key_from,
            format_args!("the key does not match the certificate of {cert_from}: {e}"),
        )
    })?;
    let mut config = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| invalid(path, &field("min_version"), e))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(OneCertificate(Arc::new(certified))));
    config.ignore_client_order = tls.prefer_server_cipher_suites.unwrap_or(true);
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(config)
}

/// The server's one certificate chain and key.
#[derive(Debug)]
struct OneCertificate(Arc<CertifiedKey>);

impl rustls::server::ResolvesServerCert for OneCertificate {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

/// Asks for client certificates as Go's `tls.ClientAuthType` does: verified against the
/// client CAs or not, mandatory or not, then, if `client_allowed_sans` is set, one of the
/// certificate's SANs must be in it.
#[derive(Debug)]
struct ClientVerifier {
    /// Checks the chain against the client CAs; `None` accepts any certificate (the client
    /// still proves it holds the certificate's key).
    webpki: Option<Arc<dyn ClientCertVerifier>>,
    /// Whether a client without a certificate is refused.
    mandatory: bool,
    /// The client CAs' names, sent to the client as hints.
    hints: Vec<DistinguishedName>,
    /// `client_allowed_sans`.
    allowed_sans: Option<Vec<String>>,
    /// Signature algorithms.
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if let Some(webpki) = &self.webpki {
            webpki.verify_client_cert(end_entity, intermediates, now)?;
        }
        if let Some(allowed) = &self.allowed_sans {
            let sans = certificate_sans(end_entity).ok_or(rustls::Error::InvalidCertificate(
                rustls::CertificateError::BadEncoding,
            ))?;
            if !sans.iter().any(|san| allowed.contains(san)) {
                return Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::ApplicationVerificationFailure,
                ));
            }
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A certificate's SANs as the exporter-toolkit compares them: DNS names, e-mail addresses,
/// IP addresses (Go's notation: IPv4 dotted even when stored as 16 bytes) and URIs.
/// `None` when the certificate cannot be parsed.
pub fn certificate_sans(der: &[u8]) -> Option<Vec<String>> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let mut sans = Vec::new();
    if let Some(extension) = cert.subject_alternative_name().ok()? {
        for name in &extension.value.general_names {
            match name {
                GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                    sans.push((*s).to_owned());
                }
                GeneralName::IPAddress(bytes) => {
                    let ip = match bytes.len() {
                        4 => <[u8; 4]>::try_from(*bytes).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(*bytes).ok().map(|b| {
                            let v6 = std::net::Ipv6Addr::from(b);
                            v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
                        }),
                        _ => None,
                    };
                    if let Some(ip) = ip {
                        sans.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    Some(sans)
}

/// Why a request is refused before it reaches the exporter's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `rate_limit` exceeded: 429.
    TooManyRequests,
    /// Missing or wrong credentials: 401 with `WWW-Authenticate: Basic`.
    Unauthorized,
}

impl Refusal {
    /// The response, with `body` making the body from the text.
    pub fn into_response<B>(self, body: impl FnOnce(&'static str) -> B) -> Response<B> {
        let (status, text) = match self {
            Self::TooManyRequests => (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests\n"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "Unauthorized\n"),
        };
        let mut response = Response::new(body(text));
        *response.status_mut() = status;
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if self == Self::Unauthorized {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
        }
        response
    }
}

/// Credentials already verified, keyed by a SHA-256 of user, hash and password (never the
/// password itself), oldest forgotten first.
#[derive(Debug, Default)]
struct AuthCache {
    /// The keys, for lookup.
    keys: std::collections::HashSet<[u8; 32]>,
    /// The same keys, oldest first, for eviction.
    order: VecDeque<[u8; 32]>,
}

impl AuthCache {
    fn contains(&self, key: &[u8; 32]) -> bool {
        self.keys.contains(key)
    }

    fn insert(&mut self, key: [u8; 32]) {
        if !self.keys.insert(key) {
            return;
        }
        self.order.push_back(key);
        while self.order.len() > AUTH_CACHE_CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.keys.remove(&old);
            }
        }
    }
}

fn cache_key(user: &str, hash: &str, password: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in [user.as_bytes(), hash.as_bytes(), password] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// User and password of an `Authorization: Basic` header, as Go's `Request.BasicAuth` reads it.
fn basic_credentials(value: &HeaderValue) -> Option<(String, Vec<u8>)> {
    let value = value.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

/// The web config in force while the process runs, and the state its checks keep.
pub struct WebSecurity {
    /// `--web.config.file`.
    path: PathBuf,
    /// The last good version of the file.
    current: ArcSwap<WebConfig>,
    /// `--web.health-unauthenticated`: `/-/healthy` and `/-/ready` need no credentials.
    health_unauthenticated: bool,
    /// See [`AuthCache`].
    cache: Mutex<AuthCache>,
    /// See [`MAX_CONCURRENT_BCRYPT`].
    bcrypt_slots: Semaphore,
    /// bcrypt verifications done, for tests.
    bcrypt_runs: AtomicU64,
    /// Fingerprint of a version that failed to load, and its error, so that a broken file is
    /// reported once, not every [`RELOAD_CHECK_INTERVAL`].
    last_failure: Mutex<Option<(Option<[u8; 32]>, String)>>,
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
    /// Starts from `config`, loaded from `path` with [`WebConfig::load`].
    pub fn new(path: PathBuf, config: WebConfig, health_unauthenticated: bool) -> Self {
        Self {
            path,
            current: ArcSwap::from_pointee(config),
            health_unauthenticated,
            cache: Mutex::default(),
            bcrypt_slots: Semaphore::new(MAX_CONCURRENT_BCRYPT),
            bcrypt_runs: AtomicU64::new(0),
            last_failure: Mutex::new(None),
        }
    }

    /// The version in force.
    pub fn current(&self) -> Arc<WebConfig> {
        self.current.load_full()
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

    /// Re-reads the file and the files it names; a changed, valid version takes over for new
    /// connections and requests. Blocking (file reads, maybe a bcrypt): call it from a
    /// blocking thread. A broken version is logged once and leaves the old one in force.
    ///
    /// # Errors
    /// The broken version's error (already logged when new).
    pub fn reload(&self) -> Result<bool, WebConfigError> {
        let result = self.try_reload();
        let mut last = self
            .last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match &result {
            Ok(changed) => {
                *last = None;
                if *changed {
                    info!(file = %self.path.display(), "reloaded the web config");
                }
            }
            Err((fingerprint, e)) => {
                let message = e.to_string();
                let repeat = match (&*last, fingerprint) {
                    (Some((Some(old), _)), Some(new)) => old == new,
                    (Some((_, old)), _) => *old == message,
                    (None, _) => false,
                };
                if !repeat {
                    error!(error = %message, "cannot reload the web config; keeping the previous one");
                    *last = Some((*fingerprint, message));
                }
            }
        }
        result.map_err(|(_, e)| e)
    }

    #[allow(clippy::type_complexity)]
    fn try_reload(&self) -> Result<bool, (Option<[u8; 32]>, WebConfigError)> {
        let sources = read_sources(&self.path).map_err(|e| (None, e))?;
        let fingerprint = sources.fingerprint;
        if fingerprint == self.current.load().fingerprint {
            return Ok(false);
        }
        if let Some((Some(failed), message)) = &*self
            .last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
        {
            if *failed == fingerprint {
                return Err((
                    Some(fingerprint),
                    invalid(&self.path, "(unchanged)", message),
                ));
            }
        }
        let config = compile(&self.path, sources).map_err(|e| (Some(fingerprint), e))?;
        if config.tls.is_some() != self.current.load().tls.is_some() {
            return Err((
                Some(fingerprint),
                invalid(
                    &self.path,
                    "tls_server_config",
                    "turning TLS on or off takes a restart",
                ),
            ));
        }
        self.current.store(Arc::new(config));
        Ok(true)
    }

    /// Checks for a changed file every [`RELOAD_CHECK_INTERVAL`] until shutdown.
    pub async fn watch(self: Arc<Self>, mut shutdown: Shutdown) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(RELOAD_CHECK_INTERVAL) => {}
                () = shutdown.requested() => return,
            }
            let this = Arc::clone(&self);
            let _ = tokio::task::spawn_blocking(move || this.reload()).await;
        }
    }

    /// Adds the configured extra headers.
    pub fn add_headers(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.current.load().headers {
            headers.insert(name.clone(), value.clone());
        }
    }

    /// Checks the rate limit and the credentials; `None` lets the request through.
    pub async fn authorize<B>(&self, request: &Request<B>) -> Option<Refusal> {
        let config = self.current.load_full();
        if let Some(limit) = &config.rate_limit {
            if !limit.allow() {
                return Some(Refusal::TooManyRequests);
            }
        }
        if config.users.is_empty() {
            return None;
        }
        if self.health_unauthenticated && matches!(request.uri().path(), "/-/healthy" | "/-/ready")
        {
            return None;
        }
        let Some((user, password)) = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(basic_credentials)
        else {
            return Some(Refusal::Unauthorized);
        };
        let known = config.users.get(&user).cloned();
        if let Some(hash) = &known {
            if self
                .cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(&cache_key(&user, hash, &password))
            {
                return None;
            }
        }
        let verified = {
            let Ok(_slot) = self.bcrypt_slots.acquire().await else {
                return Some(Refusal::Unauthorized);
            };
            self.bcrypt_runs.fetch_add(1, Ordering::Relaxed);
            let config = Arc::clone(&config);
            let known = known.clone();
            tokio::task::spawn_blocking(move || {
                let hash = match &known {
                    Some(hash) => hash.as_str(),
                    // An unknown user: the same work as a wrong password, then a refusal.
                    None => config.dummy_hash.get_or_init(|| {
                        bcrypt::hash(DUMMY_PASSWORD, config.max_cost).unwrap_or_default()
                    }),
                };
                bcrypt::verify(&password, hash)
                    .unwrap_or(false)
                    .then(|| cache_key(&user, hash, &password))
            })
            .await
            .ok()
            .flatten()
        };
        match (known, verified) {
            (Some(_), Some(key)) => {
                self.cache
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(key);
                None
            }
            _ => Some(Refusal::Unauthorized),
        }
    }

    /// bcrypt verifications done so far (the cache's hits cost none), for tests.
    pub fn bcrypt_verifications(&self) -> u64 {
        self.bcrypt_runs.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "smartlead-web-config-{name}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn load_text(name: &str, text: &str) -> Result<WebConfig, WebConfigError> {
        let dir = temp_dir(name);
        WebConfig::load(&write(&dir, "web.yml", text))
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let e = load_text("unknown", "tls_server_config:\n  cert_fil: x\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cert_fil"), "{e}");
        assert!(e.contains("web.yml"), "{e}");
    }

    #[test]
    fn an_empty_file_means_plain_http_without_auth() {
        let config = load_text("empty", "").unwrap();
        assert!(!config.tls_enabled());
        assert!(!config.basic_auth_enabled());
    }

    #[test]
    fn headers_outside_the_toolkits_list_are_refused() {
        let e = load_text(
            "headers",
            "http_server_config:\n  headers:\n    Server: x\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("http_server_config.headers.Server"), "{e}");
        let e = load_text(
            "headers2",
            "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("X-Frame-Options"), "{e}");
        let config = load_text(
            "headers3",
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=3\n",
        )
        .unwrap();
        assert_eq!(config.headers.len(), 2);
    }

    #[test]
    fn an_invalid_bcrypt_hash_is_refused_naming_the_user() {
        let e = load_text("hash", "basic_auth_users:\n  alice: plaintext\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("basic_auth_users.alice"), "{e}");
        assert!(!e.contains("plaintext"), "the hash must not be echoed: {e}");
    }

    #[test]
    fn missing_cert_files_name_the_field_and_the_file() {
        let e = load_text(
            "missing",
            "tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("tls_server_config.cert_file"), "{e}");
        assert!(e.contains("nope.crt"), "{e}");
    }

    #[test]
    fn old_tls_versions_are_refused_clearly() {
        assert!(matches!(
            tls_version(Path::new("f"), "tls_server_config.min_version", Some("TLS11")),
            Err(WebConfigError::Invalid { ref message, .. }) if message.contains("TLS11 is not supported")
        ));
    }

    #[test]
    fn basic_credentials_parse_like_go() {
        let header = |s: &str| HeaderValue::from_str(s).unwrap();
        assert_eq!(
            basic_credentials(&header("Basic YWxpY2U6c2VjcmV0")),
            Some(("alice".into(), b"secret".to_vec()))
        );
        assert_eq!(
            basic_credentials(&header("basic YWxpY2U6")),
            Some(("alice".into(), Vec::new()))
        );
        assert_eq!(basic_credentials(&header("Basic !!!")), None);
        assert_eq!(basic_credentials(&header("Bearer YWxpY2U6c2VjcmV0")), None);
        // No colon.
        assert_eq!(basic_credentials(&header("Basic YWxpY2U=")), None);
    }

    #[test]
    fn sans_are_listed_as_the_toolkit_compares_them() {
        use rcgen::{CertificateParams, KeyPair, SanType};
        let mut params = CertificateParams::new(vec!["scraper.example".to_owned()]).unwrap();
        params.subject_alt_names.extend([
            SanType::Rfc822Name("ops@example.com".try_into().unwrap()),
            SanType::URI(
                "spiffe://cluster/ns/monitoring/sa/prometheus"
                    .try_into()
                    .unwrap(),
            ),
            SanType::IpAddress("10.0.0.7".parse().unwrap()),
            SanType::IpAddress("fd00::7".parse().unwrap()),
        ]);
        let cert = params.self_signed(&KeyPair::generate().unwrap()).unwrap();
        assert_eq!(
            certificate_sans(cert.der()).unwrap(),
            [
                "scraper.example",
                "ops@example.com",
                "spiffe://cluster/ns/monitoring/sa/prometheus",
                "10.0.0.7",
                "fd00::7"
            ]
        );
        assert_eq!(certificate_sans(b"not a certificate"), None);
    }

    #[test]
    fn the_cache_is_bounded() {
        let mut cache = AuthCache::default();
        for i in 0..(AUTH_CACHE_CAPACITY + 10) {
            cache.insert(cache_key("u", "h", i.to_string().as_bytes()));
        }
        assert_eq!(cache.keys.len(), AUTH_CACHE_CAPACITY);
        assert!(!cache.contains(&cache_key("u", "h", b"0")));
        assert!(cache.contains(&cache_key(
            "u",
            "h",
            (AUTH_CACHE_CAPACITY + 9).to_string().as_bytes()
        )));
    }

    #[test]
    fn rate_limit_allows_a_burst_then_refuses() {
        let limit = RateLimit {
            interval: Duration::from_secs(3600),
            burst: 2,
            state: Mutex::new((2.0, Instant::now())),
        };
        assert!(limit.allow());
        assert!(limit.allow());
        assert!(!limit.allow());
    }
}
