//! Every metric name and label key in one place (sozu's habit), so dashboards, alert rules and
//! tests can be checked against a single list.
//!
//! Cardinality is bounded by default: request series are per listener and pool, backends carry
//! a handful of series each, and per-route series exist only for routes with `metrics = true`
//! (the `gatehouse_route_*` families). docs/observability.md ("Metrics cardinality") has the formula.

/// Requests completed, by listener, pool and status class.
pub const REQUESTS_TOTAL: &str = "gatehouse_requests_total";
/// Requests that matched no route (404), by listener.
pub const UNROUTED_REQUESTS_TOTAL: &str = "gatehouse_unrouted_requests_total";
/// Request duration, first byte in to last byte out, by pool.
pub const REQUEST_DURATION_SECONDS: &str = "gatehouse_request_duration_seconds";
/// Time from sending a request upstream to its response head, by pool.
pub const UPSTREAM_TTFB_SECONDS: &str = "gatehouse_upstream_response_time_seconds";
/// Request body bytes received from clients, by pool.
pub const REQUEST_BYTES_TOTAL: &str = "gatehouse_request_bytes_total";
/// Response bytes sent to clients, by pool.
pub const RESPONSE_BYTES_TOTAL: &str = "gatehouse_response_bytes_total";
/// Requests completed on a route with `metrics = true`, by listener, route, pool and status
/// class.
pub const ROUTE_REQUESTS_TOTAL: &str = "gatehouse_route_requests_total";
/// Request duration on a route with `metrics = true`, by route and pool.
pub const ROUTE_REQUEST_DURATION_SECONDS: &str = "gatehouse_route_request_duration_seconds";
/// Request body bytes on a route with `metrics = true`, by route and pool.
pub const ROUTE_REQUEST_BYTES_TOTAL: &str = "gatehouse_route_request_bytes_total";
/// Response body bytes on a route with `metrics = true`, by route and pool.
pub const ROUTE_RESPONSE_BYTES_TOTAL: &str = "gatehouse_route_response_bytes_total";
/// Requests refused on a route with `metrics = true`, by route and reason.
pub const ROUTE_REQUESTS_REFUSED_TOTAL: &str = "gatehouse_route_requests_refused_total";
/// Requests whose last attempt went to a backend, by pool, backend and status class (the
/// backend's status, or the one the client got when the backend gave none).
pub const BACKEND_REQUESTS_TOTAL: &str = "gatehouse_backend_requests_total";
/// Requests in flight to a backend, by pool and backend (sampled when scraped).
pub const BACKEND_REQUESTS_IN_FLIGHT: &str = "gatehouse_backend_requests_in_flight";
/// Requests being processed now.
pub const REQUESTS_IN_FLIGHT: &str = "gatehouse_requests_in_flight";
/// Open downstream connections, by listener.
pub const DOWNSTREAM_CONNECTIONS: &str = "gatehouse_downstream_connections";
/// Downstream connections accepted, by listener.
pub const DOWNSTREAM_CONNECTIONS_TOTAL: &str = "gatehouse_downstream_connections_total";
/// Connections refused by connection caps, by listener and reason.
pub const CONNECTIONS_REJECTED_TOTAL: &str = "gatehouse_connections_rejected_total";
/// Completed TLS handshakes, by listener and protocol version.
pub const TLS_HANDSHAKES_TOTAL: &str = "gatehouse_tls_handshakes_total";
/// Failed TLS handshakes, by listener and stage.
pub const TLS_HANDSHAKE_FAILURES_TOTAL: &str = "gatehouse_tls_handshake_failures_total";
/// Upstream connect failures, by pool and backend.
pub const UPSTREAM_CONNECT_FAILURES_TOTAL: &str = "gatehouse_upstream_connect_failures_total";
/// Failed upstream exchanges after connecting (bad response, reset, too large…), by pool and kind.
pub const UPSTREAM_ERRORS_TOTAL: &str = "gatehouse_upstream_errors_total";
/// Upstream timeouts, by pool and backend.
pub const UPSTREAM_TIMEOUTS_TOTAL: &str = "gatehouse_upstream_timeouts_total";
/// Retries, by pool and reason.
pub const UPSTREAM_RETRIES_TOTAL: &str = "gatehouse_upstream_retries_total";
/// Retries refused by the retry budget, by pool.
pub const RETRY_BUDGET_EXHAUSTED_TOTAL: &str = "gatehouse_retry_budget_exhausted_total";
/// Backend state (1 for the current state label: `up`, `down`, `unknown`, `ejected`,
/// `draining`, `disabled`, `recovering`), by pool, backend and state. Only the states a
/// backend has been in have a series (the others would all be 0).
pub const BACKEND_STATE: &str = "gatehouse_backend_state";
/// 1 if the backend can be sent new requests now (its state is `up`), else 0; by pool and
/// backend.
pub const BACKEND_UP: &str = "gatehouse_backend_up";
/// Passive ejections, by pool and backend.
pub const BACKEND_EJECTIONS_TOTAL: &str = "gatehouse_backend_ejections_total";
/// Active health check duration, by pool (a failing backend shows in its state).
pub const HEALTH_CHECK_DURATION_SECONDS: &str = "gatehouse_health_check_duration_seconds";
/// Active health checks, by pool and result.
pub const HEALTH_CHECKS_TOTAL: &str = "gatehouse_health_checks_total";
/// Serving tier of a pool (1 for the current tier), by pool and tier.
pub const POOL_SERVING_TIER: &str = "gatehouse_pool_serving_tier";
/// Failovers (primary tier lost) and failbacks, by pool and direction.
pub const POOL_FAILOVERS_TOTAL: &str = "gatehouse_pool_failovers_total";
/// Config reloads, by result (`ok`, `error`, `unchanged`).
pub const CONFIG_RELOADS_TOTAL: &str = "gatehouse_config_reloads_total";
/// Generation of the config being served.
pub const CONFIG_GENERATION: &str = "gatehouse_config_generation";
/// Config content hash (label `hash`), value 1.
pub const CONFIG_INFO: &str = "gatehouse_config_info";
/// Unix time of the last successful reload.
pub const CONFIG_LAST_RELOAD_SUCCESS_SECONDS: &str =
    "gatehouse_config_last_reload_success_timestamp_seconds";
/// 1 while the served config has cold settings this process does not run with (they need
/// `gatehouse upgrade`), else 0.
pub const CONFIG_RESTART_REQUIRED: &str = "gatehouse_config_restart_required";
/// Certificate expiry (Unix time), by listener and certificate file.
pub const CERTIFICATE_EXPIRY_SECONDS: &str = "gatehouse_certificate_expiry_timestamp_seconds";
/// Client-certificate failures, by listener, stage (`handshake`: TLS alert or an untrusted
/// certificate on an `optional` listener; `request`: 403 from a route that requires one) and
/// reason (`missing`, `invalid`, `untrusted`).
pub const CLIENT_AUTH_FAILURES_TOTAL: &str = "gatehouse_client_auth_failures_total";
/// OCSP fetches, by certificate file and result (`ok`, `error`).
pub const OCSP_FETCHES_TOTAL: &str = "gatehouse_ocsp_fetches_total";
/// `nextUpdate` of the fetched OCSP staple (Unix time), by certificate file.
pub const OCSP_STAPLE_EXPIRY_SECONDS: &str = "gatehouse_ocsp_staple_expiry_timestamp_seconds";
/// ACME orders, by certificate id and result (`ok`, `error`).
pub const ACME_ORDERS_TOTAL: &str = "gatehouse_acme_orders_total";
/// Expiry of the ACME certificate in the state directory (Unix time), by certificate id.
pub const ACME_CERTIFICATE_EXPIRY_SECONDS: &str =
    "gatehouse_acme_certificate_expiry_timestamp_seconds";
/// When the ACME certificate is due for renewal (Unix time), by certificate id.
pub const ACME_RENEWAL_DUE_SECONDS: &str = "gatehouse_acme_renewal_due_timestamp_seconds";
/// When this process last tried to order the certificate (Unix time), by certificate id.
pub const ACME_LAST_ATTEMPT_SECONDS: &str = "gatehouse_acme_last_attempt_timestamp_seconds";
/// 1 while the last order attempt for the certificate failed, else 0, by certificate id.
pub const ACME_CERTIFICATE_FAILING: &str = "gatehouse_acme_certificate_failing";
/// Access-log lines dropped because the writer fell behind.
pub const ACCESS_LOG_DROPPED_TOTAL: &str = "gatehouse_access_log_dropped_total";
/// Process start time (Unix time).
pub const PROCESS_START_SECONDS: &str = "gatehouse_process_start_time_seconds";
/// Build information (labels `version`, `pingora`), value 1.
pub const BUILD_INFO: &str = "gatehouse_build_info";
/// Requests refused before routing (malformed, too large, too slow), by listener and status.
pub const BAD_REQUESTS_TOTAL: &str = "gatehouse_bad_requests_total";
/// Requests refused by rate limits or access rules, by pool and reason.
pub const REQUESTS_REFUSED_TOTAL: &str = "gatehouse_requests_refused_total";

/// HTTP/2 streams being served now (accepted, not yet answered and accounted).
pub const HTTP2_STREAMS_OPEN: &str = "gatehouse_http2_streams_open";
/// HTTP/2 client connections being served now (TLS with ALPN `h2`, or h2c).
pub const HTTP2_CONNECTIONS_OPEN: &str = "gatehouse_http2_connections_open";

/// Tunnels open now (upgraded connections: WebSocket and the like), by pool.
pub const TUNNELS_OPEN: &str = "gatehouse_tunnels_open";
/// Tunnels opened (a backend answered 101 to an upgrade), by pool.
pub const TUNNELS_TOTAL: &str = "gatehouse_tunnels_total";
/// Tunnels closed, by pool and reason (`closed`, `idle_timeout`, `client_error`,
/// `upstream_error`).
pub const TUNNELS_CLOSED_TOTAL: &str = "gatehouse_tunnels_closed_total";
/// Bytes carried by tunnels, by pool and direction (`to_upstream`, `to_client`).
pub const TUNNEL_BYTES_TOTAL: &str = "gatehouse_tunnel_bytes_total";

/// Label keys.
pub mod label {
    /// Listener name.
    pub const LISTENER: &str = "listener";
    /// Route name.
    pub const ROUTE: &str = "route";
    /// Pool name.
    pub const POOL: &str = "pool";
    /// Backend `IP:port`.
    pub const BACKEND: &str = "backend";
    /// `1xx`..`5xx`.
    pub const STATUS_CLASS: &str = "status_class";
    /// Outcome (`ok`, `error`, …).
    pub const RESULT: &str = "result";
    /// Backend or pool state.
    pub const STATE: &str = "state";
    /// Serving tier.
    pub const TIER: &str = "tier";
    /// Reason for a retry or refusal.
    pub const REASON: &str = "reason";
    /// Direction of tunnel bytes, or of a tier change (`failover`, `failback`).
    pub const DIRECTION: &str = "direction";
    /// Kind of upstream error.
    pub const KIND: &str = "kind";
    /// HTTP status of a refused request.
    pub const STATUS: &str = "status";
    /// Stage of a failed handshake or client-certificate check.
    pub const STAGE: &str = "stage";
    /// TLS protocol version, or gatehouse's version in `gatehouse_build_info`.
    pub const VERSION: &str = "version";
    /// Pingora's version in `gatehouse_build_info`.
    pub const PINGORA: &str = "pingora";
    /// Certificate file or ACME certificate id.
    pub const CERTIFICATE: &str = "certificate";
    /// Content hash of the served config.
    pub const HASH: &str = "hash";
}

/// Values of the `direction` label of `gatehouse_tunnel_bytes_total`.
pub mod direction {
    /// Client to backend.
    pub const TO_UPSTREAM: &str = "to_upstream";
    /// Backend to client.
    pub const TO_CLIENT: &str = "to_client";
}

/// Values of the `tier` label of `gatehouse_pool_serving_tier` (the runtime's schedule tiers,
/// by name: the one-hot gauge sets all of them).
pub const TIERS: [&str; 5] = ["primary", "backup", "unknown", "fail_open", "none"];

/// Gauge: 1 while the pair guard finds the peer serving the same config (0: different, or the
/// peer unreachable).
pub const PAIR_IN_SYNC: &str = "gatehouse_pair_in_sync";
/// Gauge: 1 while the pair guard reaches the peer's admin listener.
pub const PAIR_PEER_REACHABLE: &str = "gatehouse_pair_peer_reachable";
