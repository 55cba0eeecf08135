//! Validated routes: what a request matches and what is done with it.

use super::RateLimitSettings;
use http::HeaderName;
use http::HeaderValue;
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
    pub path_match: crate::config::route_match::PathMatch,
    /// Method, header, query and client conditions.
    pub conditions: crate::config::route_match::Conditions,
    /// Fixed response, redirect, path rewrite.
    pub actions: crate::config::route_match::Actions,
    /// Timeouts overriding the pool's.
    pub timeouts: crate::config::route_match::RouteTimeouts,
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
