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

/// What a caught signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM or SIGINT, by name: stop.
    Stop(&'static str),
    /// SIGHUP: re-read what can be re-read (key files, `--config.file`).
    Reload,
}

/// Signal handlers, installed at start-up so that a signal arriving at any time after is
/// caught. SIGUSR1 and SIGUSR2 are caught too, and ignored: their default action would end
/// the process, which no stray `kill -USR1` should do.
#[derive(Debug)]
pub struct Signals {
    /// SIGTERM, as sent by Kubernetes and systemd.
    term: tokio::signal::unix::Signal,
    /// SIGINT, as sent by Ctrl-C.
    int: tokio::signal::unix::Signal,
    /// SIGHUP, the Unix daemons' "reload".
    hup: tokio::signal::unix::Signal,
    /// SIGUSR1, ignored.
    usr1: tokio::signal::unix::Signal,
    /// SIGUSR2, ignored.
    usr2: tokio::signal::unix::Signal,
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
            hup: signal(SignalKind::hangup())?,
            usr1: signal(SignalKind::user_defined1())?,
            usr2: signal(SignalKind::user_defined2())?,
        })
    }

    /// Resolves when a signal that asks for something arrives.
    pub async fn recv(&mut self) -> Signal {
        loop {
            tokio::select! {
                _ = self.term.recv() => return Signal::Stop("SIGTERM"),
                _ = self.int.recv() => return Signal::Stop("SIGINT"),
                _ = self.hup.recv() => return Signal::Reload,
                _ = self.usr1.recv() => tracing::debug!("SIGUSR1 ignored"),
                _ = self.usr2.recv() => tracing::debug!("SIGUSR2 ignored"),
            }
        }
    }
}
