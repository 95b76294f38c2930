//! Writing sample lines in the text format: label values escaped, numbers written as the
//! `prometheus` crate writes them, each family's `# HELP`/`# TYPE` lines written once, before
//! its first sample, and the text handed to the compressor in batches as it grows, so that the
//! whole exposition never needs to exist at once.

use std::fmt::Write as _;

use flate2::{Crc, FlushCompress};

use super::families::Family;
use super::gzip::{Deflater, GZIP_HEADER};

/// Text is handed to the compressor whenever this much has been gathered: large enough that
/// the compressor works on long runs, small enough to stay in the CPU cache.
pub(super) const ENCODE_BATCH_BYTES: usize = 64 * 1024;

/// Time stamps and counts below this (about 30 million years in seconds) that are whole
/// numbers are written as integers, which an `i64` holds exactly.
const MAX_EXACT_WHOLE: f64 = 1e15;

/// A sample's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value {
    /// A count.
    Int(u64),
    /// Anything else.
    Float(f64),
}

impl From<u64> for Value {
    fn from(value: u64) -> Self {
        Self::Int(value)
    }
}

impl From<f64> for Value {
    fn from(value: f64) -> Self {
        Self::Float(value)
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Self::Int(u64::from(value))
    }
}

/// The exposition text as it is written, compressed batch by batch into one deflate stream
/// behind a gzip header.
pub(super) struct Out {
    /// The batch not yet compressed.
    text: String,
    /// The compressed stream so far.
    deflater: Deflater,
}

impl Out {
    /// An empty exposition whose compressed form is expected to take about `expected` bytes.
    pub(super) fn new(expected: usize) -> Self {
        Self {
            text: String::with_capacity(ENCODE_BATCH_BYTES * 2),
            deflater: Deflater::new(&GZIP_HEADER, expected),
        }
    }

    /// The samples of `family`, labelled first with `account` when given (already escaped).
    pub(super) fn family<'a>(
        &'a mut self,
        family: &'static Family,
        account: Option<&'a str>,
        header_written: &'a mut bool,
    ) -> Samples<'a> {
        Samples {
            out: self,
            family,
            account,
            header_written,
        }
    }

    /// Ends the stream on a sync flush, so that another deflate stream can follow; returns the
    /// gzip header and deflated text, and the text's CRC-32 and length.
    pub(super) fn finish(mut self) -> (Vec<u8>, Crc) {
        self.deflater.write(self.text.as_bytes());
        self.deflater.finish(FlushCompress::Sync)
    }

    /// Compresses the batch once it is large enough.
    fn batch_done(&mut self) {
        if self.text.len() >= ENCODE_BATCH_BYTES {
            self.deflater.write(self.text.as_bytes());
            self.text.clear();
        }
    }
}

/// Writes one family's samples.
pub(crate) struct Samples<'a> {
    /// Where the lines go.
    out: &'a mut Out,
    /// The family written.
    family: &'static Family,
    /// The `account` label's value, escaped, written first in every sample of a per-account
    /// family.
    account: Option<&'a str>,
    /// Whether the family's `# HELP`/`# TYPE` lines are written, shared by every account's
    /// writer of the family in one build.
    header_written: &'a mut bool,
}

impl Samples<'_> {
    /// Writes `name{account="…",labels…} value`.
    pub(crate) fn sample(&mut self, labels: &[(&str, &str)], value: impl Into<Value>) {
        self.suffixed("", labels, value);
    }

    /// Writes `name_suffix{account="…",labels…} value`, for the series of a histogram.
    pub(crate) fn suffixed(
        &mut self,
        suffix: &str,
        labels: &[(&str, &str)],
        value: impl Into<Value>,
    ) {
        if !*self.header_written {
            *self.header_written = true;
            let family = self.family;
            let text = &mut self.out.text;
            text.push_str("# HELP ");
            text.push_str(family.name);
            text.push(' ');
            text.push_str(family.help);
            text.push_str("\n# TYPE ");
            text.push_str(family.name);
            text.push(' ');
            text.push_str(family.kind.as_str());
            text.push('\n');
        }
        let text = &mut self.out.text;
        text.push_str(self.family.name);
        text.push_str(suffix);
        let mut first = true;
        if let Some(account) = self.account {
            text.push_str("{account=\"");
            text.push_str(account);
            text.push('"');
            first = false;
        }
        for (name, value) in labels {
            text.push(if first { '{' } else { ',' });
            first = false;
            text.push_str(name);
            text.push_str("=\"");
            push_label_value(text, value);
            text.push('"');
        }
        if !first {
            text.push('}');
        }
        text.push(' ');
        push_value(text, value.into());
        text.push('\n');
        self.out.batch_done();
    }
}

/// Writes a value as the `prometheus` crate does: integers as integers (through `itoa`,
/// several times faster than `fmt`), other numbers as Rust prints them, infinities as
/// `+Inf`/`-Inf`.
pub(crate) fn push_value(out: &mut String, value: Value) {
    match value {
        Value::Int(n) => {
            out.push_str(itoa::Buffer::new().format(i64::try_from(n).unwrap_or(i64::MAX)));
        }
        Value::Float(f) if f.is_nan() => out.push_str("NaN"),
        Value::Float(f) if f == f64::INFINITY => out.push_str("+Inf"),
        Value::Float(f) if f == f64::NEG_INFINITY => out.push_str("-Inf"),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < MAX_EXACT_WHOLE => {
            // Whole and far below 2^53: the conversion is exact.
            out.push_str(itoa::Buffer::new().format(f as i64));
        }
        Value::Float(f) => {
            let _ = write!(out, "{f}");
        }
    }
}

/// Escapes a label value as the text format requires: backslash, double quote, newline.
pub(crate) fn push_label_value(out: &mut String, value: &str) {
    let mut rest = value;
    while let Some(at) = rest.find(['\\', '"', '\n']) {
        out.push_str(&rest[..at]);
        out.push_str(match rest.as_bytes()[at] {
            b'\\' => "\\\\",
            b'"' => "\\\"",
            _ => "\\n",
        });
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_written_as_the_prometheus_crate_writes_them() {
        let cases: [(Value, &str); 8] = [
            (Value::Int(42), "42"),
            (Value::Int(u64::MAX), "9223372036854775807"),
            (Value::Float(1_705_314_600.0), "1705314600"),
            (Value::Float(1_705_314_600.5), "1705314600.5"),
            (Value::Float(0.007), "0.007"),
            (Value::Float(f64::INFINITY), "+Inf"),
            (Value::Float(f64::NEG_INFINITY), "-Inf"),
            (Value::Float(f64::NAN), "NaN"),
        ];
        for (value, written) in cases {
            let mut out = String::new();
            push_value(&mut out, value);
            assert_eq!(out, written);
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        push_label_value(&mut out, "Say \"hi\"\\\nnow");
        assert_eq!(out, "Say \\\"hi\\\"\\\\\\nnow");
    }
}
