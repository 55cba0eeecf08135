//! Host + path → route, in time independent of the number of routes.
//!
//! Host levels are tried from most to least specific: the exact name, then wildcard suffixes
//! from longest to shortest (`*.b.example.test` before `*.example.test`), then the catch-all.
//! Within a level the longest path prefix wins, matched on segment boundaries (`/admin`
//! matches `/admin` and `/admin/x`, not `/administrator`). If a level has no matching prefix,
//! the next less specific level is tried. Every step is a hash lookup, so matching costs
//! O(labels + segments) whatever the number of routes.

use crate::config::model::{HostMatch, Route};
use std::collections::HashMap;

/// Index of a route in `Snapshot::routes`.
pub type RouteId = u32;

/// The prefixes of one host level.
#[derive(Debug, Default, Clone)]
struct HostRoutes {
    prefixes: HashMap<Box<str>, RouteId>,
    /// Segments in the deepest prefix: no need to look deeper than this.
    max_depth: usize,
}

impl HostRoutes {
    fn insert(&mut self, prefix: &str, id: RouteId) {
        self.max_depth = self.max_depth.max(depth(prefix));
        self.prefixes.entry(prefix.into()).or_insert(id);
    }

    fn lookup(&self, path: &str) -> Option<RouteId> {
        // Walk the path's segment boundaries from the deepest useful one to the root.
        let mut cut = boundary_at_depth(path, self.max_depth);
        loop {
            let candidate = if cut == 0 { "/" } else { &path[..cut] };
            if let Some(id) = self.prefixes.get(candidate) {
                return Some(*id);
            }
            if cut == 0 {
                return None;
            }
            cut = path[..cut].rfind('/').unwrap_or(0);
        }
    }
}

/// Number of segments in a normalised prefix (`/` = 0, `/a` = 1, `/a/b` = 2).
fn depth(prefix: &str) -> usize {
    if prefix == "/" {
        0
    } else {
        prefix.matches('/').count()
    }
}

/// Byte index of the end of the first `depth` segments of `path` (or the path's length).
fn boundary_at_depth(path: &str, depth: usize) -> usize {
    if depth == 0 {
        return 0;
    }
    let mut seen = 0;
    for (i, b) in path.bytes().enumerate().skip(1) {
        if b == b'/' {
            seen += 1;
            if seen == depth {
                return i;
            }
        }
    }
    // The path has at most `depth` segments: its whole length (minus a trailing '/') is a
    // candidate boundary.
    if path.len() > 1 && path.ends_with('/') {
        path.len() - 1
    } else {
        path.len()
    }
}

/// The compiled routing table of one snapshot.
#[derive(Debug, Default, Clone)]
pub struct Router {
    exact: HashMap<Box<str>, HostRoutes>,
    wildcard: HashMap<Box<str>, HostRoutes>,
    any: Option<HostRoutes>,
}

impl Router {
    /// Compiles routes (their index is their `RouteId`). Earlier routes win exact duplicates,
    /// which validation already refuses.
    pub fn build(routes: &[Route]) -> Self {
        let mut router = Router::default();
        for (i, route) in routes.iter().enumerate() {
            let id = i as RouteId;
            for host in &route.hosts {
                let level = match host {
                    HostMatch::Exact(h) => router.exact.entry(h.as_str().into()).or_default(),
                    HostMatch::Wildcard(s) => router.wildcard.entry(s.as_str().into()).or_default(),
                    HostMatch::Any => router.any.get_or_insert_with(HostRoutes::default),
                };
                level.insert(&route.path_prefix, id);
            }
        }
        router
    }

    /// Finds the route for a request. `host` must already be lowercase without a port
    /// (see [`normalize_host`]); `path` is the request path without the query.
    pub fn lookup(&self, host: &str, path: &str) -> Option<RouteId> {
        if let Some(found) = self.exact.get(host).and_then(|r| r.lookup(path)) {
            return Some(found);
        }
        if !self.wildcard.is_empty() {
            let mut rest = host;
            while let Some((_, parent)) = rest.split_once('.') {
                if let Some(found) = self.wildcard.get(parent).and_then(|r| r.lookup(path)) {
                    return Some(found);
                }
                rest = parent;
            }
        }
        self.any.as_ref().and_then(|r| r.lookup(path))
    }
}

/// Lowercases a Host header value and strips its port and any trailing dot, borrowing when it
/// is already normal (the common case), so the request path rarely allocates.
pub fn normalize_host(raw: &str) -> std::borrow::Cow<'_, str> {
    let without_port = if raw.starts_with('[') {
        // IPv6 literal: keep the brackets, drop a port after them.
        match raw.find(']') {
            Some(end) => &raw[..=end],
            None => raw,
        }
    } else {
        match raw.rfind(':') {
            Some(i) if raw[i + 1..].bytes().all(|b| b.is_ascii_digit()) => &raw[..i],
            _ => raw,
        }
    };
    let trimmed = without_port.strip_suffix('.').unwrap_or(without_port);
    if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(trimmed.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(trimmed)
    }
}

#[cfg(test)]
mod tests;
