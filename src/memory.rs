//! Handing freed memory back to the OS: the one place gatehouse calls into its allocator.
//!
//! The binary's allocator is mimalloc. It frees a page into the segment of the thread that
//! allocated it and only *schedules* the page's return to the OS; the return happens when that
//! thread next works in the segment or collects. A thread that frees a lot and then goes quiet
//! keeps the pages resident indefinitely, and a collector on another thread cannot reach them
//! (it returns whole free segments only). So the threads that free in bulk collect themselves:
//! a config load (its scratch and the old snapshot), a worker after a burst of closed
//! connections; and one background tick returns the whole free segments. Under another global
//! allocator (library tests) every call here finds nothing to do.

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
const MIN_BURST: usize = 128;

thread_local! {
    static CLOSED_SINCE_COLLECT: Cell<usize> = const { Cell::new(0) };
}

/// Notes a client connection closed on this thread (`still_open`: the process's open ones).
/// The worker collects once it has closed at least as many connections as remain open — the
/// memory it holds for nothing is then at least what it holds for clients — and never more
/// often than every [`MIN_BURST`] closes: one forced collect per hundred-odd connections, and
/// at most `MIN_BURST` connections' worth (~0.5 MiB) per thread left to the allocator's own
/// schedule after clients leave.
pub fn connection_closed(still_open: usize) {
    let closed = CLOSED_SINCE_COLLECT.get() + 1;
    if closed < MIN_BURST.max(still_open) {
        CLOSED_SINCE_COLLECT.set(closed);
        return;
    }
    CLOSED_SINCE_COLLECT.set(0);
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
