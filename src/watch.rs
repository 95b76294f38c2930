//! Notices when a configuration file changes, so that it is reloaded without a signal.
//!
//! The directory is watched, not the file: a Kubernetes ConfigMap volume replaces its files by
//! swapping a `..data` symlink in the directory, which a watch on the file itself never sees.
//! Every event in the directory wakes the receiver once after [`SETTLE`]; the reload then
//! compares the file's content with what it loaded, so unrelated events cost one read.

use std::path::Path;
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

/// Events are gathered for this long before the receiver is woken: an editor's save or a
/// ConfigMap swap is several events in a few milliseconds.
pub const SETTLE: Duration = Duration::from_millis(200);

/// A running watch; dropping it stops watching.
#[derive(Debug)]
pub struct Watch {
    /// Kept alive for as long as the watch runs.
    _watcher: RecommendedWatcher,
    /// Woken (coalesced) on every event in the directory.
    events: mpsc::Receiver<()>,
}

impl Watch {
    /// Watches the directory holding `file`.
    ///
    /// # Errors
    /// When the operating system refuses the watch (for example, out of inotify watches).
    pub fn directory_of(file: &Path) -> notify::Result<Self> {
        let directory = match file.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => Path::new(".").to_owned(),
        };
        // One slot: events while one is pending are the same news.
        let (sender, events) = mpsc::channel(1);
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_ok() {
                    let _ = sender.try_send(());
                }
            })?;
        watcher.watch(&directory, RecursiveMode::NonRecursive)?;
        Ok(Self {
            _watcher: watcher,
            events,
        })
    }

    /// Resolves after the next change in the directory has settled.
    pub async fn changed(&mut self) {
        if self.events.recv().await.is_none() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(SETTLE).await;
        while self.events.try_recv().is_ok() {}
    }
}
