//! The runtime view: one immutable [`Snapshot`] behind an `ArcSwap`, replaced whole on reload.
//!
//! The request path loads the snapshot once per request (an `Arc` clone) and keeps it in the
//! request context, so a request is routed and balanced by one generation of the config from
//! start to finish, even if a reload lands halfway through it.

pub mod applied;
pub mod balance;
pub mod phase;
pub mod pool;
pub mod rate_limit;
pub mod restart;
pub mod router;
pub mod schedule;
pub mod snapshot;

pub use applied::{Applied, BoundListener};
pub use pool::Pool;
pub use router::{RouteId, Router};
pub use snapshot::Snapshot;

use crate::health::Registry;
use arc_swap::ArcSwap;
use std::sync::Arc;
use tokio::sync::watch;

/// The single mutable cell of the process, plus the state that outlives snapshots.
#[derive(Debug)]
pub struct SharedState {
    current: ArcSwap<Snapshot>,
    generation: watch::Sender<u64>,
    /// Backend state, keyed by identity, shared by every snapshot.
    pub registry: Arc<Registry>,
    /// The listeners bound at startup, in order; listener settings are looked up by position
    /// in every snapshot.
    pub bound: Vec<BoundListener>,
    /// The process-wide cold settings applied at startup: reloads report what differs.
    pub applied: Applied,
    /// TLS state with its own schedule: fetched OCSP staples, ACME challenges and status.
    pub tls: Arc<crate::tls::live::TlsLive>,
    /// Recent request facts, for the reload preview (recorded by both engines).
    pub samples: Arc<crate::preview::ring::SampleRing>,
    /// Each pool's last verified rollout (`gatehouse rollout`).
    pub rollouts: Arc<crate::rollout::Rollouts>,
    /// The pair guard's last comparison with the peer.
    pub pair: Arc<crate::pair::status::Pair>,
}

impl SharedState {
    /// Wraps the first snapshot.
    pub fn new(
        first: Snapshot,
        registry: Arc<Registry>,
        bound: Vec<BoundListener>,
        applied: Applied,
    ) -> Self {
        let generation = first.generation;
        SharedState {
            current: ArcSwap::from_pointee(first),
            generation: watch::channel(generation).0,
            registry,
            bound,
            applied,
            tls: Arc::default(),
            samples: Arc::default(),
            rollouts: Arc::default(),
            pair: Arc::default(),
        }
    }

    /// Cold settings of the served config that this process does not run with (they need
    /// `gatehouse upgrade` or a restart), one `key: what` line each.
    pub fn pending_restart(&self) -> Vec<String> {
        restart::restart_required(&self.bound, &self.applied, &self.load().config)
    }

    /// The current snapshot. Cheap (an `Arc` clone); call once per request, not per phase.
    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// A short-lived borrow of the current snapshot (TLS handshakes: no refcount traffic).
    pub fn peek(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.current.load()
    }

    /// Replaces the snapshot atomically and announces its generation; returns the replaced
    /// one, so that the reloader can drop it where its memory goes back to the OS.
    pub fn publish(&self, next: Snapshot) -> Arc<Snapshot> {
        let generation = next.generation;
        let previous = self.current.swap(Arc::new(next));
        self.generation.send_replace(generation);
        previous
    }

    /// Index of the bound listener a connection arrived on, by its local address (an exact
    /// match, else a wildcard bind on the same port).
    pub fn listener_index(&self, local: Option<std::net::SocketAddr>) -> usize {
        let Some(local) = local else { return 0 };
        self.bound
            .iter()
            .position(|b| b.address == local)
            .or_else(|| {
                self.bound.iter().position(|b| {
                    b.address.port() == local.port() && b.address.ip().is_unspecified()
                })
            })
            .unwrap_or(0)
    }

    /// Generation announcements: tests and the admin API await these instead of sleeping.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }
}
