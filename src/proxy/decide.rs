//! The routing decision for a request head, as a pure function of the snapshot.

use super::headers::request_host;
use crate::runtime::router::normalize_host;
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
    let host = normalize_host(raw_host.unwrap_or(""));
    let entry = snapshot.listeners.get(listener);
    if !tls && entry.is_some_and(|l| l.redirect_https) {
        return Decision::Redirect(https_location(&host, entry.and_then(|l| l.https_port), req));
    }
    let Some(id) = snapshot.router.lookup(&host, req.uri.path()) else {
        return Decision::NotFound;
    };
    if !tls {
        if let Some(route) = snapshot.routes.get(id as usize) {
            if route.redirect_https {
                let port = entry
                    .and_then(|l| l.https_port)
                    .or_else(|| first_https_port(snapshot));
                return Decision::Redirect(https_location(&host, port, req));
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
    let path = req.uri.path_and_query().map_or("/", |pq| pq.as_str());
    match port {
        Some(443) | None => format!("https://{host}{path}"),
        Some(p) => format!("https://{host}:{p}{path}"),
    }
}
