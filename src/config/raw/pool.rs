//! `[[pools]]`: backends, balancing, timeouts and health checks.

use crate::config::duration::ConfigDuration;
use serde::Deserialize;

/// `[pools.<name>]`: a set of backends and how to balance over them.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    /// `round_robin` (weighted), `active_passive`, `least_connections`,
    /// `random_two_choices` or `hash`.
    pub balance: Option<String>,
    /// What `balance = "hash"` hashes, and its load bound.
    pub hash: Option<Hash>,
    /// Sticky sessions: a cookie gatehouse sets naming the backend.
    pub sticky: Option<Sticky>,
    /// A backend that (re)joins ramps its weight from a tenth to full over this long.
    pub slow_start: Option<ConfigDuration>,
    /// Extra attempts on other backends after a connect failure.
    pub max_retries: Option<u32>,
    /// Answer 503 (false) or try every backend anyway (true) when none is healthy.
    pub fail_open: Option<bool>,
    /// After a primary recovers, wait this long before it takes traffic back.
    pub failback_delay: Option<ConfigDuration>,
    /// Upstream timeouts.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// What the backends speak: `http/1.1` (default) or `h2` (HTTP/2: negotiated with ALPN
    /// over TLS, prior knowledge over cleartext; what gRPC needs).
    pub protocol: Option<String>,
    /// Concurrent requests sent over one HTTP/2 connection to a backend (`protocol = "h2"`).
    pub h2_streams: Option<u32>,
    /// Speak TLS to the backends.
    pub tls: Option<bool>,
    /// SNI (and verified name) for backend TLS; defaults to the backend's host name.
    pub tls_sni: Option<String>,
    /// PEM CA bundle to verify backends against, instead of the system roots.
    pub tls_ca_file: Option<String>,
    /// Client certificate presented to backends (mTLS).
    pub tls_client_cert: Option<String>,
    /// Private key of `tls_client_cert`.
    pub tls_client_key: Option<String>,
    /// Verify the backend certificate (default true).
    pub tls_verify: Option<bool>,
    /// Active health checks.
    pub health_check: Option<HealthCheck>,
    /// Passive health checks (ejection on observed failures).
    #[serde(default)]
    pub passive: Passive,
    /// The backends, in priority order.
    #[serde(default)]
    pub backends: Vec<Backend>,
}

/// `[pools.<name>.hash]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hash {
    /// `client_ip`, `path`, `uri`, `header:<name>` or `cookie:<name>`.
    pub key: Option<String>,
    /// Bounded load factor (≥ 1.0): no backend above this × its share of in-flight requests.
    pub bound: Option<f64>,
    /// Value hashed when a request has no key (unset: such requests go round robin).
    pub default: Option<String>,
}

/// `[pools.<name>.sticky]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sticky {
    /// Cookie name (default `gatehouse_sticky`).
    pub cookie: Option<String>,
    /// Cookie `Path` (default `/`).
    pub path: Option<String>,
    /// `HttpOnly` (default true).
    pub http_only: Option<bool>,
    /// `SameSite`: `lax` (default), `strict` or `none`.
    pub same_site: Option<String>,
    /// `Max-Age` (unset: a session cookie).
    pub max_age: Option<ConfigDuration>,
}

/// `[pools.<name>.timeouts]`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// TCP (and TLS) connect.
    pub connect: Option<ConfigDuration>,
    /// Waiting for each read from the backend (including the response head).
    pub read: Option<ConfigDuration>,
    /// Waiting for each write to the backend.
    pub write: Option<ConfigDuration>,
    /// How long an idle upstream connection is kept for reuse.
    pub idle: Option<ConfigDuration>,
    /// The whole response, head to last byte (unset: no limit, only `read` per read).
    pub response: Option<ConfigDuration>,
    /// An upgraded connection (WebSocket…) is closed after this long without a byte in
    /// either direction (HAProxy's `timeout tunnel`; 1 h by default).
    pub tunnel: Option<ConfigDuration>,
}

/// `[pools.<name>.health_check]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// `http`, `tcp` or `grpc` (the standard `grpc.health.v1.Health/Check`).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Service name asked about by `grpc` checks (empty: the server as a whole).
    pub service: Option<String>,
    /// Request path for http checks.
    pub path: Option<String>,
    /// Request method for http checks.
    pub method: Option<String>,
    /// Host header for http checks.
    pub host: Option<String>,
    /// Accepted status codes or ranges, e.g. `["200-399"]`.
    pub expect_status: Option<Vec<String>>,
    /// Substring the response body must contain.
    pub expect_body: Option<String>,
    /// Time between checks of one backend.
    pub interval: Option<ConfigDuration>,
    /// Time allowed for one check.
    pub timeout: Option<ConfigDuration>,
    /// Consecutive successes to mark a backend up.
    pub rise: Option<u32>,
    /// Consecutive failures to mark a backend down.
    pub fall: Option<u32>,
    /// Random spread of the interval, as a fraction of it (0.0 - 1.0): each wait is drawn
    /// uniformly within ± `jitter`/2 of `interval` (HAProxy's `spread-checks`), so checks of
    /// many backends do not fire in lockstep.
    pub jitter: Option<f64>,
    /// State of a backend before its first check: `unknown`, `up` or `down`.
    pub start: Option<String>,
}

/// `[pools.<name>.passive]`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Passive {
    /// Consecutive connect failures that eject a backend (0 disables).
    pub connect_failures: Option<u32>,
    /// Consecutive 5xx responses that eject a backend (0 disables).
    pub http_5xx: Option<u32>,
    /// Consecutive upstream timeouts that eject a backend (0 disables).
    pub timeouts: Option<u32>,
    /// First ejection length; doubles on each repeated ejection.
    pub cooldown: Option<ConfigDuration>,
    /// Cap on the ejection length.
    pub max_cooldown: Option<ConfigDuration>,
    /// Largest share of the pool passive ejection may take out at once (at least one backend).
    pub max_ejection_percent: Option<u32>,
}

/// `[[pools.<name>.backends]]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Backend {
    /// `IP:port` or `host:port` (resolved at load and on every reload; required).
    pub address: Option<String>,
    /// Share of traffic in a round-robin pool.
    pub weight: Option<u32>,
    /// Serve only when every primary is down.
    pub backup: Option<bool>,
    /// Take no new requests; let in-flight ones finish.
    pub drain: Option<bool>,
    /// Concurrent requests allowed to this backend (queue beyond).
    pub max_connections: Option<u32>,
    /// Requests allowed to wait for a free slot when `max_connections` is reached.
    pub max_queue: Option<u32>,
    /// How long a request may wait in the queue.
    pub queue_timeout: Option<ConfigDuration>,
}
