//! Route matching: the hashed router against a linear-scan reference (the semantics of
//! `src/runtime/router/tests.rs`), and `normalize_host` on any Host value.
//!
//! Reference semantics: exact host > longest wildcard suffix > any; within a host level the
//! longest path prefix on segment boundaries; the next host level when no prefix matches;
//! the earliest route on exact duplicates.
#![no_main]

use arbitrary::Arbitrary;
use gatehouse::config::model::{HeaderRules, HostMatch, Route};
use gatehouse::runtime::router::normalize_host;
use gatehouse::runtime::{RouteId, Router};
use libfuzzer_sys::fuzz_target;
use std::borrow::Cow;

/// A label or segment: mostly from a tiny alphabet so routes and requests collide.
#[derive(Arbitrary, Debug)]
enum Word {
    Pick(u8),
    Raw(String),
}

const WORDS: &[&str] = &["a", "b", "ab", "x", "example", "test", ""];

impl Word {
    fn text(&self) -> &str {
        match self {
            Word::Pick(i) => WORDS[usize::from(*i) % WORDS.len()],
            Word::Raw(s) => s,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum HostSpec {
    Any,
    Exact(Vec<Word>),
    Wildcard(Vec<Word>),
}

#[derive(Arbitrary, Debug)]
struct RouteSpec {
    hosts: Vec<HostSpec>,
    prefix: Vec<Word>,
    trailing_slash: bool,
}

#[derive(Arbitrary, Debug)]
enum HostQuery {
    /// Built from labels, with the decorations a client may add.
    Labels {
        labels: Vec<Word>,
        upper: bool,
        port: Option<u16>,
        dot: bool,
    },
    /// Any Host header text.
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum PathQuery {
    Segments(Vec<Word>, bool),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    routes: Vec<RouteSpec>,
    queries: Vec<(HostQuery, PathQuery)>,
}

/// A host pattern name as the validator accepts it (lowercase labels of [a-z0-9_-]).
fn valid_name(labels: &[Word]) -> Option<String> {
    let name = labels
        .iter()
        .map(Word::text)
        .collect::<Vec<_>>()
        .join(".")
        .to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    (!name.is_empty() && name.len() <= 253 && name.split('.').all(label_ok)).then_some(name)
}

/// A path prefix as the validator normalises it.
fn valid_prefix(segs: &[Word], trailing: bool) -> Option<String> {
    let mut p: String = segs.iter().flat_map(|s| ["/", s.text()]).collect();
    if p.is_empty() || trailing {
        p.push('/');
    }
    if p.contains(['?', '#', ' ']) {
        return None;
    }
    let t = p.trim_end_matches('/');
    Some(if t.is_empty() { "/".into() } else { t.into() })
}

fn route(hosts: Vec<HostMatch>, prefix: String) -> Route {
    Route {
        name: String::new(),
        hosts,
        path_prefix: prefix,
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
        path_match: Default::default(),
        conditions: Default::default(),
        actions: Default::default(),
        timeouts: Default::default(),
        max_retries: None,
    }
}

/// Linear scan over all routes (copied from the unit tests' reference).
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
    let mut best: Option<(usize, usize, usize)> = None;
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

fn check_normalize_host(raw: &str) -> Cow<'_, str> {
    let n = normalize_host(raw);
    assert!(
        !n.bytes().any(|b| b.is_ascii_uppercase()),
        "{raw:?} -> {n:?}"
    );
    // Borrowed when it was already normal (the common case must not allocate).
    if !raw.bytes().any(|b| b.is_ascii_uppercase()) {
        assert!(matches!(n, Cow::Borrowed(_)), "{raw:?} -> {n:?}");
    }
    // It is a lowercased prefix of the input: only a port and one trailing dot go.
    assert!(
        raw.to_ascii_lowercase().starts_with(&*n),
        "{raw:?} -> {n:?}"
    );
    if !raw.starts_with('[') && !raw.contains(':') && !raw.ends_with('.') {
        assert_eq!(n, raw.to_ascii_lowercase());
    }
    n
}

fuzz_target!(|input: Input| {
    let mut routes = Vec::new();
    for spec in &input.routes {
        let mut hosts = Vec::new();
        for h in &spec.hosts {
            match h {
                HostSpec::Any => hosts.push(HostMatch::Any),
                HostSpec::Exact(l) => hosts.extend(valid_name(l).map(HostMatch::Exact)),
                HostSpec::Wildcard(l) => hosts.extend(valid_name(l).map(HostMatch::Wildcard)),
            }
        }
        if hosts.is_empty() {
            hosts.push(HostMatch::Any);
        }
        if let Some(prefix) = valid_prefix(&spec.prefix, spec.trailing_slash) {
            routes.push(route(hosts, prefix));
        }
    }
    let router = Router::build(&routes);
    for (h, p) in &input.queries {
        let raw_host = match h {
            HostQuery::Labels {
                labels,
                upper,
                port,
                dot,
            } => {
                let mut s = labels.iter().map(Word::text).collect::<Vec<_>>().join(".");
                if *upper {
                    s = s.to_ascii_uppercase();
                }
                if *dot {
                    s.push('.');
                }
                if let Some(port) = port {
                    s.push_str(&format!(":{port}"));
                }
                s
            }
            HostQuery::Raw(s) => s.clone(),
        };
        let host = check_normalize_host(&raw_host);
        let path = match p {
            PathQuery::Segments(segs, trailing) => {
                let mut s: String = segs.iter().flat_map(|w| ["/", w.text()]).collect();
                if s.is_empty() || *trailing {
                    s.push('/');
                }
                s
            }
            PathQuery::Raw(s) => s.clone(),
        };
        assert_eq!(
            router.lookup(&host, &path, &gatehouse::runtime::router::RequestFacts::bare("GET")),
            reference(&routes, &host, &path),
            "host {host:?} path {path:?}"
        );
    }
});
