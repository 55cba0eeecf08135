//! The guard's result, as the shared state holds it. Kept apart from the guard (which reads the
//! runtime state) so that the runtime, below the guard, can hold it.

use parking_lot::Mutex;
use serde::Serialize;

/// The guard's last comparison, for `/status`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PairStatus {
    /// The peer (`host:port`), `None` when no guard is configured.
    pub peer: Option<String>,
    /// The last comparison reached the peer.
    pub peer_reachable: bool,
    /// Reachable and no difference.
    pub in_sync: bool,
    /// What differs (or why the peer could not be asked).
    pub differences: Vec<String>,
    /// Generation here and on the peer (informational).
    pub generation: u64,
    /// The peer's generation.
    pub peer_generation: Option<u64>,
    /// This node holds the floating address (`None`: no `floating_address` configured).
    pub holds_floating_address: Option<bool>,
    /// When (seconds since the epoch).
    pub checked_at_unix: f64,
}

/// The guard's state, shared with the admin API.
#[derive(Debug, Default)]
pub struct Pair {
    last: Mutex<PairStatus>,
}

impl Pair {
    /// The last comparison.
    pub fn status(&self) -> PairStatus {
        self.last.lock().clone()
    }

    pub(crate) fn set(&self, status: PairStatus) {
        *self.last.lock() = status;
    }
}
