//! The HTTP server: the accept loop, each connection's task, and the limits that keep slow,
//! idle or stuck clients from holding it. What is answered is in [`super::handler`].
//!
//! A scrape never waits for a poll: it sends the buffers the last build encoded, as they are.
//! Slow or idle clients cannot hold the server: headers must arrive within
//! [`HEADER_READ_TIMEOUT`] (which also closes idle HTTP/1 keep-alive connections; an HTTP/2
//! connection with no response under way is closed after as long), a connection whose
//! response has not moved for [`IO_TIMEOUT`] is closed whatever the protocol (a reader that
//! stopped reading, an HTTP/2 client that keeps its flow-control window shut), and past the
//! connection cap the quietest connection is closed, never a new one refused nor a moving
//! response cut ([`super::conn_limit`]). Running out of file descriptors is logged once per
//! streak and backs `accept` off.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

use super::config::{tls, WebSecurity};
use super::conn_limit::{connection_cap, fd_limit, Conn, Connections, Guarded, Tracked};
use super::handler::{respond, App, Routes};
use super::landing::Landing;
use crate::exposition::Encoder;
use crate::shutdown::Shutdown;

/// A client must send its request headers within this long after connecting or after its
/// previous response; this also closes idle keep-alive connections (HTTP/1 through hyper,
/// HTTP/2 through the connection's watchdog).
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection is closed when a response of it has not moved for this long: no byte written
/// (HTTP/1), no frame taken by the protocol (HTTP/2, whose flow control a client can keep
/// shut). A slow reader that keeps reading is served to the end, however long that takes.
/// (Reads need no such limit: request headers have [`HEADER_READ_TIMEOUT`], and request bodies
/// are not read.)
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// On shutdown, in-flight requests get this long to finish.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// After `accept` fails for want of a resource (file descriptors, memory), it waits this long
/// before trying again, doubling with each further failure in a row up to
/// [`ACCEPT_BACKOFF_MAX`].
pub(crate) const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);

/// The longest wait between two failing `accept`s.
pub(crate) const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// `accept` failures less than this far apart are one streak, logged once.
pub(crate) const ACCEPT_ERROR_STREAK_GAP: Duration = Duration::from_secs(60);

/// Connections the kernel completes and queues before the server accepts them; the kernel
/// caps it at `net.core.somaxconn` (4,096 by default), as Go's servers do. A flood of
/// connections faster than the server accepts them fills the queue first; past it, the
/// kernel drops new connection attempts and clients retry only after a second.
pub(crate) const LISTEN_BACKLOG: u32 = 4096;

/// Request headers larger than this are refused.
pub(crate) const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Requests one HTTP/2 connection may have under way at once. A scraper sends one at a time;
/// more only multiply what one connection can hold.
pub(crate) const MAX_H2_STREAMS: u32 = 16;

/// Connections the health listener (`--web.health-listen-address`) serves at once: the
/// kubelet's probes need one or two.
pub(crate) const MAX_HEALTH_CONNECTIONS: usize = 64;

/// Serves the exposition, the landing page and the probes until shutdown, then gives
/// in-flight requests [`SHUTDOWN_GRACE`] to finish. `web`, the web config, adds TLS, basic
/// auth, a rate limit and extra headers.
///
/// The connection cap is [`connection_cap`] of the open-file limit now in force: call
/// [`super::raise_fd_limit`] at start-up, before this.
pub async fn serve(
    listener: TcpListener,
    exposition: Arc<Encoder>,
    landing: Arc<Landing>,
    telemetry_path: String,
    web: Option<Arc<WebSecurity>>,
    shutdown: Shutdown,
) {
    let app = App {
        exposition,
        routes: Routes::All {
            telemetry_path,
            landing,
        },
    };
    run(listener, app, web, connection_cap(fd_limit()), shutdown).await;
}

/// Serves `/-/healthy` and `/-/ready` only, in plain HTTP without the web config (no TLS, no
/// basic auth, no rate limit; every other path is 404), until shutdown: for probes that cannot
/// present a client certificate (`--web.health-listen-address`).
pub async fn serve_health(listener: TcpListener, exposition: Arc<Encoder>, shutdown: Shutdown) {
    let app = App {
        exposition,
        routes: Routes::Probes,
    };
    run(listener, app, None, MAX_HEALTH_CONNECTIONS, shutdown).await;
}

async fn run(
    listener: TcpListener,
    app: App,
    web: Option<Arc<WebSecurity>>,
    max_connections: usize,
    mut shutdown: Shutdown,
) {
    let app = Arc::new(app);
    debug!(max_connections, "serving");
    let connections = Arc::new(Connections::new(max_connections));
    let graceful = GracefulShutdown::new();
    // One builder per protocol, HTTP/2 only after ALPN chose it.
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES.max(8192))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_H2_STREAMS)
        .max_header_list_size(u32::try_from(MAX_HEADER_BYTES).unwrap_or(u32::MAX));
    let http1_builder = Arc::new(builder.clone().http1_only());
    let h2_builder = Arc::new(builder.http2_only());
    let mut failures = AcceptFailures::default();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.requested() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                failures.succeeded();
                accepted
            }
            Err(e) if is_per_connection(&e) => {
                debug!(error = %e, "a connection failed before it was accepted");
                continue;
            }
            Err(e) => {
                let pause = failures.failed(&e, &connections);
                tokio::select! {
                    () = tokio::time::sleep(pause) => continue,
                    () = shutdown.requested() => break,
                }
            }
        };
        let (slot, closed) = connections.admit();
        if closed > 0 {
            debug!(
                closed,
                open = connections.len(),
                "closed the quietest connections to make room"
            );
            // Let the closed connections' tasks run and release their descriptors before the
            // next accept needs one.
            tokio::task::yield_now().await;
        }
        let _ = stream.set_nodelay(true);
        let conn = Arc::clone(slot.conn());
        let stream = Tracked::new(stream, Arc::clone(&conn));
        let app = Arc::clone(&app);
        let web = web.clone();
        let watcher = graceful.watcher();
        let (http1_builder, h2_builder) = (Arc::clone(&http1_builder), Arc::clone(&h2_builder));
        tokio::spawn(async move {
            // TLS handshake (when configured), then basic auth and extra headers per request.
            let acceptor = web.as_ref().and_then(|web| web.tls_acceptor());
            let (stream, h2) = tokio::select! {
                handshake = tls::accept(acceptor, stream) => match handshake {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                },
                () = slot.conn().evicted() => {
                    debug!(%peer, "closed a connection in its TLS handshake, to make room");
                    return;
                }
            };
            let builder = if h2 {
                conn.speaks_h2();
                h2_builder
            } else {
                http1_builder
            };
            let service_conn = Arc::clone(&conn);
            let service = service_fn(move |request| {
                let in_flight = service_conn.request_started();
                let (app, web) = (Arc::clone(&app), web.clone());
                async move {
                    let response = respond(&app, web.as_deref(), &request).await;
                    Ok::<_, Infallible>(response.map(|body| Guarded::new(body, in_flight)))
                }
            });
            let connection = watcher.watch(builder.serve_connection(TokioIo::new(stream), service));
            tokio::select! {
                ended = connection => if let Err(e) = ended {
                    debug!(%peer, error = %e, "connection ended with an error");
                },
                () = slot.conn().evicted() => {
                    debug!(%peer, "closed a quiet connection to make room");
                }
                reason = watchdog(&conn, h2) => {
                    debug!(%peer, reason, "closed a connection");
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        info!("closing connections still open after the shutdown grace period");
    }
}

/// Resolves when the connection must be closed: a response of it has not moved for
/// [`IO_TIMEOUT`], or (HTTP/2, whose idle connections hyper does not time out) it has had no
/// response under way for [`HEADER_READ_TIMEOUT`]. Wakes once per timeout, not per write.
async fn watchdog(conn: &Conn, h2: bool) -> &'static str {
    loop {
        let Some((busy, quiet)) = conn.quiet_for(Instant::now()) else {
            // Evicted: the eviction branch ends the connection.
            return std::future::pending().await;
        };
        let (limit, reason) = match (busy, h2) {
            (true, _) => (
                IO_TIMEOUT,
                "no byte of a response moved for the write timeout",
            ),
            (false, true) => (HEADER_READ_TIMEOUT, "idle HTTP/2 connection"),
            (false, false) => {
                // Idle HTTP/1 connections are hyper's (HEADER_READ_TIMEOUT); look again later.
                tokio::time::sleep(IO_TIMEOUT).await;
                continue;
            }
        };
        if quiet >= limit {
            return reason;
        }
        tokio::time::sleep(limit - quiet).await;
    }
}

/// Errors of `accept` that concern only the connection being accepted (it was reset or
/// aborted before `accept` got to it); the next `accept` is tried at once.
fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    ) || matches!(
        // Linux reports the new socket's pending network errors through accept(2).
        error.raw_os_error(),
        Some(
            libc::ENETDOWN
                | libc::EPROTO
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
        )
    )
}

/// Whether `accept` failed for want of descriptors or memory, which closing connections frees.
fn is_exhaustion(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// The state of failing `accept`s: the back-off and the once-per-streak log line.
#[derive(Debug, Default)]
struct AcceptFailures {
    /// Failures since the last successful `accept`: the back-off doubles with each.
    in_a_row: u32,
    /// When the latest failure was, to tell a new streak from the one going on.
    last: Option<Instant>,
}

impl AcceptFailures {
    fn succeeded(&mut self) {
        self.in_a_row = 0;
    }

    /// Logs the failure if it starts a streak, closes connections if descriptors ran out, and
    /// returns how long to wait before the next `accept`.
    fn failed(&mut self, error: &io::Error, connections: &Connections) -> Duration {
        let now = Instant::now();
        let new_streak = self
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= ACCEPT_ERROR_STREAK_GAP);
        self.last = Some(now);
        self.in_a_row = self.in_a_row.saturating_add(1);
        let open = connections.len();
        let closed = if is_exhaustion(error) {
            connections.exhausted()
        } else {
            0
        };
        if new_streak {
            if is_exhaustion(error) {
                warn!(error = %error, open, closed, max_connections = connections.cap(),
                    "out of file descriptors or memory accepting connections: closing the \
                     connections waiting longest, lowering the connection cap and backing off \
                     (logged once per streak)");
            } else {
                warn!(error = %error, "cannot accept connections; backing off (logged once per streak)");
            }
        }
        let doublings = self.in_a_row.saturating_sub(1).min(16);
        let pause = ACCEPT_BACKOFF_MIN
            .saturating_mul(1 << doublings)
            .min(ACCEPT_BACKOFF_MAX);
        debug!(error = %error, in_a_row = self.in_a_row, closed, pause = ?pause, "accept failed");
        pause
    }
}

/// Binds the listen address, for `main` to report a clear error when it is taken.
///
/// # Errors
/// The operating system's error, e.g. the address is in use.
pub async fn bind(addresses: &[SocketAddr]) -> std::io::Result<TcpListener> {
    let mut last = None;
    for address in addresses {
        match listen(*address) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no address to listen on")))
}

/// Binds and listens on `address` with a backlog of [`LISTEN_BACKLOG`] (the standard
/// library's `bind` listens with 128).
fn listen(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match address {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As the standard library does: a restart can bind while old connections linger.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}
