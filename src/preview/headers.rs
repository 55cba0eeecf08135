//! What the preview says about header values the samples did not keep.
//!
//! A sample records each name it looked for ([`super::sampled::SampledHeaders`]), with its
//! values or as absent; a name it did not look for (not in the set when it was recorded, a
//! secret, or over the per-sample budget) is *unsampled*, and the preview says so for routes
//! that match on it rather than report a share it cannot know ([`unsampled_notes`]).

use super::ring::Sample;
use super::sampled::is_secret;
use crate::config::model::Route;
use std::collections::BTreeMap;

/// Sentences for routes of `routes` that match on a header some samples did not record, or on
/// a query parameter when some samples' queries were cut: their shares in the preview are a
/// lower bound. Empty when the samples show all that these routes look at.
pub fn unsampled_notes<'a>(
    routes: impl IntoIterator<Item = &'a std::sync::Arc<Route>>,
    samples: &[&Sample],
) -> Vec<String> {
    let mut by_name: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut by_query: Vec<&str> = Vec::new();
    for route in routes {
        if !route.extras.conditions.query.is_empty() && !by_query.contains(&route.name.as_str()) {
            by_query.push(&route.name);
        }
        for h in &route.extras.conditions.headers {
            let names = by_name.entry(h.name.as_str()).or_default();
            if !names.contains(&route.name.as_str()) {
                names.push(&route.name);
            }
        }
    }
    let total = samples.len();
    let list = |routes: &[&str]| {
        let names: Vec<String> = routes.iter().map(|r| format!("route {r}")).collect();
        names.join(", ")
    };
    let cut = samples.iter().filter(|s| s.query_cut).count();
    let query_note = (cut > 0 && !by_query.is_empty()).then(|| {
        format!(
            "not sampled in full: the query of {} of {} sampled requests (kept up to its last whole parameter within {} bytes), matched by {}; shares for these routes are a lower bound",
            super::replay::thousands(cut),
            super::replay::thousands(total),
            super::ring::QUERY_MAX,
            list(&by_query)
        )
    });
    by_name
        .into_iter()
        .filter_map(|(name, routes)| {
            let missing = samples.iter().filter(|s| !s.looked_for(name)).count();
            if missing == 0 || total == 0 {
                return None;
            }
            let why = if is_secret(name) {
                "its values are never sampled (they may hold credentials)".to_string()
            } else {
                format!(
                    "{} of {} sampled requests did not record it (routes of the config that served them do not match on it, or the value was too long)",
                    super::replay::thousands(missing),
                    super::replay::thousands(total)
                )
            };
            Some(format!(
                "not sampled: header `{name}`, matched by {}: {why}; shares for these routes are a lower bound",
                list(&routes)
            ))
        })
        .chain(query_note)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preview::sampled::{SampledHeaders, SECRET};

    #[test]
    fn secret_names_are_never_in_the_set() {
        for name in SECRET {
            assert!(is_secret(name));
        }
        assert!(!is_secret("x-tenant"));
        let text = r#"
[listeners.http]
address = "127.0.0.1:8080"
[admin]
enabled = false
[pools.p]
backends = [{ address = "127.0.0.1:9000" }]
[routes.a]
pool = "p"
match_headers = [{ name = "Authorization" }, { name = "x-tenant", value = "blue" }]
[routes.b]
pool = "p"
path_prefix = "/b"
match_headers = [{ name = "cookie", regex = "s=" }, { name = "X-Tenant" }, { name = "x-canary", value = "1" }]
"#;
        let ctx = crate::config::Context {
            resolver: &crate::config::resolve::StaticResolver::default(),
            now: std::time::SystemTime::now(),
            in_service: None,
        };
        let config = crate::config::validate::validate(std::path::Path::new("t.toml"), text, &ctx)
            .unwrap()
            .config;
        let set = SampledHeaders::of(&config.routes);
        let names: Vec<&str> = set.names().iter().map(|n| &**n).collect();
        assert_eq!(names, ["x-canary", "x-tenant"]);

        // Samples that looked for both sampled names: only the secret ones are reported.
        let sample = Sample {
            listener: 0,
            tls: false,
            client_cert: false,
            client: None,
            method: "GET".into(),
            host: "h".into(),
            path: "/".into(),
            query: None,
            query_cut: false,
            headers: ["x-canary", "x-tenant"]
                .map(|n| super::super::ring::SampledHeader {
                    name: n.into(),
                    value: None,
                })
                .into(),
        };
        let notes = unsampled_notes(&config.routes, &[&sample, &sample]);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].starts_with("not sampled: header `authorization`, matched by route a: its values are never sampled"), "{notes:?}");
        assert!(
            notes[1].starts_with("not sampled: header `cookie`, matched by route b:"),
            "{notes:?}"
        );
        let no_tenant = Sample {
            headers: Vec::new(),
            ..sample.clone()
        };
        let notes = unsampled_notes(&config.routes, &[&sample, &no_tenant]);
        assert!(notes.iter().any(|n| n.starts_with("not sampled: header `x-tenant`, matched by route a, route b: 1 of 2 sampled requests")), "{notes:?}");
    }
}
