//! The HTTP server: the exposition on the telemetry path, a landing page on `/`,
//! `/-/healthy` and `/-/ready`; 404 for other paths, 405 for methods other than GET and HEAD.
//!
//! A scrape never waits for a poll: it sends the buffers the last poll encoded, as they are
//! ([`Chunks`]), without copying them together; a plain scrape's per-poll text goes straight
//! from its in-memory file ([`crate::sendfile`]). Slow or idle clients cannot hold the server:
//! headers must arrive within [`HEADER_READ_TIMEOUT`] (which also closes idle keep-alive
//! connections), every read and write must progress within [`IO_TIMEOUT`], and at most
//! [`MAX_CONNECTIONS`] connections are served at once.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

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
use tokio::sync::Semaphore;
use tokio_io_timeout::TimeoutStream;
use tracing::{debug, info, warn};

use crate::metrics::{Exposition, Metrics, CONTENT_TYPE as EXPOSITION_TYPE};
use crate::shutdown::Shutdown;
use crate::web_config::WebSecurity;

/// Connections served at once; more wait in the listen backlog. Leaves room under the usual
/// soft limit of 1,024 open files.
pub const MAX_CONNECTIONS: usize = 512;

/// A client must send its request headers within this long after connecting or after its
/// previous response; this also closes idle keep-alive connections.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Every read and write on a connection must make progress within this long.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// On shutdown, in-flight requests get this long to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// After a failed `accept` (out of file descriptors, say), wait this long before the next.
pub const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Request headers larger than this are refused.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// What the request handler needs.
#[derive(Debug)]
struct App {
    /// The encoded exposition and the latest snapshot.
    metrics: Arc<Metrics>,
    /// `--web.telemetry-path`.
    telemetry_path: String,
    /// What the landing page shows besides the accounts.
    page: crate::landing::Page,
}

/// Serves until shutdown, then gives in-flight requests [`SHUTDOWN_GRACE`] to finish.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    page: crate::landing::Page,
    web: Option<Arc<WebSecurity>>,
    mut shutdown: Shutdown,
) {
    let app = Arc::new(App {
        metrics,
        telemetry_path: page.telemetry_path.clone(),
        page,
    });
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
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
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&limit).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = shutdown.requested() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            () = shutdown.requested() => break,
        };
        let _ = stream.set_nodelay(true);
        let mut stream = TimeoutStream::new(stream);
        stream.set_read_timeout(Some(IO_TIMEOUT));
        stream.set_write_timeout(Some(IO_TIMEOUT));
        // web-config (issue 11): TLS handshake, then basic auth and extra headers per request.
        let app = Arc::clone(&app);
        let web = web.clone();
        let watcher = graceful.watcher();
        let (http1_builder, h2_builder) = (Arc::clone(&http1_builder), Arc::clone(&h2_builder));
        tokio::spawn(async move {
            let acceptor = web.as_ref().and_then(|web| web.tls_acceptor());
            let stream = match crate::tls::accept(acceptor, Box::pin(stream)).await {
                Ok(stream) => stream,
                Err(e) => {
                    debug!(%peer, error = %e, "TLS handshake failed");
                    drop(permit);
                    return;
                }
            };
            let builder = if stream.is_h2() {
                h2_builder
            } else {
                http1_builder
            };
            let service = service_fn(move |request| {
                let app = Arc::clone(&app);
                let web = web.clone();
                async move { Ok::<_, Infallible>(respond(&app, web.as_deref(), &request).await) }
            });
            let connection = watcher.watch(builder.serve_connection(TokioIo::new(stream), service));
            if let Err(e) = connection.await {
                debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
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

impl From<Exposition> for Chunks {
    fn from(exposition: Exposition) -> Self {
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
    if path == app.telemetry_path {
        let gzip = request
            .headers()
            .get(ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(accepts_gzip);
        let mut response = Response::new(Chunks::from(app.metrics.scrape(gzip)));
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
            let page =
                crate::landing::render(&app.page, &app.metrics.snapshots(), SystemTime::now());
            let mut response = Response::new(Chunks::one(Bytes::from(page)));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
        "/-/healthy" => text(StatusCode::OK, "Healthy.\n"),
        "/-/ready" => {
            if app.metrics.ready() {
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

/// Whether an `Accept-Encoding` value allows gzip (`gzip` or `*`, with a non-zero q-value).
pub fn accepts_gzip(header: &str) -> bool {
    header.split(',').any(|item| {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        if !coding.eq_ignore_ascii_case("gzip") && coding != "*" {
            return false;
        }
        parts.all(|param| {
            let param = param.trim();
            let Some(q) = param
                .strip_prefix("q=")
                .or_else(|| param.strip_prefix("Q="))
            else {
                return true;
            };
            q.trim().parse::<f32>().map(|q| q > 0.0).unwrap_or(false)
        })
    })
}

/// Binds the listen address, for `main` to report a clear error when it is taken.
///
/// # Errors
/// The operating system's error, e.g. the address is in use.
pub async fn bind(addresses: &[SocketAddr]) -> std::io::Result<TcpListener> {
    let mut last = None;
    for address in addresses {
        match TcpListener::bind(address).await {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no address to listen on")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_accepted_unless_refused() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("deflate, GZIP;q=0.5"));
        assert!(accepts_gzip("identity, *"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("gzip; q=0.0, br"));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip("x-gzip2"));
        assert!(!accepts_gzip(""));
    }
}
