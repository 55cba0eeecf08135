//! The serde mirror of `gatehouse.toml`: exactly what the file may contain, nothing typed yet.
//!
//! Every struct denies unknown fields, so a typo is an error with a line number rather than a
//! silently ignored setting. Values stay close to their textual form; `validate` turns them into
//! the typed `model`.
//!
//! Every field is optional here, even the ones a section cannot do without: `validate` parses
//! leniently (a refused key is reported and left out, the rest of the section is still used),
//! which only works if a section minus any key still deserializes. Required keys are checked,
//! with their path and line, by the validators.

mod listener;
mod pool;
mod route;

pub use listener::{Acme, Certificate, ClientCertHeaders, Listener, Ocsp};
pub use pool::{Backend, Hash, HealthCheck, Passive, Pool, Sticky, Timeouts};
pub use route::{HeaderRules, Hsts, MatchValue, Redirect, Respond, Route, RouteTimeouts};

use super::duration::ConfigDuration;
use serde::Deserialize;

/// `[server]`: process-wide settings, fixed for the life of a process.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Worker threads for the proxy listeners.
    pub threads: Option<usize>,
    /// How long a stopping or upgraded process keeps serving in-flight requests.
    pub grace_period: Option<ConfigDuration>,
    /// Extra time for runtimes to wind down after the grace period.
    pub shutdown_timeout: Option<ConfigDuration>,
    /// Where the process writes its pid at start (removed at exit), for supervisors and
    /// scripts. gatehouse never reads it: `gatehouse reload` only uses the admin API.
    pub pid_file: Option<String>,
    /// Unix socket used to hand listening sockets to a successor process.
    pub upgrade_socket: Option<String>,
    /// Idle upstream connections kept for reuse, per worker thread.
    pub upstream_keepalive_pool_size: Option<usize>,
    /// Send a `Server: gatehouse` header (off by default: no version banner).
    pub server_header: Option<bool>,
    /// The retry budget shared by all pools.
    pub retry_budget: Option<RetryBudget>,
    /// Drop privileges to this user after binding (when started as root).
    pub user: Option<String>,
    /// ... and this group (defaults to the user's primary group).
    pub group: Option<String>,
}

/// `[limits]`: protection against slow, huge or abusive clients.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Time allowed to receive a whole request head (HAProxy's `timeout http-request`).
    pub header_timeout: Option<ConfigDuration>,
    /// Idle time allowed between requests on a kept-alive connection.
    pub keepalive_timeout: Option<ConfigDuration>,
    /// Longest request line (414 beyond).
    pub max_request_line: Option<usize>,
    /// Largest request header section (431 beyond).
    pub max_header_bytes: Option<usize>,
    /// Most request header fields (431 beyond).
    pub max_headers: Option<usize>,
    /// Chunked request bodies are checked up to this size before the request is forwarded.
    pub max_buffered_body: Option<usize>,
    /// Longest pause between two reads of a request body.
    pub body_timeout: Option<ConfigDuration>,
    /// Slowest acceptable request body rate, in bytes per second, after `body_rate_grace`
    /// (0: off).
    pub min_body_rate: Option<u64>,
    /// How long a request body may take before `min_body_rate` is judged (5 s by default).
    pub body_rate_grace: Option<ConfigDuration>,
    /// Open client connections allowed, all listeners together.
    pub max_connections: Option<usize>,
    /// Open client connections allowed per client address.
    pub max_connections_per_ip: Option<usize>,
    /// Time allowed for a TLS handshake (and a PROXY protocol header).
    pub handshake_timeout: Option<ConfigDuration>,
    /// HTTP/2 limits.
    #[serde(default)]
    pub http2: Http2Limits,
}

/// `[limits.http2]`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Http2Limits {
    /// Concurrent streams per connection.
    pub max_concurrent_streams: Option<u32>,
    /// Largest decoded header list.
    pub max_header_list_size: Option<u32>,
    /// Streams a client may reset before their processing (rapid-reset protection).
    pub max_pending_reset_streams: Option<usize>,
}

/// `rate_limit = { requests_per_second = 10, burst = 20 }`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Sustained rate per client address (required).
    pub requests_per_second: Option<f64>,
    /// Bucket size (requests allowed at once).
    pub burst: Option<u32>,
}

/// `[server.retry_budget]`: retries allowed as a share of recent requests.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryBudget {
    /// Retries allowed per request over the window (0.2 = 20%).
    pub ratio: Option<f64>,
    /// Retries always allowed per second, so a quiet pool can still retry.
    pub min_per_second: Option<u32>,
}

/// `[admin]`: the loopback admin listener (status, metrics, reload, backend control).
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// `IP:port`; loopback by default.
    pub address: Option<String>,
    /// File holding the bearer token required for state-changing calls.
    pub token_file: Option<String>,
    /// Set to false to run without an admin listener.
    pub enabled: Option<bool>,
}

/// `[pair]`: the other node of a redundant pair (per node: left out of the compared digest).
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pair {
    /// The peer's admin listener, `host:port`.
    pub peer: Option<String>,
    /// The floating (virtual) address the pair shares.
    pub floating_address: Option<String>,
    /// How often the peer is compared.
    pub interval: Option<ConfigDuration>,
}

/// `[reload]`: how configuration changes are picked up.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reload {
    /// Watch the config file and the certificate files it names.
    pub watch: Option<bool>,
    /// Quiet time after the last file event before reloading.
    pub debounce: Option<ConfigDuration>,
}

/// `[logging]`: diagnostic logs (`RUST_LOG` overrides the level).
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Logging {
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub level: Option<String>,
    /// `text` or `json`.
    pub format: Option<String>,
}

/// `[access_log]`: one JSON line per request.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessLog {
    /// Write the access log.
    pub enabled: Option<bool>,
    /// File to append to, or `-` for standard output.
    pub path: Option<String>,
    /// Share of successful requests to log, 0.0 - 1.0 (5xx are always logged).
    pub sample: Option<f64>,
    /// Lines that may wait for the writer before new ones are dropped.
    pub buffer: Option<usize>,
    /// Longest a line waits before it is written (lines are written in batches).
    pub flush_interval: Option<ConfigDuration>,
}

/// `[metrics]`: Prometheus metrics on the admin listener (`GET /metrics`).
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// Record and export metrics.
    pub enabled: Option<bool>,
}
