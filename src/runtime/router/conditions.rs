//! Evaluating a route's conditions (method, headers, query, client) against a request, read in
//! place from whichever engine received it.

use crate::config::route_match::{Conditions, ValueMatch};
use crate::runtime::balance::key::Fields;
use std::net::IpAddr;

/// What route conditions look at.
pub struct RequestFacts<'a> {
    /// Method as sent.
    pub method: &'a str,
    /// Query, without `?`.
    pub query: Option<&'a str>,
    /// Client address (after `trusted_proxies`).
    pub client: Option<IpAddr>,
    /// Header fields.
    pub fields: &'a dyn Fields,
}

struct NoFields;

impl Fields for NoFields {
    fn each(&self, _: &str, _: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        false
    }
}

impl RequestFacts<'static> {
    /// A request with a method and nothing else (tests, benchmarks).
    pub fn bare(method: &'static str) -> Self {
        RequestFacts {
            method,
            query: None,
            client: None,
            fields: &NoFields,
        }
    }
}

/// Whether `req` satisfies every condition.
pub fn satisfied(c: &Conditions, req: &RequestFacts<'_>) -> bool {
    if !c.methods.is_empty() && !c.methods.iter().any(|m| m.as_str() == req.method) {
        return false;
    }
    if !c.clients.is_empty()
        && !req
            .client
            .is_some_and(|ip| crate::net::cidr::any_contains(&c.clients, ip))
    {
        return false;
    }
    for h in &c.headers {
        let found = req.fields.each(h.name.as_str(), &mut |v| match &h.value {
            ValueMatch::Present => true,
            ValueMatch::Exact(want) => v == want.as_bytes(),
            ValueMatch::Regex(p) => std::str::from_utf8(v).is_ok_and(|v| p.0.is_match(v)),
        });
        if !found {
            return false;
        }
    }
    c.query.iter().all(|q| {
        req.query.unwrap_or("").split('&').any(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            name == q.name && q.value.as_deref().is_none_or(|want| value == want)
        })
    })
}
