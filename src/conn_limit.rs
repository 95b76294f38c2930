//! The server's connections as a whole: how many may be open, which one is closed when a new
//! one needs room, and the process's budget of file descriptors.
//!
//! Every accepted connection is registered in a [`Registry`] and is in one of two states:
//!
//! - **waiting**: it has not sent a complete request since it was accepted, or since its last
//!   response was handed to the kernel. Slowloris clients, silent clients and idle keep-alive
//!   connections are all waiting; the registry remembers since when.
//! - **busy**: its request was read and its response is still being written.
//!
//! When a new connection would make more than the cap, the registry closes the connection that
//! has been waiting longest ([`Registry::admit`]). A busy connection is never closed to make
//! room: that would cut a response in the middle. A new connection is always accepted, so a
//! flood of idle clients cannot keep Prometheus in the listen backlog; if every other
//! connection is busy, the newcomer itself is the one closed.
//!
//! Idle keep-alive connections count as waiting (since their last response): Prometheus keeps
//! one per target and reconnects at once when it finds it closed, so closing it costs one
//! handshake, never a failed scrape.
//!
//! The cap is [`MAX_CONNECTIONS`], or fewer when the open-file limit leaves less than that
//! after [`FD_RESERVE`] ([`connection_cap`]); [`raise_fd_limit`] first lifts the soft limit to
//! the hard one, as Go's runtime does. If `accept` still runs out of descriptors (the limit was
//! lowered under the running process, say), [`Registry::exhausted`] lowers the cap below what
//! is open and closes the longest-waiting connections, so that the SmartLead client finds
//! descriptors free. See `docs/design-server.md`.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// Connections served at once, at most. A connection that sent part of a request holds hyper's
/// read buffer and its task (see `docs/design-server.md` for the measured cost), so this
/// bounds what idle clients can make the server hold; Prometheus needs one or two. Past the
/// cap the connection waiting longest is closed, not the new one.
pub const MAX_CONNECTIONS: usize = 512;

/// File descriptors kept out of the connection cap for everything else: standard streams,
/// the runtimes' event queues, the signal pipe, the listeners, the SmartLead client's
/// connections (up to `--poll.concurrency`) and name lookups, key and configuration files,
/// and `/proc` reads for the `process_*` metrics.
pub const FD_RESERVE: usize = 128;

/// The cap never goes below this, however low the open-file limit: with fewer descriptors
/// than [`FD_RESERVE`] the exporter still serves a few connections.
pub const MIN_CONNECTIONS: usize = 16;

/// When `accept` runs out of descriptors, the cap drops to this many below the connections
/// then open, and that many of the longest-waiting connections are closed: descriptors for
/// the SmartLead client and for the next `accept`.
pub const EXHAUSTION_HEADROOM: usize = 16;

/// A cap lowered by running out of descriptors goes back to the configured one after this
/// long without running out again (the limit may have been raised, or the other use of
/// descriptors passed).
pub const EXHAUSTED_CAP_KEPT: Duration = Duration::from_secs(60);

/// The open-file limit before and after [`raise_fd_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit the process was started with.
    pub before: u64,
    /// The soft limit now (the hard limit, unless raising failed).
    pub after: u64,
}

/// The soft `RLIMIT_NOFILE` in force, if it can be read.
pub fn fd_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into the struct it is given, which lives here.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0).then_some(limit.rlim_cur)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, as Go's runtime does at start-up, so
/// that idle clients run into the connection cap long before the process runs out of
/// descriptors. Call once at start-up. `None` where the limit cannot be read.
pub fn raise_fd_limit() -> Option<FdLimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into the struct it is given, which lives here.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    let before = limit.rlim_cur;
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct it is given; a refusal leaves the limit as it was.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = limit.rlim_max;
        }
    }
    Some(FdLimit {
        before,
        after: limit.rlim_cur,
    })
}

/// The connection cap for a soft open-file limit of `fd_limit` (unknown: `None`):
/// [`MAX_CONNECTIONS`], or the limit less [`FD_RESERVE`] when that is smaller, and never less
/// than [`MIN_CONNECTIONS`].
pub fn connection_cap(fd_limit: Option<u64>) -> usize {
    let available = fd_limit.map_or(MAX_CONNECTIONS, |limit| {
        usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .saturating_sub(FD_RESERVE)
    });
    available.clamp(MIN_CONNECTIONS, MAX_CONNECTIONS.max(MIN_CONNECTIONS))
}

/// [`Conn::state`] of a connection writing a response.
const BUSY: u64 = u64::MAX;
/// [`Conn::state`] of a connection the registry closed.
const EVICTED: u64 = u64::MAX - 1;

/// One connection's entry, shared by its task, its socket wrapper ([`Tracked`]), its
/// response bodies ([`Guarded`]) and the [`Registry`].
#[derive(Debug)]
pub struct Conn {
    /// Its number in the registry.
    id: u64,
    /// [`BUSY`], [`EVICTED`], or waiting since this many nanoseconds after the registry's
    /// epoch; atomic so that the per-request updates take no lock.
    state: AtomicU64,
    /// Set when the response's body was handed to hyper; the next completed flush then marks
    /// the connection waiting: only then is every byte of the response with the kernel.
    body_done: AtomicBool,
    /// Fired by the registry to close the connection; the task drops it at once.
    evict: Notify,
    /// The registry's epoch, to turn `state` into a time.
    epoch: Instant,
}

impl Conn {
    fn waiting_since(&self, at: Instant) -> u64 {
        // Far below BUSY and EVICTED: the nanoseconds of 584 years.
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos())
            .unwrap_or(EVICTED - 1)
            .min(EVICTED - 1)
    }

    /// A complete request arrived: from now on the connection is not closed to make room.
    pub fn request_started(&self) {
        self.body_done.store(false, Ordering::Release);
        let _ = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| {
                (state != EVICTED).then_some(BUSY)
            });
    }

    /// The response body was handed over (hyper drops it after taking its last frame).
    fn body_done(&self) {
        self.body_done.store(true, Ordering::Release);
    }

    /// The socket was flushed: if the response body was handed over before, the response is
    /// complete and the connection waits for the next request from now.
    fn flushed(&self) {
        if self.body_done.swap(false, Ordering::AcqRel) {
            let now = self.waiting_since(Instant::now());
            let _ = self
                .state
                .compare_exchange(BUSY, now, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    /// Resolves when the registry closes this connection to make room.
    pub fn evicted(&self) -> impl Future<Output = ()> + '_ {
        self.evict.notified()
    }
}

/// A connection's place in the [`Registry`]; leaving it (dropping) frees the place.
#[derive(Debug)]
pub struct Slot {
    /// The entry.
    conn: Arc<Conn>,
    /// Where to remove it from on drop.
    registry: Arc<Registry>,
}

impl Slot {
    /// The connection's shared entry.
    pub fn conn(&self) -> &Arc<Conn> {
        &self.conn
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.lock().open.remove(&self.conn.id);
    }
}

/// The open connections, and the cap on them.
#[derive(Debug)]
pub struct Registry {
    /// Time zero of the waiting times.
    epoch: Instant,
    /// The entries and the cap; held only to add, remove or pick connections.
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The next connection's number.
    next_id: u64,
    /// Every open connection by number.
    open: HashMap<u64, Arc<Conn>>,
    /// The cap from the open-file limit ([`connection_cap`]).
    cap: usize,
    /// The lower cap learned when `accept` ran out of descriptors, and when; it lapses after
    /// [`EXHAUSTED_CAP_KEPT`].
    lowered: Option<(usize, Instant)>,
}

impl Inner {
    fn cap(&mut self, now: Instant) -> usize {
        match self.lowered {
            Some((cap, at)) if now.saturating_duration_since(at) < EXHAUSTED_CAP_KEPT => cap,
            Some(_) => {
                self.lowered = None;
                self.cap
            }
            None => self.cap,
        }
    }

    /// Closes the longest-waiting connections until at most `cap` are open, or none waits;
    /// returns how many were closed.
    fn evict_down_to(&mut self, cap: usize) -> usize {
        let mut evicted = 0;
        while self.open.len() > cap {
            let oldest = self
                .open
                .values()
                .filter_map(|conn| {
                    let state = conn.state.load(Ordering::Acquire);
                    (state < EVICTED).then_some((state, conn.id))
                })
                .min();
            let Some((state, id)) = oldest else { break };
            let Some(conn) = self.open.get(&id) else {
                break;
            };
            // It may have become busy since it was read: then pick again.
            if conn
                .state
                .compare_exchange(state, EVICTED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                conn.evict.notify_one();
                self.open.remove(&id);
                evicted += 1;
            }
        }
        evicted
    }
}

impl Registry {
    /// An empty registry admitting `cap` connections (see [`connection_cap`]).
    pub fn new(cap: usize) -> Self {
        Self {
            epoch: Instant::now(),
            inner: Mutex::new(Inner {
                next_id: 0,
                open: HashMap::new(),
                cap: cap.max(1),
                lowered: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding the lock; if something did, the map is still whole.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a connection just accepted, waiting from now, and closes the longest-waiting
    /// ones beyond the cap: the newcomer itself only if every other connection is busy.
    /// Returns its slot and how many connections were closed.
    pub fn admit(self: &Arc<Self>) -> (Slot, usize) {
        let now = Instant::now();
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        let conn = Arc::new(Conn {
            id,
            state: AtomicU64::new(0),
            body_done: AtomicBool::new(false),
            evict: Notify::new(),
            epoch: self.epoch,
        });
        conn.state.store(conn.waiting_since(now), Ordering::Release);
        inner.open.insert(id, Arc::clone(&conn));
        let cap = inner.cap(now);
        let evicted = inner.evict_down_to(cap);
        drop(inner);
        let slot = Slot {
            conn,
            registry: Arc::clone(self),
        };
        (slot, evicted)
    }

    /// `accept` ran out of descriptors: lowers the cap to [`EXHAUSTION_HEADROOM`] below the
    /// connections open (for [`EXHAUSTED_CAP_KEPT`]) and closes the longest-waiting ones down
    /// to it. Returns how many were closed.
    pub fn exhausted(&self) -> usize {
        let now = Instant::now();
        let mut inner = self.lock();
        let cap = inner
            .open
            .len()
            .saturating_sub(EXHAUSTION_HEADROOM)
            .min(inner.cap(now))
            .max(1);
        inner.lowered = Some((cap, now));
        inner.evict_down_to(cap)
    }

    /// Connections open now.
    pub fn len(&self) -> usize {
        self.lock().open.len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cap in force now.
    pub fn cap(&self) -> usize {
        self.lock().cap(Instant::now())
    }
}

/// A connection's socket, telling its [`Conn`] when a flush completes (the end of a response).
#[derive(Debug)]
pub struct Tracked<S> {
    /// The socket.
    inner: S,
    /// Whose response completes on flush.
    conn: Arc<Conn>,
}

impl<S> Tracked<S> {
    /// Wraps `inner`, the socket of `conn`.
    pub fn new(inner: S, conn: Arc<Conn>) -> Self {
        Self { inner, conn }
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
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
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

/// A response body that tells its [`Conn`] when hyper has taken all of it (on drop).
#[derive(Debug)]
pub struct Guarded<B> {
    /// The body.
    body: B,
    /// Whose response it is.
    conn: Arc<Conn>,
}

impl<B> Guarded<B> {
    /// Wraps `body`, a response on `conn`.
    pub fn new(body: B, conn: Arc<Conn>) -> Self {
        Self { body, conn }
    }
}

impl<B> Drop for Guarded<B> {
    fn drop(&mut self) {
        self.conn.body_done();
    }
}

impl<B: Body + Unpin> Body for Guarded<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admit(registry: &Arc<Registry>) -> Slot {
        registry.admit().0
    }

    fn evicted(slot: &Slot) -> bool {
        slot.conn.state.load(Ordering::Acquire) == EVICTED
    }

    #[test]
    fn the_cap_leaves_the_reserve_under_the_fd_limit() {
        assert_eq!(connection_cap(None), MAX_CONNECTIONS);
        assert_eq!(connection_cap(Some(1_048_576)), MAX_CONNECTIONS);
        assert_eq!(connection_cap(Some(512)), 512 - FD_RESERVE);
        assert_eq!(connection_cap(Some(64)), MIN_CONNECTIONS);
        assert_eq!(connection_cap(Some(u64::MAX)), MAX_CONNECTIONS);
    }

    #[test]
    fn the_longest_waiting_connection_makes_room() {
        let registry = Arc::new(Registry::new(3));
        let slots: Vec<Slot> = (0..3).map(|_| admit(&registry)).collect();
        let (newcomer, closed) = registry.admit();
        assert_eq!(closed, 1);
        assert!(evicted(&slots[0]) && !evicted(&slots[1]) && !evicted(&newcomer));
        assert_eq!(registry.len(), 3);
    }

    #[test]
    fn a_busy_connection_is_never_closed_and_the_newcomer_goes_when_all_are_busy() {
        let registry = Arc::new(Registry::new(2));
        let a = admit(&registry);
        let b = admit(&registry);
        a.conn.request_started();
        let c = admit(&registry);
        assert!(!evicted(&a) && evicted(&b) && !evicted(&c));
        c.conn.request_started();
        let d = admit(&registry);
        assert!(!evicted(&a) && !evicted(&c) && evicted(&d));
    }

    #[test]
    fn a_response_ends_on_the_flush_after_its_body_was_taken() {
        let registry = Arc::new(Registry::new(1));
        let a = admit(&registry);
        a.conn.request_started();
        a.conn.flushed(); // the head was flushed, the body not yet taken
        assert_eq!(a.conn.state.load(Ordering::Acquire), BUSY);
        drop(Guarded::new((), Arc::clone(&a.conn)));
        assert_eq!(a.conn.state.load(Ordering::Acquire), BUSY);
        a.conn.flushed();
        assert!(a.conn.state.load(Ordering::Acquire) < EVICTED);
        // Waiting again (keep-alive): the next newcomer may close it.
        let _b = admit(&registry);
        assert!(evicted(&a));
    }

    #[test]
    fn running_out_of_descriptors_lowers_the_cap_and_frees_some() {
        let registry = Arc::new(Registry::new(100));
        let slots: Vec<Slot> = (0..40).map(|_| admit(&registry)).collect();
        assert_eq!(registry.exhausted(), EXHAUSTION_HEADROOM);
        assert_eq!(registry.cap(), 40 - EXHAUSTION_HEADROOM);
        assert!(slots[..EXHAUSTION_HEADROOM].iter().all(evicted));
        assert!(!slots[EXHAUSTION_HEADROOM..].iter().any(evicted));
        // Further newcomers stay within the lowered cap.
        let _more: Vec<Slot> = (0..10).map(|_| admit(&registry)).collect();
        assert_eq!(registry.len(), 40 - EXHAUSTION_HEADROOM);
    }

    #[test]
    fn a_closed_connection_leaves_the_registry() {
        let registry = Arc::new(Registry::new(4));
        let a = admit(&registry);
        assert_eq!(registry.len(), 1);
        drop(a);
        assert!(registry.is_empty());
    }

    #[test]
    fn raising_the_fd_limit_reaches_the_hard_limit() {
        let limit = raise_fd_limit().expect("getrlimit works on Linux");
        let mut now = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the local struct.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut now) }, 0);
        assert_eq!(limit.after, now.rlim_cur);
        assert_eq!(now.rlim_cur, now.rlim_max);
    }
}
