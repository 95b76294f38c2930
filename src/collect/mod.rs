//! The collectors: for every account, each enabled collector polls its SmartLead endpoints on
//! its own schedule and writes what it learned into the state.
//!
//! - `supervisor`: every account's collectors, started, updated and stopped as the
//!   configuration changes; `--once`.
//! - `account`: what an account's collectors share (settings, key, client, permits, budget)
//!   and the one way they call SmartLead.
//! - `collector`: the loop each collector runs: due, run, record, back off, go stale.
//! - `budget`: each key's calls paced within its budget, and intervals stretched when the
//!   collectors would need more.
//! - `schedule`: intervals, backoff, server waits, staleness and start times, as pure
//!   functions.
//! - `job`: one type over every collector's run; `categories`, `replies`, `campaigns`,
//!   `mailboxes`: each collector's run.

mod account;
mod budget;
mod campaigns;
mod categories;
mod collector;
mod job;
mod mailboxes;
mod replies;
mod schedule;
mod supervisor;

pub use supervisor::Supervisor;
