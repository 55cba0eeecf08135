//! Small pages for the proxy process.
//!
//! mimalloc reserves its heap in large segments and, by default, lets the kernel back them with
//! transparent huge pages, so each touched 2 MiB stretch becomes resident whole: the proxy
//! started at ~34 MiB with a 10-route config (under 19 MiB without), peaked at 55 MiB under the
//! load kit's keep-alive test (32 MiB without; HAProxy 33), and every memory figure moved in
//! 2 MiB steps. The load kit showed no throughput cost (docs/performance.md, 2026-12-07): the
//! request path's working set is far below what huge pages help with. The cost is in very large
//! reloads, whose scratch is faulted in 4 KiB at a time: 544 → 763–882 ms at 100,000 routes.
//!
//! The default is compiled into mimalloc (`.cargo/config.toml` defines `MI_DEFAULT_ALLOW_THP=0`,
//! so it holds from the allocator's first page, before `main`); this call covers a build where
//! that define was overridden. `MIMALLOC_ALLOW_THP=1` turns huge pages back on for operators
//! who reload 100,000-route configs often and prefer the reload time to the memory.

/// Turns transparent huge pages off for this process (and what it executes, such as the next
/// generation during an upgrade), unless the operator set mimalloc's own switch,
/// `MIMALLOC_ALLOW_THP` (any value), to decide for themselves. Failure (a kernel without the
/// prctl) leaves the kernel's default, which is only a memory cost.
pub fn prefer_small_pages() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return;
    }
    if let Err(error) = nix::sys::prctl::set_thp_disable(true) {
        tracing::debug!(%error, "transparent huge pages stay as the kernel sets them");
    }
}
