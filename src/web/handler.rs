//! What the server answers: the routes ([`respond`]), and the response body ([`Chunks`]) that
//! sends the exposition's buffers as they are.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::buf::Chain;
use bytes::{Buf, Bytes};
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{
    HeaderValue, ACCEPT_ENCODING, ALLOW, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER, VARY,
};
use hyper::{Method, Request, Response, StatusCode, Version};

use super::accept_encoding::wants_gzip;
use super::config::WebSecurity;
use super::landing::Landing;
use crate::exposition::{Encoder, Scrape, MEDIA_TYPE};

/// An HTTP/2 response body is handed to the protocol in frames of at most this many bytes
/// (HTTP/2's default frame size), so that each frame taken is progress the client allowed
/// with its flow-control window; HTTP/1 gets the whole body in one frame.
pub(crate) const H2_BODY_FRAME: usize = 16 * 1024;

/// `Retry-After` on `/` when too many requests for it wait ([`super::landing::MAX_PAGE_WAIT`]).
const PAGE_RETRY_AFTER: &str = "10";

/// What one listener serves.
#[derive(Debug)]
pub(crate) enum Routes {
    /// Everything: the exposition at the telemetry path, the landing page, the probes.
    All {
        /// `--web.telemetry-path`.
        telemetry_path: String,
        /// The landing page, built and cached.
        landing: Arc<Landing>,
    },
    /// `/-/healthy` and `/-/ready` only (`--web.health-listen-address`).
    Probes,
}

/// What the request handler needs.
#[derive(Debug)]
pub(crate) struct App {
    /// The exposition, built and cached; readiness follows it.
    pub(crate) exposition: Arc<Encoder>,
    /// What is served.
    pub(crate) routes: Routes,
}

/// A response body of up to two buffers with an exact `Content-Length`: the exposition's
/// per-build part and its `process_*` part go out as they are, where joining them would copy
/// the whole exposition on every scrape. For HTTP/1 both go in one frame, so that hyper writes
/// the headers and the whole body with one `writev`: one TCP push, one wake-up of the
/// scraper. For HTTP/2 the frames are at most [`H2_BODY_FRAME`] bytes (slices, not copies).
#[derive(Debug, Default)]
pub(crate) struct Chunks {
    /// Still to send, in order; taken (left empty) when sent.
    parts: Option<Chain<Bytes, Bytes>>,
    /// The largest frame handed over at once.
    max_frame: usize,
}

impl Chunks {
    /// One buffer.
    pub(crate) fn one(bytes: Bytes) -> Self {
        Self::two(bytes, Bytes::new())
    }

    fn two(first: Bytes, second: Bytes) -> Self {
        Self {
            parts: (!first.is_empty() || !second.is_empty()).then(|| first.chain(second)),
            max_frame: usize::MAX,
        }
    }

    /// Hands the body over in frames of at most `max_frame` bytes.
    fn in_frames_of(mut self, max_frame: usize) -> Self {
        self.max_frame = max_frame.max(1);
        self
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
        let max = self.max_frame;
        let Some(parts) = self.parts.as_mut() else {
            return Poll::Ready(None);
        };
        if parts.remaining() <= max {
            return Poll::Ready(self.parts.take().map(|parts| Ok(Frame::data(parts))));
        }
        let first = if parts.first_ref().is_empty() {
            parts.last_mut()
        } else {
            parts.first_mut()
        };
        let frame = first.split_to(first.len().min(max));
        Poll::Ready(Some(Ok(Frame::data(frame.chain(Bytes::new())))))
    }

    fn is_end_stream(&self) -> bool {
        self.parts.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.parts.as_ref().map_or(0, |p| p.remaining() as u64))
    }
}

/// The rate limit and basic auth first, then the page, then the extra headers on whatever
/// the answer is.
pub(crate) async fn respond<B>(
    app: &App,
    web: Option<&WebSecurity>,
    request: &Request<B>,
) -> Response<Chunks> {
    let mut response = match web {
        None => handle(app, request).await,
        Some(web) => {
            let mut response = match web.authorize(request).await {
                Some(refusal) => {
                    refusal.into_response(|text| Chunks::one(Bytes::from_static(text.as_bytes())))
                }
                None => handle(app, request).await,
            };
            web.add_headers(response.headers_mut());
            response
        }
    };
    if request.version() == Version::HTTP_2 {
        let body = std::mem::take(response.body_mut());
        *response.body_mut() = body.in_frames_of(H2_BODY_FRAME);
    }
    response
}

/// Routes one request.
async fn handle<B>(app: &App, request: &Request<B>) -> Response<Chunks> {
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
    if let Routes::All {
        telemetry_path,
        landing,
    } = &app.routes
    {
        let gzip = || wants_gzip(request.headers().get_all(ACCEPT_ENCODING));
        if path == telemetry_path {
            let gzip = gzip();
            let body = Chunks::from(app.exposition.scrape(gzip));
            return compressed(body, MEDIA_TYPE, gzip);
        }
        if path == "/" {
            let gzip = gzip();
            let Some(page) = landing.paced(gzip).await else {
                let mut response = text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Too many requests for this page: try again in a few seconds.\n",
                );
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static(PAGE_RETRY_AFTER));
                return response;
            };
            return compressed(Chunks::one(page), "text/html; charset=utf-8", gzip);
        }
    }
    match path {
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

/// A cached body, plain or gzip-compressed, that varies with `Accept-Encoding`.
fn compressed(body: Chunks, content_type: &'static str, gzip: bool) -> Response<Chunks> {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzip {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
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

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    #[tokio::test]
    async fn h2_bodies_go_in_slices_and_h1_bodies_whole() {
        let head = Bytes::from(vec![b'a'; 40_000]);
        let tail = Bytes::from(vec![b'b'; 10]);
        let whole = Chunks::two(head.clone(), tail.clone());
        assert_eq!(whole.size_hint().exact(), Some(40_010));
        let frames: Vec<usize> = collect(whole).await;
        assert_eq!(frames, [40_010]);
        let sliced = Chunks::two(head, tail).in_frames_of(H2_BODY_FRAME);
        assert_eq!(collect(sliced).await, [16_384, 16_384, 7_242]);
    }

    async fn collect(mut body: Chunks) -> Vec<usize> {
        let mut sizes = Vec::new();
        while let Some(frame) = body.frame().await {
            sizes.push(frame.unwrap().into_data().unwrap().remaining());
        }
        sizes
    }
}
