//! The validated, typed configuration: what `validate` produces and `runtime` consumes.
//!
//! Nothing here is a string that will be parsed again later: addresses are `SocketAddr`,
//! durations are `Duration`, host patterns are normalised, certificates are loaded.

mod pool;
mod route;

pub use pool::{
    Backend, Balance, CheckKind, HashKey, HashSettings, HealthCheckSettings, PassiveSettings, Pool,
    StartState, StickySettings, TimeoutSettings, UpstreamProtocol, UpstreamTls,
};
mod share;
pub use route::{Extras, HeaderRules, HostMatch, Route, RouteExtras, Upgrades};

use crate::tls::certs::LoadedCert;
pub use crate::tls::store::UnknownSni;
use http::HeaderValue;
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
    /// Routes in file order, shared with the request path's `RouteEntry` (one copy per route,
    /// not two: at 100,000 routes the second copy was a third of a route's memory).
    pub routes: Vec<std::sync::Arc<Route>>,
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
    /// every dependent file (not their paths), computed when first asked for.
    pub shared_digest: crate::config::shared_digest::SharedDigest,
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
    pub head: crate::config::limits::Limits,
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
