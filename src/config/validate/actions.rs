//! Route actions: `respond` (a fixed answer), `redirect` (with `path_regex` captures),
//! `path_rewrite` (captures too) and `host_rewrite` (the `Host` sent to the backend).

use super::Report;
use crate::config::model::HeaderRules;
use crate::config::raw;
use crate::config::route_match::{Actions, FixedResponse, PathMatch, RedirectRule, RouteTimeouts};
use crate::config::spans::child;

/// Checks the actions of route `path`; `path_match` says whether captures are available.
pub(super) fn actions(
    path: &str,
    r: &raw::Route,
    path_match: &PathMatch,
    report: &mut Report<'_>,
) -> Actions {
    let mut a = Actions::default();
    if r.respond.is_some() && r.redirect.is_some() {
        report.error(
            &child(path, "redirect"),
            "use respond or redirect, not both",
        );
    }
    if let Some(f) = &r.respond {
        let rpath = child(path, "respond");
        let status = f.status.unwrap_or(200);
        if !(200..=599).contains(&status) {
            report.error(&child(&rpath, "status"), "must be between 200 and 599");
        }
        let content_type = f
            .content_type
            .clone()
            .unwrap_or_else(|| "text/plain; charset=utf-8".into());
        if http::HeaderValue::from_str(&content_type).is_err() {
            report.error(
                &child(&rpath, "content_type"),
                format!("{content_type:?} is not a valid header value"),
            );
        }
        a.respond = Some(FixedResponse {
            status,
            body: f.body.clone().unwrap_or_default(),
            content_type,
        });
    }
    if let Some(rd) = &r.redirect {
        let rpath = child(path, "redirect");
        let status = rd.status.unwrap_or(301);
        if ![301, 302, 303, 307, 308].contains(&status) {
            report.error(
                &child(&rpath, "status"),
                "must be 301, 302, 303, 307 or 308",
            );
        }
        match rd.to.as_deref() {
            None | Some("") => report.error(
                &child(&rpath, "to"),
                "is required (e.g. \"https://www.example.com$1\" with path_regex = \"^(.*)$\")",
            ),
            Some(to) => {
                template(&child(&rpath, "to"), to, path_match, report);
                a.redirect = Some(RedirectRule {
                    status,
                    to: to.to_string(),
                    keep_query: rd.keep_query.unwrap_or(true),
                });
            }
        }
    }
    if let Some(to) = &r.path_rewrite {
        let key = child(path, "path_rewrite");
        if !matches!(path_match, PathMatch::Regex(_)) {
            report.error(
                &key,
                "needs path_regex (its captures fill the template; use strip_prefix with path_prefix)",
            );
        } else if !to.starts_with('/') && !to.starts_with('$') {
            report.error(&key, format!("{to:?} must start with '/' (or a capture)"));
        } else {
            a.path_rewrite = Some(to.clone());
        }
    }
    a
}

/// `host_rewrite` as a request-header rule: `Host` set to the value.
pub(super) fn host_rewrite(
    path: &str,
    r: &raw::Route,
    rules: &mut HeaderRules,
    report: &mut Report<'_>,
) {
    let Some(host) = &r.host_rewrite else {
        return;
    };
    let key = child(path, "host_rewrite");
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b));
    match http::HeaderValue::from_str(host) {
        Ok(v) if valid => {
            if rules.set.iter().any(|(n, _)| n == http::header::HOST) {
                report.error(&key, "request_headers already sets Host");
                return;
            }
            rules.set.push((http::header::HOST, v));
        }
        _ => report.error(
            &key,
            format!("{host:?} is not a host name (with an optional port)"),
        ),
    }
}

/// `[routes.<name>.timeouts]`: each set one must be positive.
pub(super) fn timeouts(
    path: &str,
    raw: Option<&raw::RouteTimeouts>,
    report: &mut Report<'_>,
) -> RouteTimeouts {
    let Some(t) = raw else {
        return RouteTimeouts::default();
    };
    let tpath = child(path, "timeouts");
    let mut one = |key: &str, v: Option<crate::config::duration::ConfigDuration>| {
        v.map(|_| {
            super::positive(
                report,
                &child(&tpath, key),
                v,
                std::time::Duration::from_secs(60),
            )
        })
    };
    RouteTimeouts {
        read: one("read", t.read),
        write: one("write", t.write),
        response: one("response", t.response),
    }
}

/// A template's `$` references need `path_regex` captures.
fn template(key: &str, to: &str, path_match: &PathMatch, report: &mut Report<'_>) {
    if to.contains('$') && !matches!(path_match, PathMatch::Regex(_)) {
        report.error(
            key,
            "captures ($1, ${name}) need path_regex; write $$ for a literal $",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::validate_text;

    fn errors(route: &str) -> Vec<String> {
        let text = format!(
            "[listeners.http]\naddress = \"127.0.0.1:8080\"\n[pools.p]\nbackends = [{{ address = \"127.0.0.1:9001\" }}]\n[routes.r]\npool = \"p\"\n{route}\n"
        );
        match validate_text(&text) {
            Ok(_) => Vec::new(),
            Err(e) => e.to_string().lines().map(str::to_string).collect(),
        }
    }

    #[test]
    fn actions_are_checked_with_key_and_line() {
        assert!(errors(
            "path_regex = \"^/a/(.*)$\"\npath_rewrite = \"/b/$1\"\nhost_rewrite = \"x.internal\""
        )
        .is_empty());
        let cases = [
            (
                "path_rewrite = \"/b\"",
                "routes.r.path_rewrite: needs path_regex",
                7,
            ),
            (
                "redirect = { to = \"/x/$1\" }",
                "routes.r.redirect.to: captures",
                7,
            ),
            (
                "redirect = { to = \"/x\", status = 200 }",
                "routes.r.redirect.status: must be 301",
                7,
            ),
            (
                "respond = { status = 99 }",
                "routes.r.respond.status: must be between 200 and 599",
                7,
            ),
            (
                "host_rewrite = \"a b\"",
                "routes.r.host_rewrite: \"a b\" is not a host name",
                7,
            ),
            (
                "respond = { status = 503 }\nredirect = { to = \"/\" }",
                "routes.r.redirect: use respond or redirect, not both",
                8,
            ),
        ];
        for (route, want, line) in cases {
            let e = errors(route);
            assert!(
                e.iter()
                    .any(|l| l.contains(want) && l.ends_with(&format!("at line {line}"))),
                "{route}: {e:?}"
            );
        }
    }
}
