use super::*;
use crate::config::model::{HeaderRules, Route};
use proptest::prelude::*;

fn route(hosts: &[&str], prefix: &str) -> Route {
    Route {
        name: format!("{hosts:?}{prefix}"),
        hosts: hosts
            .iter()
            .map(|h| crate::config::validate::parse_host_pattern(h).unwrap())
            .collect(),
        path_prefix: prefix.to_string(),
        pool: 0,
        strip_prefix: false,
        redirect_https: false,
        hsts: None,
        request_headers: HeaderRules::default(),
        response_headers: HeaderRules::default(),
        max_body_size: None,
        allow: Vec::new(),
        deny: Vec::new(),
        rate_limit: None,
        upgrades: Vec::new(),
        client_auth_required: false,
        metrics: false,
    }
}

fn table() -> (Router, Vec<Route>) {
    let routes = vec![
        route(&["www.example.test"], "/"),      // 0
        route(&["www.example.test"], "/admin"), // 1
        route(&["*.example.test"], "/"),        // 2
        route(&["*.api.example.test"], "/v1"),  // 3
        route(&["*"], "/"),                     // 4
        route(&["*"], "/static/img"),           // 5
        route(&["admin.example.test"], "/"),    // 6
    ];
    (Router::build(&routes), routes)
}

#[test]
fn exact_beats_wildcard_beats_any() {
    let (r, _) = table();
    assert_eq!(r.lookup("www.example.test", "/"), Some(0));
    assert_eq!(r.lookup("admin.example.test", "/x"), Some(6));
    assert_eq!(r.lookup("shop.example.test", "/x"), Some(2));
    assert_eq!(r.lookup("other.test", "/x"), Some(4));
}

#[test]
fn longest_prefix_on_segment_boundaries() {
    let (r, _) = table();
    assert_eq!(r.lookup("www.example.test", "/admin"), Some(1));
    assert_eq!(r.lookup("www.example.test", "/admin/"), Some(1));
    assert_eq!(r.lookup("www.example.test", "/admin/users/7"), Some(1));
    assert_eq!(r.lookup("www.example.test", "/administrator"), Some(0));
    assert_eq!(r.lookup("other.test", "/static/img/a.png"), Some(5));
    assert_eq!(r.lookup("other.test", "/static/imgs"), Some(4));
}

#[test]
fn more_specific_wildcard_first_and_fallthrough_when_no_prefix_matches() {
    let (r, _) = table();
    assert_eq!(r.lookup("x.api.example.test", "/v1/items"), Some(3));
    // *.api.example.test has no "/" route: falls through to *.example.test
    assert_eq!(r.lookup("x.api.example.test", "/v2"), Some(2));
}

#[test]
fn no_route_without_catch_all() {
    let routes = vec![route(&["a.test"], "/x")];
    let r = Router::build(&routes);
    assert_eq!(r.lookup("a.test", "/y"), None);
    assert_eq!(r.lookup("b.test", "/x"), None);
}

#[test]
fn host_normalisation() {
    assert_eq!(normalize_host("WWW.Example.TEST:8080"), "www.example.test");
    assert_eq!(normalize_host("www.example.test."), "www.example.test");
    assert_eq!(normalize_host("[::1]:8080"), "[::1]");
    assert!(matches!(
        normalize_host("plain.test"),
        std::borrow::Cow::Borrowed(_)
    ));
}

/// Reference semantics: a linear scan over all routes.
fn reference(routes: &[Route], host: &str, path: &str) -> Option<RouteId> {
    let level = |m: &HostMatch| -> Option<usize> {
        match m {
            HostMatch::Exact(h) if h == host => Some(usize::MAX),
            HostMatch::Wildcard(s) if host.ends_with(&format!(".{s}")) => Some(s.len()),
            HostMatch::Any => Some(0),
            _ => None,
        }
    };
    let prefix_ok = |p: &str| {
        p == "/"
            || path == p
            || (path.starts_with(p) && path.as_bytes().get(p.len()) == Some(&b'/'))
    };
    let mut best: Option<(usize, usize, usize)> = None; // (level, prefix len, -index)
    for (i, r) in routes.iter().enumerate() {
        for h in &r.hosts {
            if let Some(l) = level(h) {
                if prefix_ok(&r.path_prefix) {
                    let plen = if r.path_prefix == "/" {
                        0
                    } else {
                        r.path_prefix.len()
                    };
                    let key = (l, plen, usize::MAX - i);
                    if best.is_none_or(|b| key > b) {
                        best = Some(key);
                    }
                }
            }
        }
    }
    best.map(|(_, _, neg)| (usize::MAX - neg) as RouteId)
}

proptest! {
    /// The hashed router agrees with a linear scan, and does not depend on declaration order
    /// except for exact duplicates.
    #[test]
    fn agrees_with_linear_scan(
        specs in proptest::collection::vec((0usize..4, 0usize..4, 0usize..4), 1..12),
        host_pick in 0usize..5,
        path_pick in 0usize..6,
    ) {
        let hosts = ["a.example.test", "*.example.test", "*", "b.a.example.test"];
        let prefixes = ["/", "/x", "/x/y", "/z"];
        let mut seen = std::collections::HashSet::new();
        let routes: Vec<Route> = specs
            .iter()
            .filter(|(h, p, _)| seen.insert((*h, *p)))
            .map(|(h, p, _)| route(&[hosts[*h]], prefixes[*p]))
            .collect();
        let req_hosts = ["a.example.test", "b.a.example.test", "c.example.test", "other.test", "example.test"];
        let paths = ["/", "/x", "/x/", "/x/y/z", "/xy", "/z/1"];
        let r = Router::build(&routes);
        let host = req_hosts[host_pick];
        let path = paths[path_pick];
        prop_assert_eq!(r.lookup(host, path), reference(&routes, host, path));
    }
}
