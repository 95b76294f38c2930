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
use smartlead_exporter::{demo, logging, server, shutdown};

/// After SIGTERM or SIGINT, the process exits within this long, whatever is still running.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(4);

/// Worker threads: one serves scrapes while the other parses a large answer.
const WORKER_THREADS: usize = 2;

/// Exit status for a configuration that cannot run.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_cli(cli, std::env::var_os(API_KEY_ENV)) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("smartlead_exporter: error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if let Err(e) = logging::init(config.log_level, config.log_format) {
        eprintln!("smartlead_exporter: error: cannot set up logging: {e}");
        return ExitCode::FAILURE;
    }
    for warning in &config.warnings {
        warn!("{warning}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(config));
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
}

async fn run(config: Config) -> ExitCode {
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
        shutdown.clone(),
    ));
    let polling = tokio::spawn(poller.run(
        move |attempt, snapshot| {
            if let Some(attempt) = attempt {
                metrics.record(attempt);
            }
            metrics.publish(snapshot);
        },
        shutdown,
    ));

    let signal = signals.recv().await;
    info!(signal, "shutting down");
    trigger.fire();
    let stopped = tokio::time::timeout(SHUTDOWN_DEADLINE, async {
        let _ = polling.await;
        let _ = server.await;
    })
    .await;
    if stopped.is_err() {
        warn!("tasks still running at the shutdown deadline; exiting anyway");
    }
    ExitCode::SUCCESS
}
