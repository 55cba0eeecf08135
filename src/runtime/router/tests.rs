use super::*;
use crate::config::model::Route;
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
        client_auth_required: false,
        metrics: false,
        extras: Default::default(),
    }
}

const GET: RequestFacts<'static> = RequestFacts {
    method: "GET",
    query: None,
    client: None,
    fields: &NoHeaders,
};

struct NoHeaders;

impl crate::runtime::balance::key::Fields for NoHeaders {
    fn each(&self, _: &str, _: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        false
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
    assert_eq!(r.lookup("www.example.test", "/", &GET), Some(0));
    assert_eq!(r.lookup("admin.example.test", "/x", &GET), Some(6));
    assert_eq!(r.lookup("shop.example.test", "/x", &GET), Some(2));
    assert_eq!(r.lookup("other.test", "/x", &GET), Some(4));
}

#[test]
fn longest_prefix_on_segment_boundaries() {
    let (r, _) = table();
    assert_eq!(r.lookup("www.example.test", "/admin", &GET), Some(1));
    assert_eq!(r.lookup("www.example.test", "/admin/", &GET), Some(1));
    assert_eq!(
        r.lookup("www.example.test", "/admin/users/7", &GET),
        Some(1)
    );
    assert_eq!(
        r.lookup("www.example.test", "/administrator", &GET),
        Some(0)
    );
    assert_eq!(r.lookup("other.test", "/static/img/a.png", &GET), Some(5));
    assert_eq!(r.lookup("other.test", "/static/imgs", &GET), Some(4));
}

#[test]
fn more_specific_wildcard_first_and_fallthrough_when_no_prefix_matches() {
    let (r, _) = table();
    assert_eq!(r.lookup("x.api.example.test", "/v1/items", &GET), Some(3));
    // *.api.example.test has no "/" route: falls through to *.example.test
    assert_eq!(r.lookup("x.api.example.test", "/v2", &GET), Some(2));
}

#[test]
fn no_route_without_catch_all() {
    let routes = vec![route(&["a.test"], "/x")];
    let r = Router::build(&routes);
    assert_eq!(r.lookup("a.test", "/y", &GET), None);
    assert_eq!(r.lookup("b.test", "/x", &GET), None);
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

/// The byte-wise [`normalize_host`] agrees with the `str`-method version it replaced.
#[test]
fn host_normalisation_matches_the_string_method_version() {
    fn by_str_methods(raw: &str) -> String {
        let without_port = if raw.starts_with('[') {
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
        trimmed.to_ascii_lowercase()
    }
    let parts = [
        "", "a", "A.", ".", ":", "80", ":80", "[", "]", "::1", "é", "É", "x:y", "1",
    ];
    for a in parts {
        for b in parts {
            for c in parts {
                let raw = format!("{a}{b}{c}");
                assert_eq!(normalize_host(&raw), by_str_methods(&raw), "{raw:?}");
            }
        }
    }
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
        prop_assert_eq!(r.lookup(host, path, &GET), reference(&routes, host, path));
    }
}

/// Routes of a config text, and their router.
fn configured(routes: &str) -> (Router, Vec<Route>) {
    let text = format!(
        "[listeners.http]\naddress = \"127.0.0.1:8080\"\n[pools.p]\nbackends = [{{ address = \"127.0.0.1:9001\" }}]\n{routes}"
    );
    let v = crate::config::validate::validate_text(&text).unwrap();
    let routes: Vec<Route> = v.config.routes.iter().map(|r| Route::clone(r)).collect();
    (Router::build(&routes), routes)
}

struct Headers(Vec<(&'static str, &'static str)>);

impl crate::runtime::balance::key::Fields for Headers {
    fn each(&self, name: &str, visit: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.0
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .any(|(_, v)| visit(v.as_bytes()))
    }
}

#[test]
fn precedence_exact_then_regex_then_prefix_and_conditions_first() {
    let (r, routes) = configured(
        r#"
[routes.any]
pool = "p"
[routes.api]
path_prefix = "/api"
pool = "p"
[routes.api_post]
path_prefix = "/api"
methods = ["POST"]
pool = "p"
[routes.user]
path_regex = "^/api/users/[0-9]+$"
pool = "p"
[routes.login]
path_exact = "/api/users/1"
pool = "p"
[routes.beta]
path_prefix = "/api"
match_headers = [{ name = "x-env", value = "beta" }]
pool = "p"
[routes.curl]
path_prefix = "/api"
match_headers = [{ name = "user-agent", regex = "^curl/" }, { name = "x-debug" }]
pool = "p"
[routes.v2]
path_prefix = "/api"
match_query = [{ name = "v", value = "2" }]
pool = "p"
[routes.office]
path_prefix = "/api"
match_client = ["10.0.0.0/8"]
pool = "p"
"#,
    );
    let name = |id: Option<RouteId>| routes[id.unwrap() as usize].name.clone();
    let none = Headers(vec![]);
    let facts = |method, query, client: Option<&str>, fields| RequestFacts {
        method,
        query,
        client: client.map(|c| c.parse().unwrap()),
        fields,
    };
    let get = facts("GET", None, None, &none);
    assert_eq!(name(r.lookup("h", "/x", &get)), "any");
    assert_eq!(name(r.lookup("h", "/api/x", &get)), "api");
    assert_eq!(name(r.lookup("h", "/api/users/1", &get)), "login");
    assert_eq!(name(r.lookup("h", "/api/users/2", &get)), "user");
    assert_eq!(name(r.lookup("h", "/api/users/x", &get)), "api");
    let post = facts("POST", None, None, &none);
    assert_eq!(name(r.lookup("h", "/api/x", &post)), "api_post");
    let beta = Headers(vec![("X-Env", "beta")]);
    assert_eq!(
        name(r.lookup("h", "/api", &facts("GET", None, None, &beta))),
        "beta"
    );
    let gamma = Headers(vec![("x-env", "gamma")]);
    assert_eq!(
        name(r.lookup("h", "/api", &facts("GET", None, None, &gamma))),
        "api"
    );
    let curl = Headers(vec![("user-agent", "curl/8"), ("x-debug", "")]);
    assert_eq!(
        name(r.lookup("h", "/api", &facts("GET", None, None, &curl))),
        "curl"
    );
    let curl_only = Headers(vec![("user-agent", "curl/8")]);
    assert_eq!(
        name(r.lookup("h", "/api", &facts("GET", None, None, &curl_only))),
        "api"
    );
    assert_eq!(
        name(r.lookup("h", "/api", &facts("GET", Some("a=1&v=2"), None, &none))),
        "v2"
    );
    assert_eq!(
        name(r.lookup("h", "/api", &facts("GET", Some("v=22"), None, &none))),
        "api"
    );
    let office = facts("GET", None, Some("10.1.2.3"), &none);
    assert_eq!(name(r.lookup("h", "/api", &office)), "office");
    let outside = facts("GET", None, Some("192.0.2.1"), &none);
    assert_eq!(name(r.lookup("h", "/api", &outside)), "api");
}

#[test]
fn a_bad_regex_is_a_check_error_with_its_line() {
    let text = "[listeners.http]\naddress = \"127.0.0.1:8080\"\n[pools.p]\nbackends = [{ address = \"127.0.0.1:9001\" }]\n[routes.r]\npool = \"p\"\npath_regex = \"^/(a\"\nmatch_headers = [{ name = \"x\", regex = \"[\" }]\n";
    let e = crate::config::validate::validate_text(text)
        .unwrap_err()
        .to_string();
    assert!(
        e.lines().any(
            |l| l.contains("routes.r.path_regex: invalid regex \"^/(a\"")
                && l.ends_with("at line 7")
        ),
        "{e}"
    );
    assert!(
        e.lines().any(
            |l| l.contains("routes.r.match_headers[0].regex: invalid regex")
                && l.ends_with("at line 8")
        ),
        "{e}"
    );
}
