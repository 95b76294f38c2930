//! Reading a file the user names (an API key, the accounts file, the web config and the
//! certificates it names) so that no such file can block or exhaust the exporter.
//!
//! The file is opened with `O_NONBLOCK`, so that opening a FIFO returns at once; its type and
//! size are checked on the opened descriptor, so that a file swapped in between cannot slip
//! by; only regular files (or symlinks to them, as Kubernetes volumes use) are read, and never
//! more than the caller's limit, whatever the file grows to while it is read.

use std::fs::File;
use std::io::Read as _;
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

/// Why a file was not read. Each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The operating system refused to open or read it.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A FIFO, a directory, a device or a socket: reading it could block or never end.
    #[error("{path} is {kind}, not a regular file")]
    NotAFile {
        /// The file.
        path: PathBuf,
        /// What it is instead, in words.
        kind: &'static str,
    },
    /// Larger than the caller's limit; it was not read, or read no further than the limit.
    #[error("{path} is larger than {max} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        max: u64,
    },
}

/// Reads the whole of `path`, a regular file of at most `max` bytes, without blocking.
///
/// # Errors
/// [`ReadError`] naming the file when it cannot be opened or read, is not a regular file, or
/// is larger than `max`.
pub(crate) fn read(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_owned(),
        source,
    };
    // std opens with O_CLOEXEC already.
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    let metadata = file.metadata().map_err(io)?;
    let kind = metadata.file_type();
    if !kind.is_file() {
        let kind = if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_dir() {
            "a directory"
        } else if kind.is_socket() {
            "a socket"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else {
            "not a file"
        };
        return Err(ReadError::NotAFile {
            path: path.to_owned(),
            kind,
        });
    }
    let too_large = || ReadError::TooLarge {
        path: path.to_owned(),
        max,
    };
    if metadata.len() > max {
        return Err(too_large());
    }
    // The file may grow between the check and the read: read one byte more than allowed to
    // see it, never more.
    let expected = usize::try_from(metadata.len()).unwrap_or(0);
    let mut bytes = Vec::with_capacity(expected.saturating_add(1));
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(too_large());
    }
    Ok(bytes)
}

/// As [`read`], for a file that must be UTF-8 text; `None` for the text when it is not.
///
/// # Errors
/// See [`read`].
pub(crate) fn read_text(path: &Path, max: u64) -> Result<Option<String>, ReadError> {
    read(path, max).map(|bytes| String::from_utf8(bytes).ok())
}

/// Scratch files for the crate's unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::path::{Path, PathBuf};

    /// A new, empty directory of the system's temporary directory, named after `name` and
    /// this process.
    pub(crate) fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("smartlead-exporter-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Makes a FIFO at `path`, with the system's `mkfifo`.
    pub(crate) fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success(), "mkfifo {}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{mkfifo, temp_dir};
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_regular_file_within_the_limit_is_read_whole() {
        let dir = temp_dir("fsread-regular");
        let path = dir.join("f");
        std::fs::write(&path, b"hello").unwrap();
        assert_eq!(read(&path, 5).unwrap(), b"hello");
        assert_eq!(read_text(&path, 5).unwrap().as_deref(), Some("hello"));
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert_eq!(read_text(&path, 5).unwrap(), None);
    }

    #[test]
    fn a_larger_file_is_refused_naming_it() {
        let dir = temp_dir("fsread-large");
        let path = dir.join("big");
        std::fs::write(&path, vec![b'x'; 6]).unwrap();
        let error = read(&path, 5).unwrap_err();
        assert!(matches!(error, ReadError::TooLarge { max: 5, .. }));
        assert_eq!(
            error.to_string(),
            format!("{} is larger than 5 bytes", path.display())
        );
    }

    #[test]
    fn a_fifo_is_refused_at_once() {
        let dir = temp_dir("fsread-fifo");
        let path = dir.join("pipe");
        mkfifo(&path);
        let started = Instant::now();
        let error = read(&path, 4096).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(
            matches!(error, ReadError::NotAFile { kind: "a FIFO", .. }),
            "{error}"
        );
    }

    #[test]
    fn a_device_and_a_directory_are_refused() {
        let error = read(Path::new("/dev/zero"), 4096).unwrap_err();
        assert!(matches!(
            error,
            ReadError::NotAFile {
                kind: "a device",
                ..
            }
        ));
        let dir = temp_dir("fsread-dir");
        let error = read(&dir, 4096).unwrap_err();
        assert!(matches!(
            error,
            ReadError::NotAFile {
                kind: "a directory",
                ..
            }
        ));
    }

    #[test]
    fn a_symlink_to_a_device_is_refused() {
        let dir = temp_dir("fsread-symlink");
        let link = dir.join("cert.pem");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(matches!(
            read(&link, 1 << 20).unwrap_err(),
            ReadError::NotAFile {
                kind: "a device",
                ..
            }
        ));
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let error = read(Path::new("/nonexistent/key"), 10).unwrap_err();
        assert!(error
            .to_string()
            .starts_with("cannot read /nonexistent/key: "));
        assert!(
            matches!(&error, ReadError::Io { path, .. } if path == Path::new("/nonexistent/key"))
        );
    }
}
