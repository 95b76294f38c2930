//! The `tracing` subscriber: `--log.level` and `--log.format` (logfmt or JSON), on stderr so
//! that `--once` can print the exposition alone on stdout. Records of dependencies that log
//! through the `log` crate (reqwest) are captured too.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::{LogFormat, LogLevel};

/// Installs the global subscriber. Call once, before anything logs.
///
/// # Errors
/// When a global subscriber is already installed.
pub fn init(
    level: LogLevel,
    format: LogFormat,
) -> Result<(), tracing_subscriber::util::TryInitError> {
    let filter = match level {
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    };
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Logfmt => registry
            .with(
                tracing_logfmt::builder()
                    .with_span_name(false)
                    .with_span_path(false)
                    .layer()
                    .with_writer(|| PlainApostrophes(std::io::stderr())),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    }
}

/// Writes logfmt lines without the backslash that `tracing-logfmt` (through `escape_debug`)
/// puts before every apostrophe in a quoted value: logfmt escapes only `"` and `\`, and
/// `SmartLead\'s` reads as a stray escape. Every `\'` in its output is that escape (a
/// backslash of the text is itself escaped, and an apostrophe never appears unescaped), so
/// dropping the backslash is exact.
struct PlainApostrophes<W>(W);

impl<W: std::io::Write> std::io::Write for PlainApostrophes<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The fmt layer hands over each line whole, in one call.
        let mut rest = buf;
        while let Some(at) = rest.windows(2).position(|w| w == b"\\'") {
            self.0.write_all(&rest[..at])?;
            rest = &rest[at + 1..];
        }
        self.0.write_all(rest)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    #[test]
    fn apostrophes_lose_their_stray_escape_and_nothing_else() {
        let mut out = super::PlainApostrophes(Vec::new());
        out.write_all(br#"error="SmartLead\'s answer" path="C:\\\'x\" \\n""#)
            .unwrap();
        assert_eq!(
            String::from_utf8(out.0).unwrap(),
            r#"error="SmartLead's answer" path="C:\\'x\" \\n""#
        );
    }
}
