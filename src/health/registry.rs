//! The process-wide table of backend states, keyed by identity, outside any snapshot.

use super::backend::BackendState;
use super::key::{BackendKey, Transition};
use super::status::Status;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;

/// How long a backend that left the config keeps its state, so that a config that briefly drops
/// and re-adds it does not reset its health.
pub const RETENTION: Duration = Duration::from_secs(300);

struct Entry {
    state: Arc<BackendState>,
    retired_at: Option<Instant>,
}

/// All backend states. Cheap to share (`Arc`), locked only when snapshots are built.
pub struct Registry {
    entries: Mutex<HashMap<BackendKey, Entry>>,
    epoch: Arc<AtomicU64>,
    events: broadcast::Sender<Transition>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("backends", &self.entries.lock().len())
            .field("epoch", &self.epoch())
            .finish()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry {
            entries: Mutex::new(HashMap::new()),
            epoch: Arc::new(AtomicU64::new(1)),
            events: broadcast::channel(1024).0,
        }
    }

    /// Changes whenever any backend's eligibility may have changed.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Subscribes to state transitions.
    pub fn subscribe(&self) -> broadcast::Receiver<Transition> {
        self.events.subscribe()
    }

    /// The state for `key`, created in `start` status if new (or revived if recently retired).
    pub fn get_or_create(&self, key: BackendKey, start: Status) -> Arc<BackendState> {
        let mut entries = self.entries.lock();
        let entry = entries.entry(key.clone()).or_insert_with(|| Entry {
            state: Arc::new(BackendState::new(
                key,
                start,
                self.epoch.clone(),
                self.events.clone(),
            )),
            retired_at: None,
        });
        entry.retired_at = None;
        entry.state.clone()
    }

    /// Marks every backend not in `live` as retired (clearing admin overrides, which last only
    /// while the backend is configured) and forgets those retired longer than [`RETENTION`].
    pub fn retain_live(&self, live: &[BackendKey]) {
        let now = Instant::now();
        let live: std::collections::HashSet<&BackendKey> = live.iter().collect();
        let mut entries = self.entries.lock();
        for (key, entry) in entries.iter_mut() {
            if live.contains(key) {
                entry.retired_at = None;
            } else if entry.retired_at.is_none() {
                entry.retired_at = Some(now);
                entry.state.set_admin(super::AdminOverride::None);
            }
        }
        entries.retain(|_, e| {
            e.retired_at
                .is_none_or(|at| now.duration_since(at) < RETENTION)
        });
        self.epoch.fetch_add(1, Ordering::Release);
    }

    /// Looks a configured (not retired) backend up.
    pub fn get(&self, key: &BackendKey) -> Option<Arc<BackendState>> {
        self.entries
            .lock()
            .get(key)
            .filter(|e| e.retired_at.is_none())
            .map(|e| e.state.clone())
    }

    /// Every configured backend, sorted by key (for `/status` and the upgrade hand-over).
    pub fn live(&self) -> Vec<Arc<BackendState>> {
        let mut out: Vec<Arc<BackendState>> = self
            .entries
            .lock()
            .values()
            .filter(|e| e.retired_at.is_none())
            .map(|e| e.state.clone())
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }
}
