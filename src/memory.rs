//! Handing freed memory back to the OS: the one place gatehouse calls into its allocator.
//!
//! The binary's allocator is mimalloc. It frees a page into the segment of the thread that
//! allocated it and only *schedules* the page's return to the OS; the return happens when that
//! thread next works in the segment or collects. A thread that frees a lot and then goes quiet
//! keeps the pages resident indefinitely, and a collector on another thread cannot reach them
//! (it returns whole free segments only). So the threads that free in bulk collect themselves:
//! the config loader (its scratch and old snapshots), a worker whose clients left (the open
//! connections fell to half), the admin thread after rendering `/status` or `/metrics` (their
//! scratch grows with the backends: at 10,000 backends a first `/status` left ~4 MB resident
//! and each scrape of `/metrics` more); and one background tick returns whole free segments. Under
//! another global allocator (library tests) every call here finds nothing to do.

pub mod allocator;
#[cfg(test)]
pub(crate) mod counting;
mod pages;

pub use pages::prefer_small_pages;

use std::cell::Cell;
use std::time::Duration;

/// Returns this thread's freed pages to the OS now (a few milliseconds after a 100,000-route
/// config load; tens of microseconds for a worker's heap).
pub fn release_freed_memory() {
    collect(true);
}

fn collect(force: bool) {
    #[allow(unsafe_code)]
    // SAFETY: `mi_collect` only walks mimalloc's own bookkeeping for the calling thread (and
    // its arenas) and may be called from any thread at any time; it takes no pointers.
    unsafe {
        libmimalloc_sys::mi_collect(force)
    };
}

/// The fewest connections a worker closes between two of its collects.
const MIN_BURST: usize = 32;

thread_local! {
    /// Connections this thread closed, and the most open connections (process-wide) it saw,
    /// since its last collect.
    static SINCE_COLLECT: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// Notes a client connection closed on this thread (`still_open`: the process's open ones).
/// The worker collects once the open connections have fallen to half the most it saw since
/// its last collect (clients leaving: what it holds for nothing is then at least what it holds
/// for clients), and after at least [`MIN_BURST`] closes. A steady churn of connections — a
/// new connection per request at a constant concurrency — never halves the count, so it never
/// pays for a collect (a forced collect per hundred closes cost ~12 µs per connection there);
/// the freed memory is reused by the next connections instead.
pub fn connection_closed(still_open: usize) {
    let (closed, peak) = SINCE_COLLECT.get();
    let (closed, peak) = (closed + 1, peak.max(still_open + 1));
    if closed < MIN_BURST || still_open * 2 > peak {
        SINCE_COLLECT.set((closed, peak));
        return;
    }
    SINCE_COLLECT.set((0, still_open));
    release_freed_memory();
}

/// Starts the background tick that returns whole free segments (their pages scheduled for
/// return by threads that have since gone quiet). Once a second costs nothing.
pub fn start_collector() {
    let tick = || loop {
        std::thread::park_timeout(Duration::from_secs(1)); // this thread's only job: a tick
        collect(false);
    };
    if let Err(e) = std::thread::Builder::new()
        .name("mem-collect".into())
        .spawn(tick)
    {
        tracing::warn!(error = %e, "cannot start the memory collector thread");
    }
}
