//! Shared test harness: a scripted SmartLead stand-in speaking raw HTTP/1.1 over loopback, and
//! the real exporter binary started as a child process and scraped over loopback.
//!
//! The stand-in works at the socket level so that tests can send what a well-behaved server
//! never would: truncated bodies, bodies that trickle in, resets, silence. Requests are routed
//! by their `api_key`: a key can have its own script, its own script per endpoint, and a whole
//! fake account ([`FakeAccount`]) answering every endpoint; every request with a known key is
//! logged with its time and path ([`StandIn::log`]), for per-minute budget checks.

#![allow(dead_code)]

mod fake;

pub use fake::*;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The exporter binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_smartlead_exporter");

/// How long a test waits for a condition before failing.
pub const WAIT: Duration = Duration::from_secs(15);

/// The seed document's example response, verbatim.
pub const SEED_EXAMPLE: &str = include_str!("../fixtures/seed-example.json");

/// The largest API budget the flags accept, given to every exporter a test starts (unless the
/// test sets one): the stand-in is not SmartLead, and tests poll it every second.
pub const STAND_IN_BUDGET: [&str; 2] = [
    "--smartlead.max-calls-per-minute=300",
    "--smartlead.max-calls-per-hour=18000",
];

/// Every collector but `categories` turned off, for every exporter a test starts (unless the
/// test names a collector, or runs the demo): most tests are about the categories poll, and
/// their scripts answer every path alike.
pub const CATEGORIES_ONLY: [&str; 3] = [
    "--no-collector.replies",
    "--no-collector.campaigns",
    "--no-collector.mailboxes",
];

/// [`CATEGORIES_ONLY`] unless `args` name a collector or run the demo.
pub fn categories_only(args: &[&str]) -> &'static [&'static str] {
    if args
        .iter()
        .any(|a| a.contains("collector.") || *a == "--demo")
    {
        &[]
    } else {
        &CATEGORIES_ONLY
    }
}

/// The flags every exporter a test starts and scrapes gets besides its own:
/// [`STAND_IN_BUDGET`] unless it sets a budget, and [`categories_only`].
pub fn default_args(args: &[&str]) -> Vec<&'static str> {
    let mut defaults = Vec::new();
    if !args
        .iter()
        .any(|a| a.starts_with("--smartlead.max-calls-per-"))
    {
        defaults.extend(STAND_IN_BUDGET);
    }
    defaults.extend(categories_only(args));
    defaults
}

/// What the stand-in does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A complete answer with `Content-Length`.
    Answer {
        /// HTTP status.
        status: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
    /// The same, after a delay.
    Delayed(Duration, Box<Reply>),
    /// Bytes written as they are, then the connection closes.
    Raw(Vec<u8>),
    /// Headers announcing `len` bytes, then one byte every `every`.
    Trickle {
        /// The announced body length.
        len: usize,
        /// The pause between bytes.
        every: Duration,
    },
    /// A chunked 200 answer that sends `chunks` chunks of `size` bytes (no `Content-Length`).
    Chunked {
        /// Chunks to send.
        chunks: usize,
        /// Bytes per chunk.
        size: usize,
    },
    /// Read the request and never answer.
    Silence,
    /// Read the request and reset the connection.
    Reset,
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: u16, body: &str) -> Self {
        Self::Answer {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    /// An answer with a content type and body.
    pub fn typed(status: u16, content_type: &str, body: &[u8]) -> Self {
        Self::Answer {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.to_vec(),
        }
    }

    /// The same answer with an extra header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let Self::Answer { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }
}

/// One request as the stand-in saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// When it arrived.
    pub at: Instant,
    /// The request head, request line and headers.
    pub head: String,
}

/// A scripted SmartLead stand-in.
#[derive(Clone)]
pub struct StandIn {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The replies, by call number; the last one repeats.
    script: Arc<Mutex<Vec<Reply>>>,
    /// Calls answered, counting from the start or the last `set_script`.
    calls: Arc<AtomicUsize>,
    /// Every request head seen.
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Whether complete answers leave the connection open for the next request, as
    /// SmartLead's servers do; off by default (every answer closes its connection).
    keep_alive: Arc<AtomicBool>,
    /// Connections accepted.
    connections: Arc<AtomicUsize>,
    /// Connections the client closed while the stand-in waited for its next request.
    closed_by_client: Arc<AtomicUsize>,
    /// What each known API key gets, for many accounts: a request whose `api_key` is here is
    /// answered by that key's routes, script or account (in that order), and logged there,
    /// instead of following `script`.
    by_key: Arc<Mutex<HashMap<String, KeyState>>>,
}

/// One key's scripts, account and call log.
#[derive(Debug, Default)]
struct KeyState {
    /// Scripts for one path or endpoint, each with its own call numbering; see
    /// [`StandIn::script_endpoint`].
    routes: Vec<Route>,
    /// The key's script for every path, with its own call numbering.
    script: Option<Vec<Reply>>,
    /// Requests answered from `script`.
    script_calls: usize,
    /// A whole account answering every endpoint.
    account: Option<FakeAccount>,
    /// Every request with this key.
    log: Vec<Call>,
}

/// A script for one path or endpoint of one key.
#[derive(Debug)]
struct Route {
    /// A path under the base URL (`/campaigns/17/analytics`) or an endpoint label
    /// (`campaign-analytics`).
    route: String,
    /// The replies, by call number; the last one repeats.
    script: Vec<Reply>,
    /// Requests answered from it.
    calls: usize,
}

/// One request with a known key.
#[derive(Debug, Clone)]
pub struct Call {
    /// When it arrived.
    pub at: Instant,
    /// The path under the base URL, e.g. `/campaigns/17/analytics`.
    pub path: String,
    /// The query string without the `api_key` pair, e.g. `offset=0&limit=100`.
    pub query: String,
}

impl Call {
    /// The `api_endpoint` label of the path, if it is one of SmartLead's.
    pub fn endpoint(&self) -> Option<&'static str> {
        endpoint_of(&self.path)
    }
}

/// The path under the stand-in's base URL (`/api/v1`).
pub const BASE_PATH: &str = "/api/v1";

/// The `api_endpoint` label of a path under the base URL.
pub fn endpoint_of(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["leads", "fetch-categories"] => Some("fetch-categories"),
        ["analytics", "lead", "category-wise-response"] => Some("category-wise-response"),
        ["campaigns"] => Some("campaigns"),
        ["campaigns", id, "analytics"] if id.parse::<u64>().is_ok() => Some("campaign-analytics"),
        ["email-accounts"] => Some("email-accounts"),
        _ => None,
    }
}

/// The largest number of `times` inside any `window` (a sliding window, both ends included):
/// what a per-minute budget bounds.
pub fn most_in_any_window(times: &[Instant], window: Duration) -> usize {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    let mut most = 0;
    let mut start = 0;
    for end in 0..sorted.len() {
        while sorted[end].duration_since(sorted[start]) > window {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    most
}

impl StandIn {
    /// Starts a stand-in on an ephemeral loopback port.
    pub async fn start(script: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stand_in = Self {
            addr: listener.local_addr().unwrap(),
            script: Arc::new(Mutex::new(script)),
            calls: Arc::new(AtomicUsize::new(0)),
            seen: Arc::new(Mutex::new(Vec::new())),
            keep_alive: Arc::new(AtomicBool::new(false)),
            connections: Arc::new(AtomicUsize::new(0)),
            closed_by_client: Arc::new(AtomicUsize::new(0)),
            by_key: Arc::default(),
        };
        let server = stand_in.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let server = server.clone();
                tokio::spawn(async move { server.serve(stream).await });
            }
        });
        stand_in
    }

    /// Gives requests with `api_key=key` their own script, for every path that has no script
    /// of its own.
    pub fn script_key(&self, key: &str, script: Vec<Reply>) {
        let mut by_key = self.by_key.lock().unwrap();
        let state = by_key.entry(key.to_owned()).or_default();
        state.script = Some(script);
        state.script_calls = 0;
    }

    /// Gives requests with `api_key=key` to one path or endpoint their own script: `route` is
    /// a path under the base URL (`/campaigns/17/analytics`), matched first, or an endpoint
    /// label (`campaign-analytics`, see [`endpoint_of`]).
    pub fn script_endpoint(&self, key: &str, route: &str, script: Vec<Reply>) {
        let mut by_key = self.by_key.lock().unwrap();
        let state = by_key.entry(key.to_owned()).or_default();
        state.routes.retain(|r| r.route != route);
        state.routes.push(Route {
            route: route.to_owned(),
            script,
            calls: 0,
        });
    }

    /// Lets `account` answer every endpoint for `api_key=key` (where no script of the key
    /// applies), with correct pagination and SmartLead's quirks.
    pub fn account(&self, key: &str, account: FakeAccount) {
        let mut by_key = self.by_key.lock().unwrap();
        by_key.entry(key.to_owned()).or_default().account = Some(account);
    }

    /// Changes the account of `key` in place (a campaign deleted, counts grown...).
    pub fn update_account(&self, key: &str, change: impl FnOnce(&mut FakeAccount)) {
        let mut by_key = self.by_key.lock().unwrap();
        let account = by_key
            .get_mut(key)
            .and_then(|state| state.account.as_mut())
            .expect("no account for this key");
        change(account);
    }

    /// When each request with `api_key=key` arrived.
    pub fn seen_key(&self, key: &str) -> Vec<Instant> {
        self.log(key).iter().map(|c| c.at).collect()
    }

    /// Every request with `api_key=key`, in order: time, path and query.
    pub fn log(&self, key: &str) -> Vec<Call> {
        self.by_key
            .lock()
            .unwrap()
            .get(key)
            .map(|k| k.log.clone())
            .unwrap_or_default()
    }

    /// The base URL to give `--smartlead.base-url`.
    pub fn base_url(&self) -> String {
        format!("http://{}/api/v1", self.addr)
    }

    /// Replaces the script; call numbering goes on.
    pub fn set_script(&self, script: Vec<Reply>) {
        *self.script.lock().unwrap() = script;
    }

    /// Requests received so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Every request head seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// From now on, complete answers keep their connection open for further requests.
    pub fn keep_alive(&self) {
        self.keep_alive.store(true, Ordering::SeqCst);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Connections the client closed between requests so far.
    pub fn closed_by_client(&self) -> usize {
        self.closed_by_client.load(Ordering::SeqCst)
    }

    async fn serve(&self, mut stream: TcpStream) {
        self.connections.fetch_add(1, Ordering::SeqCst);
        loop {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        if head.is_empty() {
                            self.closed_by_client.fetch_add(1, Ordering::SeqCst);
                        }
                        return;
                    }
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
                if head.len() > 64 * 1024 {
                    return;
                }
            }
            if !self.answer(&mut stream, head).await {
                return;
            }
        }
    }

    /// Answers one request; whether the connection stays open.
    async fn answer(&self, stream: &mut TcpStream, head: Vec<u8>) -> bool {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let text = String::from_utf8_lossy(&head).into_owned();
        let target = text.split_whitespace().nth(1).unwrap_or("");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let key = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("api_key="))
            .map(str::to_owned);
        let keep_alive = self.keep_alive.load(Ordering::SeqCst);
        if let Some(key) = key {
            let path = path.strip_prefix(BASE_PATH).unwrap_or(path);
            let query: Vec<&str> = query
                .split('&')
                .filter(|pair| !pair.starts_with("api_key=") && !pair.is_empty())
                .collect();
            let keyed = self
                .by_key
                .lock()
                .unwrap()
                .get_mut(&key)
                .map(|state| state.answer(path, &query.join("&")));
            if let Some(reply) = keyed {
                let reply = reply.unwrap_or_else(|| self.scripted(call));
                return write_reply(stream, reply, keep_alive).await;
            }
        }
        self.seen.lock().unwrap().push(Seen {
            at: Instant::now(),
            head: text,
        });
        let reply = self.scripted(call);
        write_reply(stream, reply, keep_alive).await
    }

    /// The default script's reply to call number `call`.
    fn scripted(&self, call: usize) -> Reply {
        let script = self.script.lock().unwrap();
        script
            .get(call)
            .or_else(|| script.last())
            .cloned()
            .unwrap_or(Reply::Silence)
    }
}

impl KeyState {
    /// Logs a request and answers it from the key's route for the path, its script or its
    /// account; `None` when none applies (the default script answers).
    fn answer(&mut self, path: &str, query: &str) -> Option<Reply> {
        self.log.push(Call {
            at: Instant::now(),
            path: path.to_owned(),
            query: query.to_owned(),
        });
        let endpoint = endpoint_of(path);
        let route = self
            .routes
            .iter()
            .position(|r| r.route == path)
            .or_else(|| {
                self.routes
                    .iter()
                    .position(|r| Some(r.route.as_str()) == endpoint)
            });
        if let Some(at) = route {
            let route = &mut self.routes[at];
            let reply = nth_reply(&route.script, route.calls);
            route.calls += 1;
            return Some(reply);
        }
        if let Some(script) = &self.script {
            let reply = nth_reply(script, self.script_calls);
            self.script_calls += 1;
            return Some(reply);
        }
        self.account.as_ref().map(|a| a.answer(path, query))
    }
}

/// Reply number `n` of a script whose last reply repeats; silence for an empty one.
fn nth_reply(script: &[Reply], n: usize) -> Reply {
    script
        .get(n)
        .or_else(|| script.last())
        .cloned()
        .unwrap_or(Reply::Silence)
}

/// Writes `reply`; a complete answer leaves the connection open if `keep_alive`, and then
/// this returns true.
async fn write_reply(stream: &mut TcpStream, mut reply: Reply, keep_alive: bool) -> bool {
    while let Reply::Delayed(delay, inner) = reply {
        tokio::time::sleep(delay).await;
        reply = *inner;
    }
    match reply {
        Reply::Answer {
            status,
            headers,
            body,
        } => {
            let connection = if keep_alive { "keep-alive" } else { "close" };
            let mut out = format!(
                "HTTP/1.1 {status} Whatever\r\nContent-Length: {}\r\nConnection: {connection}\r\n",
                body.len()
            );
            for (name, value) in headers {
                out.push_str(&format!("{name}: {value}\r\n"));
            }
            out.push_str("\r\n");
            let mut bytes = out.into_bytes();
            bytes.extend_from_slice(&body);
            if stream.write_all(&bytes).await.is_ok() && keep_alive {
                return true;
            }
            let _ = stream.shutdown().await;
        }
        Reply::Raw(bytes) => {
            let _ = stream.write_all(&bytes).await;
            let _ = stream.shutdown().await;
        }
        Reply::Trickle { len, every } => {
            let head = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n[");
            if stream.write_all(head.as_bytes()).await.is_err() {
                return false;
            }
            for _ in 1..len {
                tokio::time::sleep(every).await;
                if stream.write_all(b" ").await.is_err() {
                    return false;
                }
            }
        }
        Reply::Chunked { chunks, size } => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return false;
            }
            let chunk = format!("{size:x}\r\n{}\r\n", " ".repeat(size));
            for _ in 0..chunks {
                if stream.write_all(chunk.as_bytes()).await.is_err() {
                    return false;
                }
            }
            let _ = stream.write_all(b"0\r\n\r\n").await;
        }
        Reply::Silence => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Reply::Reset => {
            let _ = stream.set_zero_linger();
        }
        Reply::Delayed(..) => unreachable!(),
    }
    false
}

/// A running exporter process, killed when dropped.
pub struct Exporter {
    /// The child process.
    child: Child,
    /// Where it serves.
    pub addr: SocketAddr,
    /// Every stderr line so far.
    logs: Arc<Mutex<Vec<String>>>,
    /// A client that never uses a proxy.
    http: reqwest::Client,
}

impl Exporter {
    /// Starts the exporter with `args` (plus a loopback listen address) and `env` only.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_with(args, env, |_| {})
    }

    /// Starts the exporter against `stand_in` with key `key`, extra `args`, and the open-file
    /// limit (`RLIMIT_NOFILE`) set to `soft` and `hard` in the child before it runs.
    pub fn against_with_nofile(
        stand_in: &StandIn,
        key: &str,
        args: &[&str],
        (soft, hard): (u64, u64),
    ) -> Self {
        use std::os::unix::process::CommandExt as _;
        let base = format!("--smartlead.base-url={}", stand_in.base_url());
        let mut all = vec![base.as_str()];
        all.extend_from_slice(args);
        Self::start_with(&all, &[("SMARTLEAD_API_KEY", key)], |command| {
            let limit = libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            };
            // SAFETY: the closure runs in the forked child before exec and only calls
            // setrlimit, which is async-signal-safe, on a struct it owns.
            unsafe {
                command.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        })
    }

    /// [`Exporter::start`], with `customize` applied to the command before it is spawned.
    pub fn start_with(
        args: &[&str],
        env: &[(&str, &str)],
        customize: impl FnOnce(&mut Command),
    ) -> Self {
        let mut command = Command::new(BIN);
        command.arg("--web.listen-address=127.0.0.1:0");
        command
            .args(default_args(args))
            .args(args)
            .env_clear()
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        customize(&mut command);
        let mut child = command.spawn().expect("start the exporter");
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = listening_address(&line) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr);
                    }
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = rx
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("exporter did not start: {:?}", logs.lock().unwrap()));
        Self {
            child,
            addr: addr.parse().unwrap(),
            logs,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    /// Starts the exporter against `stand_in` with key `key` and extra `args`.
    pub fn against(stand_in: &StandIn, key: &str, args: &[&str]) -> Self {
        let base = format!("--smartlead.base-url={}", stand_in.base_url());
        let mut all = vec![base.as_str()];
        all.extend_from_slice(args);
        Self::start(&all, &[("SMARTLEAD_API_KEY", key)])
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `GET path`: status, headers and body text.
    pub async fn get(&self, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
        let response = self
            .http
            .get(format!("http://{}{path}", self.addr))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.text().await.unwrap())
    }

    /// The exposition text.
    pub async fn metrics(&self) -> String {
        let (status, _, body) = self.get("/metrics").await;
        assert_eq!(status, 200);
        body
    }

    /// Scrapes until `check` holds on the exposition, or fails after [`WAIT`].
    pub async fn wait_for(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.metrics().await;
            if check(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; last exposition:\n{text}\nlogs:\n{}",
                self.logs().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every stderr line so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Sends a signal and waits for the exit, returning the status and how long it took.
    pub fn stop(mut self, signal: &str) -> (ExitStatus, Duration) {
        let started = Instant::now();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, started.elapsed());
            }
            assert!(
                started.elapsed() < WAIT,
                "exporter did not exit after SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `smartlead_up` of the default account.
pub const UP: &str = "smartlead_up{account=\"default\"}";

/// The series of `smartlead_api_request_failures_total` for `reason`, default account.
pub fn failures(reason: &str) -> String {
    format!(
        "smartlead_api_request_failures_total{{account=\"default\",api_endpoint=\"fetch-categories\",reason=\"{reason}\"}}"
    )
}

/// The series of `smartlead_api_requests_total` for `code`, default account.
pub fn requests(code: u16) -> String {
    format!(
        "smartlead_api_requests_total{{account=\"default\",api_endpoint=\"fetch-categories\",code=\"{code}\"}}"
    )
}

/// The value of the series named exactly `series` (name and labels as exposed).
pub fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?;
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}

/// The address in the "listening" log line, in logfmt or JSON.
fn listening_address(line: &str) -> Option<String> {
    if line.contains("message=listening") {
        return line
            .split_whitespace()
            .find_map(|f| f.strip_prefix("address="))
            .map(str::to_owned);
    }
    if line.contains("\"message\":\"listening\"") {
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        return value["address"].as_str().map(str::to_owned);
    }
    None
}

/// Decodes a gzip body to text.
pub fn gunzip(gzip: &[u8]) -> String {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(gzip), &mut text).unwrap();
    text
}

/// Runs the exporter to completion with `args` and `env` (and [`categories_only`], but the
/// default budget): status, stdout, stderr.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let output = Command::new(BIN)
        .args(categories_only(args))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// What `promtool check metrics` says of `text`; empty when it has nothing to complain about.
pub fn promtool_findings(text: &str) -> String {
    use std::io::Write as _;
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is needed: install Debian's prometheus package (the test command does)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = promtool.wait_with_output().unwrap();
    let findings = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{findings}");
    findings.trim().to_owned()
}
