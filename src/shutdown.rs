//! The one shutdown signal every long-running task listens to.
//!
//! [`Shutdown`] is cheap to clone; [`Trigger::fire`] wakes every clone at once. [`Signals`]
//! catches SIGTERM and SIGINT, which `main` turns into a fire.

use tokio::sync::watch;

/// Fires the shutdown. Dropping it without firing leaves listeners waiting forever, which is
/// what a process that never stops wants.
#[derive(Debug)]
pub struct Trigger {
    /// `true` once shutdown was requested; a watch channel so late listeners still see it.
    sender: watch::Sender<bool>,
}

/// A listener's handle on the shutdown signal.
#[derive(Debug, Clone)]
pub struct Shutdown {
    /// Receives the state set by the [`Trigger`].
    receiver: watch::Receiver<bool>,
}

/// Creates a connected trigger and listener.
pub fn channel() -> (Trigger, Shutdown) {
    let (sender, receiver) = watch::channel(false);
    (Trigger { sender }, Shutdown { receiver })
}

impl Trigger {
    /// Asks every listener to stop.
    pub fn fire(&self) {
        self.sender.send_replace(true);
    }
}

impl Shutdown {
    /// Whether shutdown has been requested.
    pub fn is_requested(&self) -> bool {
        *self.receiver.borrow()
    }

    /// Resolves once shutdown has been requested (at once if it already was).
    pub async fn requested(&mut self) {
        // An error means the trigger is gone without firing: then shutdown never comes.
        if self.receiver.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// SIGTERM and SIGINT handlers, installed at start-up so that a signal arriving at any time
/// after is caught.
#[derive(Debug)]
pub struct Signals {
    /// SIGTERM, as sent by Kubernetes and systemd.
    term: tokio::signal::unix::Signal,
    /// SIGINT, as sent by Ctrl-C.
    int: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers.
    ///
    /// # Errors
    /// When the handlers cannot be installed (only at start-up).
    pub fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Resolves with the signal's name when one arrives.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}
