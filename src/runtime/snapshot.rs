//! The immutable unit the request path reads: routes, pools, listener certificates.
//!
//! Built from a validated [`Config`] (no I/O), reusing the previous snapshot's pools when their
//! settings are unchanged so their round-robin position and cached schedule carry over.
//! Backend state is never in here; pools point into the health registry.

use super::pool::Pool;
use super::router::{RouteId, Router};
use crate::config::model::{Config, Listener, Protocol, Route};
use crate::health::Registry;
use crate::metrics::RouteMetrics;
use crate::tls::store::CertStore;
use http::HeaderValue;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A route at runtime: the validated route (shared with the snapshot's `Config`, not copied)
/// plus what only the request path holds. Its settings are read through `Deref`
/// (`entry.path_prefix`, `entry.allow`, …): one pointer hop, no allocation or lock.
#[derive(Debug)]
pub struct RouteEntry {
    /// The validated route, the same allocation as in `Snapshot::config.routes`.
    route: Arc<Route>,
    /// Name (metric label).
    pub name: Arc<str>,
    /// Per-route metric handles, only with `metrics = true` (the pool's count every request).
    /// Shared with the previous snapshot's entry when the route and its pool keep their names.
    pub metrics: Option<Arc<RouteMetrics>>,
    /// Per-client rate limiter (kept across reloads while its settings are unchanged).
    pub rate_limiter: Option<Arc<super::rate_limit::RateLimiter>>,
}

impl std::ops::Deref for RouteEntry {
    type Target = Route;

    fn deref(&self) -> &Route {
        &self.route
    }
}

impl RouteEntry {
    /// The `path_regex`, whose captures fill the action templates.
    pub fn path_regex(&self) -> Option<&regex::Regex> {
        match &self.route.extras.path_match {
            crate::config::route_match::PathMatch::Regex(p) => Some(&p.0),
            _ => None,
        }
    }
}

impl RouteEntry {
    /// The pool's upstream timeouts with this route's overrides.
    pub fn timeouts(
        &self,
        pool: &crate::config::model::TimeoutSettings,
    ) -> crate::config::model::TimeoutSettings {
        let mut t = *pool;
        let o = &self.extras.timeouts;
        t.read = o.read.unwrap_or(t.read);
        t.write = o.write.unwrap_or(t.write);
        t.response = o.response.or(t.response);
        t
    }
}

impl RouteEntry {
    /// Records one completed request in its pool's series and, with `metrics = true`, in the
    /// route's own.
    pub fn record(
        &self,
        pool: &Pool,
        listener: usize,
        status: u16,
        elapsed: Duration,
        bytes_in: u64,
        bytes_out: u64,
    ) {
        pool.metrics
            .record(listener, status, elapsed, bytes_in, bytes_out);
        if let Some(m) = &self.metrics {
            m.record(listener, status, elapsed, bytes_in, bytes_out);
        }
    }

    /// Counts a request the route refused (access rule, rate limit, body size).
    pub fn refused(&self, pool: &Pool, reason: &'static str) {
        pool.metrics.refused(reason);
        if let Some(m) = &self.metrics {
            m.refused(reason);
        }
    }
}

/// The hot settings of a bound listener.
#[derive(Debug)]
pub struct ListenerEntry {
    /// Name.
    pub name: Arc<str>,
    /// Protocol (fixed for the life of the process).
    pub protocol: Protocol,
    /// Certificates for SNI (https).
    pub certs: CertStore,
    /// Redirect every request to HTTPS.
    pub redirect_https: bool,
    /// Port used in HTTPS redirects.
    pub https_port: Option<u16>,
    /// HSTS for responses on this listener.
    pub hsts: Option<HeaderValue>,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<crate::net::cidr::Cidr>,
    /// Client-certificate settings (read by the listener's verifier on every handshake).
    pub client_auth: Option<Arc<crate::tls::client_auth::ClientAuth>>,
    /// Where the verified client certificate goes (`None` without `client_auth`).
    pub client_cert_headers: Option<crate::tls::client_auth::CertHeaders>,
    /// Unrouted and refused-before-routing request series (handles kept across reloads).
    pub metrics: Arc<crate::metrics::ListenerMetrics>,
}

/// Everything the request path reads, published as one unit.
#[derive(Debug)]
pub struct Snapshot {
    /// Increases by one on every successful reload.
    pub generation: u64,
    /// The config it was built from.
    pub config: Arc<Config>,
    /// Host/path matcher, shared with the previous snapshot when no route's matching changed
    /// (a reload that edits headers, pools or limits does not rebuild it).
    pub router: Arc<Router>,
    /// Routes, indexed by `RouteId`.
    pub routes: Vec<RouteEntry>,
    /// Pools, indexed by `RouteEntry::pool`.
    pub pools: Vec<Arc<Pool>>,
    /// Listeners in the order they were bound at startup.
    pub listeners: Vec<ListenerEntry>,
    /// Client-certificate header names dropped from every request on every listener (those of
    /// every listener with `client_auth`): only gatehouse may set them. Empty when no listener
    /// verifies client certificates (then no such header means anything).
    pub client_cert_strip: Vec<http::HeaderName>,
    /// When it was built.
    pub built_at: SystemTime,
    /// The request headers its routes match on: the reload preview samples their values.
    pub sampled_headers: crate::preview::sampled::SampledHeaders,
}

impl Snapshot {
    /// Builds a snapshot for the listeners bound at startup (`bound`, by name). A listener the
    /// new config no longer has keeps its previous settings until restart.
    pub fn build(
        config: Arc<Config>,
        generation: u64,
        bound: &[String],
        previous: Option<&Snapshot>,
        registry: &Arc<Registry>,
    ) -> Snapshot {
        let listener_names: Vec<Arc<str>> = bound.iter().map(|n| Arc::from(n.as_str())).collect();
        // Reuse by name, then settings: a lookup per pool, not a scan (10,000 pools).
        let old_pools: std::collections::HashMap<&str, &Arc<Pool>> = previous
            .map(|prev| prev.pools.iter().map(|p| (&*p.name, p)).collect())
            .unwrap_or_default();
        let pools: Vec<Arc<Pool>> = config
            .pools
            .iter()
            .map(|p| {
                old_pools
                    .get(p.name.as_str())
                    .filter(|old| old.same_config(p))
                    .copied()
                    .cloned()
                    .unwrap_or_else(|| {
                        let new =
                            Arc::new(Pool::build(p, registry).with_listeners(&listener_names));
                        if let Some(old) = old_pools.get(p.name.as_str()) {
                            old.hand_over(&new);
                        }
                        new
                    })
            })
            .collect();
        if previous.is_none() {
            // The process's first config: its backends are there from the start, and slow
            // start is for those that come back or are added later.
            for b in pools.iter().flat_map(|p| p.backends.iter()) {
                b.state.ramp.establish();
            }
        }
        let old_routes: std::collections::HashMap<&str, &RouteEntry> = previous
            .map(|prev| prev.routes.iter().map(|r| (&*r.name, r)).collect())
            .unwrap_or_default();
        let routes = config
            .routes
            .iter()
            .map(|r| {
                let name: Arc<str> = old_routes
                    .get(r.name.as_str())
                    .map_or_else(|| Arc::from(r.name.as_str()), |old| old.name.clone());
                let pool_name = &pools[r.pool].name;
                let metrics = r.metrics.then(|| {
                    old_routes
                        .get(&*name)
                        .filter(|old| {
                            previous
                                .and_then(|p| p.pools.get(old.pool))
                                .map(|p| &p.name)
                                == Some(pool_name)
                        })
                        .and_then(|old| old.metrics.clone())
                        .unwrap_or_else(|| {
                            Arc::new(RouteMetrics::new(&name, pool_name, &listener_names))
                        })
                });
                let rate_limiter = r.extras.rate_limit.map(|rl| {
                    old_routes
                        .get(&*name)
                        .and_then(|old| old.rate_limiter.clone())
                        .filter(|l| l.settings() == (rl.per_second, f64::from(rl.burst)))
                        .unwrap_or_else(|| {
                            Arc::new(super::rate_limit::RateLimiter::new(rl.per_second, rl.burst))
                        })
                });
                RouteEntry {
                    route: Arc::clone(r),
                    name,
                    metrics,
                    rate_limiter,
                }
            })
            .collect();
        let listeners = bound
            .iter()
            .filter_map(
                |name| match config.listeners.iter().find(|l| &l.name == name) {
                    Some(l) => Some(listener_entry(l)),
                    None => previous
                        .and_then(|p| p.listeners.iter().find(|e| &*e.name == name))
                        .map(|e| ListenerEntry {
                            name: e.name.clone(),
                            protocol: e.protocol,
                            certs: e.certs.clone(),
                            redirect_https: e.redirect_https,
                            https_port: e.https_port,
                            hsts: e.hsts.clone(),
                            trusted_proxies: e.trusted_proxies.clone(),
                            client_auth: e.client_auth.clone(),
                            client_cert_headers: e.client_cert_headers.clone(),
                            metrics: e.metrics.clone(),
                        }),
                },
            )
            .collect::<Vec<ListenerEntry>>();
        let mut client_cert_strip: Vec<http::HeaderName> = Vec::new();
        for name in listeners
            .iter()
            .filter_map(|l| l.client_cert_headers.as_ref())
            .flat_map(|h| h.names())
        {
            if !client_cert_strip.contains(name) {
                client_cert_strip.push(name.clone());
            }
        }
        let live: Vec<_> = pools
            .iter()
            .flat_map(|p| p.keys().cloned().collect::<Vec<_>>())
            .collect();
        registry.retain_live(&live);
        Snapshot {
            generation,
            router: router_for(&config.routes, previous),
            routes,
            pools,
            listeners,
            client_cert_strip,
            sampled_headers: crate::preview::sampled::SampledHeaders::of(&config.routes),
            config,
            built_at: SystemTime::now(),
        }
    }

    /// The route for a request, with its pool.
    pub fn route(&self, id: RouteId) -> Option<(&RouteEntry, &Arc<Pool>)> {
        let route = self.routes.get(id as usize)?;
        let pool = self.pools.get(route.pool)?;
        Some((route, pool))
    }

    /// Fingerprints of every certificate served, to tell new certificates from old on reload.
    pub fn certificate_fingerprints(&self) -> std::collections::HashSet<String> {
        self.config
            .listeners
            .iter()
            .flat_map(|l| l.certificates.iter().map(|c| c.fingerprint.clone()))
            .collect()
    }
}

/// The previous snapshot's router when every route matches exactly as before, in the same
/// order (its ids are indices); a new one otherwise. Comparing is a pass over the routes with
/// no allocation; building is a hash insert per host and prefix (a tenth of a reload's CPU at
/// 100,000 routes).
fn router_for(routes: &[Arc<Route>], previous: Option<&Snapshot>) -> Arc<Router> {
    let same_matching = |a: &Route, b: &Route| {
        a.hosts == b.hosts
            && a.path_prefix == b.path_prefix
            && a.extras.path_match == b.extras.path_match
            && a.extras.conditions == b.extras.conditions
    };
    match previous {
        Some(prev)
            if prev.config.routes.len() == routes.len()
                && prev
                    .config
                    .routes
                    .iter()
                    .zip(routes)
                    .all(|(a, b)| Arc::ptr_eq(a, b) || same_matching(a, b)) =>
        {
            Arc::clone(&prev.router)
        }
        _ => Arc::new(Router::build(routes)),
    }
}

fn listener_entry(l: &Listener) -> ListenerEntry {
    let name: Arc<str> = Arc::from(l.name.as_str());
    ListenerEntry {
        metrics: Arc::new(crate::metrics::ListenerMetrics::new(&name)),
        name,
        protocol: l.protocol,
        certs: CertStore::build(&l.certificates, l.default_certificate, l.unknown_sni),
        redirect_https: l.redirect_https,
        https_port: l.https_port,
        hsts: l.hsts.clone(),
        trusted_proxies: l.trusted_proxies.clone(),
        client_auth: l.client_auth.clone(),
        client_cert_headers: l
            .client_auth
            .as_ref()
            .map(|_| l.client_cert_headers.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request path's route is the shared validated route plus a few handles, not a second
    /// copy of it (issue #20: ≤ 1 KiB per route at 100,000 routes).
    #[test]
    fn a_route_entry_shares_the_validated_route() {
        assert!(
            std::mem::size_of::<RouteEntry>() <= 48,
            "RouteEntry is {} bytes (model::Route {})",
            std::mem::size_of::<RouteEntry>(),
            std::mem::size_of::<Route>()
        );
        let text = "[listeners.http]\naddress = \"127.0.0.1:8080\"\n[pools.p]\nbackends = [{ address = \"127.0.0.1:9001\" }]\n[routes.a]\npool = \"p\"\nhosts = [\"a.example\"]\npath_prefix = \"/x\"\n";
        let config = Arc::new(
            crate::config::validate::validate_text(text)
                .map(|v| v.config)
                .unwrap_or_else(|e| panic!("{e:?}")),
        );
        let registry = Arc::new(Registry::default());
        let snapshot = Snapshot::build(config, 1, &[], None, &registry);
        let entry = &snapshot.routes[0];
        assert!(std::ptr::eq::<Route>(&**entry, &*snapshot.config.routes[0]));
        assert_eq!(entry.path_prefix, "/x");
        assert_eq!(&*entry.name, "a");
    }

    /// A reload that changes nothing `Router::build` reads keeps the router; a change to any
    /// of it (path, conditions, route order) rebuilds it.
    #[test]
    fn the_router_is_rebuilt_only_when_matching_changes() {
        let a = |prefix: &str, header: &str, methods: &str| {
            format!("[routes.a]\npool = \"p\"\nhosts = [\"a.example\"]\npath_prefix = \"{prefix}\"\n{methods}response_headers = {{ set = {{ \"x-v\" = \"{header}\" }} }}\n")
        };
        let b = "[routes.b]\npool = \"p\"\n";
        let registry = Arc::new(Registry::default());
        let build = |routes: String, previous: Option<&Snapshot>| {
            let text = format!("[listeners.http]\naddress = \"127.0.0.1:8080\"\n[pools.p]\nbackends = [{{ address = \"127.0.0.1:9001\" }}]\n{routes}");
            let config = crate::config::validate::validate_text(&text)
                .map(|v| Arc::new(v.config))
                .unwrap_or_else(|e| panic!("{e:?}"));
            Snapshot::build(config, 1, &[], previous, &registry)
        };
        let first = build(a("/x", "1", "") + b, None);
        let headers_only = build(a("/x", "2", "") + b, Some(&first));
        assert!(Arc::ptr_eq(&first.router, &headers_only.router));
        for changed in [
            a("/y", "2", "") + b,
            a("/x", "2", "methods = [\"GET\"]\n") + b,
            b.to_owned() + &a("/x", "2", ""),
            a("/x", "2", ""),
        ] {
            let next = build(changed.clone(), Some(&headers_only));
            assert!(
                !Arc::ptr_eq(&headers_only.router, &next.router),
                "{changed}"
            );
        }
    }
}
