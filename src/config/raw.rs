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

use super::duration::ConfigDuration;
use indexmap::IndexMap;
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

/// `[listeners.<name>]`: one address the proxy accepts connections on.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// `IP:port` to bind (required).
    pub address: Option<String>,
    /// `http` or `https`.
    pub protocol: Option<String>,
    /// PEM certificate/key pairs served on an `https` listener.
    #[serde(default)]
    pub certificates: Vec<Certificate>,
    /// What to do for clients whose SNI matches no certificate: `default` or `reject`.
    pub unknown_sni: Option<String>,
    /// ALPN protocols offered, in preference order (`h2`, `http/1.1`).
    pub alpn: Option<Vec<String>>,
    /// Accept HTTP/2 with prior knowledge on a cleartext listener.
    pub h2c: Option<bool>,
    /// Answer every request on this (cleartext) listener with a redirect to HTTPS.
    pub redirect_https: Option<bool>,
    /// Port used in redirects to HTTPS (defaults to the first https listener's port).
    pub https_port: Option<u16>,
    /// `Strict-Transport-Security` added to responses on this (https) listener.
    pub hsts: Option<Hsts>,
    /// Expect a PROXY protocol (v1 or v2) header on every connection.
    pub proxy_protocol: Option<bool>,
    /// Peers whose `X-Forwarded-For` is believed (CIDR blocks).
    pub trusted_proxies: Option<Vec<String>>,
    /// `modern` (TLS 1.3 only) or `intermediate` (TLS 1.2 and 1.3, the default).
    pub tls_profile: Option<String>,
    /// Ask clients for a certificate: `required` (no valid one: TLS alert) or `optional`.
    pub client_auth: Option<String>,
    /// PEM bundle of the CAs client certificates must chain to.
    pub client_ca: Option<String>,
    /// PEM file of CRLs checked against client certificates.
    pub client_crl: Option<String>,
    /// Names of the headers that carry the verified client certificate to backends.
    pub client_cert_headers: Option<ClientCertHeaders>,
}

/// `client_cert_headers = { subject = "...", san = "...", fingerprint = "..." }`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientCertHeaders {
    /// The subject distinguished name.
    pub subject: Option<String>,
    /// The subject alternative names.
    pub san: Option<String>,
    /// The hex SHA-256 of the certificate.
    pub fingerprint: Option<String>,
}

/// `[acme]`: the ACME account and CA that `acme` certificate entries are obtained from.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Acme {
    /// The CA's directory URL (required).
    pub directory: Option<String>,
    /// Contact URLs for the account (`mailto:ops@example.com`).
    pub contact: Option<Vec<String>>,
    /// Where the account, certificates and keys are kept (required).
    pub state_dir: Option<String>,
    /// PEM CA bundle trusted for the directory's HTTPS (test CAs such as Pebble).
    pub directory_ca: Option<String>,
    /// External account binding key id, for CAs that require one.
    pub eab_kid: Option<String>,
    /// File holding the external account binding HMAC key (base64url, as CAs hand it out).
    pub eab_hmac_key_file: Option<String>,
    /// Default challenge: `http-01` or `tls-alpn-01`.
    pub challenge: Option<String>,
    /// Renew when less than this is left (default: a third of the certificate's life).
    pub renew_before: Option<ConfigDuration>,
    /// First wait after a failed attempt (doubles up to `retry_max`).
    pub retry_initial: Option<ConfigDuration>,
    /// Longest wait between failed attempts.
    pub retry_max: Option<ConfigDuration>,
    /// How often the state directory is looked at for certificates another node renewed.
    pub check_interval: Option<ConfigDuration>,
}

/// `[ocsp]`: fetching OCSP responses to staple.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ocsp {
    /// Longest time between two fetches of a certificate's response (responses are also
    /// refreshed when half their validity has passed).
    pub refresh: Option<ConfigDuration>,
    /// Time allowed for one fetch.
    pub timeout: Option<ConfigDuration>,
}

/// One `{cert, key}` (or `{acme}`) entry of an https listener.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    /// PEM file with the leaf certificate first, then its chain (required without `acme`).
    pub cert: Option<String>,
    /// PEM file with the private key (required without `acme`).
    pub key: Option<String>,
    /// Serve this certificate to clients without SNI or with an unknown name.
    pub default: Option<bool>,
    /// Names to obtain (and renew) a certificate for from the `[acme]` CA, instead of files.
    pub acme: Option<Vec<String>>,
    /// ACME challenge for this entry: `http-01` or `tls-alpn-01` (default from `[acme]`).
    pub challenge: Option<String>,
    /// DER OCSP response to staple (e.g. written next to the certificate by a cron job).
    pub ocsp_file: Option<String>,
    /// Fetch the OCSP response from the certificate's responder and keep it fresh.
    pub ocsp_fetch: Option<bool>,
}

/// `hsts = { max_age = "365d", include_subdomains = true, preload = false }`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hsts {
    /// The `max-age` directive (required).
    pub max_age: Option<ConfigDuration>,
    /// Add `includeSubDomains`.
    pub include_subdomains: Option<bool>,
    /// Add `preload`.
    pub preload: Option<bool>,
}

/// `[routes.<name>]`: which requests go to which pool.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Host names to match: exact (`www.example.test`) or wildcard (`*.example.test`).
    /// Absent or empty: any host (the default route).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Path prefix, matched on segment boundaries; `/` when absent.
    pub path_prefix: Option<String>,
    /// The pool that serves the route (required).
    pub pool: Option<String>,
    /// Remove `path_prefix` from the path sent to the backend.
    pub strip_prefix: Option<bool>,
    /// Redirect requests that arrived over cleartext to HTTPS.
    pub redirect_https: Option<bool>,
    /// `Strict-Transport-Security` for this route (overrides the listener's).
    pub hsts: Option<Hsts>,
    /// Header rules applied to the request sent to the backend.
    #[serde(default)]
    pub request_headers: HeaderRules,
    /// Header rules applied to the response sent to the client.
    #[serde(default)]
    pub response_headers: HeaderRules,
    /// Largest request body (413 beyond), e.g. "10MB"-style bytes as a number.
    pub max_body_size: Option<u64>,
    /// Only these client addresses (CIDR blocks) may use the route.
    pub allow: Option<Vec<String>>,
    /// These client addresses (CIDR blocks) may not.
    pub deny: Option<Vec<String>>,
    /// Per-client-address request rate limit.
    pub rate_limit: Option<RateLimit>,
    /// `Upgrade` protocols clients may switch to through this route (a tunnel once the
    /// backend answers 101); `["websocket"]` when absent, `[]` to allow none. Never `h2c`.
    pub upgrades: Option<Vec<String>>,
    /// `required`: only clients with a verified certificate (listener `client_auth`) may use
    /// the route; others get 403.
    pub client_auth: Option<String>,
    /// Match this path only (instead of `path_prefix`).
    pub path_exact: Option<String>,
    /// Match paths this regex matches (instead of `path_prefix`).
    pub path_regex: Option<String>,
    /// Match only these methods.
    pub methods: Option<Vec<String>>,
    /// Match only requests with these headers (present, exact value or regex).
    pub match_headers: Option<Vec<MatchValue>>,
    /// Match only requests with these query parameters (present or exact value).
    pub match_query: Option<Vec<MatchValue>>,
    /// Match only clients in these CIDR blocks (others fall through to other routes).
    pub match_client: Option<Vec<String>>,
    /// Answer with this fixed response instead of forwarding (a maintenance page).
    pub respond: Option<Respond>,
    /// Answer with a redirect (target with `path_regex` captures).
    pub redirect: Option<Redirect>,
    /// Path sent to the backend, with `path_regex` captures (`/v2/$1`).
    pub path_rewrite: Option<String>,
    /// `Host` sent to the backend.
    pub host_rewrite: Option<String>,
    /// Upstream timeouts overriding the pool's (`read`, `write`, `response`).
    pub timeouts: Option<RouteTimeouts>,
    /// Extra attempts after a failed one, overriding the pool's.
    pub max_retries: Option<u32>,
    /// Export this route's own series (`gatehouse_route_*`); off by default so that metrics
    /// stay per pool however many routes there are.
    pub metrics: Option<bool>,
}

/// `[routes.<name>.timeouts]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteTimeouts {
    /// Each read from the backend.
    pub read: Option<ConfigDuration>,
    /// Each write to the backend.
    pub write: Option<ConfigDuration>,
    /// The whole response.
    pub response: Option<ConfigDuration>,
}

/// `respond = { status, body, content_type }`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Respond {
    /// Status code (default 200).
    pub status: Option<u16>,
    /// Body (default empty).
    pub body: Option<String>,
    /// `Content-Type` (default `text/plain; charset=utf-8`).
    pub content_type: Option<String>,
}

/// `redirect = { to, status, keep_query }`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Redirect {
    /// Target (`$1`, `${name}`: `path_regex` captures).
    pub to: Option<String>,
    /// 301, 302, 303, 307 or 308 (default 301).
    pub status: Option<u16>,
    /// Append the request's query (default true).
    pub keep_query: Option<bool>,
}

/// One header or query condition: `{ name = "x-env" }` (present), `value = "beta"` (exact) or
/// `regex = "^curl/"` (headers only).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchValue {
    /// Header or parameter name.
    pub name: Option<String>,
    /// Exact value.
    pub value: Option<String>,
    /// Regex the value must match.
    pub regex: Option<String>,
}

/// `set` replaces, `add` appends, `remove` deletes; applied in the order remove, set, add.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderRules {
    /// Headers to set (replacing any existing values).
    #[serde(default)]
    pub set: IndexMap<String, String>,
    /// Headers to append (keeping existing values).
    #[serde(default)]
    pub add: IndexMap<String, String>,
    /// Headers to remove.
    #[serde(default)]
    pub remove: Vec<String>,
}

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
