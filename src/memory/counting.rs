//! The library tests' global allocator: the system allocator, counting what the calling
//! thread allocates while it measures. One per test binary, so every test that counts
//! allocations (none per request for metrics, a bound on a backend's bytes) shares it.

#![allow(unsafe_code)] // GlobalAlloc is an unsafe trait

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

/// What the measuring thread allocated: calls, and bytes still held (allocated minus freed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Allocations (and reallocations) made.
    pub(crate) allocations: u64,
    /// Bytes allocated and not freed again, on this thread, while measuring.
    pub(crate) live_bytes: i64,
    /// The most `live_bytes` reached while measuring (what the allocator had to find room for).
    pub(crate) peak_bytes: i64,
}

thread_local! {
    static MEASURING: Cell<bool> = const { Cell::new(false) };
    static COUNTS: Cell<Counts> = const {
        Cell::new(Counts {
            allocations: 0,
            live_bytes: 0,
            peak_bytes: 0,
        })
    };
}

/// Adds to this thread's counts while it measures (`try_with`: the allocator runs during
/// thread teardown too, when the thread-locals may be gone).
fn note(calls: u64, bytes: i64) {
    let _ = MEASURING.try_with(|on| {
        if on.get() {
            let _ = COUNTS.try_with(|c| {
                let mut now = c.get();
                now.allocations += calls;
                now.live_bytes += bytes;
                now.peak_bytes = now.peak_bytes.max(now.live_bytes);
                c.set(now);
            });
        }
    });
}

fn signed(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(1, signed(layout.size()));
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(1, signed(layout.size()));
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(1, signed(new_size) - signed(layout.size()));
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(0, -signed(layout.size()));
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What `f` allocated on this thread, and its result.
pub(crate) fn measure<T>(f: impl FnOnce() -> T) -> (T, Counts) {
    COUNTS.with(|c| c.set(Counts::default()));
    MEASURING.with(|on| on.set(true));
    let out = f();
    MEASURING.with(|on| on.set(false));
    (out, COUNTS.with(Cell::get))
}
