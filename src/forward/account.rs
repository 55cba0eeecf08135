//! The account stage: what happened to a request, recorded once when it is over — the pool's,
//! backend's and (opted-in) route's metrics through handles resolved when the pool or snapshot
//! was built, the access-log line, and the
//! upstream error counter. (Passive health is fed as events happen: a connect failure or a
//! response status is reported the moment it is known, so ejection is not delayed by a long
//! response body.)

use crate::access_log::Record;
use crate::runtime::pool::Pool;
use crate::runtime::{RouteId, Snapshot};
use std::sync::Arc;
use std::time::Duration;

/// What happened to one request.
#[derive(Debug, Default, Clone, Copy)]
pub struct Outcome {
    /// Status the client got (0: none, the client went away or the connection broke).
    pub status: u16,
    /// The backend's status.
    pub upstream_status: Option<u16>,
    /// Time from sending the request to the backend's response head.
    pub upstream_ttfb: Option<Duration>,
    /// Request body bytes received.
    pub bytes_in: u64,
    /// Response body bytes sent.
    pub bytes_out: u64,
    /// Matched route.
    pub route: Option<RouteId>,
    /// Backend of the last attempt (index in the route's pool).
    pub backend: Option<u32>,
    /// Retries made.
    pub retries: u32,
    /// Error kind, when the exchange failed.
    pub error: Option<&'static str>,
    /// The failure was the backend's.
    pub upstream_error: bool,
}

/// Records a finished request: metrics and, when wanted, the access-log line. `record` has the
/// request's own fields; the outcome's are filled in here.
pub fn record<'a>(
    engine: &super::Engine,
    snapshot: &'a Snapshot,
    listener: usize,
    outcome: &Outcome,
    duration: Duration,
    mut line: Record<'a>,
) {
    record_metrics(snapshot, listener, outcome, duration);
    let route = outcome.route.and_then(|id| snapshot.route(id));
    let Some(log) = &engine.access_log else {
        return;
    };
    if !log.wants(outcome.status) {
        return;
    }
    line.status = outcome.status;
    line.bytes_in = outcome.bytes_in;
    line.bytes_out = outcome.bytes_out;
    line.duration = duration;
    line.upstream = route
        .and_then(|(_, pool)| pool.backends.get(outcome.backend? as usize))
        .map(|b| &*b.label);
    line.upstream_status = outcome.upstream_status;
    line.upstream_time = outcome.upstream_ttfb;
    line.retries = outcome.retries;
    line.route = route.map(|(r, _)| &*r.name);
    line.pool = route.map(|(_, p)| &*p.name);
    line.error = outcome.error;
    log.log(&line);
}

/// The metrics of a finished request, through handles resolved once per pool, backend and
/// opted-in route: atomic adds, no allocation and no registry lookup (the
/// `recording_a_request_does_not_allocate` test holds this).
pub fn record_metrics(snapshot: &Snapshot, listener: usize, outcome: &Outcome, duration: Duration) {
    let Some((route, pool)) = outcome.route.and_then(|id| snapshot.route(id)) else {
        return;
    };
    route.record(
        pool,
        listener,
        outcome.status,
        duration,
        outcome.bytes_in,
        outcome.bytes_out,
    );
    if let Some(b) = outcome.backend.and_then(|i| pool.backends.get(i as usize)) {
        let status = outcome.upstream_status.unwrap_or(outcome.status);
        b.metrics.record(&pool.name, &b.label, status);
    }
    if let Some(ttfb) = outcome.upstream_ttfb {
        pool.metrics.upstream_ttfb(ttfb);
    }
    if let (Some(kind), true) = (outcome.error, outcome.upstream_error) {
        pool.metrics.upstream_error(kind);
    }
}

/// Counts a tunnel while it is open (`gatehouse_tunnels_open`), and its end.
#[derive(Debug)]
pub struct OpenTunnel {
    pool: Arc<Pool>,
}

impl OpenTunnel {
    /// A tunnel to a backend of `pool` opened.
    pub fn begin(pool: &Arc<Pool>) -> Self {
        pool.metrics.tunnels.opened();
        OpenTunnel { pool: pool.clone() }
    }

    /// It ended: why, and what it carried.
    pub fn end(self, outcome: &super::tunnel::Outcome) {
        self.pool.metrics.tunnels.closed(
            outcome.end.as_str(),
            outcome.to_upstream,
            outcome.to_client,
        );
    }
}

impl Drop for OpenTunnel {
    fn drop(&mut self) {
        self.pool.metrics.tunnels.gone();
    }
}

#[cfg(test)]
mod tests;
