//! Backend identity and the record of a state change: the vocabulary the registry and each
//! backend's state machine share (a leaf module, so neither imports the other for it).

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

/// Backend identity: the pool it serves in and its resolved address.
///
/// The pool is part of the identity because health-check settings are per pool: the same
/// address in two pools may be checked differently and so have two different states.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackendKey {
    /// Pool name.
    pub pool: Arc<str>,
    /// Resolved address.
    pub address: SocketAddr,
}

impl BackendKey {
    /// Builds a key.
    pub fn new(pool: &str, address: SocketAddr) -> Self {
        BackendKey {
            pool: Arc::from(pool),
            address,
        }
    }
}

impl fmt::Display for BackendKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.pool, self.address)
    }
}

/// One logged state change, broadcast for metrics and tests.
#[derive(Debug, Clone)]
pub struct Transition {
    /// Which backend.
    pub key: BackendKey,
    /// Combined state before.
    pub from: &'static str,
    /// Combined state after.
    pub to: &'static str,
    /// Why (e.g. `3 consecutive failed checks (status 503)`).
    pub reason: String,
    /// When (wall clock).
    pub at: std::time::SystemTime,
}
