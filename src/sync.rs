//! Locking a mutex the one way the exporter does: a lock poisoned by a panic is taken anyway.
//! No code holding these locks panics on input; if some ever did, the data behind the lock is
//! still whole, and serving it beats failing every request from then on.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, recovering it from poisoning.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
