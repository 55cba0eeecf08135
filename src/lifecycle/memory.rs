//! Returning memory to the OS while the binary runs.

use std::time::Duration;

/// Hands memory freed by closed connections back to the OS. The binary's allocator is mimalloc,
/// which returns freed pages lazily, when the thread that owns them allocates again; after a
/// burst of connections closes an idle worker would keep them resident indefinitely. Once a
/// second costs nothing. (Under another global allocator this only tidies mimalloc's own,
/// empty, heaps.)
pub fn return_freed_memory() {
    let collect = || loop {
        std::thread::park_timeout(Duration::from_secs(1)); // this thread's only job: a tick
        #[allow(unsafe_code)]
        // SAFETY: `mi_collect` only walks mimalloc's own bookkeeping and may be called from
        // any thread at any time; it takes no pointers.
        unsafe {
            libmimalloc_sys::mi_collect(false)
        };
    };
    if let Err(e) = std::thread::Builder::new()
        .name("mem-collect".into())
        .spawn(collect)
    {
        tracing::warn!(error = %e, "cannot start the memory collector thread");
    }
}
