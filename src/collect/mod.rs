//! The collectors: for every account, each enabled collector polls its SmartLead endpoints on
//! its own schedule and writes what it learned into the state.
//!
//! - `supervisor`: every account's collectors, started, updated and stopped as the
//!   configuration changes; `--once`.
//! - `account`: what an account's collectors share (settings, key, client, permits) and the
//!   loop each runs: due, run, record, back off, go stale.
//! - `schedule`: intervals, backoff, server waits, staleness and start times, as pure
//!   functions.
//! - `job`: one type over every collector's run; `categories`: the categories collector.

mod account;
mod categories;
mod job;
mod schedule;
mod supervisor;

pub use supervisor::{once, Changes, Supervisor};
