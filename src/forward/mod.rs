//! gatehouse's own forwarding engine, on pingora-core.
//!
//! Pingora still runs the process (server, services, listeners, socket hand-over on upgrade),
//! accepts connections, terminates TLS and opens backend connections. From the accepted
//! connection on, HTTP/1 is gatehouse's: the strict gate's parse is the only parse of a request
//! head; the head goes to the backend with byte-level edits; bodies move in one loop per
//! direction; upstream connections wait in gatehouse's own idle pool; upgrades become tunnels.
//!
//! A request passes three stages, in order, each called once: **decide** (route, admission,
//! backend selection: [`crate::proxy::decide`], [`crate::proxy::access`], the pool), **forward**
//! ([`h1`]: protocol-specific, byte-level), **account** ([`account`]: access log, metrics,
//! passive health). The snapshot is loaded once per request and passed down.

pub mod account;
pub mod chunked;
pub mod h1;
pub mod h2;
pub mod h2pool;
pub mod pick;
pub mod request_id;
pub mod rewrite;
pub mod tunnel;
pub mod upstream;

use crate::access_log::AccessLog;
use crate::proxy::retry_budget::RetryBudget;
use crate::runtime::SharedState;
use std::sync::Arc;

/// What every HTTP/1 connection of a gatehouse instance shares.
#[derive(Debug)]
pub struct Engine {
    pub(crate) state: Arc<SharedState>,
    pub(crate) budget: Arc<RetryBudget>,
    pub(crate) access_log: Option<Arc<AccessLog>>,
    pub(crate) connector: upstream::Connector,
    pub(crate) h2: h2pool::H2Pool,
}

impl Engine {
    /// An engine over `state`, drawing retries from `budget` (shared with the HTTP/2 path),
    /// logging to `access_log`, keeping up to `max_idle` idle backend connections.
    pub fn new(
        state: Arc<SharedState>,
        budget: Arc<RetryBudget>,
        access_log: Option<Arc<AccessLog>>,
        max_idle: usize,
    ) -> Self {
        Engine {
            state,
            budget,
            access_log,
            connector: upstream::Connector::new(max_idle),
            h2: h2pool::H2Pool::default(),
        }
    }

    /// Closes idle backend connections past their idle timeout (called once a second).
    pub fn sweep(&self) {
        self.connector.sweep();
        self.h2.sweep();
    }
}
