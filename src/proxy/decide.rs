//! The routing decision for a request head, as a pure function of the snapshot.

use crate::runtime::router::{normalize_host, RequestFacts};
use crate::runtime::{RouteId, Snapshot};

/// What to do with a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Proxy it through this route.
    Route(RouteId),
    /// Answer with a redirect to this location (301 for GET/HEAD, 308 otherwise).
    Redirect(String),
    /// No route matches.
    NotFound,
    /// The request head is unusable (reason for the log, not for the client).
    BadRequest(&'static str),
    /// Refused by the route's rules: status, reason, and a `Retry-After` for 429.
    Refused(u16, &'static str, Option<std::time::Duration>),
}

/// The routing decision for a request to `host` (as sent, port included) and a normalised
/// `path`: what both protocol engines call once the head is known to be well formed. `req`
/// gives the method, query, client and headers that route conditions look at.
pub fn route(
    snapshot: &Snapshot,
    listener: usize,
    tls: bool,
    host: &str,
    path: &str,
    req: &RequestFacts<'_>,
) -> Decision {
    let query = req.query;
    let host = normalize_host(host);
    let entry = snapshot.listeners.get(listener);
    if !tls && entry.is_some_and(|l| l.redirect_https) {
        let port = entry.and_then(|l| l.https_port);
        return Decision::Redirect(location(&host, port, path, query));
    }
    let Some(id) = snapshot.router.lookup(&host, path, req) else {
        return Decision::NotFound;
    };
    if !tls {
        if let Some(route) = snapshot.routes.get(id as usize) {
            if route.redirect_https {
                let port = entry
                    .and_then(|l| l.https_port)
                    .or_else(|| first_https_port(snapshot));
                return Decision::Redirect(location(&host, port, path, query));
            }
        }
    }
    Decision::Route(id)
}

fn first_https_port(snapshot: &Snapshot) -> Option<u16> {
    snapshot
        .config
        .listeners
        .iter()
        .find(|l| l.protocol == crate::config::model::Protocol::Https)
        .map(|l| l.address.port())
}

/// `https://host[:port]/path?query`, omitting the port when it is 443.
fn location(host: &str, port: Option<u16>, path: &str, query: Option<&str>) -> String {
    let path = if path.is_empty() { "/" } else { path };
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    match port {
        Some(443) | None => format!("https://{host}{path}{query}"),
        Some(p) => format!("https://{host}:{p}{path}{query}"),
    }
}

/// 301 for GET/HEAD (cacheable, method kept by definition), 308 for everything else so the
/// method and body are kept.
pub fn redirect_status(method: &http::Method) -> u16 {
    if method == http::Method::GET || method == http::Method::HEAD {
        301
    } else {
        308
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_keep_the_method_where_it_matters() {
        assert_eq!(redirect_status(&http::Method::GET), 301);
        assert_eq!(redirect_status(&http::Method::HEAD), 301);
        assert_eq!(redirect_status(&http::Method::POST), 308);
    }

    #[test]
    fn https_locations_omit_the_default_port() {
        assert_eq!(
            location("a.test", Some(443), "/x", Some("q=1")),
            "https://a.test/x?q=1"
        );
        assert_eq!(
            location("a.test", Some(8443), "", None),
            "https://a.test:8443/"
        );
    }
}
