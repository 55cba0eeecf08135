//! Host + path (+ conditions) → route; host and prefix matching in time independent of the
//! number of routes.
//!
//! Precedence, one rule: host levels are tried from most to least specific — the exact name,
//! then wildcard suffixes from longest to shortest (`*.b.example.test` before
//! `*.example.test`), then the catch-all. Within a level: an exact path (`path_exact`) first,
//! then path regexes (`path_regex`) in file order, then the longest path prefix, matched on
//! segment boundaries (`/admin` matches `/admin` and `/admin/x`, not `/administrator`). Where
//! several routes share a host and path rule, the ones with conditions (method, header, query,
//! client) are tried before the one without, each in file order. A route whose conditions fail
//! is as if absent: matching goes on to the next candidate, the shorter prefix, the next level.
//! Exact paths and prefixes are hash lookups, so they cost O(labels + segments) whatever the
//! number of routes; regexes cost one match each, only at the levels that have them.

mod conditions;
mod ids;

pub use conditions::{satisfied, RequestFacts};

use crate::config::model::{HostMatch, Route};
use crate::config::route_match::{Conditions, PathMatch};
use ids::Ids;
use std::collections::hash_map::Entry;
use std::collections::HashMap;

/// Index of a route in `Snapshot::routes`.
pub type RouteId = u32;

/// The routes of one host level.
/// The routes of one host level. Most hosts on a large edge have a single route on the root
/// prefix: they keep just its id (no tables), which is most of a route's share of the router.
#[derive(Debug, Clone)]
enum HostRoutes {
    /// Only root-prefix (`/`) routes, in precedence order.
    Root(Ids),
    /// Anything else.
    Paths(Box<PathTable>),
}

#[derive(Debug, Default, Clone)]
struct PathTable {
    prefixes: HashMap<Box<str>, Ids>,
    exact: HashMap<Box<str>, Ids>,
    regexes: Vec<(regex::Regex, RouteId)>,
    max_depth: usize,
}

fn first(ids: &Ids, accept: &impl Fn(RouteId) -> bool) -> Option<RouteId> {
    ids.as_slice().iter().copied().find(|&id| accept(id))
}

fn is_root_prefix(route: &Route) -> bool {
    matches!(route.extras.path_match, PathMatch::Prefix) && route.path_prefix == "/"
}

impl HostRoutes {
    fn new(route: &Route, id: RouteId) -> Self {
        if is_root_prefix(route) {
            return HostRoutes::Root(Ids::One(id));
        }
        let mut table = PathTable::default();
        table.insert(route, id);
        HostRoutes::Paths(Box::new(table))
    }

    fn insert(&mut self, route: &Route, id: RouteId) {
        match self {
            HostRoutes::Root(ids) if is_root_prefix(route) => ids.push(id),
            HostRoutes::Root(ids) => {
                let mut table = PathTable::default();
                table.prefixes.insert("/".into(), ids.clone());
                table.insert(route, id);
                *self = HostRoutes::Paths(Box::new(table));
            }
            HostRoutes::Paths(table) => table.insert(route, id),
        }
    }

    fn lookup(&self, path: &str, accept: &impl Fn(RouteId) -> bool) -> Option<RouteId> {
        match self {
            HostRoutes::Root(ids) => first(ids, accept),
            HostRoutes::Paths(table) => table.lookup(path, accept),
        }
    }

    fn order(&mut self, conditions: &[Option<Box<Conditions>>]) {
        let unconditional = |id: &RouteId| conditions.get(*id as usize).is_none_or(Option::is_none);
        let lists: Vec<&mut Ids> = match self {
            HostRoutes::Root(ids) => vec![ids],
            HostRoutes::Paths(table) => table
                .prefixes
                .values_mut()
                .chain(table.exact.values_mut())
                .collect(),
        };
        for ids in lists {
            ids.as_mut_slice()
                .sort_by_key(|id| (unconditional(id), *id));
        }
    }
}

impl PathTable {
    fn insert(&mut self, route: &Route, id: RouteId) {
        match &route.extras.path_match {
            PathMatch::Prefix => {
                self.max_depth = self.max_depth.max(depth(&route.path_prefix));
                ids::push_into(&mut self.prefixes, route.path_prefix.as_str().into(), id);
            }
            PathMatch::Exact(p) => ids::push_into(&mut self.exact, p.as_str().into(), id),
            PathMatch::Regex(p) => self.regexes.push((p.0.clone(), id)),
        }
    }

    fn lookup(&self, path: &str, accept: &impl Fn(RouteId) -> bool) -> Option<RouteId> {
        if let Some(id) = self.exact.get(path).and_then(|ids| first(ids, accept)) {
            return Some(id);
        }
        for (re, id) in &self.regexes {
            if accept(*id) && re.is_match(path) {
                return Some(*id);
            }
        }
        if self.prefixes.is_empty() {
            return None;
        }
        let mut cut = boundary_at_depth(path, self.max_depth);
        loop {
            let candidate = if cut == 0 { "/" } else { &path[..cut] };
            if let Some(id) = self
                .prefixes
                .get(candidate)
                .and_then(|ids| first(ids, accept))
            {
                return Some(id);
            }
            if cut == 0 {
                return None;
            }
            cut = path[..cut].rfind('/').unwrap_or(0);
        }
    }
}

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
    /// Each route's conditions, by id; `None` for the common route without any (eight bytes
    /// a route instead of a copy of four empty lists).
    conditions: Vec<Option<Box<Conditions>>>,
}

impl Router {
    /// Compiles routes (their index is their `RouteId`). Regexes are the validated config's,
    /// compiled once per load (a clone shares the compiled program).
    pub fn build<R: std::borrow::Borrow<Route>>(routes: &[R]) -> Self {
        let mut router = Router {
            conditions: routes
                .iter()
                .map(|r| {
                    let c = &r.borrow().extras.conditions;
                    (!c.is_empty()).then(|| Box::new(c.clone()))
                })
                .collect(),
            ..Router::default()
        };
        for (i, route) in routes.iter().enumerate() {
            let route: &Route = route.borrow();
            let id = i as RouteId;
            for host in &route.hosts {
                let level = match host {
                    HostMatch::Exact(h) => router.exact.entry(h.as_str().into()),
                    HostMatch::Wildcard(s) => router.wildcard.entry(s.as_str().into()),
                    HostMatch::Any => {
                        match &mut router.any {
                            Some(level) => level.insert(route, id),
                            None => router.any = Some(HostRoutes::new(route, id)),
                        }
                        continue;
                    }
                };
                match level {
                    Entry::Occupied(mut e) => e.get_mut().insert(route, id),
                    Entry::Vacant(e) => {
                        e.insert(HostRoutes::new(route, id));
                    }
                }
            }
        }
        let conditions = std::mem::take(&mut router.conditions);
        for level in router
            .exact
            .values_mut()
            .chain(router.wildcard.values_mut())
            .chain(router.any.iter_mut())
        {
            level.order(&conditions);
        }
        router.conditions = conditions;
        router
    }

    /// Finds the route for a request. `host` must already be lowercase without a port
    /// (see [`normalize_host`]); `path` is the normalised request path without the query.
    pub fn lookup(&self, host: &str, path: &str, req: &RequestFacts<'_>) -> Option<RouteId> {
        let accept = |id: RouteId| {
            self.conditions
                .get(id as usize)
                .is_none_or(|c| c.as_deref().is_none_or(|c| satisfied(c, req)))
        };
        if let Some(found) = self.exact.get(host).and_then(|r| r.lookup(path, &accept)) {
            return Some(found);
        }
        if !self.wildcard.is_empty() {
            let mut rest = host;
            while let Some((_, parent)) = rest.split_once('.') {
                if let Some(found) = self
                    .wildcard
                    .get(parent)
                    .and_then(|r| r.lookup(path, &accept))
                {
                    return Some(found);
                }
                rest = parent;
            }
        }
        self.any.as_ref().and_then(|r| r.lookup(path, &accept))
    }
}

/// Lowercases a Host header value and strips its port and any trailing dot, borrowing when it
/// is already normal (the common case), so the request path rarely allocates.
pub fn normalize_host(raw: &str) -> std::borrow::Cow<'_, str> {
    // Byte by byte, one pass from the end for the port: every request goes through here, and
    // `rfind` and the pattern machinery cost more than the scan itself.
    let bytes = raw.as_bytes();
    let end = if bytes.first() == Some(&b'[') {
        // IPv6 literal: keep the brackets, drop a port after them.
        bytes
            .iter()
            .position(|&b| b == b']')
            .map_or(bytes.len(), |i| i + 1)
    } else {
        let digits = bytes
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_digit())
            .count();
        match bytes.len().checked_sub(digits + 1) {
            Some(colon) if bytes[colon] == b':' => colon,
            _ => bytes.len(),
        }
    };
    let end = if end > 0 && bytes[end - 1] == b'.' {
        end - 1
    } else {
        end
    };
    // `end` is at an ASCII byte (or the end), so this is a char boundary.
    let trimmed = raw.get(..end).unwrap_or(raw);
    if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(trimmed.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(trimmed)
    }
}

#[cfg(test)]
mod tests;
