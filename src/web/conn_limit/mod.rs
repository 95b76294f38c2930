//! The server's connections as a whole: which one is closed when a new one needs room, and when
//! a connection has gone quiet for too long. How many may be open, from the process's budget
//! of file descriptors, is `cap`; the socket and body wrappers that report a response's
//! progress are `progress`.
//!
//! Every accepted connection is entered in the table of open connections, [`Connections`], and
//! is in one of two states:
//!
//! - **waiting**: no response of it is under way: it has not sent a complete request since it
//!   was accepted, or since its last response was handed to the kernel. Slowloris clients,
//!   silent clients and idle keep-alive connections are all waiting; the table remembers
//!   since when.
//! - **busy**: a request was read and its response is not yet completely written. The table
//!   remembers when the response last made progress: a body frame taken by the protocol (for
//!   HTTP/2, that is when the client's flow-control window lets it) or, on HTTP/1, bytes
//!   written to the socket.
//!
//! When a new connection would make more than the cap, the table closes the connection that
//! has been quiet longest ([`Connections::admit`]): a waiting one, or a busy one whose response
//! has not moved for [`STALLED_AFTER`] (a client that stopped reading, or that keeps an HTTP/2
//! window shut, is as idle as one that sends nothing). A response that is moving is never cut
//! to make room. A new connection is always accepted, so a flood of idle clients cannot keep
//! Prometheus in the listen backlog; if every other connection is busy and moving, the
//! newcomer itself is the one closed.
//!
//! The server also asks [`Conn::quiet_for`] to end a connection whose response has not moved
//! for the write timeout, whatever the protocol.
//!
//! The cap comes from `cap`. If `accept` still runs out of descriptors (the limit was lowered
//! under the running process, say), [`Connections::exhausted`] lowers the cap below what is
//! open and closes the quietest connections, so that the SmartLead client finds descriptors
//! free. See `docs/design-server.md`.

mod cap;
mod progress;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::sync::lock;

pub(crate) use cap::{connection_cap, fd_limit};
pub use cap::{raise_fd_limit, MAX_CONNECTIONS};
pub(crate) use progress::{Guarded, Tracked};

/// When `accept` runs out of descriptors, the cap drops to this many below the connections
/// then open, and that many of the quietest connections are closed: descriptors for the
/// SmartLead client and for the next `accept`.
pub(crate) const EXHAUSTION_HEADROOM: usize = 16;

/// A cap lowered by running out of descriptors goes back to the configured one after this
/// long without running out again (the limit may have been raised, or the other use of
/// descriptors passed).
pub(crate) const EXHAUSTED_CAP_KEPT: Duration = Duration::from_secs(60);

/// A busy connection whose response has not moved for this long may be closed to make room,
/// like a waiting one. A scrape being written moves many times a second; this only spares
/// responses that have just started from being cut while the connection is still new.
pub(crate) const STALLED_AFTER: Duration = Duration::from_millis(500);

/// [`Conn::state`] of a connection the table closed.
const EVICTED: u64 = u64::MAX;
/// The bit of [`Conn::state`] set while a response is under way.
const BUSY: u64 = 1 << 63;
/// The bits of [`Conn::state`] holding a time, in nanoseconds after the table's epoch.
const TIME: u64 = BUSY - 1;

/// One connection's entry, shared by its task, its socket wrapper ([`Tracked`]), its
/// responses ([`InFlight`], [`Guarded`]) and the [`Connections`].
#[derive(Debug)]
pub(crate) struct Conn {
    /// Its number in the table.
    id: u64,
    /// [`EVICTED`], or a time (the [`TIME`] bits) with the [`BUSY`] bit: waiting since that
    /// time, or busy with a response that last moved then. Atomic so that the per-request and
    /// per-write updates take no lock, and so that eviction can tell, by compare-and-swap,
    /// that nothing moved since it looked.
    state: AtomicU64,
    /// Responses under way: requests read whose response body hyper has not taken whole.
    /// HTTP/2 serves several at once.
    in_flight: AtomicU32,
    /// Set when the last response under way was handed over; the next completed flush then
    /// marks the connection waiting: only then is every byte of it with the kernel (HTTP/1) or
    /// the protocol (HTTP/2).
    idle_on_flush: AtomicBool,
    /// Whether bytes written to the socket count as progress: true for HTTP/1, where they are
    /// the response; false for HTTP/2, whose control frames (pings, settings) move even when
    /// every response is stuck.
    writes_count: AtomicBool,
    /// Fired by the table to close the connection; the task drops it at once.
    evict: Notify,
    /// The table's epoch, to turn `state` into a time.
    epoch: Instant,
}

impl Conn {
    fn stamp(&self, at: Instant) -> u64 {
        // Far below BUSY: the nanoseconds of 292 years.
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos())
            .unwrap_or(TIME)
            .min(TIME)
    }

    /// A complete request arrived: the connection is busy until its response is written. The
    /// response is under way as long as the returned [`InFlight`] lives; move it into the
    /// response body ([`Guarded`]).
    pub(crate) fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let now = BUSY | self.stamp(Instant::now());
        let _ = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| {
                (state != EVICTED).then_some(now)
            });
        InFlight {
            conn: Arc::clone(self),
        }
    }

    /// The response under way moved: a body frame was taken, or (HTTP/1) bytes were written.
    fn progress(&self) {
        let now = BUSY | self.stamp(Instant::now());
        let _ = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| {
                (state != EVICTED && state & BUSY != 0 && state != now).then_some(now)
            });
    }

    /// From now on, writes to the socket are not progress: the connection speaks HTTP/2.
    pub(crate) fn speaks_h2(&self) {
        self.writes_count.store(false, Ordering::Release);
    }

    /// The socket was flushed: if the last response under way was handed over before, the
    /// connection waits for the next request from now.
    fn flushed(&self) {
        if !self.idle_on_flush.swap(false, Ordering::AcqRel) {
            return;
        }
        let state = self.state.load(Ordering::Acquire);
        if state == EVICTED || self.in_flight.load(Ordering::Acquire) != 0 {
            return;
        }
        // A request that started meanwhile changed the state: then this fails, as it should.
        let now = self.stamp(Instant::now());
        let _ = self
            .state
            .compare_exchange(state, now, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Whether a response is under way, and how long the connection has been quiet: since its
    /// response last moved, or since it began waiting. `None` once the table closed it.
    pub(crate) fn quiet_for(&self, now: Instant) -> Option<(bool, Duration)> {
        let state = self.state.load(Ordering::Acquire);
        if state == EVICTED {
            return None;
        }
        let since = self.epoch + Duration::from_nanos(state & TIME);
        Some((state & BUSY != 0, now.saturating_duration_since(since)))
    }

    /// Resolves when the table closes this connection to make room.
    pub(crate) fn evicted(&self) -> impl Future<Output = ()> + '_ {
        self.evict.notified()
    }
}

/// A response under way on a [`Conn`]; dropping it (with the body that holds it, once hyper
/// has taken all of the body, or with the request if the client gave up) ends it.
#[derive(Debug)]
pub(crate) struct InFlight {
    /// Whose response it is.
    conn: Arc<Conn>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.conn.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.conn.idle_on_flush.store(true, Ordering::Release);
        }
    }
}

/// A connection's place in [`Connections`]; leaving it (dropping) frees the place.
#[derive(Debug)]
pub(crate) struct Slot {
    /// The entry.
    conn: Arc<Conn>,
    /// Where to remove it from on drop.
    connections: Arc<Connections>,
}

impl Slot {
    /// The connection's shared entry.
    pub(crate) fn conn(&self) -> &Arc<Conn> {
        &self.conn
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.connections.lock().open.remove(&self.conn.id);
    }
}

/// The table of open connections, and the cap on them.
#[derive(Debug)]
pub(crate) struct Connections {
    /// Time zero of the connections' times.
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

    /// Closes the quietest connections until at most `cap` are open, or none may be closed;
    /// returns how many were closed.
    fn evict_down_to(&mut self, cap: usize, stalled_before: u64) -> usize {
        let mut evicted = 0;
        while self.open.len() > cap {
            // Waiting connections by waiting time, and busy ones whose response has not moved
            // since `stalled_before`, by the time it last moved: the quietest first.
            let quietest = self
                .open
                .values()
                .filter_map(|conn| {
                    let state = conn.state.load(Ordering::Acquire);
                    let time = state & TIME;
                    let closable = state != EVICTED && (state & BUSY == 0 || time < stalled_before);
                    closable.then_some((time, state, conn.id))
                })
                .min();
            let Some((_, state, id)) = quietest else {
                break;
            };
            let Some(conn) = self.open.get(&id) else {
                break;
            };
            // It may have moved since it was read: then pick again.
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

impl Connections {
    /// An empty table admitting `cap` connections (see [`connection_cap`]).
    pub(crate) fn new(cap: usize) -> Self {
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
        lock(&self.inner)
    }

    /// The time before which a busy connection's last progress makes it closable.
    fn stalled_before(&self, now: Instant) -> u64 {
        u64::try_from(
            now.saturating_duration_since(self.epoch)
                .saturating_sub(STALLED_AFTER)
                .as_nanos(),
        )
        .unwrap_or(TIME)
        .min(TIME)
    }

    /// Registers a connection just accepted, waiting from now, and closes the quietest ones
    /// beyond the cap: the newcomer itself only if every other connection is busy and moving.
    /// Returns its slot and how many connections were closed.
    pub(crate) fn admit(self: &Arc<Self>) -> (Slot, usize) {
        let now = Instant::now();
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        let conn = Arc::new(Conn {
            id,
            state: AtomicU64::new(0),
            in_flight: AtomicU32::new(0),
            idle_on_flush: AtomicBool::new(false),
            writes_count: AtomicBool::new(true),
            evict: Notify::new(),
            epoch: self.epoch,
        });
        conn.state.store(conn.stamp(now), Ordering::Release);
        inner.open.insert(id, Arc::clone(&conn));
        let cap = inner.cap(now);
        let evicted = inner.evict_down_to(cap, self.stalled_before(now));
        drop(inner);
        let slot = Slot {
            conn,
            connections: Arc::clone(self),
        };
        (slot, evicted)
    }

    /// `accept` ran out of descriptors: lowers the cap to [`EXHAUSTION_HEADROOM`] below the
    /// connections open (for [`EXHAUSTED_CAP_KEPT`]) and closes the quietest ones down to it.
    /// Returns how many were closed.
    pub(crate) fn exhausted(&self) -> usize {
        let now = Instant::now();
        let mut inner = self.lock();
        let cap = inner
            .open
            .len()
            .saturating_sub(EXHAUSTION_HEADROOM)
            .min(inner.cap(now))
            .max(1);
        inner.lowered = Some((cap, now));
        inner.evict_down_to(cap, self.stalled_before(now))
    }

    /// Connections open now.
    pub(crate) fn len(&self) -> usize {
        self.lock().open.len()
    }

    /// The cap in force now.
    pub(crate) fn cap(&self) -> usize {
        self.lock().cap(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admit(connections: &Arc<Connections>) -> Slot {
        connections.admit().0
    }

    fn evicted(slot: &Slot) -> bool {
        slot.conn.state.load(Ordering::Acquire) == EVICTED
    }

    fn busy(slot: &Slot) -> bool {
        slot.conn.state.load(Ordering::Acquire) & BUSY != 0
    }

    #[test]
    fn the_longest_waiting_connection_makes_room() {
        let connections = Arc::new(Connections::new(3));
        let slots: Vec<Slot> = (0..3).map(|_| admit(&connections)).collect();
        let (newcomer, closed) = connections.admit();
        assert_eq!(closed, 1);
        assert!(evicted(&slots[0]) && !evicted(&slots[1]) && !evicted(&newcomer));
        assert_eq!(connections.len(), 3);
    }

    #[test]
    fn a_moving_response_is_never_closed_and_the_newcomer_goes_when_all_are_busy() {
        let connections = Arc::new(Connections::new(2));
        let a = admit(&connections);
        let b = admit(&connections);
        let _a_response = a.conn.request_started();
        let c = admit(&connections);
        assert!(!evicted(&a) && evicted(&b) && !evicted(&c));
        let _c_response = c.conn.request_started();
        let d = admit(&connections);
        assert!(!evicted(&a) && !evicted(&c) && evicted(&d));
    }

    #[test]
    fn a_response_that_stopped_moving_makes_room_like_a_waiting_connection() {
        let connections = Arc::new(Connections::new(2));
        let stuck = admit(&connections);
        let moving = admit(&connections);
        let _stuck_response = stuck.conn.request_started();
        let _moving_response = moving.conn.request_started();
        std::thread::sleep(STALLED_AFTER + Duration::from_millis(50));
        moving.conn.progress();
        let newcomer = admit(&connections);
        assert!(evicted(&stuck) && !evicted(&moving) && !evicted(&newcomer));
        let (busy_now, quiet) = moving.conn.quiet_for(Instant::now()).unwrap();
        assert!(busy_now && quiet < STALLED_AFTER, "{quiet:?}");
    }

    #[test]
    fn a_response_ends_on_the_flush_after_its_body_was_taken() {
        let connections = Arc::new(Connections::new(1));
        let a = admit(&connections);
        let response = a.conn.request_started();
        a.conn.flushed(); // the head was flushed, the body not yet taken
        assert!(busy(&a));
        drop(Guarded::new((), response));
        assert!(busy(&a));
        a.conn.flushed();
        assert!(!busy(&a) && !evicted(&a));
        // Waiting again (keep-alive): the next newcomer may close it.
        let _b = admit(&connections);
        assert!(evicted(&a));
    }

    #[test]
    fn with_two_responses_under_way_the_connection_waits_only_after_both() {
        let connections = Arc::new(Connections::new(4));
        let a = admit(&connections);
        let first = a.conn.request_started();
        let second = a.conn.request_started();
        drop(first);
        a.conn.flushed();
        assert!(busy(&a));
        drop(second);
        a.conn.flushed();
        assert!(!busy(&a));
    }

    #[test]
    fn running_out_of_descriptors_lowers_the_cap_and_frees_some() {
        let connections = Arc::new(Connections::new(100));
        let slots: Vec<Slot> = (0..40).map(|_| admit(&connections)).collect();
        assert_eq!(connections.exhausted(), EXHAUSTION_HEADROOM);
        assert_eq!(connections.cap(), 40 - EXHAUSTION_HEADROOM);
        assert!(slots[..EXHAUSTION_HEADROOM].iter().all(evicted));
        assert!(!slots[EXHAUSTION_HEADROOM..].iter().any(evicted));
        // Further newcomers stay within the lowered cap.
        let _more: Vec<Slot> = (0..10).map(|_| admit(&connections)).collect();
        assert_eq!(connections.len(), 40 - EXHAUSTION_HEADROOM);
    }

    #[test]
    fn a_closed_connection_leaves_the_registry() {
        let connections = Arc::new(Connections::new(4));
        let a = admit(&connections);
        assert_eq!(connections.len(), 1);
        drop(a);
        assert_eq!(connections.len(), 0);
    }
}
