//! Route actions on the request path, shared by both engines: the path a backend gets
//! (`path_rewrite` with `path_regex` captures) and the local answers (`redirect`, `respond`).

use crate::runtime::snapshot::RouteEntry;
use std::borrow::Cow;

/// `template` with the route's `path_regex` captures of `path` (`$1`, `${1}`, `${name}`;
/// `$$` is a literal `$`). Without a regex, or if it does not match, the template as is.
fn expand(route: &RouteEntry, path: &str, template: &str) -> String {
    let caps = route.path_regex().and_then(|re| re.captures(path));
    match caps {
        Some(caps) => {
            let mut out = String::with_capacity(template.len() + path.len());
            caps.expand(template, &mut out);
            out
        }
        None => template.replace("$$", "$"),
    }
}

/// The path to forward: rewritten by `path_rewrite`, else `path` itself (borrowed).
pub fn backend_path<'a>(route: &RouteEntry, path: &'a str) -> Cow<'a, str> {
    match &route.extras.actions.path_rewrite {
        Some(template) => {
            let rewritten = expand(route, path, template);
            Cow::Owned(if rewritten.is_empty() {
                "/".to_string()
            } else {
                rewritten
            })
        }
        None => Cow::Borrowed(path),
    }
}

/// The route's redirect for this request, if it has one: status and `Location`.
pub fn redirect(route: &RouteEntry, path: &str, query: Option<&str>) -> Option<(u16, String)> {
    let rule = route.extras.actions.redirect.as_ref()?;
    let mut location = expand(route, path, &rule.to);
    if let Some(q) = query.filter(|q| rule.keep_query && !q.is_empty()) {
        location.push(if location.contains('?') { '&' } else { '?' });
        location.push_str(q);
    }
    Some((rule.status, location))
}
