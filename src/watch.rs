//! The one way a configuration file is watched for changes: the accounts file, the web config
//! and the certificates it names all use [`FileWatch`], and [`Fingerprint`] to tell whether
//! what changed is their content.
//!
//! The directories are watched, not the files: a Kubernetes ConfigMap or Secret volume
//! replaces its files by swapping a `..data` symlink in the directory, which a watch on the
//! file itself never sees. Where the operating system refuses a watch (out of inotify
//! watches, a file system without events), a poll of each file's identity, size and times
//! every [`POLL_INTERVAL`] notices the change instead; the poll runs alongside the watch in
//! any case, since an event can be lost. Either way the consumer is woken, reads the files
//! and compares their [`Fingerprint`] with what it loaded, so an unrelated event costs one
//! read and no reload.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;
use tracing::warn;

/// Events are gathered for this long before the consumer is woken: an editor's save or a
/// ConfigMap swap is several events in a few milliseconds.
pub(crate) const SETTLE: Duration = Duration::from_millis(200);

/// How often each file's identity, size and times are compared with the last seen, to catch
/// what the directory watch cannot report.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Watches a set of files for changes.
#[derive(Debug)]
pub struct FileWatch {
    /// The files; their directories are watched.
    files: Vec<PathBuf>,
    /// The directory watch, when the operating system allows one.
    watcher: Option<RecommendedWatcher>,
    /// Woken (coalesced) by every event in a watched directory.
    events: mpsc::Receiver<()>,
    /// Each file's identity, size and times at the last look, `None` where it was missing.
    stamps: Vec<Option<Stamp>>,
}

/// What the poll compares: a swapped file has a new inode, an edited one a new size or time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    /// Device and inode, after following symlinks.
    identity: (u64, u64),
    /// Size in bytes.
    len: u64,
    /// Modification time, seconds and nanoseconds.
    modified: (i64, i64),
    /// Status change time, seconds and nanoseconds.
    changed: (i64, i64),
}

impl Stamp {
    fn of(path: &Path) -> Option<Self> {
        let m = std::fs::metadata(path).ok()?;
        Some(Self {
            identity: (m.dev(), m.ino()),
            len: m.len(),
            modified: (m.mtime(), m.mtime_nsec()),
            changed: (m.ctime(), m.ctime_nsec()),
        })
    }
}

impl FileWatch {
    /// Watches `files`. Never fails: where a directory cannot be watched, one warning says so
    /// and the poll alone notices changes.
    pub fn new(files: Vec<PathBuf>) -> Self {
        // One slot: events while one is pending are the same news.
        let (sender, events) = mpsc::channel(1);
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok() {
                let _ = sender.try_send(());
            }
        });
        let watcher = match watcher {
            Ok(watcher) => Some(watcher),
            Err(e) => {
                warn!(error = %e, "cannot watch configuration directories; polling every {}",
                    humantime::format_duration(POLL_INTERVAL));
                None
            }
        };
        let mut watch = Self {
            files: Vec::new(),
            watcher,
            events,
            stamps: Vec::new(),
        };
        watch.set_files(files);
        watch
    }

    /// Watches `files` from now on instead of the ones before (the web config names other
    /// certificates, say). Their current state is the one later changes are compared with.
    pub fn set_files(&mut self, files: Vec<PathBuf>) {
        let old = directories(&self.files);
        let new = directories(&files);
        if let Some(watcher) = self.watcher.as_mut() {
            for dir in old.iter().filter(|d| !new.contains(d)) {
                let _ = watcher.unwatch(dir);
            }
            for dir in new.iter().filter(|d| !old.contains(d)) {
                if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
                    warn!(directory = %dir.display(), error = %e,
                        "cannot watch the directory; polling it every {}",
                        humantime::format_duration(POLL_INTERVAL));
                }
            }
        }
        self.stamps = files.iter().map(|f| Stamp::of(f)).collect();
        self.files = files;
    }

    /// The files watched.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Resolves once one of the files may have changed: an event in a watched directory
    /// (after it settled), or a new identity, size or time seen by the poll.
    pub async fn changed(&mut self) {
        let poll = tokio::time::sleep(POLL_INTERVAL);
        tokio::pin!(poll);
        loop {
            tokio::select! {
                event = self.events.recv(), if self.watcher.is_some() => {
                    if event.is_none() {
                        // The watcher is gone: the poll carries on alone.
                        self.watcher = None;
                        continue;
                    }
                    tokio::time::sleep(SETTLE).await;
                    while self.events.try_recv().is_ok() {}
                    self.stamps = self.files.iter().map(|f| Stamp::of(f)).collect();
                    return;
                }
                () = &mut poll => {
                    let stamps: Vec<Option<Stamp>> =
                        self.files.iter().map(|f| Stamp::of(f)).collect();
                    if stamps != self.stamps {
                        self.stamps = stamps;
                        return;
                    }
                    poll.as_mut().reset(tokio::time::Instant::now() + POLL_INTERVAL);
                }
            }
        }
    }
}

/// The distinct directories holding `files`, in order.
fn directories(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for file in files {
        let dir = match file.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    dirs
}

/// A digest of the content of one or more files, to tell whether a change event changed
/// anything that was loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of `parts`, in order; the boundaries between parts count.
    pub(crate) fn of<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        Self(hasher.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsread::testing::temp_dir;
    use std::time::Instant;

    /// Waits for `changed` at most `limit`; returns how long it took.
    async fn changed_within(watch: &mut FileWatch, limit: Duration) -> Option<Duration> {
        let started = Instant::now();
        tokio::time::timeout(limit, watch.changed())
            .await
            .ok()
            .map(|()| started.elapsed())
    }

    #[tokio::test]
    async fn an_edit_wakes_the_watch() {
        let dir = temp_dir("watch-edit");
        let file = dir.join("accounts.yml");
        std::fs::write(&file, "a").unwrap();
        let mut watch = FileWatch::new(vec![file.clone()]);
        std::fs::write(&file, "b").unwrap();
        assert!(changed_within(&mut watch, Duration::from_secs(5))
            .await
            .is_some());
    }

    #[tokio::test]
    async fn a_configmap_symlink_swap_wakes_the_watch() {
        let dir = temp_dir("watch-swap");
        std::fs::create_dir_all(dir.join("v1")).unwrap();
        std::fs::create_dir_all(dir.join("v2")).unwrap();
        std::fs::write(dir.join("v1/config.yml"), "one").unwrap();
        std::fs::write(dir.join("v2/config.yml"), "two").unwrap();
        std::os::unix::fs::symlink("v1", dir.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/config.yml", dir.join("config.yml")).unwrap();
        let mut watch = FileWatch::new(vec![dir.join("config.yml")]);
        std::os::unix::fs::symlink("v2", dir.join("..data_tmp")).unwrap();
        std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
        assert!(changed_within(&mut watch, Duration::from_secs(5))
            .await
            .is_some());
    }

    #[tokio::test]
    async fn without_a_directory_watch_the_poll_notices_a_change() {
        let dir = temp_dir("watch-poll");
        let file = dir.join("web.yml");
        std::fs::write(&file, "a").unwrap();
        let mut watch = FileWatch::new(vec![file.clone()]);
        watch.watcher = None;
        // Nothing changed: no wake-up over two polls.
        assert!(changed_within(&mut watch, POLL_INTERVAL * 2 + SETTLE)
            .await
            .is_none());
        std::fs::write(&file, "longer").unwrap();
        let took = changed_within(&mut watch, POLL_INTERVAL * 2)
            .await
            .expect("the poll must notice the change");
        assert!(took <= POLL_INTERVAL + SETTLE, "{took:?}");
    }

    #[tokio::test]
    async fn set_files_moves_the_watch() {
        let dir = temp_dir("watch-move");
        std::fs::create_dir_all(dir.join("a")).unwrap();
        std::fs::create_dir_all(dir.join("b")).unwrap();
        std::fs::write(dir.join("a/cert.pem"), "a").unwrap();
        std::fs::write(dir.join("b/cert.pem"), "b").unwrap();
        let mut watch = FileWatch::new(vec![dir.join("a/cert.pem")]);
        watch.set_files(vec![dir.join("b/cert.pem")]);
        assert_eq!(watch.files(), [dir.join("b/cert.pem")]);
        std::fs::write(dir.join("b/cert.pem"), "bb").unwrap();
        assert!(changed_within(&mut watch, Duration::from_secs(5))
            .await
            .is_some());
    }

    #[test]
    fn fingerprints_differ_by_content_and_boundaries() {
        let ab = Fingerprint::of([&b"ab"[..], b"c"]);
        assert_eq!(ab, Fingerprint::of([&b"ab"[..], b"c"]));
        assert_ne!(ab, Fingerprint::of([&b"a"[..], b"bc"]));
        assert_ne!(ab, Fingerprint::of([&b"ab"[..], b"d"]));
    }
}
