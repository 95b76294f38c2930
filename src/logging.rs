//! The `tracing` subscriber: `--log.level` and `--log.format` (logfmt or JSON), on stderr so
//! that `--once` can print the exposition alone on stdout. Records of dependencies that log
//! through the `log` crate (reqwest) are captured too.
//!
//! The logfmt lines are written here, a few lines of code, so that their escaping is the
//! format's and nobody else's: `ts`, `level`, `target`, `message`, then the event's fields;
//! a value is quoted when it is empty or holds a space, `=`, `"` or a control character, and
//! inside quotes only `"`, `\` and control characters are escaped.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

/// `--log.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogLevel {
    /// Failures only.
    Error,
    /// Failures and oddities in SmartLead's answers.
    Warn,
    /// Start, stop and recoveries.
    Info,
    /// Every poll.
    Debug,
    /// Everything, dependencies included.
    Trace,
}

/// `--log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `key=value` pairs, as the Go exporters write.
    Logfmt,
    /// One JSON object per line.
    Json,
}

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
                tracing_subscriber::fmt::layer()
                    .event_format(Logfmt)
                    .with_writer(std::io::stderr),
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

/// One logfmt line per event.
struct Logfmt;

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = String::with_capacity(256);
        let now = humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string();
        pair(&mut line, "ts", &now);
        line.push(' ');
        pair(
            &mut line,
            "level",
            &event.metadata().level().as_str().to_lowercase(),
        );
        line.push(' ');
        pair(&mut line, "target", event.metadata().target());
        let mut fields = Fields {
            message: None,
            rest: String::new(),
        };
        event.record(&mut fields);
        if let Some(message) = &fields.message {
            line.push(' ');
            pair(&mut line, "message", message);
        }
        line.push_str(&fields.rest);
        writeln!(writer, "{line}")
    }
}

/// The fields of one event: the message apart, since it goes first.
struct Fields {
    message: Option<String>,
    rest: String,
}

impl Fields {
    fn add(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
        } else {
            self.rest.push(' ');
            pair(&mut self.rest, field.name(), value);
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.add(field, value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.add(field, &value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.add(field, &format!("{value:?}"));
    }
}

/// Appends `key=value`: the key stripped of what a key cannot hold, the value quoted and
/// escaped where logfmt needs it.
fn pair(out: &mut String, key: &str, value: &str) {
    out.extend(key.chars().filter(|&c| !needs_quotes(c)));
    out.push('=');
    write_value(out, value);
}

/// Characters that a bare value cannot hold.
fn needs_quotes(c: char) -> bool {
    c <= ' ' || c == '=' || c == '"' || c.is_control()
}

/// Appends a logfmt value: bare when it can be, else quoted with `"`, `\` and control
/// characters escaped (`\n`, `\r`, `\t`, else `\u{..}`).
fn write_value(out: &mut String, value: &str) {
    if !value.is_empty() && !value.chars().any(needs_quotes) {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads one logfmt value back, as a logfmt parser does: bare up to the next space, or
    /// quoted with the escapes [`write_value`] writes. Returns the value and the rest.
    fn read_value(text: &str) -> (String, &str) {
        let Some(quoted) = text.strip_prefix('"') else {
            let end = text.find(' ').unwrap_or(text.len());
            return (text[..end].to_owned(), &text[end..]);
        };
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        while let Some((at, c)) = chars.next() {
            match c {
                '"' => return (value, &quoted[at + 1..]),
                '\\' => match chars.next().unwrap().1 {
                    'n' => value.push('\n'),
                    'r' => value.push('\r'),
                    't' => value.push('\t'),
                    'u' => {
                        let hex: String = chars
                            .by_ref()
                            .map(|(_, c)| c)
                            .skip(1)
                            .take_while(|&c| c != '}')
                            .collect();
                        value.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
                    }
                    other => value.push(other),
                },
                c => value.push(c),
            }
        }
        panic!("unterminated quote in {text:?}");
    }

    #[test]
    fn values_are_quoted_only_when_needed_and_apostrophes_stay_plain() {
        let mut line = String::new();
        pair(&mut line, "error", "SmartLead's answer");
        line.push(' ');
        pair(&mut line, "path", r#"C:\'x" \n"#);
        line.push(' ');
        pair(&mut line, "status", "500");
        line.push(' ');
        pair(&mut line, "empty", "");
        line.push(' ');
        pair(&mut line, "bad key=\"x\"", "a=b");
        assert_eq!(
            line,
            r#"error="SmartLead's answer" path="C:\\'x\" \\n" status=500 empty="" badkeyx="a=b""#
        );
    }

    proptest::proptest! {
        #[test]
        fn every_value_reads_back_whole_on_one_line(value in "\\PC*|[\\x00-\\x7f]*|.*") {
            let mut out = String::new();
            write_value(&mut out, &value);
            proptest::prop_assert!(!out.contains('\n') && !out.contains('\r'));
            let (read, rest) = read_value(&out);
            proptest::prop_assert_eq!(read, value);
            proptest::prop_assert_eq!(rest, "");
        }

        #[test]
        fn a_value_never_ends_its_pair_early(value in ".*", next in "[a-z]{1,8}") {
            let mut line = String::new();
            pair(&mut line, "k", &value);
            line.push(' ');
            pair(&mut line, &next, "1");
            let (read, rest) = read_value(line.strip_prefix("k=").unwrap());
            proptest::prop_assert_eq!(read, value);
            proptest::prop_assert_eq!(rest, format!(" {next}=1"));
        }
    }
}
