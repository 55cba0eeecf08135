//! The validated, typed configuration: what `validate` produces and `runtime` consumes.
//!
//! Nothing here is a string that will be parsed again later: addresses are `SocketAddr`,
//! durations are `Duration`, host patterns are normalised, certificates are loaded.

use crate::tls::certs::LoadedCert;
pub use crate::tls::store::UnknownSni;
use crate::tls::upstream::UpstreamTlsMaterial;
use http::{HeaderName, HeaderValue};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A whole validated configuration file.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from (for messages and for the file watcher).
    pub source: PathBuf,
    /// Process-wide settings (cold: need a restart to change).
    pub server: ServerSettings,
    /// Admin listener settings.
    pub admin: AdminSettings,
    /// How changes are picked up.
    pub reload: ReloadSettings,
    /// The redundant pair's guard (per node).
    pub pair: PairSettings,
    /// Diagnostic logging (cold).
    pub logging: LoggingSettings,
    /// Access log (cold), `None` when disabled.
    pub access_log: Option<crate::access_log::Settings>,
    /// Whether metrics are recorded (cold).
    pub metrics_enabled: bool,
    /// Client limits (live, except HTTP/2 settings).
    pub limits: LimitsSettings,
    /// Listeners in file order.
    pub listeners: Vec<Listener>,
    /// Routes in file order.
    pub routes: Vec<Route>,
    /// Pools in file order.
    pub pools: Vec<Pool>,
    /// `[acme]`, when the file has one.
    pub acme: Option<crate::tls::acme::AcmeSettings>,
    /// `[ocsp]`.
    pub ocsp: OcspSettings,
    /// Every file the config depends on besides itself (certificates, keys, CA bundles, token).
    pub dependent_files: Vec<PathBuf>,
    /// Hex SHA-256 over the config text and every dependent file's content.
    pub digest: String,
    /// What the pair guard compares with the peer: hex SHA-256 over the config with its
    /// per-node settings left out (`[pair]`, `admin.address`, `[logging]`) and the contents of
    /// every dependent file (not their paths).
    pub shared_digest: String,
}

/// `[server]` after validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    /// Proxy worker threads.
    pub threads: usize,
    /// Drain time for in-flight requests on stop and upgrade.
    pub grace_period: Duration,
    /// Extra time for runtimes to wind down.
    pub shutdown_timeout: Duration,
    /// Pid file, if any.
    pub pid_file: Option<PathBuf>,
    /// Upgrade hand-over socket.
    pub upgrade_socket: PathBuf,
    /// Idle upstream connections kept for reuse.
    pub upstream_keepalive_pool_size: usize,
    /// Whether to send `Server: gatehouse`.
    pub server_header: bool,
    /// Retry budget.
    pub retry_budget: RetryBudgetSettings,
    /// Unprivileged user to switch to after binding.
    pub user: Option<String>,
    /// Group to switch to.
    pub group: Option<String>,
}

/// Retries allowed as a share of requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryBudgetSettings {
    /// Retries per request (0.2 = 20%).
    pub ratio: f64,
    /// Retries always allowed per second.
    pub min_per_second: u32,
}

/// `[limits]` after validation.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitsSettings {
    /// Whole request head deadline.
    pub header_timeout: Duration,
    /// Idle time between requests.
    pub keepalive_timeout: Duration,
    /// Request line / header size limits.
    pub head: crate::listener::head::Limits,
    /// Chunked bodies validated up to this many bytes before forwarding.
    pub max_buffered_body: usize,
    /// Longest pause between body reads.
    pub body_timeout: Duration,
    /// Minimum body rate in bytes/s (0: off).
    pub min_body_rate: u64,
    /// Time before `min_body_rate` is judged.
    pub body_rate_grace: Duration,
    /// Open connections allowed in total (0: unlimited).
    pub max_connections: usize,
    /// Open connections allowed per client address (0: unlimited).
    pub max_connections_per_ip: usize,
    /// TLS handshake / PROXY header deadline.
    pub handshake_timeout: Duration,
    /// HTTP/2 limits (applied at start-up).
    pub http2: Http2Settings,
}

/// HTTP/2 limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Http2Settings {
    /// Concurrent streams per connection.
    pub max_concurrent_streams: u32,
    /// Largest decoded header list.
    pub max_header_list_size: u32,
    /// Rapid-reset protection: resets allowed before processing.
    pub max_pending_reset_streams: usize,
}

/// A per-client rate limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitSettings {
    /// Tokens per second.
    pub per_second: f64,
    /// Bucket size.
    pub burst: u32,
}

/// `[ocsp]` after validation.
#[derive(Debug, Clone, PartialEq)]
pub struct OcspSettings {
    /// Longest time between two fetches of one certificate's response.
    pub refresh: Duration,
    /// Time allowed for one fetch.
    pub timeout: Duration,
}

impl Default for OcspSettings {
    fn default() -> Self {
        OcspSettings {
            refresh: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
        }
    }
}

/// `[logging]` after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggingSettings {
    /// Default filter directive (`info`, …).
    pub level: String,
    /// JSON lines instead of text.
    pub json: bool,
}

/// `[admin]` after validation.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminSettings {
    /// Where the admin listener binds; `None` disables it.
    pub address: Option<SocketAddr>,
    /// Bearer token required for state-changing calls; `None` refuses them.
    pub token: Option<String>,
    /// The file the token came from.
    pub token_file: Option<PathBuf>,
}

/// `[pair]` after validation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PairSettings {
    /// The peer's admin listener (`host:port`); no guard without it.
    pub peer: Option<String>,
    /// The floating address; without it the node cannot tell whether it holds it, and
    /// `/healthz?role=standby` never refuses.
    pub floating_address: Option<std::net::IpAddr>,
    /// Comparison interval.
    pub interval: Duration,
}

/// `[reload]` after validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ReloadSettings {
    /// Watch the config and its dependent files.
    pub watch: bool,
    /// Quiet time before reloading after file events.
    pub debounce: Duration,
}

/// Listener protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Cleartext HTTP/1.1 (and optionally h2c).
    Http,
    /// TLS-terminated HTTP/1.1 and HTTP/2.
    Https,
}

/// A validated listener.
#[derive(Debug, Clone)]
pub struct Listener {
    /// Name from the config key.
    pub name: String,
    /// Bound address.
    pub address: SocketAddr,
    /// http or https.
    pub protocol: Protocol,
    /// Loaded certificates (https only).
    pub certificates: Vec<Arc<LoadedCert>>,
    /// Index into `certificates` of the default one.
    pub default_certificate: Option<usize>,
    /// Unknown-SNI policy.
    pub unknown_sni: UnknownSni,
    /// ALPN protocol ids in preference order.
    pub alpn: Vec<Vec<u8>>,
    /// h2c prior knowledge on cleartext.
    pub h2c: bool,
    /// Redirect everything to HTTPS.
    pub redirect_https: bool,
    /// Port used in HTTPS redirects.
    pub https_port: Option<u16>,
    /// HSTS header value for this listener's responses.
    pub hsts: Option<HeaderValue>,
    /// A PROXY protocol header precedes each connection.
    pub proxy_protocol: bool,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<crate::net::cidr::Cidr>,
    /// TLS profile (https).
    pub tls_profile: crate::tls::profile::TlsProfile,
    /// Client certificates (https), with the CA bundle loaded.
    pub client_auth: Option<Arc<crate::tls::client_auth::ClientAuth>>,
    /// Header names for the verified client certificate.
    pub client_cert_headers: crate::tls::client_auth::CertHeaders,
    /// Certificate entries managed by ACME (those already obtained are also in
    /// `certificates`).
    pub acme: Vec<crate::tls::acme::AcmeCert>,
}

/// How a host pattern matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HostMatch {
    /// Any host (no `hosts` given).
    Any,
    /// Exactly this (lowercase) name.
    Exact(String),
    /// Any name ending in `.suffix` (stored without the leading `*.`).
    Wildcard(String),
}

/// A validated route.
#[derive(Debug, Clone)]
pub struct Route {
    /// Name from the config key (used as the metrics label).
    pub name: String,
    /// Host patterns (at least one; `Any` when none were given).
    pub hosts: Vec<HostMatch>,
    /// Normalised path prefix (starts with `/`, no trailing `/` except for the root).
    pub path_prefix: String,
    /// Index of the pool in `Config::pools`.
    pub pool: usize,
    /// Strip `path_prefix` before forwarding.
    pub strip_prefix: bool,
    /// Redirect cleartext requests to HTTPS.
    pub redirect_https: bool,
    /// HSTS header value overriding the listener's.
    pub hsts: Option<HeaderValue>,
    /// Request header rules.
    pub request_headers: HeaderRules,
    /// Response header rules.
    pub response_headers: HeaderRules,
    /// Largest request body (413 beyond).
    pub max_body_size: Option<u64>,
    /// Client blocks allowed (empty: everyone).
    pub allow: Vec<crate::net::cidr::Cidr>,
    /// Client blocks refused.
    pub deny: Vec<crate::net::cidr::Cidr>,
    /// Per-client rate limit.
    pub rate_limit: Option<RateLimitSettings>,
    /// Upgrade protocols allowed (lowercase names).
    pub upgrades: Vec<String>,
    /// Only connections with a verified client certificate may use the route (403 otherwise).
    pub client_auth_required: bool,
    /// Exact or regex path instead of the prefix.
    pub path_match: super::route_match::PathMatch,
    /// Method, header, query and client conditions.
    pub conditions: super::route_match::Conditions,
    /// Fixed response, redirect, path rewrite.
    pub actions: super::route_match::Actions,
    /// Timeouts overriding the pool's.
    pub timeouts: super::route_match::RouteTimeouts,
    /// `max_retries` overriding the pool's.
    pub max_retries: Option<u32>,
    /// `metrics = true`: the route has its own series besides its pool's.
    pub metrics: bool,
}

/// Validated header rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeaderRules {
    /// Headers removed first.
    pub remove: Vec<HeaderName>,
    /// Headers then set (replacing).
    pub set: Vec<(HeaderName, HeaderValue)>,
    /// Headers then appended.
    pub add: Vec<(HeaderName, HeaderValue)>,
}

impl HeaderRules {
    /// True when the rules do nothing (lets the request path skip work).
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.set.is_empty() && self.add.is_empty()
    }
}

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
    /// Backends in configured order (names already resolved to addresses).
    pub backends: Vec<Backend>,
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
