//! `[[routes]]`: what a request matches and what is done with it.

use super::RateLimit;
use crate::config::duration::ConfigDuration;
use indexmap::IndexMap;
use serde::Deserialize;

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
