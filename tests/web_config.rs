//! `--web.config.file`: real TLS handshakes over loopback against the real binary (and, for
//! the bcrypt cache, the real server in-process), with certificates made here by `rcgen`.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use reqwest::tls::Version;
use reqwest::StatusCode;

use common::{run, Exporter, WAIT};
use smartlead_exporter::{
    serve, shutdown_channel, BuildInfo, Encoder, Landing, Page, Store, WebConfig, WebSecurity,
    WATCH_POLL_INTERVAL as RELOAD_CHECK_INTERVAL,
};

/// A certificate authority made for one test.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf certificate and its key (PEM) for `sans`, for a server or a client.
    fn issue(&self, sans: &[&str], client: bool) -> (String, String) {
        let mut params =
            CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, sans[0]);
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// A fresh directory for one test's files.
fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "smartlead-webcfg-{name}-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    // Write then rename, as Kubernetes swaps a Secret's files: a reader never sees half a file.
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

/// Writes a server certificate from `ca` (for localhost and 127.0.0.1) as server.crt and
/// server.key, and `ca.crt`.
fn server_files(dir: &Path, ca: &Ca) {
    let (cert, key) = ca.issue(&["localhost", "127.0.0.1"], false);
    write(dir, "server.crt", &cert);
    write(dir, "server.key", &key);
    write(dir, "ca.crt", &ca.pem());
}

/// Starts the exporter in demo mode with `web.yml` from `dir`.
fn start(dir: &Path, extra: &[&str]) -> Exporter {
    let flag = format!("--web.config.file={}", dir.join("web.yml").display());
    let mut args = vec!["--demo", flag.as_str()];
    args.extend_from_slice(extra);
    Exporter::start(&args, &[])
}

/// A client trusting `ca` only, resolving `localhost` to the exporter.
fn client(exporter: &Exporter, ca: &Ca) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .use_rustls_tls()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .resolve("localhost", exporter.addr)
        .timeout(Duration::from_secs(5))
}

fn url(exporter: &Exporter, path: &str) -> String {
    format!("https://localhost:{}{path}", exporter.addr.port())
}

async fn get(client: &reqwest::Client, url: &str) -> Result<reqwest::Response, reqwest::Error> {
    client.get(url).send().await
}

const SERVER_TLS: &str = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";

#[tokio::test]
async fn tls_serves_http1_and_h2_by_alpn() {
    let dir = dir("alpn");
    let ca = Ca::new("alpn CA");
    server_files(&dir, &ca);
    write(&dir, "web.yml", SERVER_TLS);
    let exporter = start(&dir, &[]);

    let h2 = client(&exporter, &ca).build().unwrap();
    let response = get(&h2, &url(&exporter, "/metrics")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert!(response.text().await.unwrap().contains("smartlead_up"));

    let http1 = client(&exporter, &ca).http1_only().build().unwrap();
    let response = get(&http1, &url(&exporter, "/metrics")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), reqwest::Version::HTTP_11);

    // Plain HTTP on the TLS port fails.
    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    assert!(plain
        .get(format!("http://{}/metrics", exporter.addr))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_or(true, |r| r.status() != StatusCode::OK));
}

#[tokio::test]
async fn http2_false_offers_only_http1() {
    let dir = dir("noh2");
    let ca = Ca::new("noh2 CA");
    server_files(&dir, &ca);
    write(
        &dir,
        "web.yml",
        &format!("{SERVER_TLS}http_server_config:\n  http2: false\n"),
    );
    let exporter = start(&dir, &[]);
    let h2 = client(&exporter, &ca).build().unwrap();
    let response = get(&h2, &url(&exporter, "/metrics")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
}

#[tokio::test]
async fn inline_certificate_and_key_work() {
    let dir = dir("inline");
    let ca = Ca::new("inline CA");
    let (cert, key) = ca.issue(&["localhost"], false);
    let indent = |pem: &str| {
        pem.lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    };
    write(
        &dir,
        "web.yml",
        &format!(
            "tls_server_config:\n  cert: |\n{}  key: |\n{}",
            indent(&cert),
            indent(&key)
        ),
    );
    let exporter = start(&dir, &[]);
    let response = get(
        &client(&exporter, &ca).build().unwrap(),
        &url(&exporter, "/-/healthy"),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate_from_the_client_ca() {
    let dir = dir("mtls");
    let ca = Ca::new("mtls CA");
    server_files(&dir, &ca);
    write(
        &dir,
        "web.yml",
        &format!("{SERVER_TLS}  client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n"),
    );
    let exporter = start(&dir, &[]);
    let (cert, key) = ca.issue(&["prometheus.example"], true);
    let identity = reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap();
    let with_cert = client(&exporter, &ca).identity(identity).build().unwrap();
    let response = get(&with_cert, &url(&exporter, "/metrics")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let without = client(&exporter, &ca).build().unwrap();
    assert!(
        get(&without, &url(&exporter, "/metrics")).await.is_err(),
        "a client without a certificate must be refused"
    );

    let other = Ca::new("other CA");
    let (cert, key) = other.issue(&["prometheus.example"], true);
    let identity = reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap();
    let foreign = client(&exporter, &ca).identity(identity).build().unwrap();
    assert!(
        get(&foreign, &url(&exporter, "/metrics")).await.is_err(),
        "a client certificate from another CA must be refused"
    );
}

#[tokio::test]
async fn require_any_client_cert_accepts_an_unverified_certificate_but_not_none() {
    let dir = dir("anycert");
    let ca = Ca::new("anycert CA");
    server_files(&dir, &ca);
    write(
        &dir,
        "web.yml",
        &format!("{SERVER_TLS}  client_auth_type: RequireAnyClientCert\n"),
    );
    let exporter = start(&dir, &[]);
    let other = Ca::new("unrelated CA");
    let (cert, key) = other.issue(&["anyone.example"], true);
    let identity = reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap();
    let with_cert = client(&exporter, &ca).identity(identity).build().unwrap();
    assert_eq!(
        get(&with_cert, &url(&exporter, "/metrics"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let without = client(&exporter, &ca).build().unwrap();
    assert!(get(&without, &url(&exporter, "/metrics")).await.is_err());
}

#[tokio::test]
async fn verify_client_cert_if_given_checks_only_a_given_certificate() {
    let dir = dir("ifgiven");
    let ca = Ca::new("ifgiven CA");
    server_files(&dir, &ca);
    write(
        &dir,
        "web.yml",
        &format!(
            "{SERVER_TLS}  client_ca_file: ca.crt\n  client_auth_type: VerifyClientCertIfGiven\n"
        ),
    );
    let exporter = start(&dir, &[]);
    let without = client(&exporter, &ca).build().unwrap();
    assert_eq!(
        get(&without, &url(&exporter, "/metrics"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let (cert, key) = ca.issue(&["prometheus.example"], true);
    let identity = reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap();
    let good = client(&exporter, &ca).identity(identity).build().unwrap();
    assert_eq!(
        get(&good, &url(&exporter, "/metrics"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let other = Ca::new("stranger CA");
    let (cert, key) = other.issue(&["prometheus.example"], true);
    let identity = reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap();
    let foreign = client(&exporter, &ca).identity(identity).build().unwrap();
    assert!(get(&foreign, &url(&exporter, "/metrics")).await.is_err());
}

#[tokio::test]
async fn client_allowed_sans_allow_and_refuse() {
    let dir = dir("sans");
    let ca = Ca::new("sans CA");
    server_files(&dir, &ca);
    write(
        &dir,
        "web.yml",
        &format!(
            "{SERVER_TLS}  client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n  client_allowed_sans:\n    - prometheus.monitoring.svc\n    - 10.0.0.7\n"
        ),
    );
    let exporter = start(&dir, &[]);
    for (sans, allowed) in [
        (&["prometheus.monitoring.svc"][..], true),
        (&["scraper.example", "10.0.0.7"][..], true),
        (&["intruder.example"][..], false),
    ] {
        let (cert, key) = ca.issue(sans, true);
        let identity = reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap();
        let c = client(&exporter, &ca).identity(identity).build().unwrap();
        let result = get(&c, &url(&exporter, "/metrics")).await;
        assert_eq!(
            result.as_ref().is_ok_and(|r| r.status() == StatusCode::OK),
            allowed,
            "SANs {sans:?}: {result:?}"
        );
    }
}

#[tokio::test]
async fn tls_versions_are_enforced_both_ways() {
    let ca = Ca::new("versions CA");
    let min13 = dir("min13");
    server_files(&min13, &ca);
    write(
        &min13,
        "web.yml",
        &format!("{SERVER_TLS}  min_version: TLS13\n"),
    );
    let exporter = start(&min13, &[]);
    let tls12_only = client(&exporter, &ca)
        .max_tls_version(Version::TLS_1_2)
        .build()
        .unwrap();
    assert!(get(&tls12_only, &url(&exporter, "/metrics")).await.is_err());
    let tls13 = client(&exporter, &ca).build().unwrap();
    assert_eq!(
        get(&tls13, &url(&exporter, "/metrics"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    drop(exporter);

    let max12 = dir("max12");
    server_files(&max12, &ca);
    write(
        &max12,
        "web.yml",
        &format!("{SERVER_TLS}  max_version: TLS12\n"),
    );
    let exporter = start(&max12, &[]);
    let tls13_only = client(&exporter, &ca)
        .min_tls_version(Version::TLS_1_3)
        .build()
        .unwrap();
    assert!(get(&tls13_only, &url(&exporter, "/metrics")).await.is_err());
    let tls12 = client(&exporter, &ca)
        .max_tls_version(Version::TLS_1_2)
        .build()
        .unwrap();
    assert_eq!(
        get(&tls12, &url(&exporter, "/metrics"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

/// The exporter-toolkit's own example hash (htpasswd's `$2y$` form) of "fakepassword".
const TOOLKIT_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

#[tokio::test]
async fn basic_auth_over_tls() {
    let dir = dir("basic");
    let ca = Ca::new("basic CA");
    server_files(&dir, &ca);
    let alice = bcrypt::hash("s3cret", 4).unwrap();
    write(
        &dir,
        "web.yml",
        &format!(
            "{SERVER_TLS}http_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\nbasic_auth_users:\n  alice: {alice}\n  bob: '{TOOLKIT_HASH}'\n"
        ),
    );
    let exporter = start(&dir, &[]);
    let c = client(&exporter, &ca).build().unwrap();
    let metrics = url(&exporter, "/metrics");
    let send = |user: Option<(&str, &str)>| {
        let mut request = c.get(&metrics);
        if let Some((user, password)) = user {
            request = request.basic_auth(user, Some(password));
        }
        request.send()
    };

    let right = send(Some(("alice", "s3cret"))).await.unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    assert_eq!(right.headers()["x-frame-options"], "deny");
    assert_eq!(right.headers()["x-content-type-options"], "nosniff");
    assert!(right.text().await.unwrap().contains("smartlead_up"));
    // htpasswd's $2y$ hashes, as the toolkit documents, work.
    assert_eq!(
        send(Some(("bob", "fakepassword"))).await.unwrap().status(),
        StatusCode::OK
    );

    for (what, credentials) in [
        ("wrong password", Some(("alice", "wrong"))),
        ("unknown user", Some(("mallory", "s3cret"))),
        ("empty password", Some(("alice", ""))),
        ("no credentials", None),
    ] {
        let response = send(credentials).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(response.headers()["www-authenticate"], "Basic", "{what}");
        assert_eq!(response.headers()["x-frame-options"], "deny", "{what}");
    }
    for malformed in [
        "Basic !!!notbase64",
        "Basic YWxpY2U=",
        "Bearer abc",
        "Basic",
    ] {
        let response = c
            .get(&metrics)
            .header("Authorization", malformed)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{malformed}");
    }
    // Without --web.health-unauthenticated, the probes and the landing page need credentials.
    for path in ["/", "/-/healthy", "/-/ready"] {
        let response = get(&c, &url(&exporter, path)).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test]
async fn health_unauthenticated_opens_only_the_probes() {
    let dir = dir("health");
    let ca = Ca::new("health CA");
    server_files(&dir, &ca);
    let hash = bcrypt::hash("pw", 4).unwrap();
    write(
        &dir,
        "web.yml",
        &format!("{SERVER_TLS}basic_auth_users:\n  prom: {hash}\n"),
    );
    let exporter = start(&dir, &["--web.health-unauthenticated"]);
    let c = client(&exporter, &ca).build().unwrap();
    let healthy = get(&c, &url(&exporter, "/-/healthy")).await.unwrap();
    assert_eq!(healthy.status(), StatusCode::OK);
    let ready = get(&c, &url(&exporter, "/-/ready")).await.unwrap();
    assert_ne!(ready.status(), StatusCode::UNAUTHORIZED);
    for path in ["/", "/metrics"] {
        let response = get(&c, &url(&exporter, path)).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
}

/// 100 scrapes with the right credentials through the real server cost one bcrypt; wrong
/// passwords and unknown users each cost one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_credentials_are_cached() {
    let dir = dir("cache");
    let hash = bcrypt::hash("right", 4).unwrap();
    let path = write(
        &dir,
        "web.yml",
        &format!("basic_auth_users:\n  prom: {hash}\n"),
    );
    let web = Arc::new(WebSecurity::new(
        path.clone(),
        WebConfig::load(&path).unwrap(),
        false,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let store = Arc::new(Store::new());
    let exposition = Encoder::new(Arc::clone(&store), BuildInfo::current()).unwrap();
    let page = Page {
        telemetry_path: "/metrics".into(),
        demo: false,
    };
    let (trigger, shutdown) = shutdown_channel();
    let server = tokio::spawn(serve(
        listener,
        Arc::new(exposition),
        Arc::new(Landing::new(store, page)),
        "/metrics".into(),
        Some(Arc::clone(&web)),
        shutdown,
    ));
    let c = reqwest::Client::builder().no_proxy().build().unwrap();
    let metrics_url = format!("http://{addr}/metrics");
    for _ in 0..100 {
        let response = c
            .get(&metrics_url)
            .basic_auth("prom", Some("right"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(web.bcrypt_verifications(), 1);
    for (user, password) in [("prom", "wrong"), ("prom", "wrong"), ("nobody", "right")] {
        let response = c
            .get(&metrics_url)
            .basic_auth(user, Some(password))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        web.bcrypt_verifications(),
        4,
        "refusals are not cached, and an unknown user costs a bcrypt too"
    );
    trigger.fire();
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
}

/// The CA that the exporter's certificate chains to, as seen by a new connection.
async fn serving_ca(exporter: &Exporter, old: &Ca, new: &Ca) -> Option<&'static str> {
    let fresh = |ca: &Ca| {
        client(exporter, ca)
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    };
    if get(&fresh(old), &url(exporter, "/-/healthy")).await.is_ok() {
        return Some("old");
    }
    if get(&fresh(new), &url(exporter, "/-/healthy")).await.is_ok() {
        return Some("new");
    }
    None
}

#[tokio::test]
async fn a_rotated_certificate_reaches_new_connections_while_scrapes_go_on() {
    let dir = dir("rotate");
    let old = Ca::new("old CA");
    let new = Ca::new("new CA");
    server_files(&dir, &old);
    write(&dir, "web.yml", SERVER_TLS);
    let exporter = start(&dir, &[]);
    // A scraper holding its keep-alive connection, as Prometheus does.
    let keep_alive = client(&exporter, &old).http1_only().build().unwrap();
    let metrics = url(&exporter, "/metrics");
    assert_eq!(
        get(&keep_alive, &metrics).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(serving_ca(&exporter, &old, &new).await, Some("old"));

    let (cert, key) = new.issue(&["localhost", "127.0.0.1"], false);
    write(&dir, "server.key", &key);
    write(&dir, "server.crt", &cert);
    let deadline = Instant::now() + RELOAD_CHECK_INTERVAL * 2 + Duration::from_secs(5);
    loop {
        assert_eq!(
            get(&keep_alive, &metrics).await.unwrap().status(),
            StatusCode::OK,
            "the scraper's connection keeps working during the rotation"
        );
        if serving_ca(&exporter, &old, &new).await == Some("new") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "new connections did not get the new certificate: {:?}",
            exporter.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(exporter
        .logs()
        .iter()
        .any(|l| l.contains("reloaded the web config")));
}

#[tokio::test]
async fn a_broken_reload_keeps_the_old_certificate_and_logs_once() {
    let dir = dir("broken");
    let old = Ca::new("kept CA");
    let new = Ca::new("never CA");
    server_files(&dir, &old);
    write(&dir, "web.yml", SERVER_TLS);
    let mut exporter = start(&dir, &[]);
    // A new certificate whose key does not match it: the half-rotated state.
    let (cert, _) = new.issue(&["localhost", "127.0.0.1"], false);
    write(&dir, "server.crt", &cert);
    let errors = |exporter: &Exporter| {
        exporter
            .logs()
            .iter()
            .filter(|l| l.contains("cannot reload the web config"))
            .count()
    };
    let deadline = Instant::now() + WAIT;
    while errors(&exporter) == 0 {
        assert!(Instant::now() < deadline, "no reload error logged");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let line = exporter
        .logs()
        .into_iter()
        .find(|l| l.contains("cannot reload the web config"))
        .unwrap();
    assert!(line.contains("key_file"), "{line}");
    // Several more checks, and a SIGHUP, find the same broken file: still one error.
    tokio::time::sleep(RELOAD_CHECK_INTERVAL * 2).await;
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &exporter.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(exporter.alive(), "SIGHUP must not stop the exporter");
    assert_eq!(errors(&exporter), 1);
    assert_eq!(serving_ca(&exporter, &old, &new).await, Some("old"));

    // Fixed: the new pair takes over.
    let (cert, key) = new.issue(&["localhost", "127.0.0.1"], false);
    write(&dir, "server.key", &key);
    write(&dir, "server.crt", &cert);
    let deadline = Instant::now() + WAIT;
    while serving_ca(&exporter, &old, &new).await != Some("new") {
        assert!(Instant::now() < deadline, "the fixed pair was not loaded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs the binary with `web.yml` and expects exit 2 with a message naming the file and `field`.
fn refused(dir: &Path, yaml: &str, field: &str) {
    let path = write(dir, "web.yml", yaml);
    let flag = format!("--web.config.file={}", path.display());
    let (code, _, stderr) = run(&["--demo", &flag], &[]);
    assert_eq!(code, 2, "{yaml}\n{stderr}");
    assert!(
        stderr.starts_with("smartlead_exporter: error: "),
        "{stderr}"
    );
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
    assert!(stderr.contains(field), "expected {field:?} in {stderr}");
}

#[test]
fn bad_files_exit_2_naming_the_file_and_the_field() {
    let dir = dir("bad");
    let ca = Ca::new("bad CA");
    server_files(&dir, &ca);
    let (other_cert, _) = ca.issue(&["localhost"], false);
    write(&dir, "other.crt", &other_cert);
    refused(
        &dir,
        "tls_server_config:\n  cert_fil: server.crt\n",
        "cert_fil",
    );
    refused(&dir, "basic_auth_user:\n  a: b\n", "basic_auth_user");
    refused(
        &dir,
        "tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n",
        "tls_server_config.cert_file",
    );
    refused(
        &dir,
        "tls_server_config:\n  cert_file: other.crt\n  key_file: server.key\n",
        "tls_server_config.key_file",
    );
    refused(
        &dir,
        &format!("{SERVER_TLS}  max_version: TLS11\n"),
        "TLS10 and TLS11 are not supported",
    );
    refused(
        &dir,
        &format!(
            "{SERVER_TLS}  max_version: TLS12\n  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n"
        ),
        "TLS_RSA_WITH_AES_128_CBC_SHA",
    );
    refused(
        &dir,
        &format!("{SERVER_TLS}  curve_preferences: [CurveP521]\n"),
        "CurveP521",
    );
    refused(
        &dir,
        &format!("{SERVER_TLS}  client_allowed_sans: [a]\n"),
        "client_allowed_sans",
    );
    refused(
        &dir,
        "basic_auth_users:\n  alice: not-a-hash\n",
        "basic_auth_users.alice",
    );
    refused(
        &dir,
        "http_server_config:\n  headers:\n    Server: me\n",
        "http_server_config.headers.Server",
    );
    let hash = bcrypt::hash("pw", 4).unwrap();
    refused(
        &dir,
        &format!("basic_auth_users:\n  alice: {hash}\n  bob: {hash}\n  alice: {hash}\n"),
        "\"alice\" is listed twice",
    );
    let (code, _, stderr) = run(&["--demo", "--web.config.file=/nonexistent/web.yml"], &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("/nonexistent/web.yml"), "{stderr}");
    // --config.check validates the web config too: 2 for a bad one, 0 for a good one.
    let bad = write(
        &dir,
        "web.yml",
        "tls_server_config:\n  cert_fil: server.crt\n",
    );
    let flag = format!("--web.config.file={}", bad.display());
    let (code, _, stderr) = run(&["--demo", "--config.check", &flag], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("cert_fil"), "{stderr}");
    let good = write(&dir, "web.yml", SERVER_TLS);
    let flag = format!("--web.config.file={}", good.display());
    let (code, _, stderr) = run(&["--demo", "--config.check", &flag], &[]);
    assert_eq!(code, 0, "{stderr}");
}

#[tokio::test]
async fn supported_cipher_suites_and_curves_are_accepted() {
    let dir = dir("suites");
    let ca = Ca::new("suites CA");
    server_files(&dir, &ca);
    write(
        &dir,
        "web.yml",
        &format!("{SERVER_TLS}  max_version: TLS12\n  cipher_suites:\n    - TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\n  curve_preferences: [CurveP384]\nhttp_server_config:\n  http2: false\n"),
    );
    let exporter = start(&dir, &[]);
    let c = client(&exporter, &ca).build().unwrap();
    assert_eq!(
        get(&c, &url(&exporter, "/metrics")).await.unwrap().status(),
        StatusCode::OK
    );
}

/// Runs the exporter with `args`; its exit code and stderr, or `None` if it was still running
/// after `limit` (then it is killed).
fn run_within(args: &[&str], limit: Duration) -> Option<(i32, String)> {
    use std::io::Read as _;
    let mut child = std::process::Command::new(common::BIN)
        .args(args)
        .env_clear()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return Some((status.code().unwrap_or(-1), stderr));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn threads(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

fn mkfifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    assert!(std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap()
        .success());
}

/// A certificate file that is a symlink to `/dev/zero` or a FIFO is refused at once at
/// start-up and by `--config.check`, exit 2 naming the field.
#[test]
fn a_device_or_fifo_certificate_is_refused_at_once_at_start_up_and_check() {
    let dir = dir("fifo-start");
    let ca = Ca::new("fifo CA");
    server_files(&dir, &ca);
    write(&dir, "web.yml", SERVER_TLS);
    let flag = format!("--web.config.file={}", dir.join("web.yml").display());
    for (what, field) in [("device", "cert_file"), ("fifo", "key_file")] {
        server_files(&dir, &ca);
        match what {
            "device" => {
                std::fs::remove_file(dir.join("server.crt")).unwrap();
                std::os::unix::fs::symlink("/dev/zero", dir.join("server.crt")).unwrap();
            }
            _ => mkfifo(&dir.join("server.key")),
        }
        for check in [false, true] {
            let mut args = vec!["--demo", flag.as_str()];
            if check {
                args.push("--config.check");
            }
            let (code, stderr) = run_within(&args, Duration::from_secs(5)).unwrap_or_else(|| {
                panic!("a {what} certificate blocked start-up (check: {check})")
            });
            assert_eq!(code, 2, "{stderr}");
            assert!(
                stderr.contains(&format!("tls_server_config.{field}")),
                "{stderr}"
            );
        }
    }
}

/// A certificate replaced by a FIFO while the exporter runs: 50 SIGHUPs neither block later
/// reloads nor add threads, the old certificate stays in force, and a valid one written later
/// is picked up.
#[tokio::test]
async fn a_fifo_certificate_never_blocks_reloads_nor_grows_threads() {
    let dir = dir("fifo-reload");
    let old = Ca::new("fifo old CA");
    let new = Ca::new("fifo new CA");
    server_files(&dir, &old);
    write(&dir, "web.yml", SERVER_TLS);
    let exporter = start(&dir, &[]);
    assert_eq!(serving_ca(&exporter, &old, &new).await, Some("old"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = threads(exporter.pid());
    mkfifo(&dir.join("server.crt"));
    for _ in 0..50 {
        let hup = std::process::Command::new("kill")
            .args(["-HUP", &exporter.pid().to_string()])
            .status()
            .unwrap();
        assert!(hup.success());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = threads(exporter.pid());
    assert!(after <= before + 2, "threads grew from {before} to {after}");
    assert_eq!(serving_ca(&exporter, &old, &new).await, Some("old"));
    assert!(
        exporter.logs().iter().any(|l| l.contains("a FIFO")),
        "{:?}",
        exporter.logs()
    );
    let (cert, key) = new.issue(&["localhost", "127.0.0.1"], false);
    std::fs::remove_file(dir.join("server.crt")).unwrap();
    write(&dir, "server.key", &key);
    write(&dir, "server.crt", &cert);
    let deadline = Instant::now() + WAIT;
    while serving_ca(&exporter, &old, &new).await != Some("new") {
        assert!(
            Instant::now() < deadline,
            "the valid certificate after the FIFO was not loaded: {:?}",
            exporter.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// With `--web.health-unauthenticated`, the probes are outside `rate_limit` as well as basic
/// auth; everything else is still limited.
#[tokio::test]
async fn probes_are_outside_the_rate_limit_with_health_unauthenticated() {
    let dir = dir("probes-rate");
    let hash = bcrypt::hash("pw", 4).unwrap();
    write(
        &dir,
        "web.yml",
        &format!("rate_limit:\n  interval: 1h\n  burst: 2\nbasic_auth_users:\n  prom: {hash}\n"),
    );
    let exporter = start(&dir, &["--web.health-unauthenticated"]);
    let c = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://{}", exporter.addr);
    for _ in 0..20 {
        let healthy = c.get(format!("{base}/-/healthy")).send().await.unwrap();
        assert_eq!(healthy.status(), StatusCode::OK);
        let ready = c.get(format!("{base}/-/ready")).send().await.unwrap();
        assert_ne!(ready.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = c
            .get(format!("{base}/metrics"))
            .basic_auth("prom", Some("pw"))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429]);
}

/// With users of mixed bcrypt costs, an unknown name costs what one of the users costs, not
/// always the highest: some unknown names answer as fast as a wrong password of the cheap
/// user, and each takes about the time of one of the costs.
#[tokio::test]
async fn with_mixed_costs_an_unknown_name_costs_as_a_listed_user() {
    let dir = dir("mixed-costs");
    let cheap = bcrypt::hash("pw", 4).unwrap();
    let dear = bcrypt::hash("pw", 11).unwrap();
    write(
        &dir,
        "web.yml",
        &format!("basic_auth_users:\n  cheap: {cheap}\n  dear: {dear}\n"),
    );
    let exporter = start(&dir, &[]);
    let c = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("http://{}/metrics", exporter.addr);
    let timed = |user: String| {
        let request = c.get(&url).basic_auth(user, Some("wrong"));
        async move {
            let started = Instant::now();
            let status = request.send().await.unwrap().status();
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            started.elapsed()
        }
    };
    let cheap_wrong = timed("cheap".into()).await.min(timed("cheap".into()).await);
    let dear_wrong = timed("dear".into()).await;
    assert!(
        dear_wrong > cheap_wrong * 10,
        "cost 11 took {dear_wrong:?}, cost 4 {cheap_wrong:?}"
    );
    let threshold = (cheap_wrong + dear_wrong) / 4;
    let mut fast = 0;
    for i in 0..16 {
        if timed(format!("nobody-{i}")).await < threshold {
            fast += 1;
        }
    }
    eprintln!("cost 4: {cheap_wrong:?}, cost 11: {dear_wrong:?}; {fast} of 16 unknown names fast");
    assert!(
        (1..16).contains(&fast),
        "{fast} of 16 unknown names answered as fast as cost 4 (cost 4 {cheap_wrong:?}, cost 11 {dear_wrong:?})"
    );
}

/// `--web.health-listen-address` serves `/-/healthy` and `/-/ready` in plain HTTP, without
/// the client certificate the main listener requires, and nothing else.
#[tokio::test]
async fn the_health_listener_serves_only_the_probes_in_plain_http() {
    let dir = dir("health-listener");
    let ca = Ca::new("health listener CA");
    server_files(&dir, &ca);
    write(
        &dir,
        "web.yml",
        &format!("{SERVER_TLS}  client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n"),
    );
    let exporter = start(&dir, &["--web.health-listen-address=127.0.0.1:0"]);
    let deadline = Instant::now() + WAIT;
    let line = loop {
        let logged = exporter
            .logs()
            .into_iter()
            .find(|l| l.contains("serving /-/healthy and /-/ready in plain HTTP"));
        if let Some(line) = logged {
            break line;
        }
        assert!(
            Instant::now() < deadline,
            "the health listener's address is not logged"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let health: std::net::SocketAddr = line
        .split_whitespace()
        .find_map(|f| f.strip_prefix("address="))
        .unwrap()
        .parse()
        .unwrap();
    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = |path: &str| plain.get(format!("http://{health}{path}")).send();
    assert_eq!(get("/-/healthy").await.unwrap().status(), StatusCode::OK);
    let deadline = Instant::now() + WAIT;
    while get("/-/ready").await.unwrap().status() != StatusCode::OK {
        assert!(Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for path in ["/metrics", "/", "/-/other"] {
        assert_eq!(
            get(path).await.unwrap().status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    // The main listener still wants a client certificate.
    let without = client(&exporter, &ca).build().unwrap();
    assert!(get_url(&without, &url(&exporter, "/-/healthy"))
        .await
        .is_err());
    // A bad address is a usage error naming the flag.
    let flag = format!("--web.config.file={}", dir.join("web.yml").display());
    let (code, _, stderr) = run(
        &["--demo", &flag, "--web.health-listen-address=nowhere"],
        &[],
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("--web.health-listen-address"), "{stderr}");
}

async fn get_url(client: &reqwest::Client, url: &str) -> Result<reqwest::Response, reqwest::Error> {
    get(client, url).await
}
