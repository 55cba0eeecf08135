//! Hands the memory of closed connections back to the OS from the thread that served them.
//!
//! mimalloc frees a page into its thread's segment and only schedules the page's return to the
//! OS (10 ms later); the return itself happens when that thread next works in the segment or
//! collects. A worker that closes a burst of connections and then goes quiet — the clients of
//! a load test leave, a mass disconnect — keeps the burst's pages resident indefinitely, and
//! a collector on another thread cannot reach them (it returns whole free segments only). So
//! the worker collects itself once it has closed at least as many connections as are still
//! open across the process (the memory it holds for nothing is then at least what it holds
//! for clients), and never more often than every [`MIN_BURST`] closes: cheap (one forced
//! collect — tens of microseconds — per hundred-odd connections) and bounded (at most
//! `MIN_BURST` connections' worth, ~0.5 MiB, left to the allocator's own schedule per thread).

use std::cell::Cell;

/// The fewest closes between two collects of one thread.
const MIN_BURST: usize = 128;

thread_local! {
    static CLOSED_SINCE_COLLECT: Cell<usize> = const { Cell::new(0) };
}

/// Notes a closed connection on this thread; `still_open` counts the process's open ones.
pub(super) fn connection_closed(still_open: usize) {
    let closed = CLOSED_SINCE_COLLECT.get() + 1;
    if closed < MIN_BURST.max(still_open) {
        CLOSED_SINCE_COLLECT.set(closed);
        return;
    }
    CLOSED_SINCE_COLLECT.set(0);
    #[allow(unsafe_code)]
    // SAFETY: `mi_collect` only walks mimalloc's own bookkeeping for the calling thread (and
    // its arenas) and may be called at any time; it takes no pointers. Without mimalloc as the
    // global allocator (library tests) it finds nothing to do.
    unsafe {
        libmimalloc_sys::mi_collect(true)
    };
}
