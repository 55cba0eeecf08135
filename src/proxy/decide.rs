//! The routing decision for a request head, as a pure function of the snapshot.

use super::headers::request_host;
use crate::runtime::router::{normalize_host, RequestFacts};
use crate::runtime::{RouteId, Snapshot};
use http::Version;
use pingora::http::RequestHeader;

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

/// Decides how to handle a request arriving on `listener` (TLS or not).
pub fn decide(snapshot: &Snapshot, listener: usize, tls: bool, req: &RequestHeader) -> Decision {
    let host_headers = req.headers.get_all(http::header::HOST).iter().count();
    if host_headers > 1 {
        return Decision::BadRequest("several Host headers");
    }
    let raw_host = request_host(req);
    if raw_host.is_none() && req.version == Version::HTTP_11 {
        return Decision::BadRequest("HTTP/1.1 request without Host");
    }
    let path = req.uri.path();
    let query = req.uri.query();
    let facts = RequestFacts {
        method: req.method.as_str(),
        query,
        client: None,
        fields: &req.headers,
    };
    route(
        snapshot,
        listener,
        tls,
        raw_host.unwrap_or(""),
        path,
        &facts,
    )
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
pub fn https_location(host: &str, port: Option<u16>, req: &RequestHeader) -> String {
    location(host, port, req.uri.path(), req.uri.query())
}

fn location(host: &str, port: Option<u16>, path: &str, query: Option<&str>) -> String {
    let path = if path.is_empty() { "/" } else { path };
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    match port {
        Some(443) | None => format!("https://{host}{path}{query}"),
        Some(p) => format!("https://{host}:{p}{path}{query}"),
    }
}
