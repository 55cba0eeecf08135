//! Requests in flight through a pool: the pool-wide total (the bounded-load denominator) and,
//! for `least_connections`, the load index that must follow every start and end.
//!
//! A backend's in-flight counter lives in its shared state and outlives reloads; the index of
//! a `least_connections` pool copies it. Each start and end refreshes the copy in the schedule
//! in force. A reload that rebuilds the pool hands it over ([`Pool::hand_over`]): the old and
//! new pools share a lineage that names the newest, so a request that started under any older
//! pool also refreshes the newest pool's index when it ends, and the new pool never counts a
//! finished request as still running. The lineage holds the newest pool weakly: old pools
//! keep nothing alive.

use super::Pool;
use crate::config::model::Balance;
use arc_swap::{ArcSwap, ArcSwapOption};
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::{Arc, Weak};

/// The pools that succeeded one another under one name, across reloads that rebuilt it.
#[derive(Debug, Default)]
pub(super) struct Lineage {
    /// The newest of them.
    newest: ArcSwapOption<Weak<Pool>>,
}

/// A pool's place in its lineage.
#[derive(Debug, Default)]
pub(super) struct Successor {
    /// A newer pool exists: requests ending here refresh it too.
    replaced: AtomicBool,
    lineage: ArcSwap<Lineage>,
}

impl Pool {
    /// Counts a request in flight to backend `index` until the guard drops. Call it after the
    /// backend's own counter was raised ([`crate::health::BackendState::begin_request`]), and
    /// drop the guard after that counter's guard, so that the refresh reads the new value.
    pub fn begin_request(&self, index: u32) -> PoolInflight<'_> {
        self.inflight.fetch_add(1, Ordering::Relaxed);
        if self.config.balance == Balance::LeastConnections {
            self.refresh_load(index);
        }
        PoolInflight { pool: self, index }
    }

    /// Copies backend `index`'s in-flight count into the least-connections index in force.
    fn refresh_load(&self, index: u32) {
        // Pairs with the fence after a new schedule is published: either this refresh reaches
        // the new index, or its resync reads the count this request just changed.
        fence(Ordering::SeqCst);
        if let Some(least) = &self.current().least {
            least.update(index, self.load(index));
        }
    }

    /// Records that `next` replaces this pool in a new snapshot (same name, rebuilt because
    /// its settings changed): requests started here, or under any older pool of the name,
    /// refresh `next`'s index when they end. Only between pools of one registry (a preview's
    /// candidate has its own).
    pub fn hand_over(&self, next: &Arc<Pool>) {
        if !Arc::ptr_eq(&self.registry, &next.registry) || std::ptr::eq(self, &**next) {
            return;
        }
        let lineage = self.successor.lineage.load_full();
        lineage.newest.store(Some(Arc::new(Arc::downgrade(next))));
        next.successor.lineage.store(lineage);
        self.successor.replaced.store(true, Ordering::Release);
    }

    /// A request to backend `index` of this (replaced) pool ended: the newest pool of the
    /// name refreshes its copy of that backend's count. A scan for the backend, paid once by
    /// each request that outlived a reload.
    fn ended_after_handover(&self, index: u32) {
        let Some(state) = self.backends.get(index as usize).map(|b| &b.state) else {
            return;
        };
        let lineage = self.successor.lineage.load();
        let Some(newest) = lineage.newest.load().as_ref().and_then(|w| w.upgrade()) else {
            return;
        };
        if newest.config.balance != Balance::LeastConnections {
            return;
        }
        if let Some(there) = newest
            .backends
            .iter()
            .position(|b| Arc::ptr_eq(&b.state, state))
        {
            newest.refresh_load(there as u32);
        }
    }
}

/// A request counted in flight to a pool; uncounted on drop.
#[derive(Debug)]
pub struct PoolInflight<'p> {
    pool: &'p Pool,
    index: u32,
}

impl Drop for PoolInflight<'_> {
    fn drop(&mut self) {
        let pool = self.pool;
        pool.inflight.fetch_sub(1, Ordering::Relaxed);
        if pool.config.balance == Balance::LeastConnections {
            pool.refresh_load(self.index);
        }
        if pool.successor.replaced.load(Ordering::Acquire) {
            pool.ended_after_handover(self.index);
        }
    }
}
