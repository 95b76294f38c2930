//! The web config file's YAML as written: the exporter-toolkit's key names, unknown keys
//! refused, and a name given twice in `basic_auth_users` or `headers` refused, as Go's
//! `yaml.UnmarshalStrict` does. [`super::schema`] checks the values.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// The file as written: the exporter-toolkit's schema, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    /// TLS; absent: plain HTTP.
    #[serde(default)]
    pub(super) tls_server_config: Option<TlsFile>,
    /// HTTP/2 and extra headers.
    #[serde(default)]
    pub(super) http_server_config: HttpFile,
    /// User name → bcrypt hash; empty: no basic auth.
    #[serde(default)]
    pub(super) basic_auth_users: Option<UniqueMap>,
    /// Token bucket in front of every request.
    #[serde(default)]
    pub(super) rate_limit: Option<RateLimitFile>,
}

/// `tls_server_config`, with the exporter-toolkit's field names.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TlsFile {
    /// Inline certificate chain (PEM).
    #[serde(default)]
    pub(super) cert: String,
    /// Inline private key (PEM).
    #[serde(default)]
    pub(super) key: String,
    /// Inline client CA bundle (PEM).
    #[serde(default)]
    pub(super) client_ca: String,
    /// Certificate chain file, relative to the web config file's directory.
    #[serde(default)]
    pub(super) cert_file: String,
    /// Private key file.
    #[serde(default)]
    pub(super) key_file: String,
    /// Client CA bundle file.
    #[serde(default)]
    pub(super) client_ca_file: String,
    /// Go's `tls.ClientAuthType` names.
    #[serde(default)]
    pub(super) client_auth_type: String,
    /// TLS 1.2 suites by Go name.
    #[serde(default)]
    pub(super) cipher_suites: Vec<String>,
    /// Key exchange groups by Go name, in preference order.
    #[serde(default)]
    pub(super) curve_preferences: Vec<String>,
    /// `TLS10` to `TLS13`.
    #[serde(default)]
    pub(super) min_version: Option<String>,
    /// `TLS10` to `TLS13`.
    #[serde(default)]
    pub(super) max_version: Option<String>,
    /// Server's suite order first (default true, as in the toolkit).
    #[serde(default)]
    pub(super) prefer_server_cipher_suites: Option<bool>,
    /// A client certificate must carry one of these SANs.
    #[serde(default)]
    pub(super) client_allowed_sans: Option<Vec<String>>,
}

/// `http_server_config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HttpFile {
    /// Offer `h2` in ALPN (default true).
    #[serde(default)]
    pub(super) http2: Option<bool>,
    /// Extra response headers, among `schema`'s `ALLOWED_HEADERS`.
    #[serde(default)]
    pub(super) headers: UniqueMap,
}

/// `rate_limit`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RateLimitFile {
    /// Go duration between two requests; `0` disables the limit.
    #[serde(default)]
    pub(super) interval: Option<GoDuration>,
    /// Requests allowed at once.
    #[serde(default)]
    pub(super) burst: u32,
}

/// A Go `time.Duration` as YAML gives it: text (`1s`), or a number of nanoseconds.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum GoDuration {
    /// Nanoseconds.
    Nanos(u64),
    /// `1s`, `500ms`, `1m30s`.
    Text(String),
}

/// A YAML mapping of text to text in which a key given twice is an error, as in Go's
/// `yaml.UnmarshalStrict`; in file order.
#[derive(Debug, Default)]
pub(super) struct UniqueMap(pub(super) Vec<(String, String)>);

impl<'de> Deserialize<'de> for UniqueMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = UniqueMap;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of names to text")
            }

            fn visit_unit<E: de::Error>(self) -> Result<UniqueMap, E> {
                Ok(UniqueMap::default())
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueMap, A::Error> {
                let mut entries: Vec<(String, String)> = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, String>()? {
                    if entries.iter().any(|(k, _)| *k == key) {
                        return Err(de::Error::custom(format_args!("{key:?} is listed twice")));
                    }
                    entries.push((key, value));
                }
                Ok(UniqueMap(entries))
            }
        }
        deserializer.deserialize_any(Entries)
    }
}
