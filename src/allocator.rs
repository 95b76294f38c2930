//! How the process gives memory back after a large poll.
//!
//! glibc's malloc keeps freed memory by default: it raises its mmap threshold to the size of
//! the largest block freed, so after one large poll every later buffer of that size comes from
//! a heap that never shrinks. A fixed threshold sends every block of [`MMAP_THRESHOLD`] or
//! more (bodies, expositions, category lists) to its own mapping, returned on free, and
//! `malloc_trim` after each poll returns the pages the poll's small blocks (names) freed, and
//! after each build of the exposition those of the compressor's working memory. The effect is
//! measured in `docs/performance.md#returning-memory-to-the-system-srcallocatorrs`.
//! The container image's binary links glibc statically, so this holds there too. Other C
//! libraries (musl, in `Dockerfile.multistage`'s build) return large blocks on their own, so
//! there this module does nothing.

// The one module allowed `unsafe` (the crate denies it everywhere else): glibc's allocator is
// tuned through its C functions, which `libc` declares and only an `unsafe` block can call.
#![allow(unsafe_code)]

/// Blocks at least this large get their own mapping: above the buffers every request
/// allocates (hyper's read and write buffers), below the per-poll ones worth returning (the
/// body and the exposition of an account with a thousand categories).
pub(crate) const MMAP_THRESHOLD: usize = 128 * 1024;

/// Fixes glibc's mmap threshold (which also stops it and the trim threshold from adapting).
/// Call first thing in `main`, before other threads exist.
pub fn configure() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt takes two integers and only changes allocator settings; it is called
    // before any other thread is started. The threshold fits in a c_int.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
    }
}

/// Returns freed heap pages to the system; called after each collector run and each build
/// or `process_*` refresh of the exposition, on the polling runtime's thread.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory that no allocation uses.
    unsafe {
        libc::malloc_trim(0);
    }
}
