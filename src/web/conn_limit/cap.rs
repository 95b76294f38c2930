//! How many connections may be open at once: [`MAX_CONNECTIONS`], or fewer when the process's
//! open-file limit leaves less than that after [`FD_RESERVE`] ([`connection_cap`]);
//! [`raise_fd_limit`] first lifts the soft limit to the hard one, as Go's runtime does.

use rlimit::Resource;

/// Connections served at once, at most. A connection that sent part of a request holds hyper's
/// read buffer and its task (see `docs/design-server.md` for the measured cost), so this
/// bounds what idle clients can make the server hold; Prometheus needs one or two. Past the
/// cap the quietest connection is closed, not the new one.
pub const MAX_CONNECTIONS: usize = 512;

/// File descriptors kept out of the connection cap for everything else: standard streams,
/// the runtimes' event queues, the signal pipe, the listeners, the SmartLead client's
/// connections (up to `--poll.concurrency`) and name lookups, key and configuration files,
/// and `/proc` reads for the `process_*` metrics.
pub(crate) const FD_RESERVE: usize = 128;

/// The cap never goes below this, however low the open-file limit: with fewer descriptors
/// than [`FD_RESERVE`] the exporter still serves a few connections.
pub(crate) const MIN_CONNECTIONS: usize = 16;

/// The open-file limit before and after [`raise_fd_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit the process was started with.
    pub before: u64,
    /// The soft limit now (the hard limit, unless raising failed).
    pub after: u64,
}

/// The soft `RLIMIT_NOFILE` in force, if it can be read.
pub(crate) fn fd_limit() -> Option<u64> {
    Resource::NOFILE.get().ok().map(|(soft, _)| soft)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, as Go's runtime does at start-up, so
/// that idle clients run into the connection cap long before the process runs out of
/// descriptors. Call once at start-up. `None` where the limit cannot be read.
pub fn raise_fd_limit() -> Option<FdLimit> {
    let (before, hard) = Resource::NOFILE.get().ok()?;
    // A refusal leaves the limit as it was.
    let after = if before < hard && Resource::NOFILE.set(hard, hard).is_ok() {
        hard
    } else {
        before
    };
    Some(FdLimit { before, after })
}

/// The connection cap for a soft open-file limit of `fd_limit` (unknown: `None`):
/// [`MAX_CONNECTIONS`], or the limit less [`FD_RESERVE`] when that is smaller, and never less
/// than [`MIN_CONNECTIONS`].
pub(crate) fn connection_cap(fd_limit: Option<u64>) -> usize {
    let available = fd_limit.map_or(MAX_CONNECTIONS, |limit| {
        usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .saturating_sub(FD_RESERVE)
    });
    available.clamp(MIN_CONNECTIONS, MAX_CONNECTIONS.max(MIN_CONNECTIONS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_the_reserve_under_the_fd_limit() {
        assert_eq!(connection_cap(None), MAX_CONNECTIONS);
        assert_eq!(connection_cap(Some(1_048_576)), MAX_CONNECTIONS);
        assert_eq!(connection_cap(Some(512)), 512 - FD_RESERVE);
        assert_eq!(connection_cap(Some(64)), MIN_CONNECTIONS);
        assert_eq!(connection_cap(Some(u64::MAX)), MAX_CONNECTIONS);
    }

    #[test]
    fn raising_the_fd_limit_reaches_the_hard_limit() {
        let limit = raise_fd_limit().expect("getrlimit works on Linux");
        let (soft, hard) = Resource::NOFILE.get().unwrap();
        assert_eq!(limit.after, soft);
        assert_eq!(soft, hard);
    }
}
