//! The wrappers that tell a [`Conn`] when its response moves: [`Tracked`] around the socket
//! (bytes written, on HTTP/1, and the flush that ends a response) and [`Guarded`] around a
//! response body (each frame hyper takes, and the end of the body).

use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{Conn, InFlight};

/// A connection's socket, telling its [`Conn`] when bytes are written (progress, on HTTP/1)
/// and when a flush completes (the end of a response).
#[derive(Debug)]
pub(crate) struct Tracked<S> {
    /// The socket.
    inner: S,
    /// Whose socket it is.
    conn: Arc<Conn>,
}

impl<S> Tracked<S> {
    /// Wraps `inner`, the socket of `conn`.
    pub(crate) fn new(inner: S, conn: Arc<Conn>) -> Self {
        Self { inner, conn }
    }

    fn wrote(&self, written: &Poll<io::Result<usize>>) {
        if matches!(written, Poll::Ready(Ok(n)) if *n > 0)
            && self.conn.writes_count.load(Ordering::Acquire)
        {
            self.conn.progress();
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.wrote(&written);
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(&written);
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let flushed = Pin::new(&mut self.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = flushed {
            self.conn.flushed();
        }
        flushed
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A response body that tells its [`Conn`] when hyper takes a frame of it (progress) and,
/// through the [`InFlight`] it holds, when hyper has taken all of it (on drop).
#[derive(Debug)]
pub(crate) struct Guarded<B> {
    /// The body.
    body: B,
    /// The response it belongs to.
    in_flight: InFlight,
}

impl<B> Guarded<B> {
    /// Wraps `body`, the response of `in_flight`.
    pub(crate) fn new(body: B, in_flight: InFlight) -> Self {
        Self { body, in_flight }
    }
}

impl<B: Body + Unpin> Body for Guarded<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let frame = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(Some(Ok(_))) = frame {
            self.in_flight.conn.progress();
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
