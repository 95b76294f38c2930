//! The way out of a company network: proxies and TLS inspection.
//!
//! `--smartlead.ca-file`: an HTTPS SmartLead stand-in on loopback whose certificate comes
//! from a CA made here (as a TLS-inspecting proxy's would). Without the flag the exporter
//! refuses it, counts a `transport` failure and says in its log what to do; with the CA's
//! bundle named by the flag it polls. An unusable bundle stops start-up with status 2.
//! `HTTP_PROXY`/`HTTPS_PROXY` and `NO_PROXY` are honoured (a stand-in on loopback plays the
//! proxy).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use common::{failures, run, value, Exporter, Reply, StandIn, SEED_EXAMPLE, UP};

/// The key; it must appear in no log line.
const CANARY: &str = "canary-tls-5e02b7-do-not-leak";

/// A CA's PEM certificate, and a server configuration for 127.0.0.1 signed by that CA.
fn test_ca() -> (String, ServerConfig) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let chain: Vec<CertificateDer<'static>> = vec![server_cert.der().clone()];
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    (ca.pem(), config)
}

/// Serves the seed example over TLS on 127.0.0.1; returns the base URL and a count of the
/// requests answered (a refused handshake is not one).
async fn https_stand_in(config: ServerConfig) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let answered = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&answered);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let count = Arc::clone(&count);
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n",
                    SEED_EXAMPLE.len()
                );
                let _ = tls.write_all(head.as_bytes()).await;
                let _ = tls.write_all(SEED_EXAMPLE.as_bytes()).await;
                let _ = tls.shutdown().await;
                count.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    (format!("https://{addr}/api/v1"), answered)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_ca_is_refused_until_the_ca_file_names_it() {
    let (ca_pem, config) = test_ca();
    let (base_url, answered) = https_stand_in(config).await;
    let dir = std::env::temp_dir().join(format!("smartlead-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let base = format!("--smartlead.base-url={base_url}");
    let env = [("SMARTLEAD_API_KEY", CANARY)];

    let refused = Exporter::start(&[&base, "--log.level=trace"], &env);
    let text = refused
        .wait_for("a transport failure for the unknown CA", |t| {
            value(t, &failures("transport")) >= Some(1.0)
        })
        .await;
    assert_eq!(value(&text, UP), Some(0.0));
    assert_eq!(answered.load(Ordering::SeqCst), 0);
    let logs = refused.logs().join("\n");
    let failed = logs
        .lines()
        .find(|l| l.contains("message=\"poll failed\""))
        .unwrap_or_else(|| panic!("no failure logged: {logs}"));
    assert!(
        failed.contains("invalid peer certificate") && failed.contains("--smartlead.ca-file"),
        "{failed}"
    );
    assert!(!logs.contains(CANARY));
    drop(refused);

    let ca_flag = format!("--smartlead.ca-file={}", ca_file.display());
    let trusted = Exporter::start(&[&base, &ca_flag, "--log.level=trace"], &env);
    let text = trusted
        .wait_for("a poll over TLS", |t| value(t, UP) == Some(1.0))
        .await;
    assert_eq!(value(&text, &failures("transport")), Some(0.0));
    assert!(answered.load(Ordering::SeqCst) >= 1);
    assert!(!trusted.logs().join("\n").contains(CANARY));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unusable_ca_file_stops_start_up_with_status_2() {
    let dir = std::env::temp_dir().join(format!("smartlead-tls-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let not_pem = dir.join("key-not-ca.pem");
    std::fs::write(&not_pem, KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let missing = dir.join("missing.pem");
    for path in [&not_pem, &missing] {
        let flag = format!("--smartlead.ca-file={}", path.display());
        let (code, _, stderr) = run(&["--demo", &flag], &[]);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.starts_with("smartlead_exporter: error: invalid value for --smartlead.ca-file")
                && stderr.contains(&path.display().to_string()),
            "{stderr}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn proxies_from_the_environment_are_used_except_for_no_proxy() {
    // Through the proxy: the host name is never resolved, only the proxy can answer.
    let proxy = StandIn::start(vec![Reply::json(200, SEED_EXAMPLE)]).await;
    let proxy_url = format!("http://{}", proxy.addr);
    let exporter = Exporter::start(
        &["--smartlead.base-url=http://smartlead.invalid/api/v1"],
        &[("SMARTLEAD_API_KEY", CANARY), ("HTTP_PROXY", &proxy_url)],
    );
    exporter
        .wait_for("a poll through the proxy", |t| value(t, UP) == Some(1.0))
        .await;
    let head = proxy.seen()[0].head.clone();
    assert!(
        head.starts_with("GET http://smartlead.invalid/api/v1/leads/fetch-categories?"),
        "{head}"
    );
    assert!(!exporter.logs().join("\n").contains(CANARY));
    drop(exporter);

    // NO_PROXY names the host: straight to it, past a proxy that does not exist.
    let direct = StandIn::start(vec![Reply::json(200, SEED_EXAMPLE)]).await;
    let calls_before = proxy.calls();
    let exporter = Exporter::start(
        &[&format!("--smartlead.base-url={}", direct.base_url())],
        &[
            ("SMARTLEAD_API_KEY", CANARY),
            ("HTTP_PROXY", &proxy_url),
            ("NO_PROXY", "127.0.0.1"),
        ],
    );
    exporter
        .wait_for("a direct poll", |t| value(t, UP) == Some(1.0))
        .await;
    assert!(direct.calls() >= 1);
    assert_eq!(proxy.calls(), calls_before);
}
