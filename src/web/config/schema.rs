//! The web config file as written: the exporter-toolkit's schema (`web/tls_config.go`,
//! `docs/web-configuration.md` in prometheus/exporter-toolkit), parsed with unknown keys and
//! a user or header listed twice refused, and every field checked that can be checked without
//! reading a file. No I/O here: [`super::reload`] reads the files this names, and
//! [`super::tls`] builds TLS from what this accepts.
//!
//! Where the toolkit names something this exporter's TLS library cannot do (TLS 1.0 and 1.1,
//! CBC cipher suites, the P-521 curve), the rest is used and [`Checked::warnings`] names what
//! was skipped; the file is refused only when nothing usable remains.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::file::{FileConfig, GoDuration, TlsFile, UniqueMap};
use super::{invalid, WebConfigError};
use hyper::header::{HeaderName, HeaderValue};

/// The headers `http_server_config.headers` may set, with the values allowed (`None`: any).
/// The same list as the exporter-toolkit's: every other name is refused.
const ALLOWED_HEADERS: &[(&str, Option<&[&str]>)] = &[
    ("Strict-Transport-Security", None),
    ("X-Content-Type-Options", Some(&["nosniff"])),
    ("X-Frame-Options", Some(&["deny", "sameorigin"])),
    ("X-XSS-Protection", None),
    ("Content-Security-Policy", None),
];

/// With HTTP/2 on and TLS 1.2 allowed, a `cipher_suites` list must name one of these (RFC 9113,
/// section 9.2.2); Go's HTTP/2 server refuses to start otherwise, and so does this exporter.
const HTTP2_REQUIRED_SUITES: [&str; 2] = [
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
];

/// How the server asks for, and checks, client certificates: Go's `tls.ClientAuthType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    /// None asked for.
    NoClientCert,
    /// Asked for, not required, not verified.
    RequestClientCert,
    /// Required, not verified (the client still proves it holds the key).
    RequireAnyClientCert,
    /// Verified when given.
    VerifyClientCertIfGiven,
    /// Required and verified.
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    /// Whether a given certificate's chain is checked against the client CAs.
    pub(crate) fn verifies(self) -> bool {
        matches!(
            self,
            Self::VerifyClientCertIfGiven | Self::RequireAndVerifyClientCert
        )
    }

    /// Whether a client without a certificate is refused.
    pub(crate) fn mandatory(self) -> bool {
        matches!(
            self,
            Self::RequireAnyClientCert | Self::RequireAndVerifyClientCert
        )
    }
}

/// A TLS version the toolkit's schema names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TlsVersion {
    /// `TLS10`: not spoken here.
    Tls10,
    /// `TLS11`: not spoken here.
    Tls11,
    /// `TLS12`.
    Tls12,
    /// `TLS13`.
    Tls13,
}

impl TlsVersion {
    /// The name in the file.
    fn name(self) -> &'static str {
        match self {
            Self::Tls10 => "TLS10",
            Self::Tls11 => "TLS11",
            Self::Tls12 => "TLS12",
            Self::Tls13 => "TLS13",
        }
    }
}

/// A PEM given in the file or named by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pem {
    /// `cert`, `key` or `client_ca`.
    Inline(String),
    /// `cert_file`, `key_file` or `client_ca_file`, joined to the config file's directory.
    File(PathBuf),
}

/// `tls_server_config`, checked.
#[derive(Debug, Clone)]
pub(crate) struct TlsSection {
    /// The certificate chain.
    pub(crate) cert: Pem,
    /// Its key.
    pub(crate) key: Pem,
    /// The client CAs; `None` with a verifying policy means the compiled-in public roots.
    pub(crate) client_ca: Option<Pem>,
    /// `client_auth_type`.
    pub(crate) client_auth: ClientAuth,
    /// `client_allowed_sans`.
    pub(crate) allowed_sans: Option<Vec<String>>,
    /// `cipher_suites`, Go names that rustls implements.
    pub(crate) cipher_suites: Vec<String>,
    /// `curve_preferences`, Go names that rustls implements, in order.
    pub(crate) curves: Vec<String>,
    /// The versions offered, from [`TlsVersion::Tls12`] up.
    pub(crate) versions: Vec<TlsVersion>,
    /// `prefer_server_cipher_suites`.
    pub(crate) prefer_server_order: bool,
}

/// A whole file, checked: what [`super::WebConfig`] is compiled from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Checked {
    /// TLS, when any of its fields is set.
    pub(crate) tls: Option<TlsSection>,
    /// `http_server_config.http2`.
    pub(crate) http2: bool,
    /// `http_server_config.headers`, sorted by name.
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    /// `basic_auth_users`: name, bcrypt hash, cost; in file order.
    pub(crate) users: Vec<(String, String, u32)>,
    /// `rate_limit`: one request per interval, and the burst; `None` without a limit.
    pub(crate) rate_limit: Option<(Duration, u32)>,
    /// What the file asks for that this exporter cannot do and skipped, one line each.
    pub(crate) warnings: Vec<String>,
}

impl Checked {
    /// The files the config names, by field, to read and watch.
    pub(crate) fn files(&self) -> Vec<(&'static str, &Path)> {
        let Some(tls) = &self.tls else {
            return Vec::new();
        };
        [
            ("cert_file", Some(&tls.cert)),
            ("key_file", Some(&tls.key)),
            ("client_ca_file", tls.client_ca.as_ref()),
        ]
        .into_iter()
        .filter_map(|(field, pem)| match pem {
            Some(Pem::File(path)) => Some((field, path.as_path())),
            _ => None,
        })
        .collect()
    }
}

/// Parses and checks `text`, the content of the web config file at `path` (relative file
/// names are relative to its directory, as in the exporter-toolkit).
///
/// # Errors
/// Not YAML, unknown keys, a user or header given twice, and every value refused; each
/// names the file and the field.
pub(crate) fn check(path: &Path, text: &[u8]) -> Result<Checked, WebConfigError> {
    let file: FileConfig = if text.iter().all(u8::is_ascii_whitespace) {
        FileConfig::default()
    } else {
        serde_yaml_ng::from_slice(text).map_err(|e| WebConfigError::Syntax {
            path: path.to_owned(),
            message: e.to_string(),
        })?
    };
    let mut warnings = Vec::new();
    let http2 = file.http_server_config.http2.unwrap_or(true);
    let headers = check_headers(path, &file.http_server_config.headers)?;
    let users = check_users(path, file.basic_auth_users.unwrap_or_default())?;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let tls = match file.tls_server_config {
        Some(tls) if tls_configured(&tls) => Some(check_tls(path, dir, tls, http2, &mut warnings)?),
        _ => None,
    };
    let rate_limit = match file.rate_limit {
        None => None,
        Some(limit) => {
            let interval = match limit.interval {
                None => Duration::ZERO,
                Some(GoDuration::Nanos(nanos)) => Duration::from_nanos(nanos),
                Some(GoDuration::Text(text)) => match text.trim() {
                    "" | "0" => Duration::ZERO,
                    text => humantime::parse_duration(text).map_err(|e| {
                        invalid(path, "rate_limit.interval", format_args!("{text:?}: {e}"))
                    })?,
                },
            };
            (!interval.is_zero()).then_some((interval, limit.burst))
        }
    };
    Ok(Checked {
        tls,
        http2,
        headers,
        users,
        rate_limit,
        warnings,
    })
}

fn check_headers(
    path: &Path,
    headers: &UniqueMap,
) -> Result<Vec<(HeaderName, HeaderValue)>, WebConfigError> {
    let mut out = Vec::new();
    let mut sorted: Vec<&(String, String)> = headers.0.iter().collect();
    sorted.sort();
    for (name, value) in sorted {
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
                    format_args!("invalid value for {name}: {value:?} is not one of {allowed:?}"),
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

fn check_users(
    path: &Path,
    users: UniqueMap,
) -> Result<Vec<(String, String, u32)>, WebConfigError> {
    users
        .0
        .into_iter()
        .map(|(user, hash)| {
            // The parser's message would echo the hash: keep it out.
            let parts: bcrypt::HashParts = hash.parse().map_err(|_| {
                invalid(
                    path,
                    &format!("basic_auth_users.{user}"),
                    "not a valid bcrypt hash; make one with htpasswd -nBC 10 \"\" | tr -d ':\\n'",
                )
            })?;
            let cost = parts.get_cost();
            Ok((user, hash, cost))
        })
        .collect()
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

/// The PEM of a field given as a file (which wins, as in the toolkit) or inline.
fn pem(dir: &Path, file: &str, inline: String) -> Option<Pem> {
    if !file.is_empty() {
        Some(Pem::File(dir.join(file)))
    } else if !inline.is_empty() {
        Some(Pem::Inline(inline))
    } else {
        None
    }
}

fn tls_version(path: &Path, field: &str, value: &str) -> Result<TlsVersion, WebConfigError> {
    Ok(match value {
        "TLS10" => TlsVersion::Tls10,
        "TLS11" => TlsVersion::Tls11,
        "TLS12" => TlsVersion::Tls12,
        "TLS13" => TlsVersion::Tls13,
        other => {
            return Err(invalid(
                path,
                field,
                format_args!("unknown TLS version: {other} (use TLS12 or TLS13)"),
            ))
        }
    })
}

fn check_tls(
    path: &Path,
    dir: &Path,
    tls: TlsFile,
    http2: bool,
    warnings: &mut Vec<String>,
) -> Result<TlsSection, WebConfigError> {
    let field = |name: &str| format!("tls_server_config.{name}");
    let Some(cert) = pem(dir, &tls.cert_file, tls.cert) else {
        return Err(invalid(
            path,
            &field("cert_file"),
            "missing one of cert or cert_file",
        ));
    };
    let Some(key) = pem(dir, &tls.key_file, tls.key) else {
        return Err(invalid(
            path,
            &field("key_file"),
            "missing one of key or key_file",
        ));
    };
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
    let client_ca = pem(dir, &tls.client_ca_file, tls.client_ca);
    if client_ca.is_some() && client_auth == ClientAuth::NoClientCert {
        return Err(invalid(
            path,
            &field("client_auth_type"),
            "client CA's have been configured without a Client Auth Policy",
        ));
    }
    if tls.client_allowed_sans.is_some() && !client_auth.mandatory() {
        return Err(invalid(
            path,
            &field("client_allowed_sans"),
            "client_allowed_sans requires client_auth_type to be one of RequireAnyClientCert or RequireAndVerifyClientCert",
        ));
    }

    let min = match &tls.min_version {
        Some(v) => tls_version(path, &field("min_version"), v)?,
        None => TlsVersion::Tls12,
    };
    let max = match &tls.max_version {
        Some(v) => tls_version(path, &field("max_version"), v)?,
        None => TlsVersion::Tls13,
    };
    if max < TlsVersion::Tls12 {
        return Err(invalid(
            path,
            &field("max_version"),
            "TLS10 and TLS11 are not supported: the oldest TLS version this exporter speaks is TLS12",
        ));
    }
    if max < min {
        return Err(invalid(
            path,
            &field("max_version"),
            format_args!(
                "max_version {} is below min_version {}",
                max.name(),
                min.name()
            ),
        ));
    }
    if min < TlsVersion::Tls12 {
        warnings.push(format!(
            "tls_server_config.min_version: TLS10 and TLS11 are not supported; serving TLS12 to {}",
            max.name()
        ));
    }
    let versions: Vec<TlsVersion> = [TlsVersion::Tls12, TlsVersion::Tls13]
        .into_iter()
        .filter(|v| (min..=max).contains(v))
        .collect();

    let mut cipher_suites = Vec::new();
    let mut skipped = Vec::new();
    for name in &tls.cipher_suites {
        match super::tls::go_suite(name) {
            super::tls::GoName::Usable => cipher_suites.push(name.clone()),
            super::tls::GoName::Lacking => skipped.push(name.as_str()),
            super::tls::GoName::Unknown => {
                return Err(invalid(
                    path,
                    &field("cipher_suites"),
                    format_args!("unknown cipher: {name}"),
                ))
            }
        }
    }
    let tls12_listed = cipher_suites
        .iter()
        .any(|name| super::tls::go_suite_is_tls12(name));
    if !tls.cipher_suites.is_empty() && versions == [TlsVersion::Tls12] && !tls12_listed {
        return Err(invalid(
            path,
            &field("cipher_suites"),
            format_args!("no usable TLS12 cipher suite remains (this exporter's TLS library lacks {}; use ECDHE with AES-GCM or ChaCha20-Poly1305)", skipped.join(", ")),
        ));
    }
    if !skipped.is_empty() {
        warnings.push(format!(
            "tls_server_config.cipher_suites: skipping {} (not implemented by this exporter's TLS library, which offers only AEAD suites with ECDHE key exchange)",
            skipped.join(", ")
        ));
    }
    if http2
        && !tls.cipher_suites.is_empty()
        && min < TlsVersion::Tls13
        && !tls
            .cipher_suites
            .iter()
            .any(|name| HTTP2_REQUIRED_SUITES.contains(&name.as_str()))
    {
        return Err(invalid(
            path,
            &field("cipher_suites"),
            format_args!("HTTP/2 needs at least one of {} with TLS12 (add one, set min_version: TLS13, or set http_server_config.http2: false)", HTTP2_REQUIRED_SUITES.join(" or ")),
        ));
    }

    let mut curves = Vec::new();
    let mut skipped = Vec::new();
    for name in &tls.curve_preferences {
        match super::tls::go_curve(name) {
            super::tls::GoName::Usable => curves.push(name.clone()),
            super::tls::GoName::Lacking => skipped.push(name.as_str()),
            super::tls::GoName::Unknown => {
                return Err(invalid(
                    path,
                    &field("curve_preferences"),
                    format_args!("unknown curve: {name}"),
                ))
            }
        }
    }
    if !skipped.is_empty() {
        if curves.is_empty() {
            return Err(invalid(
                path,
                &field("curve_preferences"),
                format_args!("{} is not implemented by this exporter's TLS library and no other curve is listed (use X25519, CurveP256 or CurveP384)", skipped.join(", ")),
            ));
        }
        warnings.push(format!(
            "tls_server_config.curve_preferences: skipping {} (not implemented by this exporter's TLS library)",
            skipped.join(", ")
        ));
    }

    Ok(TlsSection {
        cert,
        key,
        client_ca,
        client_auth,
        allowed_sans: tls.client_allowed_sans,
        cipher_suites,
        curves,
        versions,
        prefer_server_order: tls.prefer_server_cipher_suites.unwrap_or(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(text: &str) -> Result<Checked, WebConfigError> {
        check(Path::new("/etc/web.yml"), text.as_bytes())
    }

    const TLS: &str = "tls_server_config:\n  cert_file: s.crt\n  key_file: s.key\n";

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let e = checked("tls_server_config:\n  cert_fil: x\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cert_fil") && e.contains("/etc/web.yml"), "{e}");
    }

    #[test]
    fn an_empty_file_means_plain_http_without_auth() {
        let c = checked("").unwrap();
        assert!(c.tls.is_none() && c.users.is_empty() && c.rate_limit.is_none());
        assert!(c.http2);
    }

    #[test]
    fn a_user_listed_twice_is_refused() {
        let hash = "$2y$04$Xb8nRn0Rk4nYW4VQ0UZxSOMo4/8gOgYQ9kmxfyWB7mZjFlzDgE9lG";
        let e = checked(&format!(
            "basic_auth_users:\n  alice: {hash}\n  bob: {hash}\n  alice: {hash}\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("\"alice\" is listed twice"), "{e}");
        let e = checked("http_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Frame-Options: deny\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("listed twice"), "{e}");
    }

    #[test]
    fn headers_outside_the_toolkits_list_are_refused() {
        let e = checked("http_server_config:\n  headers:\n    Server: x\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("http_server_config.headers.Server"), "{e}");
        let e = checked("http_server_config:\n  headers:\n    X-Frame-Options: allow\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid value for X-Frame-Options"), "{e}");
        let c = checked("http_server_config:\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=3\n").unwrap();
        assert_eq!(c.headers.len(), 2);
    }

    #[test]
    fn an_invalid_bcrypt_hash_is_refused_naming_the_user_not_the_hash() {
        let e = checked("basic_auth_users:\n  alice: plaintext\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("basic_auth_users.alice"), "{e}");
        assert!(!e.contains("plaintext"), "{e}");
    }

    #[test]
    fn file_names_are_relative_to_the_config_and_win_over_inline() {
        let c = checked(
            "tls_server_config:\n  cert_file: s.crt\n  cert: inline\n  key_file: /abs/s.key\n",
        )
        .unwrap();
        let tls = c.tls.as_ref().unwrap();
        assert_eq!(tls.cert, Pem::File("/etc/s.crt".into()));
        assert_eq!(
            c.files(),
            [
                ("cert_file", Path::new("/etc/s.crt")),
                ("key_file", Path::new("/abs/s.key"))
            ]
        );
    }

    #[test]
    fn old_tls_versions_are_skipped_or_refused_when_nothing_remains() {
        let c = checked(&format!("{TLS}  min_version: TLS10\n")).unwrap();
        assert_eq!(
            c.tls.unwrap().versions,
            [TlsVersion::Tls12, TlsVersion::Tls13]
        );
        assert!(
            c.warnings[0].contains("TLS10 and TLS11"),
            "{:?}",
            c.warnings
        );
        let e = checked(&format!("{TLS}  max_version: TLS11\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_version"), "{e}");
        let e = checked(&format!("{TLS}  min_version: TLS111\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown TLS version: TLS111"), "{e}");
    }

    #[test]
    fn lacking_suites_and_curves_are_skipped_with_one_warning_each() {
        let c = checked(&format!("{TLS}  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA]\n  curve_preferences: [CurveP521, X25519]\n")).unwrap();
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert!(c.warnings[0]
            .contains("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"));
        assert!(c.warnings[1].contains("CurveP521"));
        let tls = c.tls.unwrap();
        assert_eq!(tls.cipher_suites, ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]);
        assert_eq!(tls.curves, ["X25519"]);
        let e = checked(&format!("{TLS}  curve_preferences: [CurveP521]\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("CurveP521"), "{e}");
        let only_aes256 =
            format!("{TLS}  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]\n");
        let e = checked(&only_aes256).unwrap_err().to_string();
        assert!(e.contains("HTTP/2 needs"), "{e}");
        checked(&format!(
            "{only_aes256}http_server_config:\n  http2: false\n"
        ))
        .unwrap();
        checked(&format!("{only_aes256}  min_version: TLS13\n")).unwrap();
    }

    #[test]
    fn rate_limit_intervals_read_as_go_reads_them() {
        let c = checked("rate_limit:\n  interval: 0\n  burst: 0\n").unwrap();
        assert_eq!(c.rate_limit, None);
        let c = checked("rate_limit:\n  interval: \"1s\"\n  burst: 0\n").unwrap();
        assert_eq!(c.rate_limit, Some((Duration::from_secs(1), 0)));
        let c = checked("rate_limit:\n  interval: 1000000\n  burst: 2\n").unwrap();
        assert_eq!(c.rate_limit, Some((Duration::from_millis(1), 2)));
    }
}
