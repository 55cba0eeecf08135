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
///
/// Kept small because a large edge holds 100,000 of them: what most routes set (hosts, a
/// prefix, a pool) is inline, everything else lives in [`RouteExtras`], allocated only for a
/// route that sets any of it (688 bytes inline before, most of them empty lists).
#[derive(Debug, Clone, PartialEq)]
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
    /// Only connections with a verified client certificate may use the route (403 otherwise).
    pub client_auth_required: bool,
    /// `metrics = true`: the route has its own series besides its pool's.
    pub metrics: bool,
    /// Everything else; reads as [`RouteExtras`]' defaults when the route sets none of it.
    pub extras: Extras,
}

/// The settings few routes use.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RouteExtras {
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
    /// Upgrade protocols allowed.
    pub upgrades: Upgrades,
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
}

/// What a route without any extra setting reads.
static NO_EXTRAS: RouteExtras = RouteExtras {
    hsts: None,
    request_headers: HeaderRules::EMPTY,
    response_headers: HeaderRules::EMPTY,
    max_body_size: None,
    allow: Vec::new(),
    deny: Vec::new(),
    rate_limit: None,
    upgrades: Upgrades::WEBSOCKET,
    path_match: crate::config::route_match::PathMatch::Prefix,
    conditions: crate::config::route_match::Conditions::NONE,
    actions: crate::config::route_match::Actions::NONE,
    timeouts: crate::config::route_match::RouteTimeouts::NONE,
    max_retries: None,
};

/// A route's [`RouteExtras`]: boxed when it has any, nothing (eight bytes) when it has none.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Extras(Option<Box<RouteExtras>>);

impl Extras {
    /// Boxes `extras` unless every setting is at its default.
    pub fn new(extras: RouteExtras) -> Self {
        Extras((extras != NO_EXTRAS).then(|| Box::new(extras)))
    }

    /// True when the route sets none of the extras (no allocation behind it).
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

impl From<RouteExtras> for Extras {
    fn from(extras: RouteExtras) -> Self {
        Extras::new(extras)
    }
}

impl std::ops::Deref for Extras {
    type Target = RouteExtras;

    fn deref(&self) -> &RouteExtras {
        self.0.as_deref().unwrap_or(&NO_EXTRAS)
    }
}

/// The upgrade protocols a route lets through. The default, WebSocket alone, needs no list
/// (it was a `Vec` and a `String` allocated for every route).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Upgrades(Option<Vec<String>>);

impl Upgrades {
    /// `websocket` only: what a route without `upgrades` allows.
    pub const WEBSOCKET: Upgrades = Upgrades(None);

    /// Exactly these (lowercase) protocol names; an empty list allows none.
    pub fn listed(names: Vec<String>) -> Self {
        if names.len() == 1 && names[0] == "websocket" {
            Upgrades::WEBSOCKET
        } else {
            Upgrades(Some(names))
        }
    }

    /// True when `protocol` (a name, compared without case) may be upgraded to.
    pub fn allows(&self, protocol: &[u8]) -> bool {
        match &self.0 {
            None => protocol.eq_ignore_ascii_case(b"websocket"),
            Some(names) => names
                .iter()
                .any(|n| n.as_bytes().eq_ignore_ascii_case(protocol)),
        }
    }
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
    /// No rule at all.
    pub const EMPTY: HeaderRules = HeaderRules {
        remove: Vec::new(),
        set: Vec::new(),
        add: Vec::new(),
    };

    /// True when the rules do nothing (lets the request path skip work).
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.set.is_empty() && self.add.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(text: &str) -> Vec<std::sync::Arc<Route>> {
        let base = "[listeners.http]\naddress = \"127.0.0.1:8080\"\n[pools.p]\nbackends = [{ address = \"127.0.0.1:9001\" }]\n";
        crate::config::validate::validate_text(&format!("{base}{text}"))
            .map(|v| v.config.routes)
            .unwrap_or_else(|e| panic!("{e:?}"))
    }

    /// A large edge holds one `Route` per host name: a plain route must stay a few words and
    /// allocate nothing for the settings it does not use.
    #[test]
    fn a_plain_route_is_small_and_allocates_no_extras() {
        assert!(
            std::mem::size_of::<Route>() <= 128,
            "Route is {} bytes",
            std::mem::size_of::<Route>()
        );
        let plain = routes("[routes.a]\npool = \"p\"\nhosts = [\"a.example\"]\n");
        assert!(plain[0].extras.is_empty());
        assert!(plain[0].extras.upgrades.allows(b"WebSocket"));
        assert!(!plain[0].extras.upgrades.allows(b"tls"));
        let spelled_out = routes(
            "[routes.a]\npool = \"p\"\nhosts = [\"a.example\"]\nupgrades = [\"websocket\"]\n",
        );
        assert!(spelled_out[0].extras.is_empty(), "the default, written out");
        let rich = routes(
            "[routes.a]\npool = \"p\"\nhosts = [\"a.example\"]\nupgrades = []\nmax_body_size = 10\n",
        );
        assert!(!rich[0].extras.is_empty());
        assert!(!rich[0].extras.upgrades.allows(b"websocket"));
        assert_eq!(rich[0].extras.max_body_size, Some(10));
    }
}
