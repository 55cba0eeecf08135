//! `[routes.*]`: host and path matches, their pool, header rules, redirect and HSTS.

use super::lenient::Named;
use super::listeners::hsts_value;
use super::{required, Report};
use crate::config::model::{Extras, HeaderRules, HostMatch, Pool, Route, RouteExtras, Upgrades};
use crate::config::raw;
use crate::config::spans::{child, index};
use http::{HeaderName, HeaderValue};
use std::collections::HashMap;

/// Headers whose rewriting would break message framing or connection handling.
const FORBIDDEN_HEADERS: &[&str] = &[
    "connection",
    "content-length",
    "transfer-encoding",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// `unreadable_pools`: pools in the file that are not a table (reported already), so a route
/// naming one is not told the pool is unknown. `https_configured`: the file has an https
/// listener, possibly one with errors of its own.
pub(super) fn validate(
    raw: Named<raw::Route>,
    pools: &[Pool],
    unreadable_pools: &[String],
    https_configured: bool,
    client_auth_configured: bool,
    report: &mut Report<'_>,
) -> Vec<std::sync::Arc<Route>> {
    let mut out = Vec::new();
    // (host, prefix) → route that claimed it first, to find unreachable duplicates.
    let mut claimed: HashMap<(HostMatch, String), String> = HashMap::new();
    // Pool name → index, and which pools some route uses: lookups, not scans (100,000 routes
    // over 10,000 pools).
    let pool_index: HashMap<&str, usize> = pools
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    let mut used = vec![false; pools.len()];
    if raw.is_empty() {
        report.error(
            "routes",
            "no routes: add at least one, e.g. [routes.default] pool = \"<pool name>\"",
        );
    }
    for (name, r) in raw.entries {
        let path = child("routes", &name);
        let pool_name = required(report, &path, "pool", r.pool.as_ref(), "\"<pool name>\"");
        let pool = pool_name.and_then(|wanted| pool_index.get(wanted.as_str()).copied());
        if let Some(wanted) = pool_name.filter(|w| pool.is_none() && !unreadable_pools.contains(w))
        {
            let known: Vec<&str> = pools.iter().map(|p| p.name.as_str()).collect();
            let suggestion = super::suggest::did_you_mean_value(wanted, &known);
            report.error(
                &child(&path, "pool"),
                format!(
                    "unknown pool {wanted:?} (known: {}){suggestion}",
                    known_list(&known)
                ),
            );
        }
        let hosts = hosts(&path, &r.hosts, report);
        // A refused `hosts` or `path_prefix` reads as "any host" or "/": claiming that would
        // call other routes unreachable because of an error reported already.
        let claim_ok = r.path_prefix.as_deref().is_none_or(valid_prefix)
            && !report.refused(&child(&path, "hosts"))
            && !report.refused(&child(&path, "path_prefix"));
        let prefix = path_prefix(&path, r.path_prefix.as_deref(), report);
        let path_match = super::matching::path_match(&path, &r, report);
        let conditions = super::matching::conditions(&path, &r, report);
        let claim = super::matching::claim(&path_match, &prefix, &conditions);
        for host in hosts.iter().filter(|_| claim_ok) {
            let Some(claim) = &claim else { break };
            let key = (host.clone(), claim.clone());
            if let Some(first) = claimed.get(&key) {
                report.error(
                    &path,
                    format!(
                        "unreachable: routes.{first} already matches host {} with {claim}",
                        describe_host(host)
                    ),
                );
            } else {
                claimed.insert(key, name.clone());
            }
        }
        let strip_prefix = r.strip_prefix.unwrap_or(false);
        if strip_prefix && prefix == "/" {
            report.warn(
                &child(&path, "strip_prefix"),
                "has no effect with path_prefix \"/\"",
            );
        }
        let redirect_https = r.redirect_https.unwrap_or(false);
        if redirect_https && !https_configured {
            report.error(
                &child(&path, "redirect_https"),
                "there is no https listener to redirect to",
            );
        }
        let hsts = r
            .hsts
            .as_ref()
            .and_then(|h| hsts_value(&child(&path, "hsts"), h, report));
        let mut request_headers = header_rules(
            &child(&path, "request_headers"),
            &r.request_headers,
            true,
            report,
        );
        super::actions::host_rewrite(&path, &r, &mut request_headers, report);
        let actions = super::actions::actions(&path, &r, &path_match, report);
        let timeouts = super::actions::timeouts(&path, r.timeouts.as_ref(), report);
        let response_headers = header_rules(
            &child(&path, "response_headers"),
            &r.response_headers,
            false,
            report,
        );
        let allow = super::cidrs(&child(&path, "allow"), r.allow.as_deref(), report);
        let deny = super::cidrs(&child(&path, "deny"), r.deny.as_deref(), report);
        let upgrades = upgrades(&child(&path, "upgrades"), r.upgrades.as_deref(), report);
        let client_auth_required = r
            .client_auth
            .as_deref()
            .and_then(|v| {
                super::suggest::choice(
                    report,
                    &child(&path, "client_auth"),
                    "client_auth",
                    v,
                    &[("required", true), ("none", false)],
                )
            })
            .unwrap_or(false);
        if client_auth_required && !client_auth_configured {
            report.error(
                &child(&path, "client_auth"),
                "no listener asks for client certificates: set client_auth = \"optional\" (or \"required\") and client_ca on an https listener",
            );
        }
        if r.max_body_size == Some(0) {
            report.warn(
                &child(&path, "max_body_size"),
                "0 refuses every request with a body",
            );
        }
        let rate_limit = r.rate_limit.as_ref().and_then(|rl| {
            let rpath = child(&path, "rate_limit");
            let per_second = *required(
                report,
                &rpath,
                "requests_per_second",
                rl.requests_per_second.as_ref(),
                "10",
            )?;
            if !(per_second > 0.0 && per_second.is_finite()) {
                report.error(
                    &child(&rpath, "requests_per_second"),
                    "must be greater than zero",
                );
                return None;
            }
            let burst = rl
                .burst
                .unwrap_or_else(|| per_second.ceil().max(1.0) as u32);
            if burst == 0 {
                report.error(&child(&rpath, "burst"), "must be at least 1");
                return None;
            }
            Some(crate::config::model::RateLimitSettings { per_second, burst })
        });
        if let Some(pool) = pool {
            used[pool] = true;
            // Each route in its own allocation, shared later with the request path's entry.
            out.push(std::sync::Arc::new(Route {
                name,
                hosts,
                path_prefix: prefix,
                pool,
                strip_prefix,
                redirect_https,
                client_auth_required,
                metrics: r.metrics.unwrap_or(false),
                extras: Extras::new(RouteExtras {
                    hsts,
                    request_headers,
                    response_headers,
                    max_body_size: r.max_body_size,
                    allow,
                    deny,
                    rate_limit,
                    upgrades,
                    path_match,
                    conditions,
                    actions,
                    timeouts,
                    max_retries: r.max_retries.map(|m| m.min(16)),
                }),
            }));
        }
    }
    for (p, used) in pools.iter().zip(used) {
        if !used {
            report.warn(&child("pools", &p.name), "no route uses this pool");
        }
    }
    out
}

fn known_list(names: &[&str]) -> String {
    if names.is_empty() {
        "none defined".to_string()
    } else {
        names.join(", ")
    }
}

fn describe_host(h: &HostMatch) -> String {
    match h {
        HostMatch::Any => "(any)".to_string(),
        HostMatch::Exact(e) => format!("{e:?}"),
        HostMatch::Wildcard(s) => format!("\"*.{s}\""),
    }
}

fn hosts(path: &str, raw: &[String], report: &mut Report<'_>) -> Vec<HostMatch> {
    if raw.is_empty() {
        return vec![HostMatch::Any];
    }
    let mut out = Vec::new();
    for (i, h) in raw.iter().enumerate() {
        let hpath = index(&child(path, "hosts"), i);
        match parse_host_pattern(h) {
            Ok(m) if out.contains(&m) => report.warn(&hpath, format!("{h:?} is listed twice")),
            Ok(m) => out.push(m),
            Err(msg) => report.error(&hpath, msg),
        }
    }
    out
}

/// `"www.example.test"`, `"*.example.test"` or `"*"` → normalised (lowercase, no trailing dot).
pub(crate) fn parse_host_pattern(h: &str) -> Result<HostMatch, String> {
    let lower = h.trim().trim_end_matches('.').to_ascii_lowercase();
    if lower == "*" {
        return Ok(HostMatch::Any);
    }
    if lower.contains(':') {
        return Err(format!(
            "{h:?}: host patterns match the name only; remove the port (the Host header's port is ignored)"
        ));
    }
    let (wild, name) = match lower.strip_prefix("*.") {
        Some(rest) => (true, rest.to_string()),
        None => (false, lower.clone()),
    };
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(valid_label) {
        return Err(format!(
            "{h:?} is not a host name or a wildcard like \"*.example.test\" (a '*' may only stand for the whole first label)"
        ));
    }
    Ok(if wild {
        HostMatch::Wildcard(name)
    } else {
        HostMatch::Exact(name)
    })
}

/// Normalises a path prefix: must start with `/`; a trailing `/` is dropped (except for `/`),
/// since matching is on segment boundaries anyway.
fn valid_prefix(p: &str) -> bool {
    p.starts_with('/') && !p.contains(['?', '#', ' '])
}

fn path_prefix(path: &str, raw: Option<&str>, report: &mut Report<'_>) -> String {
    let p = raw.unwrap_or("/");
    if !valid_prefix(p) {
        report.error(
            &child(path, "path_prefix"),
            format!("{p:?} must be a path starting with '/' (no query or fragment)"),
        );
        return "/".to_string();
    }
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else {
        trimmed.to_string()
    }
}

fn header_rules(
    path: &str,
    raw: &raw::HeaderRules,
    is_request: bool,
    report: &mut Report<'_>,
) -> HeaderRules {
    let mut rules = HeaderRules::default();
    let name = |p: &str, n: &str, report: &mut Report<'_>| -> Option<HeaderName> {
        let Ok(hn) = HeaderName::from_bytes(n.as_bytes()) else {
            report.error(p, format!("{n:?} is not a valid header name"));
            return None;
        };
        if FORBIDDEN_HEADERS.contains(&hn.as_str()) {
            report.error(
                p,
                format!("{n:?} controls message framing and cannot be rewritten"),
            );
            return None;
        }
        if hn == http::header::HOST && !is_request {
            report.error(p, "Host is a request header");
            return None;
        }
        Some(hn)
    };
    for (i, n) in raw.remove.iter().enumerate() {
        let p = index(&child(path, "remove"), i);
        if let Some(hn) = name(&p, n, report) {
            if hn == http::header::HOST {
                report.error(&p, "the Host header cannot be removed; set it instead");
                continue;
            }
            rules.remove.push(hn);
        }
    }
    for (key, map, target) in [
        ("set", &raw.set, &mut rules.set),
        ("add", &raw.add, &mut rules.add),
    ] {
        for (n, v) in map {
            let p = child(&child(path, key), n);
            let Some(hn) = name(&p, n, report) else {
                continue;
            };
            if key == "add" && hn == http::header::HOST {
                report.error(
                    &p,
                    "a request has exactly one Host header: set it instead of adding one",
                );
                continue;
            }
            match HeaderValue::from_str(v) {
                Ok(hv) => target.push((hn, hv)),
                Err(_) => report.error(&p, format!("{v:?} is not a valid header value")),
            }
        }
    }
    rules
}

/// The upgrade protocols a route lets through: tokens, lowercased; never `h2c` (HTTP/2 over
/// cleartext is served as HTTP/2, not tunnelled).
fn upgrades(path: &str, raw: Option<&[String]>, report: &mut Report<'_>) -> Upgrades {
    let Some(raw) = raw else {
        return Upgrades::WEBSOCKET;
    };
    let mut out = Vec::new();
    for (i, token) in raw.iter().enumerate() {
        let entry = format!("{path}[{i}]");
        let valid = !token.is_empty()
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid {
            report.error(&entry, format!("{token:?} is not a protocol name"));
        } else if token.eq_ignore_ascii_case("h2c") {
            report.error(
                &entry,
                "h2c cannot be tunnelled: enable `h2c` on the listener to serve cleartext HTTP/2",
            );
        } else {
            out.push(token.to_ascii_lowercase());
        }
    }
    Upgrades::listed(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns() {
        assert_eq!(
            parse_host_pattern("WWW.Example.Test."),
            Ok(HostMatch::Exact("www.example.test".into()))
        );
        assert_eq!(
            parse_host_pattern("*.example.test"),
            Ok(HostMatch::Wildcard("example.test".into()))
        );
        assert_eq!(parse_host_pattern("*"), Ok(HostMatch::Any));
        assert!(parse_host_pattern("www.*.test").is_err());
        assert!(parse_host_pattern("www.example.test:8080").is_err());
        assert!(parse_host_pattern("").is_err());
        assert!(parse_host_pattern("a..b").is_err());
    }
}
