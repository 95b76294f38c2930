//! The SmartLead API key: a type that cannot be printed, where it comes from, and how it is
//! kept out of upstream text.
//!
//! SmartLead takes the key in the query string, so it is as sensitive as a password and as
//! easy to leak as a URL. [`ApiKey`] prints `[redacted]` under `Debug` and `Display`; the only
//! way to the secret is [`ApiKey::expose`], called where the request URL is built and by the
//! [`Redactor`], which removes the key, in any of the encodings a server may echo it in, from
//! upstream text before anything is cut, logged or shown.
//!
//! The key file is distrusted like any other input: it is opened without blocking, must be a
//! regular file (a symlink to one, as Kubernetes Secret volumes use, is fine), is read only up
//! to [`MAX_KEY_FILE_BYTES`], and must hold one key without whitespace or control characters.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret as _, SecretString};

use crate::fsread::ReadError;

/// What `Debug` and `Display` print instead of a key, and what replaces it in upstream text.
pub(crate) const REDACTED: &str = "[redacted]";

/// The largest key file read. SmartLead keys are tens of bytes; a larger file is a mistake
/// (or an attack) and is refused without being read, so that it can cost no memory.
pub(crate) const MAX_KEY_FILE_BYTES: u64 = 4096;

/// The longest key accepted, from the file or the environment. It bounds the work of
/// redaction, whose table grows with the key.
pub(crate) const MAX_KEY_BYTES: usize = 4096;

/// A SmartLead API key. Never printed; its memory is wiped when dropped.
#[derive(Clone)]
pub struct ApiKey(SecretString);

impl PartialEq for ApiKey {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for ApiKey {}

impl ApiKey {
    /// Wraps a key, trimming the whitespace that files and shells add around it.
    ///
    /// # Errors
    /// [`KeyError::Empty`] when nothing but whitespace is left, [`KeyError::Malformed`] when
    /// what is left holds whitespace or a control character or is longer than
    /// [`MAX_KEY_BYTES`].
    pub fn new(raw: &str) -> Result<Self, KeyError> {
        let key = raw.trim();
        if key.is_empty() {
            return Err(KeyError::Empty);
        }
        if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(KeyError::Malformed(
                "it holds whitespace or a control character inside (more than one line?)",
            ));
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(KeyError::Malformed("it is longer than 4096 bytes"));
        }
        Ok(Self(SecretString::from(key)))
    }

    /// The secret itself. Only the client's URL builder and the [`Redactor`] call it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Why a key could not be had. Messages name the source, never the key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key was empty or only whitespace.
    #[error("the API key is empty")]
    Empty,
    /// The key is not one plausible key.
    #[error("the API key is not usable: {0}")]
    Malformed(&'static str),
    /// The key file could not be read.
    #[error("cannot read the API key file {path}: {source}")]
    Unreadable {
        /// The file named by `--smartlead.api-key-file`.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The key file is a FIFO, a directory, a device or a socket, which could block a collector
    /// or never end.
    #[error("the API key file {path} is {kind}, not a regular file")]
    NotAFile {
        /// The file named by `--smartlead.api-key-file`.
        path: PathBuf,
        /// What it is instead.
        kind: &'static str,
    },
    /// The key file is larger than [`MAX_KEY_FILE_BYTES`]; it was not read.
    #[error(
        "the API key file {path} is larger than {MAX_KEY_FILE_BYTES} bytes; it should hold \
         only the key"
    )]
    TooLarge {
        /// The file named by `--smartlead.api-key-file`.
        path: PathBuf,
    },
    /// The key file exists but holds no key.
    #[error("the API key file {path} is empty")]
    EmptyFile {
        /// The file named by `--smartlead.api-key-file`.
        path: PathBuf,
    },
    /// The key file holds something that is not one key.
    #[error("the API key file {path} does not hold one key: {reason}")]
    MalformedFile {
        /// The file named by `--smartlead.api-key-file`.
        path: PathBuf,
        /// What is wrong, without the key.
        reason: &'static str,
    },
}

/// Where the key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// Given once, from `SMARTLEAD_API_KEY` (or the demo's fixed key).
    Fixed(ApiKey),
    /// A file re-read before every poll, so that a rotated Kubernetes Secret takes effect
    /// without a restart.
    File(PathBuf),
}

impl KeySource {
    /// The key to use for the next request.
    ///
    /// # Errors
    /// A [`KeyError`] naming the file when it cannot be read, is not a regular file, is
    /// larger than [`MAX_KEY_FILE_BYTES`], or does not hold exactly one key.
    pub fn load(&self) -> Result<ApiKey, KeyError> {
        match self {
            Self::Fixed(key) => Ok(key.clone()),
            Self::File(path) => read_key_file(path),
        }
    }
}

/// Reads the key file without ever blocking on it or reading more than
/// [`MAX_KEY_FILE_BYTES`] (see [`crate::fsread`]).
fn read_key_file(path: &Path) -> Result<ApiKey, KeyError> {
    let bytes = crate::fsread::read(path, MAX_KEY_FILE_BYTES).map_err(|e| match e {
        ReadError::Io { path, source } => KeyError::Unreadable { path, source },
        ReadError::NotAFile { path, kind } => KeyError::NotAFile { path, kind },
        ReadError::TooLarge { path, .. } => KeyError::TooLarge { path },
    })?;
    let text = String::from_utf8(bytes).map_err(|_| KeyError::MalformedFile {
        path: path.to_owned(),
        reason: "it is not UTF-8 text",
    })?;
    ApiKey::new(&text).map_err(|e| match e {
        KeyError::Malformed(reason) => KeyError::MalformedFile {
            path: path.to_owned(),
            reason,
        },
        _ => KeyError::EmptyFile {
            path: path.to_owned(),
        },
    })
}

/// Removes one key from upstream text, in every form a server may echo it in.
///
/// A match is any run of text that decodes to the key, where each character may appear
/// as itself, percent-encoded (`%2D` or `%2d`, so form and URL encodings in either case), or
/// JSON-escaped (`\u002d`, `\/`, `\"`, `\\`), in any mix; the raw key is also matched as it
/// is, in case it holds `%` or `\` itself. The scan is a single linear pass (Knuth-Morris-
/// Pratt over the decoded characters) whose memory grows with the key, not the text.
#[derive(Clone, Default)]
pub struct Redactor {
    /// The key's bytes; empty for a redactor that has no key to hide.
    key: Vec<u8>,
    /// KMP failure table: for each prefix length `q`, the longest proper prefix of the key
    /// that is also a suffix of its first `q` bytes.
    fallback: Vec<usize>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Redactor([redacted])")
    }
}

/// How [`Redactor::redact`] treats the end of the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEnd {
    /// The text is complete.
    Complete,
    /// The text is the head of a longer one: a tail that could be the beginning of the key
    /// is dropped too, since its rest lies beyond the cut.
    Cut,
}

impl Redactor {
    /// A redactor for `key`.
    pub fn new(key: &ApiKey) -> Self {
        let key = key.expose().as_bytes().to_vec();
        let mut fallback = vec![0; key.len() + 1];
        let mut k = 0;
        for q in 1..key.len() {
            while k > 0 && key[q] != key[k] {
                k = fallback[k];
            }
            if key[q] == key[k] {
                k += 1;
            }
            fallback[q + 1] = k;
        }
        Self { key, fallback }
    }

    /// The length of the key hidden, in bytes (0 for none).
    pub fn key_len(&self) -> usize {
        self.key.len()
    }

    /// `text` with every occurrence of the key replaced by [`REDACTED`]; borrowed when there
    /// is none. With [`TextEnd::Cut`], a tail that could begin the key is dropped as well.
    pub fn redact<'a>(&self, text: &'a str, end: TextEnd) -> Cow<'a, str> {
        let key = &self.key;
        if key.is_empty() {
            return Cow::Borrowed(text);
        }
        // Cheap common case: no escapes at all, so only the raw key can be present.
        let bytes = text.as_bytes();
        let escapes = bytes.iter().any(|&b| b == b'%' || b == b'\\');
        if !escapes && end == TextEnd::Complete {
            return match std::str::from_utf8(key) {
                Ok(raw) if text.contains(raw) => Cow::Owned(text.replace(raw, REDACTED)),
                _ => Cow::Borrowed(text),
            };
        }
        // The raw key first (it may itself hold `%` or `\`), then every decoding of it.
        let raw = std::str::from_utf8(key).unwrap_or_default();
        let text: Cow<'a, str> = if !raw.is_empty() && text.contains(raw) {
            Cow::Owned(text.replace(raw, REDACTED))
        } else {
            Cow::Borrowed(text)
        };
        let spans = self.matches(text.as_bytes(), end);
        if spans.is_empty() {
            return text;
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (start, stop, replace) in spans {
            out.push_str(&text[at..start]);
            if replace {
                out.push_str(REDACTED);
            }
            at = stop;
        }
        out.push_str(&text[at..]);
        Cow::Owned(out)
    }

    /// The source spans (on character boundaries) that decode to the key, in order and not
    /// overlapping, each with whether it is replaced by [`REDACTED`]: with [`TextEnd::Cut`], a
    /// last span covers a tail that could begin the key, and is dropped without replacement.
    fn matches(&self, text: &[u8], end: TextEnd) -> Vec<(usize, usize, bool)> {
        let key = &self.key;
        let mut spans = Vec::new();
        // Where the unit holding each of the last `key.len()` decoded bytes starts.
        let mut starts = vec![0usize; key.len()];
        let mut decoded = 0usize;
        let mut q = 0usize;
        let mut at = 0usize;
        let mut unit = [0u8; 4];
        // In a cut text, an escape broken off at the end (`%2`, `\u00`) may be part of the key.
        let mut broken_escape = None;
        while at < text.len() {
            if end == TextEnd::Cut && is_broken_escape(&text[at..]) {
                broken_escape = Some(at);
                break;
            }
            let (len, count) = decode_unit(&text[at..], &mut unit);
            for &byte in &unit[..count] {
                starts[decoded % key.len()] = at;
                decoded += 1;
                while q > 0 && byte != key[q] {
                    q = self.fallback[q];
                }
                if byte == key[q] {
                    q += 1;
                }
                if q == key.len() {
                    let start = starts[(decoded - key.len()) % key.len()];
                    spans.push((start, at + len, true));
                    q = 0;
                    break;
                }
            }
            at += len;
        }
        if end == TextEnd::Cut {
            let pending = (q > 0).then(|| starts[(decoded - q) % key.len()]);
            if let Some(start) = pending.or(broken_escape) {
                spans.push((start, text.len(), false));
            }
        }
        spans
    }
}

/// Whether `tail` is the beginning of an escape that the end of the text broke off.
fn is_broken_escape(tail: &[u8]) -> bool {
    let hex = |b: &[u8]| b.iter().all(u8::is_ascii_hexdigit);
    match tail {
        [b'%', rest @ ..] => rest.len() < 2 && hex(rest),
        [b'\\'] => true,
        [b'\\', b'u', rest @ ..] => rest.len() < 4 && hex(rest),
        _ => false,
    }
}

/// Decodes one unit of text at the start of `text` into `out`: a percent escape, a JSON
/// escape that can stand for a key character, or else one character as it is. Returns the
/// unit's length in `text` and how many bytes it decodes to.
fn decode_unit(text: &[u8], out: &mut [u8; 4]) -> (usize, usize) {
    let hex = |b: u8| (b as char).to_digit(16);
    match text {
        [b'%', a, b, ..] => {
            if let (Some(a), Some(b)) = (hex(*a), hex(*b)) {
                // Two hex digits: at most 0xff.
                out[0] = u8::try_from(a * 16 + b).unwrap_or(0);
                return (3, 1);
            }
        }
        [b'\\', b'u', a, b, c, d, ..] => {
            let code = [a, b, c, d]
                .iter()
                .try_fold(0u32, |acc, &&h| Some(acc * 16 + hex(h)?));
            if let Some(c) = code.and_then(char::from_u32) {
                let len = c.encode_utf8(out).len();
                return (6, len);
            }
        }
        [b'\\', escaped @ (b'/' | b'\\' | b'"'), ..] => {
            out[0] = *escaped;
            return (2, 1);
        }
        _ => {}
    }
    // One character as it is: its UTF-8 length comes from its first byte.
    let len = match text.first() {
        Some(&b) if b >= 0xf0 => 4,
        Some(&b) if b >= 0xe0 => 3,
        Some(&b) if b >= 0xc0 => 2,
        _ => 1,
    }
    .min(text.len());
    out[..len].copy_from_slice(&text[..len]);
    (len, len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsread::testing::{mkfifo, temp_dir};
    use std::time::{Duration, Instant};

    #[test]
    fn key_never_prints() {
        let key = ApiKey::new("  sk-canary-123\n").unwrap();
        assert_eq!(key.expose(), "sk-canary-123");
        assert_eq!(format!("{key}"), REDACTED);
        assert_eq!(format!("{key:?}"), REDACTED);
        assert_eq!(
            format!("{:?}", KeySource::Fixed(key.clone())),
            "Fixed([redacted])"
        );
        assert_eq!(format!("{:?}", Redactor::new(&key)), "Redactor([redacted])");
    }

    #[test]
    fn key_file_is_trimmed_and_reread() {
        let dir = temp_dir("key-reread");
        let path = dir.join("key");
        std::fs::write(&path, "first\n").unwrap();
        let source = KeySource::File(path.clone());
        assert_eq!(source.load().unwrap().expose(), "first");
        std::fs::write(&path, "second \r\n").unwrap();
        assert_eq!(source.load().unwrap().expose(), "second");
        std::fs::write(&path, " \n").unwrap();
        assert!(matches!(source.load(), Err(KeyError::EmptyFile { .. })));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(source.load(), Err(KeyError::Unreadable { .. })));
    }

    #[test]
    fn keys_with_whitespace_or_controls_inside_are_refused() {
        for raw in [
            "two words",
            "line1\nline2",
            "tab\tkey",
            "nul\0key",
            "bell\u{7}",
        ] {
            assert!(
                matches!(ApiKey::new(raw), Err(KeyError::Malformed(_))),
                "{raw:?}"
            );
        }
        assert!(ApiKey::new(&"k".repeat(MAX_KEY_BYTES)).is_ok());
        assert!(ApiKey::new(&"k".repeat(MAX_KEY_BYTES + 1)).is_err());

        let dir = temp_dir("key-inner");
        let path = dir.join("key");
        std::fs::write(&path, "first-key\nsecond-key\n").unwrap();
        let err = KeySource::File(path.clone()).load().unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, KeyError::MalformedFile { .. }), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("whitespace"), "{message}");
        assert!(!message.contains("first-key"), "{message}");
    }

    #[test]
    fn a_huge_sparse_key_file_is_refused_without_reading_it() {
        let dir = temp_dir("key-huge");
        let path = dir.join("key");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(1 << 30).unwrap();
        drop(file);
        let started = Instant::now();
        let err = KeySource::File(path.clone()).load().unwrap_err();
        // Refusing takes an open and an fstat; reading 1 GiB, even of holes, takes seconds.
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
        assert!(matches!(err, KeyError::TooLarge { .. }), "{err}");
        assert!(err.to_string().contains("larger than 4096 bytes"), "{err}");
        // One byte over the limit is refused too; the limit itself is fine.
        std::fs::write(&path, "k".repeat(MAX_KEY_FILE_BYTES as usize + 1)).unwrap();
        assert!(matches!(
            KeySource::File(path.clone()).load(),
            Err(KeyError::TooLarge { .. })
        ));
        std::fs::write(&path, "k".repeat(MAX_KEY_FILE_BYTES as usize)).unwrap();
        assert!(KeySource::File(path).load().is_ok());
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = temp_dir("key-fifo");
        let path = dir.join("key");
        mkfifo(&path);
        let source = KeySource::File(path.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(source.load().map_err(|e| e.to_string()));
        });
        let result = rx
            .recv_timeout(Duration::from_secs(2))
            .expect("reading a FIFO blocked");
        let err = result.unwrap_err();
        assert!(err.contains("is a FIFO, not a regular file"), "{err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
        std::fs::remove_file(&path).unwrap();

        std::fs::create_dir(&path).unwrap();
        let err = KeySource::File(path.clone()).load().unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
    }

    #[test]
    fn a_symlink_to_a_regular_file_is_read() {
        // Kubernetes mounts Secrets as symlinks into a `..data` directory.
        let dir = temp_dir("key-symlink");
        std::fs::create_dir(dir.join("..data")).unwrap();
        std::fs::write(dir.join("..data/key"), "linked-key\n").unwrap();
        std::os::unix::fs::symlink("..data/key", dir.join("key")).unwrap();
        let key = KeySource::File(dir.join("key")).load().unwrap();
        assert_eq!(key.expose(), "linked-key");
    }

    fn redact(key: &str, text: &str) -> String {
        Redactor::new(&ApiKey::new(key).unwrap())
            .redact(text, TextEnd::Complete)
            .into_owned()
    }

    #[test]
    fn redaction_covers_every_encoding() {
        let key = "canary-7f3a/x";
        for encoded in [
            "canary-7f3a/x",
            "canary%2D7f3a%2Fx",
            "canary%2d7f3a%2fx",
            "%63%61%6e%61%72%79%2d%37%66%33%61%2F%78",
            "canary\\u002d7f3a\\/x",
            "canary\\u002D7f3a\\u002fx",
            "c%61nary\\u002d7f3a%2fx",
        ] {
            assert_eq!(
                redact(key, &format!("bad key {encoded}!")),
                "bad key [redacted]!",
                "{encoded}"
            );
        }
        assert_eq!(
            redact("a+b/c=d", "bad key a+b/c=d or a%2Bb%2Fc%3Dd"),
            "bad key [redacted] or [redacted]"
        );
        // A key holding escapes itself is found as it is.
        assert_eq!(redact("k%41y", "x k%41y x"), "x [redacted] x");
        // Non-ASCII keys, escaped or not.
        assert_eq!(
            redact("clé-1", "a clé-1 b cl\\u00e9-1"),
            "a [redacted] b [redacted]"
        );
        // Nothing to hide: borrowed.
        let text = "nothing %zz \\q here";
        assert!(matches!(
            Redactor::new(&ApiKey::new("key").unwrap()).redact(text, TextEnd::Complete),
            Cow::Borrowed(_)
        ));
        assert_eq!(Redactor::default().redact("key", TextEnd::Complete), "key");
    }

    #[test]
    fn a_cut_text_loses_a_tail_that_could_begin_the_key() {
        let redactor = Redactor::new(&ApiKey::new("canary-7f3a").unwrap());
        assert_eq!(redactor.redact("see canary-7", TextEnd::Cut), "see ");
        assert_eq!(redactor.redact("see canary%2", TextEnd::Cut), "see ");
        assert_eq!(redactor.redact("see canary\\u00", TextEnd::Cut), "see ");
        assert_eq!(redactor.redact("see %6", TextEnd::Cut), "see ");
        assert_eq!(redactor.redact("50%", TextEnd::Complete), "50%");
        assert_eq!(redactor.redact("see canary%2d7f", TextEnd::Cut), "see ");
        assert_eq!(
            redactor.redact("see canary-7", TextEnd::Complete),
            "see canary-7"
        );
        assert_eq!(
            redactor.redact("canary-7f3a and canary-7f3b", TextEnd::Cut),
            "[redacted] and canary-7f3b"
        );
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn redaction_never_panics_and_removes_every_copy(
                key in "[!-~]{1,24}",
                text in ".{0,64}",
                pieces in proptest::collection::vec(0u8..4, 0..4),
            ) {
                let api_key = ApiKey::new(&key).unwrap();
                let redactor = Redactor::new(&api_key);
                let _ = redactor.redact(&text, TextEnd::Cut);
                // The key, each character encoded one way or another, between random text.
                let encode = |how: u8| -> String {
                    key.chars().map(|c| match how {
                        0 => c.to_string(),
                        1 => format!("%{:02X}", c as u32),
                        2 => format!("%{:02x}", c as u32),
                        _ => format!("\\u{:04x}", c as u32),
                    }).collect()
                };
                let mut haystack = text.clone();
                for how in &pieces {
                    haystack.push_str(&encode(*how));
                    haystack.push_str(&text);
                }
                let out = redactor.redact(&haystack, TextEnd::Complete);
                // The marker itself may hold the key (`]`): look only at what is not a marker.
                let rest = out.replace(REDACTED, "\0");
                prop_assert!(!rest.contains(&key), "{:?} in {:?}", key, out);
            }
        }
    }
}
