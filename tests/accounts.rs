//! Many accounts from one exporter (`--config.file`), over loopback: each account's failures
//! stay its own, reloads (SIGHUP, file edit, ConfigMap symlink swap) change what runs and an
//! invalid file changes nothing, and shards split the accounts between processes.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{promtool_findings, run, value, Exporter, Reply, StandIn, SEED_EXAMPLE, WAIT};

/// A temporary directory for one test's files, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sl-accounts-{name}-{}", std::process::id()));
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

fn series(name: &str, account: &str) -> String {
    format!("{name}{{account=\"{account}\"}}")
}

fn failures(account: &str, reason: &str) -> String {
    format!(
        "smartlead_api_request_failures_total{{account=\"{account}\",api_endpoint=\"fetch-categories\",reason=\"{reason}\"}}"
    )
}

fn requests(account: &str, code: u16) -> String {
    format!(
        "smartlead_api_requests_total{{account=\"{account}\",api_endpoint=\"fetch-categories\",code=\"{code}\"}}"
    )
}

/// The accounts named in an exposition.
fn accounts_in(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| l.starts_with("smartlead_up{"))
        .filter_map(|l| l.split('"').nth(1).map(str::to_owned))
        .collect()
}

/// The stand-in's host, which every account's `base_url` names.
const ALLOWED: &str = "--smartlead.allowed-hosts=127.0.0.1";

fn start(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Exporter {
    let flag = format!("--config.file={}", config.display());
    let mut all = vec![flag.as_str(), ALLOWED];
    all.extend_from_slice(args);
    Exporter::start(&all, env)
}

#[tokio::test(flavor = "multi_thread")]
async fn one_accounts_failures_change_nothing_for_the_others() {
    let stand_in = StandIn::start(vec![Reply::Silence]).await;
    stand_in.keep_alive();
    stand_in.script_key("good-key", vec![Reply::json(200, SEED_EXAMPLE)]);
    stand_in.script_key(
        "revoked-key",
        vec![Reply::json(401, r#"{"message": "Invalid API Key"}"#)],
    );
    stand_in.script_key(
        "slow-key",
        vec![Reply::Trickle {
            len: 10_000,
            every: Duration::from_millis(50),
        }],
    );
    stand_in.script_key(
        "limited-key",
        vec![Reply::json(429, r#"{"message": "Rate limit exceeded"}"#)
            .with_header("Retry-After", "3")],
    );
    // 300 MB, streamed in chunks until the exporter cuts it at --smartlead.max-body-size.
    stand_in.script_key(
        "huge-key",
        vec![Reply::Chunked {
            chunks: 300 * 1024,
            size: 1024,
        }],
    );
    let dir = TempDir::new("isolated");
    let config = dir.write(
        "accounts.yaml",
        &format!(
            "defaults:\n  base_url: {}\n  poll_interval: 1s\n  max_backoff: 1s\n  stale_after: 1m\n\
             accounts:\n\
             - name: good\n  api_key_env: GOOD\n\
             - name: revoked\n  api_key_env: REVOKED\n\
             - name: slow\n  api_key_env: SLOW\n  timeout: 1s\n\
             - name: limited\n  api_key_env: LIMITED\n\
             - name: huge\n  api_key_env: HUGE\n",
            stand_in.base_url()
        ),
    );
    let exporter = start(
        &config,
        &[],
        &[
            ("GOOD", "good-key"),
            ("REVOKED", "revoked-key"),
            ("SLOW", "slow-key"),
            ("LIMITED", "limited-key"),
            ("HUGE", "huge-key"),
        ],
    );
    let started = Instant::now();
    let text = exporter
        .wait_for("every account's failure", |t| {
            value(t, &failures("slow", "timeout")).unwrap_or(0.0) >= 2.0
                && value(t, &failures("huge", "too_large")).unwrap_or(0.0) >= 2.0
                && value(t, &requests("limited", 429)).unwrap_or(0.0) >= 2.0
        })
        .await;
    tokio::time::sleep(Duration::from_secs(6).saturating_sub(started.elapsed())).await;
    let text = {
        let _ = text;
        exporter.metrics().await
    };

    // The good account: up, exact data, nothing counted against it.
    assert_eq!(value(&text, &series("smartlead_up", "good")), Some(1.0));
    assert_eq!(
        value(
            &text,
            "smartlead_categories{account=\"good\",origin=\"global\",sentiment=\"positive\"}"
        ),
        Some(2.0)
    );
    for reason in ["timeout", "transport", "status", "decode", "too_large"] {
        assert_eq!(
            value(&text, &failures("good", reason)),
            Some(0.0),
            "{reason}"
        );
    }
    // Each failing account: down, its own reason and code.
    for account in ["revoked", "slow", "limited", "huge"] {
        assert_eq!(
            value(&text, &series("smartlead_up", account)),
            Some(0.0),
            "{account}"
        );
    }
    assert!(value(&text, &requests("revoked", 401)).unwrap() >= 2.0);
    assert_eq!(value(&text, &requests("good", 401)), Some(0.0));
    assert!(value(&text, &failures("slow", "timeout")).unwrap() >= 2.0);
    assert!(value(&text, &failures("huge", "too_large")).unwrap() >= 2.0);
    assert_eq!(value(&text, &failures("huge", "timeout")), Some(0.0));

    // The good account kept its schedule: a call every second, as if alone.
    let good = stand_in.seen_key("good-key");
    let elapsed = good.last().unwrap().duration_since(good[0]).as_secs_f64();
    assert!(
        (good.len() as f64 - 1.0 - elapsed).abs() <= 1.0,
        "{} calls over {elapsed:.1} s",
        good.len()
    );
    for pair in good.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(850) && gap <= Duration::from_millis(1400),
            "the good account's polls drifted: {gap:?}"
        );
    }
    // The rate-limited one waited for Retry-After (3 s) between calls.
    let limited = stand_in.seen_key("limited-key");
    for pair in limited.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(2900),
            "{limited:?}"
        );
    }

    // The landing page lists the failing accounts first.
    let (_, _, page) = exporter.get("/").await;
    let good_row = page.find("<td>good</td>").unwrap();
    for account in ["revoked", "slow", "limited", "huge"] {
        assert!(
            page.find(&format!("<td>{account}</td>")).unwrap() < good_row,
            "{account}"
        );
    }
    assert!(page.contains("5 accounts, 4 failing,"), "{page}");
    assert_eq!(exporter.get("/-/ready").await.0, 200);

    // Five accounts, good and failing, in one valid exposition: each family one group.
    assert_eq!(promtool_findings(&text), "", "promtool findings");
    let mut families = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let family = line.split(' ').nth(2).unwrap();
        assert!(!families.contains(&family), "{family} twice");
        families.push(family);
    }
}

/// Writes `text` as the new version of a ConfigMap-style directory: the data in a new
/// timestamped directory, then the `..data` symlink swapped to it in one rename.
fn configmap_update(dir: &Path, version: u32, text: &str) {
    let data = dir.join(format!("..v{version}"));
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("config.yaml"), text).unwrap();
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(format!("..v{version}"), &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
}

fn accounts_file(base_url: &str, accounts: &[(&str, &str)]) -> String {
    let mut text = format!(
        "defaults:\n  base_url: {base_url}\n  poll_interval: 1s\n  max_backoff: 1s\n  stale_after: 1m\naccounts:\n"
    );
    for (name, extra) in accounts {
        text.push_str(&format!("  - name: {name}\n    api_key_env: KEY\n{extra}"));
    }
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configmap_swap_reloads_and_an_invalid_file_is_kept_out() {
    let stand_in = StandIn::start(vec![Reply::json(200, SEED_EXAMPLE)]).await;
    let base = stand_in.base_url();
    let dir = TempDir::new("configmap");
    configmap_update(
        &dir.0,
        1,
        &accounts_file(&base, &[("acme", ""), ("globex", "")]),
    );
    std::os::unix::fs::symlink("..data/config.yaml", dir.0.join("config.yaml")).unwrap();
    let exporter = start(&dir.0.join("config.yaml"), &[], &[("KEY", "k")]);
    let text = exporter
        .wait_for("both accounts up", |t| {
            value(t, &series("smartlead_up", "acme")) == Some(1.0)
                && value(t, &series("smartlead_up", "globex")) == Some(1.0)
        })
        .await;
    assert_eq!(
        value(&text, "smartlead_exporter_config_last_reload_successful"),
        Some(1.0)
    );
    let acme_before = value(&text, &requests("acme", 200)).unwrap();

    // globex removed, initech added, acme changed (its global_max_id): restarted, counters kept.
    configmap_update(
        &dir.0,
        2,
        &accounts_file(
            &base,
            &[("acme", "    global_max_id: 0\n"), ("initech", "")],
        ),
    );
    let text = exporter
        .wait_for("the new accounts", |t| {
            value(t, &series("smartlead_up", "initech")) == Some(1.0)
                && !t.contains("account=\"globex\"")
                && t.contains("smartlead_categories{account=\"acme\",origin=\"user\",sentiment=\"positive\"} 2")
        })
        .await;
    assert_eq!(
        accounts_in(&text),
        BTreeSet::from(["acme".to_owned(), "initech".to_owned()])
    );
    assert!(value(&text, &requests("acme", 200)).unwrap() >= acme_before + 1.0);
    assert!(exporter
        .logs()
        .iter()
        .any(|l| l.contains("configuration reloaded")
            && l.contains("added=1")
            && l.contains("removed=1")
            && l.contains("changed=1")));

    // An invalid file: refused, the running accounts go on, the gauge says so, one error.
    configmap_update(&dir.0, 3, "accounts:\n  - name: Bad Name\n");
    let text = exporter
        .wait_for("the refused reload", |t| {
            value(t, "smartlead_exporter_config_last_reload_successful") == Some(0.0)
        })
        .await;
    let calls = stand_in.calls();
    assert_eq!(
        accounts_in(&text),
        BTreeSet::from(["acme".to_owned(), "initech".to_owned()])
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        stand_in.calls() >= calls + 2,
        "the old configuration stopped polling"
    );
    let refused: Vec<String> = exporter
        .logs()
        .into_iter()
        .filter(|l| l.contains("configuration reload refused"))
        .collect();
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert!(
        refused[0].contains("config.yaml") && refused[0].contains("Bad Name"),
        "{}",
        refused[0]
    );
    assert_eq!(exporter.get("/-/healthy").await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_at_once_a_file_outside_the_watched_directory() {
    let stand_in = StandIn::start(vec![Reply::json(200, SEED_EXAMPLE)]).await;
    let base = stand_in.base_url();
    // The real file lives in another directory than the watched one (a symlink to it): no
    // directory event tells of an edit, only the watch's poll of the file or SIGHUP.
    let real = TempDir::new("hup-real");
    let linked = TempDir::new("hup-link");
    let target = real.write("accounts.yaml", &accounts_file(&base, &[("acme", "")]));
    let config = linked.0.join("accounts.yaml");
    std::os::unix::fs::symlink(&target, &config).unwrap();
    let exporter = start(&config, &[], &[("KEY", "k")]);
    exporter
        .wait_for("acme up", |t| {
            value(t, &series("smartlead_up", "acme")) == Some(1.0)
        })
        .await;
    real.write(
        "accounts.yaml",
        &accounts_file(&base, &[("acme", ""), ("globex", "")]),
    );
    let kill = std::process::Command::new("kill")
        .args(["-HUP", &exporter.pid().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    exporter
        .wait_for("globex after SIGHUP", |t| {
            value(t, &series("smartlead_up", "globex")) == Some(1.0)
        })
        .await;
    assert!(exporter
        .logs()
        .iter()
        .any(|l| l.contains("configuration reloaded") && l.contains("cause=Signal")));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edit_outside_the_watched_directory_is_seen_by_the_poll() {
    let stand_in = StandIn::start(vec![Reply::json(200, SEED_EXAMPLE)]).await;
    let base = stand_in.base_url();
    let real = TempDir::new("poll-real");
    let linked = TempDir::new("poll-link");
    let target = real.write("accounts.yaml", &accounts_file(&base, &[("acme", "")]));
    let config = linked.0.join("accounts.yaml");
    std::os::unix::fs::symlink(&target, &config).unwrap();
    let exporter = start(&config, &[], &[("KEY", "k")]);
    exporter
        .wait_for("acme up", |t| {
            value(t, &series("smartlead_up", "acme")) == Some(1.0)
        })
        .await;
    real.write(
        "accounts.yaml",
        &accounts_file(&base, &[("acme", ""), ("globex", "")]),
    );
    exporter
        .wait_for("globex without a signal", |t| {
            value(t, &series("smartlead_up", "globex")) == Some(1.0)
        })
        .await;
    assert!(exporter
        .logs()
        .iter()
        .any(|l| l.contains("configuration reloaded") && l.contains("cause=FileChanged")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_account_keeps_its_data_and_readiness_until_its_next_poll() {
    let stand_in = StandIn::start(vec![Reply::json(200, SEED_EXAMPLE)]).await;
    let base = stand_in.base_url();
    let dir = TempDir::new("keep-data");
    // Minutes between polls: after the reload, the next poll is far away.
    let file = |extra: &str| {
        format!(
            "defaults:\n  base_url: {base}\n  poll_interval: 5m\n  stale_after: 1h\naccounts:\n  - name: acme\n    \
             api_key_env: KEY\n{extra}"
        )
    };
    let config = dir.write("accounts.yaml", &file(""));
    let exporter = start(&config, &[], &[("KEY", "k")]);
    exporter
        .wait_for("acme up", |t| {
            value(t, &series("smartlead_up", "acme")) == Some(1.0)
        })
        .await;
    assert_eq!(exporter.get("/-/ready").await.0, 200);
    // Past the grace within which a restarted account still takes its first slot at once
    // (supervisor::SLOT_GRACE): its next slot is then minutes away.
    tokio::time::sleep(Duration::from_millis(500)).await;
    dir.write("accounts.yaml", &file("    global_max_id: 0\n"));
    let kill = std::process::Command::new("kill")
        .args(["-HUP", &exporter.pid().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + WAIT;
    while !exporter
        .logs()
        .iter()
        .any(|l| l.contains("configuration reloaded") && l.contains("changed=1"))
    {
        assert!(
            Instant::now() < deadline,
            "no reload: {:#?}",
            exporter.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Past the longest a change waits to be served (exposition::MAX_REBUILD_DELAY).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let text = exporter.metrics().await;
    assert_eq!(value(&text, &series("smartlead_up", "acme")), Some(1.0));
    assert!(text.contains("smartlead_category_info{account=\"acme\""));
    assert_eq!(exporter.get("/-/ready").await.0, 200);
    assert_eq!(stand_in.calls(), 1, "{:#?}", exporter.logs());
}

#[tokio::test(flavor = "multi_thread")]
async fn three_shards_poll_each_account_exactly_once() {
    const ACCOUNTS: usize = 50;
    let stand_in = StandIn::start(vec![Reply::json(200, "[]")]).await;
    let mut text = format!(
        "defaults:\n  base_url: {}\n  poll_interval: 3s\naccounts:\n",
        stand_in.base_url()
    );
    let mut env = Vec::new();
    for i in 0..ACCOUNTS {
        text.push_str(&format!("  - name: client-{i}\n    api_key_env: KEY_{i}\n"));
        env.push((format!("KEY_{i}"), format!("key-{i}")));
        stand_in.script_key(&format!("key-{i}"), vec![Reply::json(200, "[]")]);
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let dir = TempDir::new("shards");
    let config = dir.write("accounts.yaml", &text);
    let shards: Vec<Exporter> = (0..3)
        .map(|shard| {
            start(
                &config,
                &[&format!("--shard={shard}"), "--total-shards=3"],
                &env,
            )
        })
        .collect();
    let mut owned = Vec::new();
    let mut total = 0.0;
    for (index, exporter) in shards.iter().enumerate() {
        let text = exporter
            .wait_for("every account polled", |t| {
                let ups: Vec<&str> = t
                    .lines()
                    .filter(|l| l.starts_with("smartlead_up{"))
                    .collect();
                !ups.is_empty() && ups.iter().all(|l| l.ends_with(" 1"))
            })
            .await;
        let count = value(
            &text,
            &format!("smartlead_exporter_shard_accounts{{shard=\"{index}\",total_shards=\"3\"}}"),
        )
        .unwrap();
        total += count;
        let accounts = accounts_in(&text);
        assert_eq!(accounts.len() as f64, count);
        owned.push(accounts);
    }
    assert_eq!(total, ACCOUNTS as f64);
    let union: BTreeSet<String> = owned.iter().flatten().cloned().collect();
    assert_eq!(
        union.len(),
        ACCOUNTS,
        "every account is owned by exactly one shard"
    );
    // Each account polled, and by one process only: its calls are an interval apart.
    let deadline = Instant::now() + WAIT;
    while (0..ACCOUNTS).any(|i| stand_in.seen_key(&format!("key-{i}")).is_empty()) {
        assert!(Instant::now() < deadline, "some account was never polled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for i in 0..ACCOUNTS {
        let seen = stand_in.seen_key(&format!("key-{i}"));
        for pair in seen.windows(2) {
            assert!(
                pair[1] - pair[0] >= Duration::from_millis(2500),
                "client-{i} polled twice within an interval: {seen:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn once_polls_every_account_and_fails_if_any_failed() {
    let stand_in = StandIn::start(vec![Reply::Silence]).await;
    stand_in.script_key("good-key", vec![Reply::json(200, SEED_EXAMPLE)]);
    stand_in.script_key("bad-key", vec![Reply::json(401, "{}")]);
    let dir = TempDir::new("once");
    let both = dir.write(
        "both.yaml",
        &format!(
            "defaults:\n  base_url: {}\naccounts:\n  - name: good\n    api_key_env: GOOD\n  - name: bad\n    api_key_env: BAD\n",
            stand_in.base_url()
        ),
    );
    let good = dir.write(
        "good.yaml",
        &format!(
            "defaults:\n  base_url: {}\naccounts:\n  - name: good\n    api_key_env: GOOD\n",
            stand_in.base_url()
        ),
    );
    let env = [("GOOD", "good-key"), ("BAD", "bad-key")];
    let (code, stdout, _) = run(
        &[
            "--once",
            ALLOWED,
            &format!("--config.file={}", both.display()),
        ],
        &env,
    );
    assert_eq!(code, 1);
    assert_eq!(value(&stdout, &series("smartlead_up", "good")), Some(1.0));
    assert_eq!(value(&stdout, &series("smartlead_up", "bad")), Some(0.0));
    let (code, stdout, _) = run(
        &[
            "--once",
            ALLOWED,
            &format!("--config.file={}", good.display()),
        ],
        &env,
    );
    assert_eq!(code, 0);
    assert_eq!(value(&stdout, &series("smartlead_up", "good")), Some(1.0));
}

#[test]
fn config_check_validates_the_file_and_its_keys() {
    let dir = TempDir::new("check");
    let good = dir.write(
        "good.yaml",
        "accounts:\n  - name: acme\n    api_key_env: ACME\n  - name: globex\n    api_key_env: ACME\n",
    );
    let (code, stdout, stderr) = run(
        &[
            "--config.check",
            &format!("--config.file={}", good.display()),
        ],
        &[("ACME", "k")],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("2 accounts"), "{stdout}");
    // The key variable is unset: exit 2 naming the file, the account and the field.
    let (code, _, stderr) = run(
        &[
            "--config.check",
            &format!("--config.file={}", good.display()),
        ],
        &[],
    );
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("smartlead_exporter: error: --config.file ")
            && stderr.contains("good.yaml")
            && stderr.contains("account \"acme\"")
            && stderr.contains("api_key_env"),
        "{stderr}"
    );
    // The same refusal stops a normal start.
    let bad = dir.write(
        "bad.yaml",
        "accounts:\n  - name: acme\n    api_key_env: ACME\n    pol_interval: 1m\n",
    );
    let (code, _, stderr) = run(
        &[&format!("--config.file={}", bad.display())],
        &[("ACME", "k")],
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("bad.yaml")
            && stderr.contains("line 4")
            && stderr.contains("did you mean `poll_interval`"),
        "{stderr}"
    );
}

/// SIGHUP to the exporter.
fn hangup(exporter: &Exporter) {
    let kill = std::process::Command::new("kill")
        .args(["-HUP", &exporter.pid().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
}

/// A category list of `n` categories.
fn many_categories(n: usize) -> String {
    let mut body = String::with_capacity(n * 100);
    body.push('[');
    for id in 1..=n {
        if id > 1 {
            body.push(',');
        }
        body.push_str(&format!(
            "{{\"id\":{id},\"name\":\"Category {id}\",\"sentiment_type\":\"positive\",\
             \"created_at\":\"2024-01-01T00:00:00.000Z\"}}"
        ));
    }
    body.push(']');
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_removed_while_its_answer_is_parsed_stays_removed() {
    let stand_in = StandIn::start(vec![Reply::json(200, SEED_EXAMPLE)]).await;
    stand_in.script_key(
        "ghost-key",
        vec![Reply::json(200, &many_categories(150_000))],
    );
    let base = stand_in.base_url();
    let dir = TempDir::new("ghost");
    let file = |ghost: bool| {
        let mut text = format!(
            "defaults:\n  base_url: {base}\n  poll_interval: 10s\n  max_body_size: 64MiB\naccounts:\n  \
             - name: acme\n    api_key_env: KEY\n"
        );
        if ghost {
            text.push_str("  - name: ghost\n    api_key_env: GHOST_KEY\n");
        }
        text
    };
    let config = dir.write("accounts.yaml", &file(true));
    let exporter = start(&config, &[], &[("KEY", "k"), ("GHOST_KEY", "ghost-key")]);
    // Its answer is on its way: remove the account while the exporter reads and parses it.
    let deadline = Instant::now() + WAIT;
    while stand_in.seen_key("ghost-key").is_empty() {
        assert!(Instant::now() < deadline, "ghost was never polled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    dir.write("accounts.yaml", &file(false));
    hangup(&exporter);
    let deadline = Instant::now() + WAIT;
    while !exporter
        .logs()
        .iter()
        .any(|l| l.contains("configuration reloaded") && l.contains("removed=1"))
    {
        assert!(
            Instant::now() < deadline,
            "no reload: {:#?}",
            exporter.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Long enough for the answer to have been parsed and any late publish to show.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let text = exporter.metrics().await;
    assert!(
        !text.contains("account=\"ghost\""),
        "the removed account came back"
    );
    let (_, _, page) = exporter.get("/").await;
    assert!(!page.contains("<td>ghost</td>"));
    assert_eq!(stand_in.seen_key("ghost-key").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_keeps_retry_after_and_does_not_abort_polls_in_flight() {
    let stand_in = StandIn::start(vec![Reply::json(200, SEED_EXAMPLE)]).await;
    stand_in.script_key(
        "limited-key",
        vec![Reply::json(429, r#"{"message": "Rate limit exceeded"}"#)
            .with_header("Retry-After", "3600")],
    );
    // Each answer takes 500 ms: most reloads below land while a poll is in flight.
    stand_in.script_key(
        "steady-key",
        vec![Reply::Delayed(
            Duration::from_millis(500),
            Box::new(Reply::json(200, SEED_EXAMPLE)),
        )],
    );
    let base = stand_in.base_url();
    let dir = TempDir::new("keep-waits");
    let file = |timeout: &str| {
        format!(
            "defaults:\n  base_url: {base}\n  poll_interval: 2s\n  max_backoff: 2s\n  timeout: {timeout}\n\
             accounts:\n  - name: limited\n    api_key_env: LIMITED_KEY\n  - name: steady\n    \
             api_key_env: STEADY_KEY\n"
        )
    };
    let config = dir.write("accounts.yaml", &file("5s"));
    let mut exporter = start(
        &config,
        &[],
        &[("LIMITED_KEY", "limited-key"), ("STEADY_KEY", "steady-key")],
    );
    let deadline = Instant::now() + WAIT;
    while stand_in.seen_key("limited-key").is_empty() {
        assert!(Instant::now() < deadline, "limited was never polled");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    // 200 reloads 50 ms apart, each changing every account's settings.
    for n in 0..200 {
        dir.write("accounts.yaml", &file(if n % 2 == 0 { "6s" } else { "5s" }));
        hangup(&exporter);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed();
    assert_eq!(
        stand_in.seen_key("limited-key").len(),
        1,
        "Retry-After: 3600 was forgotten by a reload"
    );
    let steady = stand_in
        .seen_key("steady-key")
        .into_iter()
        .filter(|&at| at >= started)
        .count();
    // One poll every 2 s (plus the 500 ms answer): about five in the ten seconds or more of
    // reloads, not one or two.
    let expected = elapsed.as_secs_f64() / 2.5;
    assert!(
        steady as f64 >= expected - 1.5,
        "{steady} polls in {elapsed:?} under reloads"
    );
    assert!(exporter.alive());
}

/// The warnings saying this shard owns no account.
fn empty_shard_warnings(exporter: &Exporter) -> Vec<String> {
    exporter
        .logs()
        .into_iter()
        .filter(|l| l.contains("this shard owns none of the file's accounts"))
        .collect()
}

/// Waits until the exporter has logged `n` applied reloads.
async fn wait_for_reloads(exporter: &Exporter, n: usize) {
    let deadline = Instant::now() + WAIT;
    while exporter
        .logs()
        .iter()
        .filter(|l| l.contains("configuration reloaded"))
        .count()
        < n
    {
        assert!(
            Instant::now() < deadline,
            "not {n} reloads: {:#?}",
            exporter.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shard_that_owns_no_account_is_ready_at_once_and_says_so_once() {
    use smartlead_exporter::shard_of;
    const SHARDS: u32 = 4;
    let stand_in = StandIn::start(vec![Reply::json(200, SEED_EXAMPLE)]).await;
    let base = stand_in.base_url();
    let names = ["acme", "globex", "initech"];
    let empty = (0..SHARDS)
        .find(|&s| names.iter().all(|n| shard_of(n, SHARDS) != s))
        .expect("three accounts leave one of four shards empty");
    let candidates = [
        "umbrella",
        "hooli",
        "cyberdyne",
        "tyrell",
        "wonka",
        "oscorp",
    ];
    let elsewhere = candidates
        .into_iter()
        .find(|n| shard_of(n, SHARDS) != empty)
        .unwrap();
    let mine = candidates
        .into_iter()
        .find(|n| shard_of(n, SHARDS) == empty)
        .expect("a name of the empty shard");
    let file = |extra: &[&str]| {
        let accounts: Vec<(&str, &str)> =
            names.iter().chain(extra).map(|name| (*name, "")).collect();
        accounts_file(&base, &accounts)
    };
    let dir = TempDir::new("empty-shard");
    let config = dir.write("accounts.yaml", &file(&[]));
    let shard_flag = format!("--shard={empty}");
    let total_flag = format!("--total-shards={SHARDS}");
    let exporter = start(&config, &[&shard_flag, &total_flag], &[("KEY", "k")]);

    // Ready from the first probe: there is no first poll to wait for.
    let (status, _, body) = exporter.get("/-/ready").await;
    assert_eq!(status, 200, "{body}");
    let text = exporter.metrics().await;
    let shard_accounts =
        format!("smartlead_exporter_shard_accounts{{shard=\"{empty}\",total_shards=\"{SHARDS}\"}}");
    assert_eq!(value(&text, &shard_accounts), Some(0.0));
    assert!(accounts_in(&text).is_empty(), "{text}");
    let warnings = empty_shard_warnings(&exporter);
    assert_eq!(warnings.len(), 1, "{:#?}", exporter.logs());
    assert!(
        warnings[0].contains("level=warn")
            && warnings[0].contains(&format!("shard={empty}"))
            && warnings[0].contains(&format!("total_shards={SHARDS}"))
            && warnings[0].contains("accounts=3")
            && warnings[0].contains("accounts.yaml"),
        "{}",
        warnings[0]
    );

    // A new file that still leaves the shard empty: one more warning. The same file again
    // (SIGHUP): none.
    dir.write("accounts.yaml", &file(&[elsewhere]));
    hangup(&exporter);
    wait_for_reloads(&exporter, 1).await;
    assert_eq!(empty_shard_warnings(&exporter).len(), 2);
    hangup(&exporter);
    wait_for_reloads(&exporter, 2).await;
    assert_eq!(empty_shard_warnings(&exporter).len(), 2);
    assert_eq!(exporter.get("/-/ready").await.0, 200);
    assert_eq!(stand_in.calls(), 0, "an empty shard polled SmartLead");

    // An account for this shard: polled, no warning; removed again: warned again.
    dir.write("accounts.yaml", &file(&[elsewhere, mine]));
    hangup(&exporter);
    exporter
        .wait_for("the shard's own account", |t| {
            value(t, &series("smartlead_up", mine)) == Some(1.0)
        })
        .await;
    assert_eq!(empty_shard_warnings(&exporter).len(), 2);
    dir.write("accounts.yaml", &file(&[elsewhere]));
    hangup(&exporter);
    wait_for_reloads(&exporter, 4).await;
    assert_eq!(empty_shard_warnings(&exporter).len(), 3);
    assert_eq!(exporter.get("/-/ready").await.0, 200);

    // A shard that owns accounts says nothing of the kind.
    let owner = format!("--shard={}", shard_of("acme", SHARDS));
    let busy = start(&config, &[&owner, &total_flag], &[("KEY", "k")]);
    busy.wait_for("acme up", |t| {
        value(t, &series("smartlead_up", "acme")) == Some(1.0)
    })
    .await;
    assert!(empty_shard_warnings(&busy).is_empty());
}
