//! `smartlead_exporter`: wires the configuration, the SmartLead client, the poller, the
//! metrics and the HTTP server together. Each piece lives in its own module of the library
//! (see `src/lib.rs`); nothing here but start-up and shutdown.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser as _;
use tracing::{error, info, warn};

use smartlead_exporter::config::{Cli, Config, Upstream, API_KEY_ENV};
use smartlead_exporter::metrics::{BuildInfo, Metrics};
use smartlead_exporter::poller::{Poller, PollerConfig};
use smartlead_exporter::smartlead::client::{Client, ClientConfig};
use smartlead_exporter::smartlead::key::KeySource;
use smartlead_exporter::web_config::{WebConfig, WebSecurity};
use smartlead_exporter::{allocator, demo, logging, server, shutdown};

/// After SIGTERM or SIGINT, the process exits within this long, whatever is still running.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(4);

/// Threads that poll SmartLead, parse and encode: one, apart from the thread that serves.
///
/// Scrapes are served by the main thread alone (a current-thread runtime), like nginx's
/// single worker: answering is two buffer clones, so one thread keeps up with loopback. Two
/// worker threads sharing the connections got in each other's way on a two-core machine:
/// measured with `scripts/bench.sh`, p99 3.3 ms against nginx's 1.5 ms in the same run; one
/// thread, 1.5 against 1.3. Polls run on this separate thread, so parsing and encoding 100,000
/// categories (tens of milliseconds) never holds a scrape back.
const POLLER_THREADS: usize = 1;

/// On exit, tasks still running on either runtime get this long before they are dropped.
const RUNTIME_SHUTDOWN: Duration = Duration::from_millis(100);

/// Exit status for a configuration that cannot run.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    allocator::configure();
    let cli = Cli::parse();
    let config = match Config::from_cli(cli, std::env::var_os(API_KEY_ENV)) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("smartlead_exporter: error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // web-config (issue 11): a bad web config file is a usage error, like a bad flag.
    let web_config = match &config.web_config_file {
        None => None,
        Some(path) => match WebConfig::load(path) {
            Ok(web_config) => Some((path.clone(), web_config)),
            Err(e) => {
                eprintln!("smartlead_exporter: error: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        },
    };
    if let Err(e) = logging::init(config.log_level, config.log_format) {
        eprintln!("smartlead_exporter: error: cannot set up logging: {e}");
        return ExitCode::FAILURE;
    }
    for warning in &config.warnings {
        warn!("{warning}");
    }
    let runtimes = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .and_then(|serving| {
            let polling = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(POLLER_THREADS)
                .thread_name("poller")
                .enable_all()
                .build()?;
            Ok((serving, polling))
        });
    let (serving, polling) = match runtimes {
        Ok(runtimes) => runtimes,
        Err(e) => {
            error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let web = web_config.map(|(path, web_config)| {
        Arc::new(WebSecurity::new(
            path,
            web_config,
            config.health_unauthenticated,
        ))
    });
    let code = serving.block_on(run(config, web, polling.handle().clone()));
    polling.shutdown_timeout(RUNTIME_SHUTDOWN);
    serving.shutdown_timeout(RUNTIME_SHUTDOWN);
    code
}

/// Runs on the serving runtime; the poller is spawned on `polling`.
async fn run(
    config: Config,
    web: Option<Arc<WebSecurity>>,
    polling: tokio::runtime::Handle,
) -> ExitCode {
    let mut signals = match shutdown::Signals::install() {
        Ok(signals) => signals,
        Err(e) => {
            error!(error = %e, "cannot install signal handlers");
            return ExitCode::FAILURE;
        }
    };
    let (base_url, key_source, initial_key) = match config.upstream.clone() {
        Upstream::Remote {
            base_url,
            key_source,
            initial_key,
        } => (base_url, key_source, initial_key),
        Upstream::Demo => match demo::start().await {
            Ok(upstream) => {
                info!(base_url = %upstream.base_url, "demo mode: polling the embedded SmartLead stand-in");
                (
                    upstream.base_url,
                    KeySource::Fixed(upstream.key.clone()),
                    upstream.key,
                )
            }
            Err(e) => {
                error!(error = %e, "cannot start the demo SmartLead stand-in");
                return ExitCode::FAILURE;
            }
        },
    };
    let client = match Client::new(&ClientConfig {
        base_url,
        timeout: config.timeout,
        max_body_size: config.max_body_size,
        poll_interval: config.poll_interval,
    }) {
        Ok(client) => client,
        Err(e) => {
            error!(error = %e, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    let metrics = match Metrics::new(&config.account, &BuildInfo::current()) {
        Ok(metrics) => Arc::new(metrics),
        Err(e) => {
            error!(error = %e, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    let endpoint = client.endpoint().clone();
    let mut poller = Poller::new(
        client,
        key_source,
        initial_key,
        PollerConfig {
            account: config.account.clone(),
            interval: config.poll_interval,
            max_backoff: config.max_backoff,
            stale_after: config.stale_after,
            global_max_id: config.global_max_id,
        },
    );

    if config.once {
        let attempt = poller.poll_once().await;
        metrics.record(&attempt);
        metrics.publish(poller.snapshot());
        let mut stdout = std::io::stdout().lock();
        if let Err(e) = stdout
            .write_all(&metrics.exposition(false))
            .and_then(|()| stdout.flush())
        {
            error!(error = %e, "cannot write the exposition to stdout");
            return ExitCode::FAILURE;
        }
        return if attempt.failure.is_none() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }

    let listener = match server::bind(&config.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!(
                "smartlead_exporter: error: cannot listen on --web.listen-address {:?}: {e}",
                config.listen
            );
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let address = listener
        .local_addr()
        .map_or_else(|_| "unknown".to_owned(), |a| a.to_string());
    info!(version = smartlead_exporter::VERSION, revision = smartlead_exporter::REVISION,
        address = %address, telemetry_path = %config.telemetry_path, account = %config.account,
        endpoint = %endpoint, poll_interval = %humantime::format_duration(config.poll_interval),
        "listening");

    let (trigger, shutdown) = shutdown::channel();
    let server = tokio::spawn(server::serve(
        listener,
        Arc::clone(&metrics),
        config.telemetry_path.clone(),
        config.account.clone(),
        web.clone(),
        shutdown.clone(),
    ));
    // web-config (issue 11): reload on change, and on SIGHUP.
    if let Some(web) = &web {
        tokio::spawn(Arc::clone(web).watch(shutdown.clone()));
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(mut hangups) => {
                let web = Arc::clone(web);
                tokio::spawn(async move {
                    while hangups.recv().await.is_some() {
                        let web = Arc::clone(&web);
                        let _ = tokio::task::spawn_blocking(move || web.reload()).await;
                    }
                });
            }
            Err(e) => {
                warn!(error = %e, "cannot catch SIGHUP; the web config reloads on change only")
            }
        }
    }
    let mut polling = polling.spawn(poller.run(
        move |attempt, snapshot| {
            if let Some(attempt) = attempt {
                metrics.record(attempt);
            }
            metrics.publish(snapshot);
            allocator::release_free_memory();
        },
        shutdown,
    ));

    // The poller only ends on shutdown; if it ends before (a bug), exit non-zero so that the
    // supervisor restarts the process rather than let it serve ever-older data.
    let code = tokio::select! {
        signal = signals.recv() => {
            info!(signal, "shutting down");
            ExitCode::SUCCESS
        }
        ended = &mut polling => {
            error!(outcome = ?ended.map(|()| "returned"), "the poller stopped unexpectedly; exiting");
            ExitCode::FAILURE
        }
    };
    trigger.fire();
    let stopped = tokio::time::timeout(SHUTDOWN_DEADLINE, async {
        if !polling.is_finished() {
            let _ = polling.await;
        }
        let _ = server.await;
    })
    .await;
    if stopped.is_err() {
        warn!("tasks still running at the shutdown deadline; exiting anyway");
    }
    code
}
