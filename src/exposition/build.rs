//! One build of the exposition: every family of [`FAMILIES`] written from the state, each
//! family one group across all accounts as the text format requires, compressed as it is
//! written.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use flate2::Crc;

use super::families::{Context, Scope, FAMILIES};
use super::gzip::{inflate, EXPECTED_RATIO};
use super::samples::{push_label_value, Out};
use super::BuildInfo;
use crate::state::{AccountState, ExporterState};

/// Bytes of text an account's families other than the per-category ones take, about: for
/// sizing the compressor's output.
const ACCOUNT_TEXT: usize = 4 * 1024;

/// Bytes of text per category in the two per-category families, beyond the account and the
/// name, for sizing the compressor's output.
const CATEGORY_TEXT_OVERHEAD: usize = 200;

/// The per-build part of the exposition, compressed: everything but `process_*`.
pub(super) struct Built {
    /// The gzip header and the deflated text, ending on a sync flush: the start of a gzip
    /// member that the `process_*` part finishes.
    pub(super) gzip_head: Bytes,
    /// CRC-32 and length of the text, to be combined with the tail's for the gzip trailer.
    pub(super) crc: Crc,
    /// Length of the text, to inflate it into a buffer of the right size.
    pub(super) len: usize,
    /// The store's generation the build read.
    pub(super) generation: u64,
    /// Whether the configuration was loaded and every account had been polled once: readiness
    /// follows what `/metrics` serves.
    pub(super) ready: bool,
    /// The text, inflated on the first plain scrape that needs it.
    plain: OnceLock<Bytes>,
}

impl Built {
    /// The text, inflated on the first plain scrape and kept. Inflating happens outside the
    /// cell, so concurrent plain scrapes each inflate rather than wait on one another; the
    /// first to finish is kept.
    pub(super) fn plain(&self) -> Bytes {
        if let Some(text) = self.plain.get() {
            return text.clone();
        }
        let text = inflate(self);
        let _ = self.plain.set(text.clone());
        text
    }
}

/// Builds the exposition of `accounts` and the exporter's facts, read at `generation`.
pub(super) fn build(
    generation: u64,
    accounts: &[Arc<AccountState>],
    exporter: &ExporterState,
    build: &BuildInfo,
) -> Built {
    let ready = exporter.configured && accounts.iter().all(|a| a.polled());
    let expected: usize = accounts.iter().map(|a| text_len(a)).sum::<usize>() + ACCOUNT_TEXT;
    let mut out = Out::new(expected / EXPECTED_RATIO);
    let names: Vec<String> = accounts
        .iter()
        .map(|a| {
            let mut name = String::with_capacity(a.name.len());
            push_label_value(&mut name, &a.name);
            name
        })
        .collect();
    let context = Context { exporter, build };
    for family in FAMILIES {
        let mut header_written = false;
        match family.scope {
            Scope::Account(write) => {
                for (state, name) in accounts.iter().zip(&names) {
                    write(
                        state,
                        &mut out.family(family, Some(name), &mut header_written),
                    );
                }
            }
            Scope::Exporter(write) => {
                write(&context, &mut out.family(family, None, &mut header_written));
            }
        }
    }
    let (gzip_head, crc) = out.finish();
    Built {
        len: usize::try_from(crc.amount()).unwrap_or(expected),
        gzip_head: Bytes::from(gzip_head),
        crc,
        generation,
        ready,
        plain: OnceLock::new(),
    }
}

/// About how many bytes of text `account` takes, a little more rather than less.
fn text_len(account: &AccountState) -> usize {
    let categories = account.categories.as_ref().map_or(0, |c| {
        let names: usize = c.list.iter().map(|c| c.name.len()).sum();
        c.list.len() * (CATEGORY_TEXT_OVERHEAD + 2 * account.name.len()) + names
    });
    ACCOUNT_TEXT + categories
}
