//! Validated pools: backends, balancing, timeouts, TLS to backends and health checks.

use crate::tls::upstream::UpstreamTlsMaterial;
use http::HeaderName;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
/// Balancing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balance {
    /// Smooth weighted round robin within the serving tier.
    RoundRobin,
    /// Everything to the first healthy backend in configured order.
    ActivePassive,
    /// Fewest in-flight requests per unit of weight; ties go round robin.
    LeastConnections,
    /// Two backends drawn at random (by weight); the one with fewer in-flight requests.
    RandomTwoChoices,
    /// Consistent hashing (Maglev) on a request key ([`Pool::hash`]).
    Hash,
}

impl Balance {
    /// The name written in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Balance::RoundRobin => "round_robin",
            Balance::ActivePassive => "active_passive",
            Balance::LeastConnections => "least_connections",
            Balance::RandomTwoChoices => "random_two_choices",
            Balance::Hash => "hash",
        }
    }
}

/// What a hashing pool hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashKey {
    /// The client's address (after `trusted_proxies`).
    ClientIp,
    /// The first value of a request header.
    Header(HeaderName),
    /// A cookie's value.
    Cookie(String),
    /// The normalised path.
    Path,
    /// The normalised path and the query.
    Uri,
}

impl std::fmt::Display for HashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HashKey::ClientIp => f.write_str("client_ip"),
            HashKey::Header(h) => write!(f, "header:{h}"),
            HashKey::Cookie(c) => write!(f, "cookie:{c}"),
            HashKey::Path => f.write_str("path"),
            HashKey::Uri => f.write_str("uri"),
        }
    }
}

/// `[pools.<name>.sticky]`, validated: the attributes of the cookie gatehouse sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StickySettings {
    /// Cookie name.
    pub cookie: String,
    /// `Path`.
    pub path: String,
    /// `HttpOnly`.
    pub http_only: bool,
    /// `SameSite` value as sent (`Lax`, `Strict`, `None`).
    pub same_site: &'static str,
    /// `Max-Age` (`None`: a session cookie).
    pub max_age: Option<Duration>,
}

/// `[pools.<name>.hash]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct HashSettings {
    /// The key.
    pub key: HashKey,
    /// Bounded load: no backend takes more than `bound` × its share of the in-flight requests
    /// (`None`: pure consistent hashing).
    pub bound: Option<f64>,
    /// Hashed in place of the key when a request has none (`None`: such requests go round
    /// robin).
    pub default: Option<String>,
}

/// A validated pool.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    /// Name from the config key.
    pub name: String,
    /// Algorithm.
    pub balance: Balance,
    /// The key and bound of `balance = "hash"` (`None` for the other algorithms).
    pub hash: Option<HashSettings>,
    /// Sticky-session cookie, if enabled.
    pub sticky: Option<StickySettings>,
    /// Slow start window: a (re)joining backend's weight ramps up over it.
    pub slow_start: Option<Duration>,
    /// Extra attempts after a failed connect.
    pub max_retries: u32,
    /// Try every backend when none is healthy.
    pub fail_open: bool,
    /// Delay before a recovered primary takes traffic back.
    pub failback_delay: Duration,
    /// Upstream timeouts.
    pub timeouts: TimeoutSettings,
    /// What the backends speak.
    pub protocol: UpstreamProtocol,
    /// Concurrent streams per HTTP/2 connection to a backend.
    pub h2_streams: u32,
    /// Backend TLS, if enabled.
    pub tls: Option<UpstreamTls>,
    /// Active checks, if configured.
    pub health_check: Option<HealthCheckSettings>,
    /// Passive ejection settings.
    pub passive: PassiveSettings,
    /// Backends in configured order (names already resolved to addresses). Each in an `Arc`:
    /// the runtime pool shares them instead of copying every backend's config.
    pub backends: Vec<std::sync::Arc<Backend>>,
}

/// The protocol spoken to a pool's backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamProtocol {
    /// HTTP/1.1.
    Http1,
    /// HTTP/2 (ALPN `h2` over TLS, prior knowledge over cleartext).
    H2,
}

/// Upstream timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutSettings {
    /// Connect (TCP + TLS).
    pub connect: Duration,
    /// Each read.
    pub read: Duration,
    /// Each write.
    pub write: Duration,
    /// Idle upstream keep-alive.
    pub idle: Duration,
    /// Deadline for the whole response from the request being sent: a backend that trickles
    /// its body (each read within `read`) is still cut. `None`: long streams are allowed.
    pub response: Option<Duration>,
    /// Idle time after which an upgraded connection (tunnel) is closed.
    pub tunnel: Duration,
}

/// Backend TLS settings with the material already loaded.
#[derive(Debug, Clone)]
pub struct UpstreamTls {
    /// SNI override; otherwise each backend's host name.
    pub sni: Option<String>,
    /// Verify the certificate chain and name.
    pub verify: bool,
    /// CA bundle and client certificate, loaded.
    pub material: Arc<UpstreamTlsMaterial>,
}

impl PartialEq for UpstreamTls {
    fn eq(&self, other: &Self) -> bool {
        self.sni == other.sni
            && self.verify == other.verify
            && self.material.digest == other.material.digest
    }
}

/// Kind of active check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    /// Connect only.
    Tcp,
    /// `grpc.health.v1.Health/Check` over HTTP/2: SERVING passes.
    Grpc {
        /// The service asked about (empty: the server as a whole).
        service: String,
    },
    /// An HTTP request whose status (and optionally body) is checked.
    Http {
        /// Method.
        method: http::Method,
        /// Path and query.
        path: String,
        /// Host header.
        host: Option<String>,
        /// Accepted status ranges (inclusive).
        expect_status: Vec<(u16, u16)>,
        /// Required body substring.
        expect_body: Option<String>,
    },
}

/// State a backend starts in before its first active check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartState {
    /// Not trusted until the first successful check.
    Unknown,
    /// Trusted until checks say otherwise.
    Up,
    /// Needs `rise` successes.
    Down,
}

/// Active health check settings.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheckSettings {
    /// tcp or http.
    pub kind: CheckKind,
    /// Time between checks.
    pub interval: Duration,
    /// Time allowed per check.
    pub timeout: Duration,
    /// Successes to go up.
    pub rise: u32,
    /// Failures to go down.
    pub fall: u32,
    /// Random spread as a fraction of the interval: each wait is within ± `jitter`/2 of it.
    pub jitter: f64,
    /// Initial state.
    pub start: StartState,
}

/// Passive ejection settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PassiveSettings {
    /// Consecutive connect failures to eject (0 = off).
    pub connect_failures: u32,
    /// Consecutive 5xx to eject (0 = off).
    pub http_5xx: u32,
    /// Consecutive timeouts to eject (0 = off).
    pub timeouts: u32,
    /// First ejection length.
    pub cooldown: Duration,
    /// Longest ejection.
    pub max_cooldown: Duration,
    /// Largest share of the pool ejected at once (always allows one).
    pub max_ejection_percent: u32,
}

/// A validated backend (one resolved address).
#[derive(Debug, Clone, PartialEq)]
pub struct Backend {
    /// Address as written (`host:port` or `IP:port`), for display.
    pub configured: String,
    /// Host part as written, used as the default backend TLS name.
    pub host: String,
    /// Resolved address.
    pub address: SocketAddr,
    /// Round-robin weight (>= 1).
    pub weight: u32,
    /// Backup tier.
    pub backup: bool,
    /// Draining: no new requests.
    pub drain: bool,
    /// Concurrency limit.
    pub max_connections: Option<u32>,
    /// Queue length beyond the limit.
    pub max_queue: u32,
    /// Longest wait in the queue.
    pub queue_timeout: Duration,
}
