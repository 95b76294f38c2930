//! The SmartLead API key: a type that cannot be printed, and where it comes from.
//!
//! SmartLead takes the key in the query string, so it is as sensitive as a password and as
//! easy to leak as a URL. [`ApiKey`] prints `[redacted]` under `Debug` and `Display`; the only
//! way to the secret is [`ApiKey::expose`], called once, where the request URL is built.

use std::fmt;
use std::path::{Path, PathBuf};

/// What `Debug` and `Display` print instead of a key.
pub const REDACTED: &str = "[redacted]";

/// A SmartLead API key. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key, trimming the whitespace that files and shells add around it.
    ///
    /// # Errors
    /// [`KeyError::Empty`] when nothing but whitespace is left.
    pub fn new(raw: &str) -> Result<Self, KeyError> {
        let key = raw.trim();
        if key.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(Self(key.to_owned()))
    }

    /// The secret itself. Only the client's URL builder and redaction of upstream text call it.
    pub fn expose(&self) -> &str {
        &self.0
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
    /// The key file could not be read.
    #[error("cannot read the API key file {path}: {source}")]
    Unreadable {
        /// The file named by `--smartlead.api-key-file`.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The key file exists but holds no key.
    #[error("the API key file {path} is empty")]
    EmptyFile {
        /// The file named by `--smartlead.api-key-file`.
        path: PathBuf,
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
    /// A [`KeyError`] naming the file when it cannot be read or is empty.
    pub fn load(&self) -> Result<ApiKey, KeyError> {
        match self {
            Self::Fixed(key) => Ok(key.clone()),
            Self::File(path) => read_key_file(path),
        }
    }
}

fn read_key_file(path: &Path) -> Result<ApiKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    ApiKey::new(&text).map_err(|_| KeyError::EmptyFile {
        path: path.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_never_prints() {
        let key = ApiKey::new("  sk-canary-123\n").unwrap();
        assert_eq!(key.expose(), "sk-canary-123");
        assert_eq!(format!("{key}"), REDACTED);
        assert_eq!(format!("{key:?}"), REDACTED);
        assert_eq!(format!("{:?}", KeySource::Fixed(key)), "Fixed([redacted])");
    }

    #[test]
    fn key_file_is_trimmed_and_reread() {
        let dir = std::env::temp_dir().join(format!("sl-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
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
}
