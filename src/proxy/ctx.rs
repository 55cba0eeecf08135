//! Per-request context: the snapshot the request is served by, and what happened to it.

use crate::health::{InflightGuardHandle, Permit};
use crate::runtime::{RouteId, Snapshot};
use http::HeaderValue;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Backends already tried for this request (bounded: retries are capped at 16).
#[derive(Debug, Default, Clone, Copy)]
pub struct Tried {
    slots: [u32; 17],
    len: u8,
}

impl Tried {
    /// Records a backend as tried.
    pub fn push(&mut self, index: u32) {
        if usize::from(self.len) < self.slots.len() && !self.as_slice().contains(&index) {
            self.slots[usize::from(self.len)] = index;
            self.len += 1;
        }
    }

    /// Backends tried so far.
    pub fn as_slice(&self) -> &[u32] {
        &self.slots[..usize::from(self.len)]
    }
}

/// Everything a request carries between Pingora's phases.
#[derive(Debug, Default)]
pub struct RequestCtx {
    /// The snapshot loaded once, in `request_filter`.
    pub snapshot: Option<Arc<Snapshot>>,
    /// Index of the bound listener.
    pub listener: usize,
    /// Arrived over TLS.
    pub tls: bool,
    /// Matched route.
    pub route: Option<RouteId>,
    /// Request id (incoming if valid, else generated).
    pub request_id: Option<HeaderValue>,
    /// When the request head was read.
    pub started: Option<Instant>,
    /// Backend chosen for the current attempt (index into the pool's backends).
    pub backend: Option<u32>,
    /// Backends tried.
    pub tried: Tried,
    /// Attempts made (1 = no retry).
    pub attempts: u32,
    /// The next attempt must use a new connection (a reused one just failed).
    pub fresh_connection: bool,
    /// In-flight count of the chosen backend.
    pub inflight: Option<InflightGuardHandle>,
    /// Connection slot when the backend has `max_connections`.
    pub permit: Option<Permit>,
    /// When the request was handed to the upstream connection.
    pub upstream_started: Option<Instant>,
    /// When the response must be complete (`timeouts.response`), if the pool sets one.
    pub response_deadline: Option<Instant>,
    /// Time to the upstream response head.
    pub upstream_ttfb: Option<Duration>,
    /// Upstream response status.
    pub upstream_status: Option<u16>,
    /// Status of a response gatehouse generated itself (404, redirects, errors).
    pub local_status: Option<u16>,
    /// Retries made.
    pub retries: u32,
    /// Counts the request in `gatehouse_requests_in_flight` until dropped.
    pub in_flight: Option<crate::metrics::InFlight>,
    /// The route's body size limit.
    pub max_body_size: Option<u64>,
    /// Minimum body rate (bytes/s, 0: off).
    pub min_body_rate: u64,
    /// Body bytes received so far.
    pub body_bytes: u64,
    /// When the first body bytes arrived.
    pub body_started: Option<Instant>,
}

impl RequestCtx {
    /// The snapshot; always present after `request_filter`.
    pub fn snapshot(&self) -> Option<&Arc<Snapshot>> {
        self.snapshot.as_ref()
    }
}
