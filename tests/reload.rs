//! A hostile or broken `--config.file` can neither freeze nor kill the exporter: alias bombs,
//! deeply nested flow sequences and FIFOs are refused quickly, with bounded memory, off the
//! serving thread, by `--config.check` and by a reload, which keeps the running configuration.
//! And the file cannot send a key anywhere: `--smartlead.allowed-hosts` and
//! `--smartlead.key-dir` refuse what lies outside them, naming the account and the field.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{run, value, Exporter, WAIT};

/// A temporary directory for one test's files, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sl-reload-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A base URL on loopback where nothing answers: the accounts here are never polled
/// successfully, and need not be.
const NOWHERE: &str = "--smartlead.base-url=http://127.0.0.1:9/api/v1";

/// A valid file with one account, `acme`.
const GOOD: &str = "accounts:\n  - name: acme\n    api_key_env: KEY\n";

/// The most memory the exporter may use at its peak, refused bomb included.
const MAX_PEAK_RSS_KIB: u64 = 64 * 1024;

/// A "billion laughs" alias bomb of about `size` bytes inside a value the parser must read
/// whole: each level repeats the one before it `WIDTH` times.
fn alias_bomb(size: usize) -> String {
    const WIDTH: usize = 32;
    let mut text = String::from("accounts:\n  - name: acme\n    api_key_env: KEY\n    timeout:\n");
    text.push_str("      - &l0 [lol, lol, lol, lol, lol, lol, lol, lol]\n");
    let mut level = 1;
    while text.len() < size {
        let aliases = vec![format!("*l{}", level - 1); WIDTH].join(", ");
        text.push_str(&format!("      - &l{level} [{aliases}]\n"));
        level += 1;
    }
    text
}

/// A flow sequence nested `size` levels deep, the shape that makes a YAML scanner quadratic.
fn nested_flow(size: usize) -> String {
    format!("accounts: {}", "[".repeat(size))
}

/// The process's peak resident memory (`VmHWM`), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn sighup(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for the `n`th log line containing `text`; how long it took.
fn wait_for_log(exporter: &mut Exporter, text: &str, n: usize) -> Duration {
    let started = Instant::now();
    loop {
        if exporter.logs().iter().filter(|l| l.contains(text)).count() >= n {
            return started.elapsed();
        }
        assert!(
            exporter.alive(),
            "the exporter died: {:#?}",
            exporter.logs()
        );
        assert!(
            started.elapsed() < WAIT,
            "no {text:?} (#{n}) within {WAIT:?}: {:#?}",
            exporter.logs()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Starts the exporter on `GOOD` and waits until `acme` is listed.
async fn start_on_good(dir: &TempDir) -> (Exporter, PathBuf) {
    let config = dir.write("accounts.yaml", GOOD);
    let flag = format!("--config.file={}", config.display());
    let exporter = Exporter::start(&[&flag, NOWHERE], &[("KEY", "k")]);
    exporter
        .wait_for("acme listed", |t| t.contains("account=\"acme\""))
        .await;
    (exporter, config)
}

/// The running configuration after a refused reload: still `acme`, and the gauge at 0.
async fn assert_old_configuration_kept(exporter: &Exporter) {
    let text = exporter
        .wait_for("the refused reload", |t| {
            value(t, "smartlead_exporter_config_last_reload_successful") == Some(0.0)
        })
        .await;
    assert!(text.contains("smartlead_up{account=\"acme\"}"), "{text}");
    assert_eq!(exporter.get("/-/healthy").await.0, 200);
}

/// `--config.check` on `path`: the exit status, stderr, and how long it took (killed after
/// [`WAIT`]).
fn config_check(path: &Path) -> (Option<i32>, String, Duration) {
    let mut child = std::process::Command::new(common::BIN)
        .args([
            "--config.check",
            NOWHERE,
            &format!("--config.file={}", path.display()),
        ])
        .env_clear()
        .env("KEY", "k")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > WAIT {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = started.elapsed();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status.code(), stderr, took)
}

#[tokio::test(flavor = "multi_thread")]
async fn alias_bombs_are_refused_quickly_with_bounded_memory() {
    let dir = TempDir::new("bomb");
    for size in [12 * 1024, 300 * 1024] {
        let bomb = dir.write(&format!("bomb-{size}.yaml"), &alias_bomb(size));
        let (code, stderr, took) = config_check(&bomb);
        assert_eq!(code, Some(2), "{size}: {stderr}");
        assert!(
            stderr.contains("aliases") && stderr.contains("line 6"),
            "{size}: {stderr}"
        );
        assert!(took < Duration::from_secs(1), "{size}: {took:?}");
    }

    let (mut exporter, config) = start_on_good(&dir).await;
    for (n, size) in [12 * 1024, 300 * 1024].into_iter().enumerate() {
        std::fs::write(&config, alias_bomb(size)).unwrap();
        sighup(exporter.pid());
        let took = wait_for_log(&mut exporter, "configuration reload refused", n + 1);
        assert!(took < Duration::from_secs(1), "{size}: {took:?}");
        assert_old_configuration_kept(&exporter).await;
        let peak = peak_rss_kib(exporter.pid());
        assert!(peak < MAX_PEAK_RSS_KIB, "{size}: peak RSS {peak} KiB");
    }
    let refused: Vec<String> = exporter
        .logs()
        .into_iter()
        .filter(|l| l.contains("configuration reload refused"))
        .collect();
    assert!(
        refused.iter().all(|l| l.contains("aliases")),
        "{refused:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deeply_nested_flow_sequence_is_refused_quickly_and_never_stalls_serving() {
    let dir = TempDir::new("nested");
    let nested = dir.write("nested.yaml", &nested_flow(160 * 1024));
    let (code, stderr, took) = config_check(&nested);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("nested.yaml") && stderr.contains("line 1"),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(1), "{took:?}");

    let (mut exporter, config) = start_on_good(&dir).await;
    // Probes every 20 ms while the bad file is reloaded, three times over: every one answers,
    // 95 % of them within 100 ms and all within a second (a stalled serving thread would hold
    // them all for as long as the parse takes). The margin above 100 ms is for a busy machine.
    let probe = reqwest::Client::builder().no_proxy().build().unwrap();
    let address = exporter.addr;
    let prober = tokio::spawn(async move {
        let mut latencies = Vec::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(3) {
            let sent = Instant::now();
            let status = probe
                .get(format!("http://{address}/-/healthy"))
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .map(|r| r.status().as_u16());
            latencies.push(sent.elapsed());
            assert_eq!(status.ok(), Some(200));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        latencies.sort();
        latencies
    });
    for n in 1..=3 {
        std::fs::write(&config, nested_flow(160 * 1024 + n)).unwrap();
        sighup(exporter.pid());
        let took = wait_for_log(&mut exporter, "configuration reload refused", n);
        assert!(took < Duration::from_secs(1), "{took:?}");
    }
    let latencies = prober.await.unwrap();
    let p95 = latencies[latencies.len() * 95 / 100];
    let slowest = latencies[latencies.len() - 1];
    assert!(
        p95 < Duration::from_millis(100) && slowest < Duration::from_secs(1),
        "p95 {p95:?}, slowest {slowest:?} of {} probes",
        latencies.len()
    );
    assert_old_configuration_kept(&exporter).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fifo_as_the_accounts_file_is_refused_at_once() {
    let dir = TempDir::new("fifo");
    let fifo = dir.0.join("fifo.yaml");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let (code, stderr, took) = config_check(&fifo);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("fifo.yaml") && stderr.contains("a FIFO, not a regular file"),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(1), "{took:?}");

    let (mut exporter, config) = start_on_good(&dir).await;
    // The file replaced by a FIFO, as an attacker with write access to its directory would.
    std::fs::rename(&fifo, &config).unwrap();
    sighup(exporter.pid());
    let took = wait_for_log(&mut exporter, "configuration reload refused", 1);
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert!(exporter
        .logs()
        .iter()
        .any(|l| l.contains("reload refused") && l.contains("a FIFO, not a regular file")));
    assert_old_configuration_kept(&exporter).await;
    // A good file afterwards is taken.
    std::fs::remove_file(&config).unwrap();
    std::fs::write(&config, GOOD.replace("acme", "globex")).unwrap();
    sighup(exporter.pid());
    exporter
        .wait_for("globex after the FIFO", |t| {
            t.contains("smartlead_up{account=\"globex\"}") && !t.contains("account=\"acme\"")
        })
        .await;
}

#[test]
fn keys_go_only_to_allowed_hosts_and_come_only_from_the_key_dir() {
    let dir = TempDir::new("where");
    let keys = dir.0.join("keys");
    std::fs::create_dir_all(keys.join("acme")).unwrap();
    std::fs::write(keys.join("acme/api-key"), "k\n").unwrap();
    let outside = dir.write("stolen-key", "k\n");
    std::os::unix::fs::symlink(&outside, keys.join("link")).unwrap();
    let account = |extra: &str| format!("accounts:\n  - name: acme\n{extra}");
    let key_dir = format!("--smartlead.key-dir={}", keys.display());
    let cases: Vec<(String, Vec<String>, Vec<&str>)> = vec![
        (
            account(&format!(
                "    api_key_file: {}/acme/api-key\n",
                keys.display()
            )),
            vec![key_dir.clone()],
            vec![],
        ),
        (
            account(&format!("    api_key_file: {}/link\n", keys.display())),
            vec![key_dir.clone()],
            vec![
                "account \"acme\"",
                "api_key_file",
                "stolen-key",
                "--smartlead.key-dir",
            ],
        ),
        (
            account(&format!(
                "    api_key_file: {}/acme/../../stolen-key\n",
                keys.display()
            )),
            vec![key_dir.clone()],
            vec![
                "account \"acme\"",
                "api_key_file",
                "outside --smartlead.key-dir",
            ],
        ),
        (
            account(&format!("    api_key_file: {}\n", outside.display())),
            vec![],
            vec![],
        ),
        (
            account("    api_key_env: KEY\n    base_url: https://collector.example/api/v1\n"),
            vec![],
            vec![
                "account \"acme\"",
                "base_url",
                "\"collector.example\"",
                "--smartlead.allowed-hosts",
            ],
        ),
        (
            account("    api_key_env: KEY\n    base_url: https://collector.example/api/v1\n"),
            vec!["--smartlead.allowed-hosts=127.0.0.1,collector.example".into()],
            vec![],
        ),
    ];
    for (text, flags, expected) in cases {
        let file = dir.write("accounts.yaml", &text);
        let mut args = vec![
            "--config.check".to_owned(),
            NOWHERE.to_owned(),
            format!("--config.file={}", file.display()),
        ];
        args.extend(flags);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stdout, stderr) = run(&args, &[("KEY", "k")]);
        if expected.is_empty() {
            assert_eq!(code, 0, "{text}: {stderr}");
            assert!(stdout.contains("configuration OK"), "{stdout}");
        } else {
            assert_eq!(code, 2, "{text}: {stdout}");
            for part in expected {
                assert!(stderr.contains(part), "{text}: {stderr} lacks {part}");
            }
        }
    }
    let (code, _, stderr) = run(
        &[
            "--config.check",
            "--demo",
            "--smartlead.key-dir=/nonexistent/keys",
        ],
        &[],
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--smartlead.key-dir") && stderr.contains("/nonexistent/keys"),
        "{stderr}"
    );
}

#[test]
fn collectors_and_budget_are_checked_at_start() {
    let dir = TempDir::new("collectors");
    let file = dir.write(
        "accounts.yaml",
        "defaults:\n  collectors: {mailboxes: {enabled: false}, campaigns: {interval: 10m}}\n  \
         campaign_statuses: [active]\n  max_calls_per_minute: 30\naccounts:\n  - name: acme\n    \
         api_key_env: KEY\n    collectors:\n      replies: {interval: 30m}\n",
    );
    let flag = format!("--config.file={}", file.display());
    let (code, stdout, stderr) = run(&["--config.check", NOWHERE, &flag], &[("KEY", "k")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("1 accounts"), "{stdout}");
    for (args, expected) in [
        (
            &["--poll.interval=1s"][..],
            "--smartlead.max-calls-per-minute: 20 calls a minute cannot fit even the categories collector",
        ),
        (&["--collector.campaigns.statuses=ACTIVE,"][..], "--collector.campaigns.statuses"),
        (&["--collector.replies.interval=0s"][..], "--collector.replies.interval"),
        (&["--no-collector.mailboxes=yes"][..], "--no-collector.mailboxes"),
    ] {
        let mut all = vec![NOWHERE];
        all.extend_from_slice(args);
        let (code, _, stderr) = run(&all, &[("SMARTLEAD_API_KEY", "k")]);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("smartlead_exporter: error: ") && stderr.contains(expected),
            "{args:?}: {stderr}"
        );
    }
}
