//! Route matching beyond host and prefix: `path_exact`, `path_regex`, `methods`,
//! `match_headers`, `match_query` and `match_client`. Regexes are compiled here, once per
//! load; a bad one is reported with its key and line.

use super::Report;
use crate::config::raw;
use crate::config::route_match::{
    Conditions, HeaderCondition, PathMatch, Pattern, QueryCondition, ValueMatch,
};
use crate::config::spans::{child, index};

/// Compiled program size allowed per regex (the `regex` crate's default is 10 MiB; a route
/// regex that needs more is a mistake, and 1,000 of them must fit in memory).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Compiles `text` at `key`, reporting a bad regex there.
pub(crate) fn pattern(key: &str, text: &str, report: &mut Report<'_>) -> Option<Pattern> {
    match regex::RegexBuilder::new(text)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
    {
        Ok(r) => Some(Pattern(r)),
        Err(e) => {
            let why = e
                .to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            report.error(key, format!("invalid regex {text:?}: {why}"));
            None
        }
    }
}

/// The path rule of a route (only one of `path_prefix`, `path_exact`, `path_regex`).
pub(super) fn path_match(path: &str, r: &raw::Route, report: &mut Report<'_>) -> PathMatch {
    let set: Vec<&str> = [
        ("path_prefix", r.path_prefix.is_some()),
        ("path_exact", r.path_exact.is_some()),
        ("path_regex", r.path_regex.is_some()),
    ]
    .iter()
    .filter(|(_, s)| *s)
    .map(|(k, _)| *k)
    .collect();
    if set.len() > 1 {
        report.error(
            &child(path, set[1]),
            format!(
                "use one of path_prefix, path_exact and path_regex (also {})",
                set[0]
            ),
        );
    }
    if r.strip_prefix == Some(true) && r.path_prefix.is_none() && set.len() == 1 {
        report.error(
            &child(path, "strip_prefix"),
            format!("applies to path_prefix only, not {}", set[0]),
        );
    }
    if let Some(exact) = &r.path_exact {
        if !exact.starts_with('/') {
            report.error(
                &child(path, "path_exact"),
                format!("{exact:?} must be a path starting with '/'"),
            );
        }
        return PathMatch::Exact(exact.clone());
    }
    if let Some(text) = &r.path_regex {
        return pattern(&child(path, "path_regex"), text, report)
            .map_or(PathMatch::Prefix, PathMatch::Regex);
    }
    PathMatch::Prefix
}

/// The method, header, query and client conditions of a route.
pub(super) fn conditions(path: &str, r: &raw::Route, report: &mut Report<'_>) -> Conditions {
    let mut c = Conditions::default();
    for (i, m) in r.methods.iter().flatten().enumerate() {
        let upper = m.to_ascii_uppercase();
        match http::Method::from_bytes(upper.as_bytes()) {
            Ok(method) if !upper.is_empty() => c.methods.push(method),
            _ => report.error(
                &index(&child(path, "methods"), i),
                format!("{m:?} is not a method"),
            ),
        }
    }
    let hpath = child(path, "match_headers");
    for (i, h) in r.match_headers.iter().flatten().enumerate() {
        let key = index(&hpath, i);
        let Some(name) = named(&key, h, report) else {
            continue;
        };
        let Ok(name) = http::HeaderName::from_bytes(name.as_bytes()) else {
            report.error(
                &child(&key, "name"),
                format!("{name:?} is not a header name"),
            );
            continue;
        };
        let value = match (&h.value, &h.regex) {
            (Some(_), Some(_)) => {
                report.error(&child(&key, "regex"), "use value or regex, not both");
                continue;
            }
            (Some(v), None) => ValueMatch::Exact(v.clone()),
            (None, Some(re)) => match pattern(&child(&key, "regex"), re, report) {
                Some(p) => ValueMatch::Regex(p),
                None => continue,
            },
            (None, None) => ValueMatch::Present,
        };
        c.headers.push(HeaderCondition { name, value });
    }
    let qpath = child(path, "match_query");
    for (i, q) in r.match_query.iter().flatten().enumerate() {
        let key = index(&qpath, i);
        let Some(name) = named(&key, q, report) else {
            continue;
        };
        if q.regex.is_some() {
            report.error(
                &child(&key, "regex"),
                "query parameters match by presence or exact value",
            );
        }
        c.query.push(QueryCondition {
            name: name.to_string(),
            value: q.value.clone(),
        });
    }
    c.clients = super::cidrs(
        &child(path, "match_client"),
        r.match_client.as_deref(),
        report,
    );
    c
}

fn named<'r>(key: &str, m: &'r raw::MatchValue, report: &mut Report<'_>) -> Option<&'r str> {
    match m.name.as_deref() {
        Some(n) if !n.is_empty() => Some(n),
        _ => {
            report.error(&child(key, "name"), "is required");
            None
        }
    }
}

/// What a route's path rule claims, for finding unreachable duplicates: `None` for regexes
/// (two regexes are never assumed equal) and for routes with conditions (they fall through).
pub(super) fn claim(
    route_path: &PathMatch,
    prefix: &str,
    conditions: &Conditions,
) -> Option<String> {
    if !conditions.is_empty() {
        return None;
    }
    match route_path {
        PathMatch::Prefix => Some(format!("path prefix {prefix:?}")),
        PathMatch::Exact(p) => Some(format!("exact path {p:?}")),
        PathMatch::Regex(_) => None,
    }
}
