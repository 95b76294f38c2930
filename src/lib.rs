//! `smartlead_exporter` reads SmartLead's API (lead categories, replies by category, campaigns
//! and their analytics, mailboxes), each part on its own timer and within each key's call
//! budget, and serves what it learned as Prometheus metrics.
//!
//! # Layout
//!
//! Each module uses only the modules listed before it (doc links aside); `src/main.rs` only
//! wires them together, through the public surface below. Design notes: `docs/design.md`.
//!
//! Utilities, which use no other module:
//! - `shutdown`: the one signal every task listens to (SIGTERM, SIGINT), and SIGHUP.
//! - `fsread`: reads a file the user names without blocking or reading past a limit.
//! - `watch`: notices when a configuration file may have changed (directory watch and poll),
//!   and fingerprints content to tell whether it did.
//! - `logging`: the `tracing` subscriber (`--log.level`, `--log.format`), on stderr.
//! - `sync`: locking a mutex, a panic elsewhere notwithstanding.
//! - `allocator`: glibc tuning that returns a large poll's or build's memory to the system;
//!   the one module allowed `unsafe`.
//!
//! SmartLead, which knows nothing of the exporter around it:
//! - `smartlead`: the API key, the HTTP client and its limits, and one model file per
//!   endpoint with its lenient parser.
//! - `demo`: the SmartLead stand-in behind `--demo`.
//!
//! The configuration, parsed and validated without I/O, then read:
//! - `settings`: the settings every account has, their bounds and parsers (shared by the
//!   flags and the accounts file), the collectors, the account and the sharding filter.
//! - `cli`: command-line flags, parsed and validated; every bad value exits 2.
//! - `accounts`: the accounts file (`--config.file`), parsed and validated from its text.
//! - `startup`: the I/O of start-up: keys, the CA bundle, the listen addresses, the accounts
//!   file and its keys, `--config.check`, the demo account, the shared HTTP client.
//!
//! From the API to the scrape:
//! - `state`: every account's latest data, counters and readiness, and the exporter's own
//!   facts: the one place domain state lives.
//! - `collect`: each account's collectors, each on its own schedule within the key's budget,
//!   writing into the state; started, updated and stopped as the configuration changes.
//! - `reload`: reloading `--config.file` and handing the result to the collectors, an
//!   invalid file kept out.
//! - `exposition`: the family table, the sample writer, the build from the state, gzip, and
//!   the scrape cache.
//! - `web`: the HTTP server (`/metrics`, `/`, `/-/healthy`, `/-/ready`), its connection
//!   limits and timeouts, the landing page, and `--web.config.file` (TLS, basic auth, rate
//!   limit, extra headers), reloaded when its files change.
//!
//! The data flows configuration → startup → smartlead → collect → state → exposition → web,
//! and the dependencies follow it but in two places: `settings` names the API key type of
//! `smartlead` (an account has a key), and the SmartLead client needs nothing of the
//! configuration, so `smartlead` sits below it; the collectors write into `state`, which
//! knows nothing of them, so `state` sits below `collect`. Neither `state` nor `exposition`
//! uses `collect`, and nothing reads domain state back out of the exposition.

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
mod sync;
mod watch;
mod web;

// The public surface: everything `src/main.rs`, the integration tests (`tests/`) and the
// benches (`benches/`) use, and nothing else. Every module is private.

// Start-up, for the binary: flags, the configuration and its I/O, logging, signals, and the
// build facts it logs (`VERSION`, `REVISION`, below).
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
pub(crate) const RUST_VERSION: &str = env!("SMARTLEAD_EXPORTER_RUSTC_VERSION");

/// The `User-Agent` sent to SmartLead. Cloudflare in front of SmartLead refuses some default
/// client identities, so the exporter always names itself.
pub(crate) const USER_AGENT: &str = concat!("smartlead_exporter/", env!("CARGO_PKG_VERSION"));
