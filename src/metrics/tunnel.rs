//! Tunnel series of one pool (upgraded connections: WebSocket and the like), resolved on the
//! first tunnel and reused by every later one.

use super::keyed::ByValue;
use super::names::{self, label};
use metrics::{counter, gauge, Counter, Gauge};
use std::sync::{Arc, OnceLock};

/// Pre-resolved tunnel handles for one pool.
#[derive(Debug)]
pub struct TunnelMetrics {
    pool: Arc<str>,
    opened: OnceLock<Counter>,
    open: OnceLock<Gauge>,
    closed: ByValue,
    to_upstream: OnceLock<Counter>,
    to_client: OnceLock<Counter>,
}

impl TunnelMetrics {
    /// Handles for `pool`, none resolved yet.
    pub fn new(pool: &Arc<str>) -> Self {
        TunnelMetrics {
            pool: pool.clone(),
            opened: OnceLock::new(),
            open: OnceLock::new(),
            closed: ByValue::default(),
            to_upstream: OnceLock::new(),
            to_client: OnceLock::new(),
        }
    }

    fn open_gauge(&self) -> &Gauge {
        self.open
            .get_or_init(|| gauge!(names::TUNNELS_OPEN, label::POOL => self.pool.to_string()))
    }

    /// A tunnel opened.
    pub fn opened(&self) {
        self.opened
            .get_or_init(|| counter!(names::TUNNELS_TOTAL, label::POOL => self.pool.to_string()))
            .increment(1);
        self.open_gauge().increment(1.0);
    }

    /// A tunnel ended, for `reason`, having carried these bytes each way.
    pub fn closed(&self, reason: &'static str, to_upstream: u64, to_client: u64) {
        self.closed.increment(reason, 1, || {
            counter!(names::TUNNELS_CLOSED_TOTAL, label::POOL => self.pool.to_string(), label::REASON => reason)
        });
        self.to_upstream
            .get_or_init(|| self.bytes(names::direction::TO_UPSTREAM))
            .increment(to_upstream);
        self.to_client
            .get_or_init(|| self.bytes(names::direction::TO_CLIENT))
            .increment(to_client);
    }

    /// A tunnel is no longer open (however it ended).
    pub fn gone(&self) {
        self.open_gauge().decrement(1.0);
    }

    fn bytes(&self, direction: &'static str) -> Counter {
        counter!(names::TUNNEL_BYTES_TOTAL, label::POOL => self.pool.to_string(), label::DIRECTION => direction)
    }
}
