//! TLS for the web config: the Go names of cipher suites and curves mapped to rustls, the
//! rustls server configuration built from a checked `tls_server_config`, the client
//! certificate verifier (Go's `tls.ClientAuthType` and `client_allowed_sans`), and the
//! handshake of an accepted connection ([`accept`]), plain when no TLS is configured.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{ring, CryptoProvider, SupportedKxGroup};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SupportedCipherSuite,
    SupportedProtocolVersion,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::either::Either;

use super::schema::{ClientAuth, Pem, TlsSection, TlsVersion};
use super::{invalid, WebConfigError};
use std::path::Path;

/// A client must finish the TLS handshake within this long after connecting; a client that
/// connects and sends nothing cannot hold a connection slot longer.
pub(crate) const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A served connection: TLS over the socket, or the socket itself.
pub(crate) type Stream<IO> = Either<Box<TlsStream<IO>>, IO>;

/// Gives the PEM bytes of a source, and how to name it in an error: the field (`cert`, `key`,
/// `client_ca`) and the source.
pub(crate) type PemReader<'a> = &'a dyn Fn(&'static str, &Pem) -> (String, Vec<u8>);

/// What a Go name of a cipher suite or curve is to this exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GoName {
    /// rustls implements it.
    Usable,
    /// Go accepts it and rustls lacks it: skipped with a warning.
    Lacking,
    /// Not a name the exporter-toolkit accepts.
    Unknown,
}

/// Go's names (those `tls.CipherSuites()` lists, the only ones the toolkit accepts) that
/// rustls implements.
fn cipher_suite(name: &str) -> Option<SupportedCipherSuite> {
    use ring::cipher_suite as cs;
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

/// Go's names in `tls.CipherSuites()` that rustls lacks: CBC modes and RSA key exchange.
const GO_SUITES_WITHOUT_RUSTLS: &[&str] = &[
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
];

/// What `name`, a Go cipher suite name, is here.
pub(crate) fn go_suite(name: &str) -> GoName {
    if cipher_suite(name).is_some() {
        GoName::Usable
    } else if GO_SUITES_WITHOUT_RUSTLS.contains(&name) {
        GoName::Lacking
    } else {
        GoName::Unknown
    }
}

/// Whether `name` is a usable TLS 1.2 suite (Go does not let TLS 1.3 suites be chosen).
pub(crate) fn go_suite_is_tls12(name: &str) -> bool {
    cipher_suite(name).is_some_and(|s| s.version() == &rustls::version::TLS12)
}

/// The key exchange group of a Go curve name that rustls (ring) implements.
fn curve(name: &str) -> Option<&'static dyn SupportedKxGroup> {
    Some(match name {
        "CurveP256" => ring::kx_group::SECP256R1,
        "CurveP384" => ring::kx_group::SECP384R1,
        "X25519" => ring::kx_group::X25519,
        _ => return None,
    })
}

/// What `name`, a Go curve name the toolkit accepts, is here.
pub(crate) fn go_curve(name: &str) -> GoName {
    match name {
        _ if curve(name).is_some() => GoName::Usable,
        "CurveP521" => GoName::Lacking,
        _ => GoName::Unknown,
    }
}

/// Builds the rustls server configuration of `tls`; `pem` gives the bytes of each PEM source
/// and how to name it in an error.
pub(crate) fn build(
    path: &Path,
    tls: &TlsSection,
    http2: bool,
    pem: PemReader<'_>,
) -> Result<ServerConfig, WebConfigError> {
    let field = |name: &str| format!("tls_server_config.{name}");
    let (cert_from, cert_pem) = pem("cert", &tls.cert);
    let (key_from, key_pem) = pem("key", &tls.key);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(path, &cert_from, format_args!("not a PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(path, &cert_from, "no PEM certificate found"));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        invalid(
            path,
            &key_from,
            format_args!("no PEM private key found: {e}"),
        )
    })?;

    let mut provider = ring::default_provider();
    if !tls.cipher_suites.is_empty() {
        let tls12 = tls
            .cipher_suites
            .iter()
            .filter_map(|name| cipher_suite(name))
            .filter(|s| s.version() == &rustls::version::TLS12);
        // Go does not let TLS 1.3 suites be chosen: every one stays on.
        let tls13: Vec<SupportedCipherSuite> = provider
            .cipher_suites
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS13)
            .copied()
            .collect();
        provider.cipher_suites = tls12.chain(tls13).collect();
    }
    if !tls.curves.is_empty() {
        provider.kx_groups = tls.curves.iter().filter_map(|name| curve(name)).collect();
    }
    let provider = Arc::new(provider);
    let versions: Vec<&'static SupportedProtocolVersion> = tls
        .versions
        .iter()
        .rev()
        .map(|v| match v {
            TlsVersion::Tls13 => &rustls::version::TLS13,
            _ => &rustls::version::TLS12,
        })
        .collect();

    let verifier = client_verifier(path, tls, &provider, pem)?;
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
    config.ignore_client_order = tls.prefer_server_order;
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(config)
}

/// The verifier for `client_auth_type`: the client CAs when given, the compiled-in public
/// roots when a verifying policy names none (as Go falls back to the system roots).
fn client_verifier(
    path: &Path,
    tls: &TlsSection,
    provider: &Arc<CryptoProvider>,
    pem: PemReader<'_>,
) -> Result<Arc<dyn ClientCertVerifier>, WebConfigError> {
    if tls.client_auth == ClientAuth::NoClientCert {
        return Ok(WebPkiClientVerifier::no_client_auth());
    }
    let mut roots = RootCertStore::empty();
    let mut hints = Vec::new();
    let mut anchors = Vec::new();
    if let Some(ca) = &tls.client_ca {
        let (ca_from, ca_pem) = pem("client_ca", ca);
        for cert in CertificateDer::pem_slice_iter(&ca_pem) {
            let cert = cert
                .map_err(|e| invalid(path, &ca_from, format_args!("not a PEM certificate: {e}")))?;
            anchors.push(cert.clone());
            roots.add(cert).map_err(|e| {
                invalid(
                    path,
                    &ca_from,
                    format_args!("not a usable CA certificate: {e}"),
                )
            })?;
        }
        if roots.is_empty() {
            return Err(invalid(path, &ca_from, "no PEM certificate found"));
        }
        hints = roots.subjects();
    } else if tls.client_auth.verifies() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    let webpki = if tls.client_auth.verifies() {
        let builder =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider));
        let builder = if tls.client_auth.mandatory() {
            builder
        } else {
            builder.allow_unauthenticated()
        };
        Some(
            builder
                .build()
                .map_err(|e| invalid(path, "tls_server_config.client_ca_file", e))?,
        )
    } else {
        None
    };
    Ok(Arc::new(ClientVerifier {
        webpki,
        anchors,
        mandatory: tls.client_auth.mandatory(),
        hints,
        allowed_sans: tls.allowed_sans.clone(),
        provider: Arc::clone(provider),
    }))
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
    /// Checks the chain; `None` accepts any certificate (the client still proves it holds the
    /// certificate's key).
    webpki: Option<Arc<dyn ClientCertVerifier>>,
    /// The client CA certificates as given: a client certificate identical to one of them is
    /// trusted as it is, as Go trusts a leaf found in its root pool (a self-signed client
    /// certificate listed as its own CA), which `webpki` refuses as a CA used as an end entity.
    anchors: Vec<CertificateDer<'static>>,
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
            if let Err(e) = webpki.verify_client_cert(end_entity, intermediates, now) {
                let listed = self
                    .anchors
                    .iter()
                    .any(|a| a.as_ref() == end_entity.as_ref());
                if !(listed && valid_at(end_entity, now)) {
                    return Err(e);
                }
            }
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

/// Whether the certificate's validity period includes `now`.
fn valid_at(der: &[u8], now: UnixTime) -> bool {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return false;
    };
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let validity = cert.validity();
    validity.not_before.timestamp() <= now && now <= validity.not_after.timestamp()
}

/// A certificate's SANs as the exporter-toolkit compares them: DNS names, e-mail addresses,
/// IP addresses (Go's notation: IPv4 dotted even when stored as 16 bytes) and URIs.
/// `None` when the certificate cannot be parsed.
pub(crate) fn certificate_sans(der: &[u8]) -> Option<Vec<String>> {
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

/// Completes the TLS handshake within [`TLS_HANDSHAKE_TIMEOUT`] when `acceptor` is given,
/// and returns the stream and whether ALPN chose HTTP/2; otherwise returns the socket as it
/// is (HTTP/1).
///
/// # Errors
/// A failed handshake (the client refused the certificate, offered no common version, sent no
/// or a refused client certificate) or its timeout.
pub(crate) async fn accept<IO>(
    acceptor: Option<TlsAcceptor>,
    io: IO,
) -> io::Result<(Stream<IO>, bool)>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let Some(acceptor) = acceptor else {
        return Ok((Either::Right(io), false));
    };
    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(io)).await {
        Ok(Ok(stream)) => {
            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            Ok((Either::Left(Box::new(stream)), h2))
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "TLS handshake timed out",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn go_names_are_usable_lacking_or_unknown() {
        assert_eq!(
            go_suite("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
            GoName::Usable
        );
        assert_eq!(
            go_suite("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
            GoName::Lacking
        );
        assert_eq!(
            go_suite("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA2048"),
            GoName::Unknown
        );
        assert!(!go_suite_is_tls12("TLS_AES_128_GCM_SHA256"));
        assert_eq!(go_curve("X25519"), GoName::Usable);
        assert_eq!(go_curve("CurveP521"), GoName::Lacking);
        assert_eq!(go_curve("CurveP257"), GoName::Unknown);
    }
}
