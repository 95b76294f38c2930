//! The one shutdown signal every long-running task listens to.
//!
//! [`Shutdown`] is cheap to clone; [`Trigger::fire`] wakes every clone at once. [`Signals`]
//! owns the process's signal handling: SIGTERM and SIGINT stop it (`main` turns them into a
//! fire), SIGHUP asks for a reload, and the other signals whose default action would end the
//! process (SIGUSR1, SIGUSR2, SIGALRM, SIGIO, SIGPWR, SIGVTALRM) are caught and ignored, so
//! that a stray `kill -USR1` or a log rotator's SIGHUP never takes the exporter down.

use std::future::poll_fn;
use std::task::Poll;

use tokio::signal::unix::{signal, Signal as Handler, SignalKind};
use tokio::sync::watch;
use tracing::debug;

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

/// What a caught signal asks of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Stop (SIGTERM or SIGINT, named here): shut down gracefully and exit 0.
    Stop(&'static str),
    /// SIGHUP: re-read what can be re-read (key files, `--config.file`, `--web.config.file`).
    Reload,
}

/// Signals whose default action ends the process but which mean nothing to the exporter:
/// caught, logged at debug level, and otherwise ignored. SIGQUIT keeps its core dump, and
/// faults (SIGSEGV and the like) cannot be caught meaningfully.
const IGNORED: &[(&str, SignalKind)] = &[
    ("SIGUSR1", SignalKind::user_defined1()),
    ("SIGUSR2", SignalKind::user_defined2()),
    ("SIGALRM", SignalKind::alarm()),
    ("SIGIO", SignalKind::io()),
    #[cfg(any(target_os = "linux", target_os = "android"))]
    ("SIGPWR", SignalKind::from_raw(libc::SIGPWR)),
    ("SIGVTALRM", SignalKind::from_raw(libc::SIGVTALRM)),
];

/// The process's signal handlers, installed at start-up so that a signal arriving at any time
/// after is caught (and none of them kills the process in between).
#[derive(Debug)]
pub struct Signals {
    /// SIGTERM, as sent by Kubernetes and systemd.
    term: Handler,
    /// SIGINT, as sent by Ctrl-C.
    int: Handler,
    /// SIGHUP, the Unix habit for "reload your configuration".
    hup: Handler,
    /// The [`IGNORED`] signals, by name.
    ignored: Vec<(&'static str, Handler)>,
}

impl Signals {
    /// Installs the handlers.
    ///
    /// # Errors
    /// When the handlers cannot be installed (only at start-up).
    pub fn install() -> std::io::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
            ignored: IGNORED
                .iter()
                .map(|&(name, kind)| Ok((name, signal(kind)?)))
                .collect::<std::io::Result<_>>()?,
        })
    }

    /// Resolves when a signal that asks for something arrives; ignored signals are logged at
    /// debug level and waited past.
    pub async fn recv(&mut self) -> Signal {
        poll_fn(|cx| {
            // `Ready(None)` only comes once the runtime is going away: then nothing more is
            // delivered, and waiting forever is right.
            if let Poll::Ready(Some(())) = self.term.poll_recv(cx) {
                return Poll::Ready(Signal::Stop("SIGTERM"));
            }
            if let Poll::Ready(Some(())) = self.int.poll_recv(cx) {
                return Poll::Ready(Signal::Stop("SIGINT"));
            }
            if let Poll::Ready(Some(())) = self.hup.poll_recv(cx) {
                return Poll::Ready(Signal::Reload);
            }
            for (name, handler) in &mut self.ignored {
                // Drain every pending delivery, so that the handler is registered for the next.
                while let Poll::Ready(Some(())) = handler.poll_recv(cx) {
                    debug!(signal = *name, "signal ignored");
                }
            }
            Poll::Pending
        })
        .await
    }
}
