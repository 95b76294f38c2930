//! The HTTP server: the exposition on the telemetry path, a landing page on `/`,
//! `/-/healthy` and `/-/ready`; 404 for other paths, 405 for methods other than GET and HEAD.
//!
//! A scrape never waits for a poll: it sends the buffers the last poll encoded, as they are
//! ([`Chunks`]), without copying them together. Slow or idle clients cannot hold the server:
//! headers must arrive within [`HEADER_READ_TIMEOUT`] (which also closes idle keep-alive
//! connections), a response is cut only when no byte of it moves for [`IO_TIMEOUT`], and past
//! the connection cap the connection that has waited longest without a complete request is
//! closed, never a new one refused nor a response cut ([`crate::conn_limit`]). Running out of
//! file descriptors is logged once per streak and backs `accept` off.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::buf::Chain;
use bytes::{Buf, Bytes};
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{HeaderValue, ACCEPT_ENCODING, ALLOW, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_io_timeout::TimeoutStream;
use tracing::{debug, info, warn};

use crate::accept_encoding::wants_gzip;
use crate::conn_limit::{Guarded, Registry, Tracked};
use crate::exposition::{Encoder, Scrape, CONTENT_TYPE as EXPOSITION_TYPE};
use crate::landing::Landing;
use crate::shutdown::Shutdown;
use crate::web_config::WebSecurity;

pub use crate::conn_limit::{connection_cap, fd_limit, raise_fd_limit, FdLimit, MAX_CONNECTIONS};

/// A client must send its request headers within this long after connecting or after its
/// previous response; this also closes idle keep-alive connections.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A response is cut when none of its bytes could be written for this long: a slow reader
/// that keeps reading is served to the end, however long that takes. (Reads need no such
/// limit: request headers have [`HEADER_READ_TIMEOUT`], and request bodies are not read.)
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// On shutdown, in-flight requests get this long to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// After `accept` fails for want of a resource (file descriptors, memory), it waits this long
/// before trying again, doubling with each further failure in a row up to
/// [`ACCEPT_BACKOFF_MAX`].
pub const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);

/// The longest wait between two failing `accept`s.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// `accept` failures less than this far apart are one streak, logged once.
pub const ACCEPT_ERROR_STREAK_GAP: Duration = Duration::from_secs(60);

/// Connections the kernel completes and queues before the server accepts them; the kernel
/// caps it at `net.core.somaxconn` (4,096 by default), as Go's servers do. A flood of
/// connections faster than the server accepts them fills the queue first; past it, the
/// kernel drops new connection attempts and clients retry only after a second.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Request headers larger than this are refused.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// What the request handler needs.
#[derive(Debug)]
struct App {
    /// The exposition, built and cached.
    exposition: Arc<Encoder>,
    /// The landing page, built and cached.
    landing: Arc<Landing>,
    /// `--web.telemetry-path`.
    telemetry_path: String,
}

/// Serves until shutdown, then gives in-flight requests [`SHUTDOWN_GRACE`] to finish.
///
/// The connection cap is [`connection_cap`] of the open-file limit now in force: call
/// [`raise_fd_limit`] at start-up, before this.
pub async fn serve(
    listener: TcpListener,
    exposition: Arc<Encoder>,
    landing: Arc<Landing>,
    telemetry_path: String,
    web: Option<Arc<WebSecurity>>,
    mut shutdown: Shutdown,
) {
    let app = Arc::new(App {
        exposition,
        landing,
        telemetry_path,
    });
    let max_connections = connection_cap(fd_limit());
    debug!(max_connections, "serving");
    let registry = Arc::new(Registry::new(max_connections));
    let graceful = GracefulShutdown::new();
    // web-config (issue 11): one builder per protocol, HTTP/2 only after ALPN chose it.
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
                let pause = failures.failed(&e, &registry);
                tokio::select! {
                    () = tokio::time::sleep(pause) => continue,
                    () = shutdown.requested() => break,
                }
            }
        };
        let (slot, closed) = registry.admit();
        if closed > 0 {
            debug!(
                closed,
                open = registry.len(),
                "closed the connections waiting longest to make room"
            );
            // Let the closed connections' tasks run and release their descriptors before the
            // next accept needs one.
            tokio::task::yield_now().await;
        }
        let _ = stream.set_nodelay(true);
        let conn = Arc::clone(slot.conn());
        let mut stream = TimeoutStream::new(Tracked::new(stream, Arc::clone(&conn)));
        stream.set_write_timeout(Some(IO_TIMEOUT));
        // web-config (issue 11): TLS handshake (when configured), then basic auth and extra
        // headers per request (`respond`).
        let app = Arc::clone(&app);
        let web = web.clone();
        let watcher = graceful.watcher();
        let (http1_builder, h2_builder) = (Arc::clone(&http1_builder), Arc::clone(&h2_builder));
        tokio::spawn(async move {
            let acceptor = web.as_ref().and_then(|web| web.tls_acceptor());
            let stream = tokio::select! {
                handshake = crate::tls::accept(acceptor, Box::pin(stream)) => match handshake {
                    Ok(stream) => stream,
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
            let builder = if stream.is_h2() {
                h2_builder
            } else {
                http1_builder
            };
            let service = service_fn(move |request| {
                conn.request_started();
                let (app, web, conn) = (Arc::clone(&app), web.clone(), Arc::clone(&conn));
                async move {
                    let response = respond(&app, web.as_deref(), &request).await;
                    Ok::<_, Infallible>(response.map(|body| Guarded::new(body, conn)))
                }
            });
            let connection = watcher.watch(builder.serve_connection(TokioIo::new(stream), service));
            tokio::select! {
                ended = connection => if let Err(e) = ended {
                    debug!(%peer, error = %e, "connection ended with an error");
                },
                () = slot.conn().evicted() => {
                    debug!(%peer, "closed a connection waiting for a request, to make room");
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
    fn failed(&mut self, error: &io::Error, registry: &Registry) -> Duration {
        let now = Instant::now();
        let new_streak = self
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= ACCEPT_ERROR_STREAK_GAP);
        self.last = Some(now);
        self.in_a_row = self.in_a_row.saturating_add(1);
        let open = registry.len();
        let closed = if is_exhaustion(error) {
            registry.exhausted()
        } else {
            0
        };
        if new_streak {
            if is_exhaustion(error) {
                warn!(error = %error, open, closed, max_connections = registry.cap(),
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

/// A response body of up to two buffers with an exact `Content-Length`: the exposition's
/// per-poll part and its `process_*` part go out as they are, where joining them would copy
/// the whole exposition on every scrape. Both go in one frame, so that hyper writes the
/// headers and the whole body with one `writev`: one TCP push, one wake-up of the scraper.
#[derive(Debug, Default)]
pub struct Chunks {
    /// Still to send, in order; taken (left empty) when sent.
    parts: Option<Chain<Bytes, Bytes>>,
}

impl Chunks {
    /// One buffer.
    pub fn one(bytes: Bytes) -> Self {
        Self::two(bytes, Bytes::new())
    }

    fn two(first: Bytes, second: Bytes) -> Self {
        Self {
            parts: (!first.is_empty() || !second.is_empty()).then(|| first.chain(second)),
        }
    }
}

impl From<Scrape> for Chunks {
    fn from(exposition: Scrape) -> Self {
        Self::two(exposition.head, exposition.tail)
    }
}

impl Body for Chunks {
    type Data = Chain<Bytes, Bytes>;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Infallible>>> {
        Poll::Ready(self.parts.take().map(|parts| Ok(Frame::data(parts))))
    }

    fn is_end_stream(&self) -> bool {
        self.parts.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.parts.as_ref().map_or(0, |p| p.remaining() as u64))
    }
}

/// web-config (issue 11): the rate limit and basic auth first, then the page, then the extra
/// headers on whatever the answer is.
async fn respond<B>(
    app: &App,
    web: Option<&WebSecurity>,
    request: &Request<B>,
) -> Response<Chunks> {
    let Some(web) = web else {
        return handle(app, request);
    };
    let mut response = match web.authorize(request).await {
        Some(refusal) => {
            refusal.into_response(|text| Chunks::one(Bytes::from_static(text.as_bytes())))
        }
        None => handle(app, request),
    };
    web.add_headers(response.headers_mut());
    response
}

/// Routes one request.
fn handle<B>(app: &App, request: &Request<B>) -> Response<Chunks> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed: use GET or HEAD.\n",
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let path = request.uri().path();
    let gzip = || wants_gzip(request.headers().get_all(ACCEPT_ENCODING));
    if path == app.telemetry_path {
        let gzip = gzip();
        let mut response = Response::new(Chunks::from(app.exposition.scrape(gzip)));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(EXPOSITION_TYPE));
        headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
        if gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        return response;
    }
    match path {
        "/" => {
            let gzip = gzip();
            let mut response = Response::new(Chunks::one(app.landing.get(gzip)));
            let headers = response.headers_mut();
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
            if gzip {
                headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            response
        }
        "/-/healthy" => text(StatusCode::OK, "Healthy.\n"),
        "/-/ready" => {
            if app.exposition.ready() {
                text(StatusCode::OK, "Ready.\n")
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Not ready: the first poll of every SmartLead account has not finished.\n",
                )
            }
        }
        _ => text(StatusCode::NOT_FOUND, "Not found.\n"),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Chunks> {
    let mut response = Response::new(Chunks::one(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
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
