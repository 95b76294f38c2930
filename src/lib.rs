//! `smartlead_exporter` polls SmartLead's lead-categories API on its own timer and serves what
//! it learned as Prometheus metrics.
//!
//! # Layout
//!
//! Data flows one way, and each module uses only the ones listed before it:
//!
//! - [`settings`]: the settings every account has, their bounds and parsers (shared by the
//!   flags and the accounts file), the collectors, the account and the sharding filter.
//! - [`cli`]: command-line flags, parsed and validated; every bad value exits 2.
//! - [`accounts`]: the accounts file (`--config.file`), parsed and validated from its text.
//! - [`startup`]: the I/O of start-up: keys, the CA bundle, the listen address, the accounts
//!   file and its keys, `--config.check`, the demo account.
//! - [`logging`]: the `tracing` subscriber (`--log.level`, `--log.format`), on stderr.
//! - [`shutdown`]: the one signal every task listens to (SIGTERM, SIGINT), and SIGHUP.
//! - [`fsread`]: reads a file the user names without blocking or reading past a limit.
//! - [`watch`]: notices when a configuration file may have changed (directory watch and poll),
//!   and fingerprints content to tell whether it did.
//! - [`smartlead`]: the API key ([`smartlead::key`]), the response model and its lenient
//!   parser ([`smartlead::model`]), and the HTTP client with its limits ([`smartlead::client`]).
//! - [`snapshot`]: the immutable result of an account's latest poll, shared with the server.
//! - [`poller`]: one account's schedule (interval, backoff, `Retry-After`, staleness); produces
//!   snapshots.
//! - [`metrics`]: every account's families; the exposition assembled family by family and
//!   cached until something changes, never encoded per scrape.
//! - [`supervisor`]: one poller per account, spread over the interval, started, stopped and
//!   restarted as the configuration changes.
//! - [`reload`]: reloading `--config.file`, an invalid file kept out.
//! - [`web`]: the HTTP server (`/metrics`, `/`, `/-/healthy`, `/-/ready`), its connection
//!   limits and timeouts, the landing page, and `--web.config.file` (TLS, basic auth, rate
//!   limit, extra headers), reloaded when the files change.
//! - [`demo`]: the SmartLead stand-in behind `--demo`.
//! - [`allocator`]: glibc tuning that returns a large poll's memory to the system.
//!
//! `src/main.rs` only wires these together.

#![warn(unreachable_pub, dead_code, unused)]
#![deny(unsafe_code)]

mod accounts;
mod allocator;
mod cli;
mod collect;
mod demo;
mod exposition;
mod fsread;
mod logging;
mod reload;
mod settings;
mod shutdown;
mod smartlead;
mod startup;
mod state;
mod watch;
mod web;

// The public surface: everything `src/main.rs`, the integration tests (`tests/`) and the
// benches (`benches/`) use, and nothing else. Every module is private.

// Start-up, for the binary: flags, the configuration and its I/O, logging, signals.
pub use allocator::configure as configure_allocator;
pub use cli::{Cli, CliExit, Flags, API_KEY_ENV};
pub use logging::init as init_logging;
pub use shutdown::{channel as shutdown_channel, Signal, Signals, Trigger};
pub use startup::{
    check as check_config, demo_account, shared_http_client, usage_error, Accounts, Config,
};

// The accounts, their collectors, and reloading them.
pub use collect::Supervisor;
pub use reload::{Cause, Reloader};
pub use settings::{shard_of, Account, Collector};
pub use watch::{FileWatch, POLL_INTERVAL as WATCH_POLL_INTERVAL};

// The store and the exposition.
pub use exposition::{BuildInfo, Encoder};
pub use state::{AccountId, AccountState, Categories, Store};

// The web layer.
pub use web::{
    bind, raise_fd_limit, serve, serve_health, Landing, Page, WebConfig, WebSecurity,
    MAX_CONNECTIONS,
};

// SmartLead: the client, the key, and the model types the tests and benches build or check.
pub use smartlead::campaigns::{CampaignStatus, Event, LeadState, UniqueEvent};
pub use smartlead::categories::{parse as parse_categories, Catalog, Category, Sentiment};
pub use smartlead::client::{
    http_client, Client, ClientConfig, Exchange, FailureReason, FetchError, HttpConfig, RateLimit,
};
pub use smartlead::key::ApiKey;
pub use smartlead::mailboxes::WarmupStatus;
pub use smartlead::replies::window as replies_window;
pub use smartlead::Endpoint;

/// The exporter's version, as reported by `--version` and `smartlead_exporter_build_info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git revision the binary was built from (see `build.rs`).
pub const REVISION: &str = env!("SMARTLEAD_EXPORTER_REVISION");

/// The version of the compiler that built the binary (see `build.rs`).
pub const RUST_VERSION: &str = env!("SMARTLEAD_EXPORTER_RUSTC_VERSION");

/// The `User-Agent` sent to SmartLead. Cloudflare in front of SmartLead refuses some default
/// client identities, so the exporter always names itself.
pub const USER_AGENT: &str = concat!("smartlead_exporter/", env!("CARGO_PKG_VERSION"));
