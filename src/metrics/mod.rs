//! Prometheus metrics through the `metrics` facade.
//!
//! The recorder is process-global (installed once). Labels come only from config names and small
//! closed sets, never from raw hosts, paths or client addresses. Per-request counters are
//! resolved to handles once per pool and backend ([`PoolMetrics`], [`BackendMetrics`]) and,
//! for routes with `metrics = true` only, per route ([`RouteMetrics`]), so the request path pays
//! an atomic add, not a registry lookup, and the number of series does not grow with routes.

pub mod http2;
mod keyed;
#[cfg(test)]
mod label_guard;
pub mod latency;
mod listener;
pub mod names;
mod pool;
mod route;
pub mod scraped;
mod tunnel;

pub use listener::ListenerMetrics;
pub use pool::{BackendMetrics, PoolMetrics};
pub use route::RouteMetrics;
pub use tunnel::TunnelMetrics;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use names::label;
use std::sync::OnceLock;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the global Prometheus recorder (once per process) and describes every metric.
/// Returns `None` if another recorder was installed first (then metrics are simply not exported).
///
/// Called only at start-up, and only with `metrics.enabled`: without a recorder every
/// `metrics` macro is a no-op and the pre-resolved handles on the request path are empty, so
/// disabled metrics cost nothing. Nothing else may install it later (see [`handle`]).
pub fn init() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets(&latency::BUCKETS)
                .ok()?
                .install_recorder()
                .ok()?;
            describe();
            gauge!(names::PROCESS_START_SECONDS).set(unix_now());
            gauge!(names::BUILD_INFO, label::VERSION => env!("CARGO_PKG_VERSION"), label::PINGORA => "0.9.1")
                .set(1.0);
            Some(handle)
        })
        .as_ref()
}

/// The recorder installed by [`init`], if any. Never installs one: with `metrics.enabled =
/// false` the process must stay without a recorder.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE.get().and_then(Option::as_ref)
}

/// Renders the exposition text (runs upkeep first, as the exporter requires), then the
/// latency histograms ([`latency`]); empty when no recorder is installed.
pub fn render() -> String {
    match handle() {
        Some(h) => {
            h.run_upkeep();
            let mut page = h.render();
            latency::render(&mut page);
            page
        }
        None => String::new(),
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn describe() {
    use names::*;
    describe_counter!(
        REQUESTS_TOTAL,
        Unit::Count,
        "Requests completed, by listener, pool and status class."
    );
    describe_counter!(
        ROUTE_REQUESTS_TOTAL,
        Unit::Count,
        "Requests completed on a route with metrics = true, by listener, route, pool and status class."
    );
    describe_counter!(
        ROUTE_REQUEST_BYTES_TOTAL,
        Unit::Bytes,
        "Request body bytes received on a route with metrics = true."
    );
    describe_counter!(
        ROUTE_RESPONSE_BYTES_TOTAL,
        Unit::Bytes,
        "Response body bytes sent on a route with metrics = true."
    );
    describe_counter!(
        ROUTE_REQUESTS_REFUSED_TOTAL,
        Unit::Count,
        "Requests refused on a route with metrics = true, by reason."
    );
    describe_counter!(
        BACKEND_REQUESTS_TOTAL,
        Unit::Count,
        "Requests whose last attempt went to the backend, by status class."
    );
    describe_counter!(
        UNROUTED_REQUESTS_TOTAL,
        Unit::Count,
        "Requests that matched no route (answered 404)."
    );
    describe_counter!(
        REQUEST_BYTES_TOTAL,
        Unit::Bytes,
        "Request body bytes received from clients."
    );
    describe_counter!(
        RESPONSE_BYTES_TOTAL,
        Unit::Bytes,
        "Response body bytes sent to clients."
    );
    describe_gauge!(REQUESTS_IN_FLIGHT, Unit::Count, "Requests being processed.");
    describe_gauge!(
        DOWNSTREAM_CONNECTIONS,
        Unit::Count,
        "Open client connections."
    );
    describe_counter!(
        DOWNSTREAM_CONNECTIONS_TOTAL,
        Unit::Count,
        "Client connections accepted."
    );
    describe_counter!(
        CONNECTIONS_REJECTED_TOTAL,
        Unit::Count,
        "Client connections refused by connection caps."
    );
    describe_counter!(
        TLS_HANDSHAKES_TOTAL,
        Unit::Count,
        "Completed TLS handshakes, by protocol version."
    );
    describe_counter!(
        TLS_HANDSHAKE_FAILURES_TOTAL,
        Unit::Count,
        "Failed TLS handshakes, by stage."
    );
    describe_counter!(
        UPSTREAM_CONNECT_FAILURES_TOTAL,
        Unit::Count,
        "Failed connects to backends."
    );
    describe_counter!(
        UPSTREAM_ERRORS_TOTAL,
        Unit::Count,
        "Upstream exchanges that failed after connecting, by kind."
    );
    describe_counter!(
        UPSTREAM_TIMEOUTS_TOTAL,
        Unit::Count,
        "Upstream connect or read/write timeouts."
    );
    describe_counter!(
        UPSTREAM_RETRIES_TOTAL,
        Unit::Count,
        "Requests retried on another (or a fresh) upstream connection."
    );
    describe_counter!(
        RETRY_BUDGET_EXHAUSTED_TOTAL,
        Unit::Count,
        "Retries refused because the retry budget was spent."
    );
    describe_gauge!(
        PAIR_IN_SYNC,
        Unit::Count,
        "1 while the pair's peer serves the same config (per-node settings aside), else 0."
    );
    describe_gauge!(
        PAIR_PEER_REACHABLE,
        Unit::Count,
        "1 while the pair's peer answers on its admin listener, else 0."
    );
    describe_counter!(
        BACKEND_EJECTIONS_TOTAL,
        Unit::Count,
        "Passive ejections of a backend."
    );
    describe_histogram!(
        HEALTH_CHECK_DURATION_SECONDS,
        Unit::Seconds,
        "Active health check latency."
    );
    describe_counter!(
        HEALTH_CHECKS_TOTAL,
        Unit::Count,
        "Active health checks, by result."
    );
    describe_counter!(POOL_FAILOVERS_TOTAL, Unit::Count, "Changes of a pool's serving tier away from (failover) or back to (failback) its primaries.");
    describe_counter!(
        CONFIG_RELOADS_TOTAL,
        Unit::Count,
        "Config reload attempts, by result."
    );
    describe_gauge!(
        CONFIG_GENERATION,
        Unit::Count,
        "Generation of the config being served."
    );
    describe_gauge!(
        CONFIG_INFO,
        Unit::Count,
        "The served config's content hash, as a label."
    );
    describe_gauge!(
        CONFIG_LAST_RELOAD_SUCCESS_SECONDS,
        Unit::Seconds,
        "Unix time of the last successful reload."
    );
    describe_gauge!(
        CONFIG_RESTART_REQUIRED,
        Unit::Count,
        "1 while the served config has cold settings this process does not run with (they need gatehouse upgrade)."
    );
    describe_gauge!(
        CERTIFICATE_EXPIRY_SECONDS,
        Unit::Seconds,
        "Certificate notAfter as Unix time."
    );
    describe_counter!(
        CLIENT_AUTH_FAILURES_TOTAL,
        "Client-certificate failures by listener, stage and reason."
    );
    describe_counter!(OCSP_FETCHES_TOTAL, "OCSP response fetches by result.");
    describe_gauge!(
        OCSP_STAPLE_EXPIRY_SECONDS,
        Unit::Seconds,
        "nextUpdate of the fetched OCSP staple as Unix time."
    );
    describe_counter!(ACME_ORDERS_TOTAL, "ACME orders by certificate and result.");
    describe_gauge!(
        ACME_CERTIFICATE_EXPIRY_SECONDS,
        Unit::Seconds,
        "ACME certificate notAfter as Unix time."
    );
    describe_gauge!(
        ACME_RENEWAL_DUE_SECONDS,
        Unit::Seconds,
        "When the ACME certificate is due for renewal, as Unix time."
    );
    describe_gauge!(
        ACME_LAST_ATTEMPT_SECONDS,
        Unit::Seconds,
        "Last ACME order attempt by this process, as Unix time."
    );
    describe_gauge!(
        ACME_CERTIFICATE_FAILING,
        "1 while the last ACME order attempt for the certificate failed."
    );
    describe_counter!(
        ACCESS_LOG_DROPPED_TOTAL,
        Unit::Count,
        "Access-log lines dropped because the writer fell behind."
    );
    describe_gauge!(
        PROCESS_START_SECONDS,
        Unit::Seconds,
        "Unix time the process started."
    );
    describe_gauge!(BUILD_INFO, Unit::Count, "Build information.");
    describe_counter!(
        REQUESTS_REFUSED_TOTAL,
        Unit::Count,
        "Requests refused by access rules, rate limits or body size."
    );
    describe_gauge!(
        HTTP2_STREAMS_OPEN,
        Unit::Count,
        "HTTP/2 streams being served now."
    );
    describe_gauge!(
        HTTP2_CONNECTIONS_OPEN,
        Unit::Count,
        "HTTP/2 client connections being served now."
    );
    describe_gauge!(
        TUNNELS_OPEN,
        Unit::Count,
        "Upgraded connections (WebSocket and the like) open now."
    );
    describe_counter!(
        TUNNELS_TOTAL,
        Unit::Count,
        "Tunnels opened: a backend switched protocols on an Upgrade request."
    );
    describe_counter!(
        TUNNELS_CLOSED_TOTAL,
        Unit::Count,
        "Tunnels closed, by reason (closed, idle_timeout, client_error, upstream_error)."
    );
    describe_counter!(
        TUNNEL_BYTES_TOTAL,
        Unit::Bytes,
        "Bytes carried through tunnels, by direction."
    );
    describe_counter!(
        BAD_REQUESTS_TOTAL,
        Unit::Count,
        "Requests refused before routing: malformed, too large or too slow."
    );
}

/// `2xx` etc. for a status code.
pub fn status_class(status: u16) -> usize {
    (usize::from(status / 100)).clamp(1, 5) - 1
}

/// Label values of [`status_class`].
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// A pool's move away from or back to its primaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierChange {
    /// The primaries stopped serving.
    Failover,
    /// The primaries serve again after a failover.
    Failback,
}

/// A pool's serving tier is now the one named `to`, possibly a failover or failback (counted).
/// The tier comes as its label value, so this module needs nothing of the runtime's schedule;
/// the tier gauge itself is written at scrape time ([`scraped::render_tiers`]).
pub fn record_tier_change(pool: &str, to: &str, change: Option<TierChange>) {
    debug_assert!(names::TIERS.contains(&to), "unknown tier {to:?}");
    let direction = match change {
        Some(TierChange::Failover) => "failover",
        Some(TierChange::Failback) => "failback",
        None => return,
    };
    counter!(names::POOL_FAILOVERS_TOTAL, label::POOL => pool.to_string(), label::DIRECTION => direction).increment(1);
}

/// Counts one request in `gatehouse_requests_in_flight` for as long as it lives.
#[derive(Debug)]
pub struct InFlight(());

fn in_flight_gauge() -> &'static metrics::Gauge {
    static GAUGE: OnceLock<metrics::Gauge> = OnceLock::new();
    GAUGE.get_or_init(|| gauge!(names::REQUESTS_IN_FLIGHT))
}

impl InFlight {
    /// Starts counting.
    pub fn begin() -> Self {
        in_flight_gauge().increment(1.0);
        InFlight(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        in_flight_gauge().decrement(1.0);
    }
}

/// A backend was passively ejected.
pub fn record_ejection(pool: &str, backend: &str) {
    counter!(names::BACKEND_EJECTIONS_TOTAL, label::POOL => pool.to_string(), label::BACKEND => backend.to_string()).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing in the unit tests installs the recorder, so this sees the process as a
    /// `metrics.enabled = false` gatehouse would be.
    #[test]
    fn rendering_and_upkeep_never_install_a_recorder() {
        assert!(handle().is_none());
        assert_eq!(render(), "");
        assert!(handle().is_none(), "render() installed a recorder");
    }
}
