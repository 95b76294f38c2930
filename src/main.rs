//! `smartlead_exporter`: wires the configuration, the collectors, the store, the exposition and
//! the HTTP server together, through the library's public surface (see `src/lib.rs`); nothing
//! here but start-up, reload and shutdown.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, error, info, warn};

use smartlead_exporter::{
    bind, check_config, configure_allocator, demo_account, init_logging, raise_fd_limit, serve,
    serve_health, shared_http_client, shutdown_channel, usage_error, Account, Accounts, BuildInfo,
    Cause, Cli, CliExit, Config, Encoder, FileWatch, Flags, Landing, Page, Reloader, Signal,
    Signals, Store, Supervisor, WebConfig, WebSecurity, API_KEY_ENV, MAX_CONNECTIONS,
};

/// After SIGTERM or SIGINT, the process exits within this long, whatever is still running.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(4);

/// Threads that call SmartLead, parse and encode: one, apart from the thread that serves.
/// Why one of each: `docs/design.md#threads`; measured in
/// `docs/performance.md#threads-poller_threads`.
const POLLER_THREADS: usize = 1;

/// On exit, tasks still running on either runtime get this long before they are dropped.
const RUNTIME_SHUTDOWN: Duration = Duration::from_millis(100);

fn main() -> ExitCode {
    configure_allocator();
    let cli = match Cli::parse_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(CliExit::Print(help)) => {
            let _ = help.print();
            return ExitCode::SUCCESS;
        }
        Err(CliExit::Usage(message)) => return usage_error(&message),
    };
    let config = match Flags::from_cli(cli, std::env::var_os(API_KEY_ENV)).and_then(Config::load) {
        Ok(config) => config,
        Err(e) => return usage_error(&e),
    };
    // A bad web config file is a usage error, like a bad flag, and --config.check checks it
    // too.
    let web_config = match &config.web_config_file {
        None => None,
        Some(path) => match WebConfig::load(path) {
            Ok(web_config) => Some((path.clone(), web_config)),
            Err(e) => return usage_error(&e),
        },
    };
    if config.check {
        return check_config(&config);
    }
    if let Err(e) = init_logging(config.log_level, config.log_format) {
        eprintln!("smartlead_exporter: error: cannot set up logging: {e}");
        return ExitCode::FAILURE;
    }
    for warning in &config.warnings {
        warn!("{warning}");
    }
    match raise_fd_limit() {
        Some(limit) if limit.after > limit.before => {
            debug!(
                from = limit.before,
                to = limit.after,
                "raised the open-file limit to its hard limit"
            );
        }
        Some(_) => {}
        None => warn!(
            "cannot read the open-file limit; serving at most {} connections",
            MAX_CONNECTIONS
        ),
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

/// Runs on the serving runtime; the collectors, the encoder and the landing page are spawned
/// on `polling`.
async fn run(
    config: Config,
    web: Option<Arc<WebSecurity>>,
    polling: tokio::runtime::Handle,
) -> ExitCode {
    let mut signals = match Signals::install() {
        Ok(signals) => signals,
        Err(e) => {
            error!(error = %e, "cannot install signal handlers");
            return ExitCode::FAILURE;
        }
    };
    let store = Arc::new(Store::new());
    let exposition = match Encoder::new(Arc::clone(&store), BuildInfo::current()) {
        Ok(encoder) => Arc::new(encoder),
        Err(e) => {
            error!(error = %e, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    let mut reloader = None;
    let initial: Vec<Account> = match &config.accounts {
        Accounts::Single(account) => vec![account.as_ref().clone()],
        Accounts::Demo { .. } => Vec::new(),
        Accounts::File(source) => {
            let mut file_reloader =
                Reloader::new(source.as_ref().clone(), config.shard, Arc::clone(&store));
            match file_reloader.load().await {
                Ok(file) => {
                    reloader = Some(file_reloader);
                    file.owned_by(config.shard)
                }
                Err(e) => return usage_error(&e),
            }
        }
    };
    let http = match shared_http_client(&config, &initial) {
        Ok(http) => http,
        Err(e) => {
            error!(error = %e, "cannot start");
            return ExitCode::FAILURE;
        }
    };

    // Bind before the demo stand-in starts, so that a taken port is the first and only thing
    // said; `--once` serves nothing.
    let listener = if config.once {
        None
    } else {
        match bind(&config.listen).await {
            Ok(listener) => Some(listener),
            Err(e) => {
                let addresses: Vec<String> =
                    config.listen.iter().map(ToString::to_string).collect();
                return usage_error(&format!(
                    "cannot listen on --web.listen-address ({}): {e}",
                    addresses.join(", ")
                ));
            }
        }
    };
    let health_listener = match (&config.health_listen, &listener) {
        (Some(addresses), Some(_)) => match bind(addresses).await {
            Ok(listener) => Some(listener),
            Err(e) => {
                let addresses: Vec<String> = addresses.iter().map(ToString::to_string).collect();
                return usage_error(&format!(
                    "cannot listen on --web.health-listen-address ({}): {e}",
                    addresses.join(", ")
                ));
            }
        },
        _ => None,
    };
    let initial = match &config.accounts {
        Accounts::Demo { name } => match demo_account(name, &config.defaults).await {
            Some(account) => vec![account],
            None => return ExitCode::FAILURE,
        },
        _ => initial,
    };
    let (mut supervisor, mut ended) = Supervisor::new(
        http,
        Arc::clone(&store),
        polling.clone(),
        config.concurrency,
    );
    let Some(listener) = listener else {
        return once(&mut supervisor, &exposition, initial).await;
    };
    let address = listener
        .local_addr()
        .map_or_else(|_| "unknown".to_owned(), |a| a.to_string());
    info!(version = smartlead_exporter::VERSION, revision = smartlead_exporter::REVISION,
        address = %address, telemetry_path = %config.telemetry_path, accounts = initial.len(),
        shard = config.shard.index, total_shards = config.shard.total, "listening");

    let polled = initial.len();
    supervisor.apply(initial);
    store.set_shard_accounts(config.shard.index, config.shard.total, polled);
    store.set_reload(true);
    // Every account is listed, not ready, from the first scrape on.
    exposition.rebuild();
    let landing = Arc::new(Landing::new(
        Arc::clone(&store),
        Page {
            telemetry_path: config.telemetry_path.clone(),
            demo: matches!(config.accounts, Accounts::Demo { .. }),
        },
    ));

    let (trigger, shutdown) = shutdown_channel();
    if let Some(health_listener) = health_listener {
        if let Ok(address) = health_listener.local_addr() {
            info!(address = %address, "serving /-/healthy and /-/ready in plain HTTP");
        }
        tokio::spawn(serve_health(
            health_listener,
            Arc::clone(&exposition),
            shutdown.clone(),
        ));
    }
    let server = tokio::spawn(serve(
        listener,
        Arc::clone(&exposition),
        Arc::clone(&landing),
        config.telemetry_path.clone(),
        web.clone(),
        shutdown.clone(),
    ));
    // Reloaded when the files change, and on SIGHUP below.
    if let Some(web) = &web {
        tokio::spawn(Arc::clone(web).watch(shutdown.clone()));
    }
    let encoder = polling.spawn(Arc::clone(&exposition).run(shutdown.clone()));
    let landing = polling.spawn(Arc::clone(&landing).run(shutdown));
    let mut watch = match &config.accounts {
        Accounts::File(source) => Some(FileWatch::new(vec![source.path.clone()])),
        _ => None,
    };

    // Collectors only end on shutdown; if one ends before (a bug), exit non-zero so that the
    // process supervisor restarts it rather than let it serve ever-older data.
    let code = loop {
        tokio::select! {
            signal = signals.recv() => match signal {
                Signal::Stop(name) => {
                    info!(signal = name, "shutting down");
                    break ExitCode::SUCCESS;
                }
                Signal::Reload => {
                    if let Some(web) = &web {
                        web.request_reload();
                    }
                    match reloader.as_mut() {
                        Some(reloader) => {
                            reloader.reload(Cause::Signal, &mut supervisor).await;
                        }
                        None if web.is_some() => {}
                        None => info!(signal = "SIGHUP", "reloading: key files are re-read \
                            before every poll; without --config.file there is nothing else to \
                            reload"),
                    }
                }
            },
            () = changed(watch.as_mut()) => {
                if let Some(reloader) = reloader.as_mut() {
                    reloader.reload(Cause::FileChanged, &mut supervisor).await;
                }
            }
            name = ended.recv() => {
                error!(account = name.as_deref().unwrap_or("?"),
                    "a collector stopped unexpectedly; exiting");
                break ExitCode::FAILURE;
            }
        }
    };
    trigger.fire();
    let stopped = tokio::time::timeout(SHUTDOWN_DEADLINE, async {
        supervisor.stop_all().await;
        let _ = encoder.await;
        let _ = landing.await;
        let _ = server.await;
    })
    .await;
    if stopped.is_err() {
        warn!("tasks still running at the shutdown deadline; exiting anyway");
    }
    code
}

/// Resolves when the watched file may have changed; never without a watch.
async fn changed(watch: Option<&mut FileWatch>) {
    match watch {
        Some(watch) => watch.changed().await,
        None => std::future::pending().await,
    }
}

/// `--once`: every account's collectors run once, the exposition on stdout; exit 0 only if
/// every run succeeded.
async fn once(
    supervisor: &mut Supervisor,
    exposition: &Encoder,
    accounts: Vec<Account>,
) -> ExitCode {
    let all_succeeded = supervisor.once(accounts).await;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(&exposition.exposition(false))
        .and_then(|()| stdout.flush())
    {
        error!(error = %e, "cannot write the exposition to stdout");
        return ExitCode::FAILURE;
    }
    if all_succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
