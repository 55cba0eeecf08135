//! The process-wide table of backend states, keyed by identity, outside any snapshot.

use super::backend::BackendState;
use super::key::{BackendKey, Transition};
use super::status::Status;
use parking_lot::Mutex;
use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;

/// How long a backend that left the config keeps its state, so that a config that briefly drops
/// and re-adds it does not reset its health.
pub const RETENTION: Duration = Duration::from_secs(300);

/// A state and when it left the config. Found by the state's own key (a set, not a map keyed
/// by a copy of it: the copy was 48 bytes a backend, times the table's spare room).
struct Entry {
    state: Arc<BackendState>,
    /// When it left the config, as nanoseconds since the registry's `origin` plus one; 0
    /// while configured. Atomic only so that a set member can change in place (the set's
    /// lock is held for every access).
    retired_at: AtomicU64,
}

impl Borrow<BackendKey> for Entry {
    fn borrow(&self) -> &BackendKey {
        &self.state.key
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.state.key == other.state.key
    }
}

impl Eq for Entry {}

impl Hash for Entry {
    fn hash<H: Hasher>(&self, h: &mut H) {
        // As the key hashes: `Borrow` requires the same hash for a lookup by key.
        self.state.key.hash(h);
    }
}

/// All backend states. Cheap to share (`Arc`), locked only when snapshots are built.
pub struct Registry {
    entries: Mutex<HashSet<Entry>>,
    /// The instant `Entry::retired_at` counts from.
    origin: Instant,
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
            entries: Mutex::new(HashSet::new()),
            origin: Instant::now(),
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
        if let Some(entry) = entries.get(&key) {
            entry.retired_at.store(0, Ordering::Relaxed);
            return entry.state.clone();
        }
        let state = Arc::new(BackendState::new(
            key,
            start,
            self.epoch.clone(),
            self.events.clone(),
        ));
        entries.insert(Entry {
            state: state.clone(),
            retired_at: AtomicU64::new(0),
        });
        state
    }

    /// `at` as an `Entry::retired_at` value (never 0).
    fn stamp(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1
    }

    /// Marks every backend not in `live` as retired (clearing admin overrides, which last only
    /// while the backend is configured) and forgets those retired longer than [`RETENTION`].
    pub fn retain_live(&self, live: &[BackendKey]) {
        let now = Instant::now();
        let live: std::collections::HashSet<&BackendKey> = live.iter().collect();
        let mut entries = self.entries.lock();
        let now_stamp = self.stamp(now);
        let retention = u64::try_from(RETENTION.as_nanos()).unwrap_or(u64::MAX);
        entries.retain(|entry| {
            let retired_at = entry.retired_at.load(Ordering::Relaxed);
            if live.contains(&entry.state.key) {
                entry.retired_at.store(0, Ordering::Relaxed);
                return true;
            }
            if retired_at == 0 {
                entry.retired_at.store(now_stamp, Ordering::Relaxed);
                entry.state.set_admin(super::AdminOverride::None);
                return true;
            }
            now_stamp.saturating_sub(retired_at) < retention
        });
        self.epoch.fetch_add(1, Ordering::Release);
    }

    /// Looks a configured (not retired) backend up.
    pub fn get(&self, key: &BackendKey) -> Option<Arc<BackendState>> {
        self.entries
            .lock()
            .get(key)
            .filter(|e| e.retired_at.load(Ordering::Relaxed) == 0)
            .map(|e| e.state.clone())
    }

    /// Every configured backend, sorted by key (for `/status` and the upgrade hand-over).
    pub fn live(&self) -> Vec<Arc<BackendState>> {
        let mut out: Vec<Arc<BackendState>> = self
            .entries
            .lock()
            .iter()
            .filter(|e| e.retired_at.load(Ordering::Relaxed) == 0)
            .map(|e| e.state.clone())
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }
}
