//! Replaying recorded requests through a snapshot, with the request path's own routing
//! ([`crate::proxy::decide::route`]) and access rules ([`crate::proxy::access::address_check`]),
//! and summing up what a new config would do differently.

use super::ring::Sample;
use crate::proxy::{access, decide};
use crate::runtime::Snapshot;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a config does with one request.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Class {
    /// Forwarded through `route` to `pool`.
    Pool {
        /// Route name.
        route: String,
        /// Pool name.
        pool: String,
    },
    /// Answered with a redirect (to HTTPS).
    Redirect,
    /// No route: 404.
    NotFound,
    /// Refused by the route's client-certificate requirement or address rules: 403.
    Forbidden,
    /// An unusable head: 400.
    BadRequest,
}

impl Class {
    /// `pool api`, `404`, `403`, `a redirect`, `400`.
    fn describe(&self) -> String {
        match self {
            Class::Pool { pool, .. } => format!("pool {pool}"),
            Class::Redirect => "a redirect".into(),
            Class::NotFound => "404".into(),
            Class::Forbidden => "403".into(),
            Class::BadRequest => "400".into(),
        }
    }

    fn route(&self) -> Option<&str> {
        match self {
            Class::Pool { route, .. } => Some(route),
            _ => None,
        }
    }
}

/// How `snapshot` handles `sample` (arriving on its listener `listener`). Rate limits and body
/// sizes are not replayed: they depend on the moment, not on the config's shape.
pub fn classify(snapshot: &Snapshot, listener: usize, sample: &Sample) -> Class {
    use decide::Decision;
    let decision = decide::route(
        snapshot,
        listener,
        sample.tls,
        &sample.host,
        &sample.path,
        &crate::runtime::router::RequestFacts {
            method: &sample.method,
            query: sample.query.as_deref(),
            client: sample.client,
            fields: sample,
        },
    );
    match decision {
        Decision::Route(id) => {
            let Some((route, pool)) = snapshot.route(id) else {
                return Class::NotFound;
            };
            if (route.client_auth_required && !sample.client_cert)
                || access::address_check(route, sample.client).is_err()
            {
                return Class::Forbidden;
            }
            Class::Pool {
                route: route.name.to_string(),
                pool: pool.name.to_string(),
            }
        }
        Decision::Redirect(_) => Class::Redirect,
        Decision::NotFound => Class::NotFound,
        Decision::BadRequest(_) | Decision::Refused(..) => Class::BadRequest,
    }
}

/// One kind of change: requests that went `from` and would go `to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Move {
    /// The route the requests take today (`None`: no route).
    pub route: Option<String>,
    /// What happens today.
    pub from: Class,
    /// What would happen.
    pub to: Class,
    /// Requests of the sample.
    pub count: usize,
    /// Share of the whole sample, in percent.
    pub percent: f64,
    /// The sentence for operators.
    pub summary: String,
}

/// The result of a replay.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Preview {
    /// Requests replayed.
    pub sampled: usize,
    /// Of which the new config handles differently.
    pub changed: usize,
    /// The changes, largest first.
    pub moves: Vec<Move>,
    /// What the sample could not show (a header routes match on that was not recorded): the
    /// shares of the routes named are a lower bound.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Preview {
    /// Compares what happens today (`before`) with what the new config does (`after`), one
    /// pair per sampled request.
    pub fn compare(pairs: impl IntoIterator<Item = (Class, Class)>) -> Preview {
        let mut sampled = 0usize;
        let mut counts: BTreeMap<(Class, Class), usize> = BTreeMap::new();
        for (before, after) in pairs {
            sampled += 1;
            if before != after {
                *counts.entry((before, after)).or_default() += 1;
            }
        }
        let changed = counts.values().sum();
        let mut moves: Vec<Move> = counts
            .into_iter()
            .map(|((from, to), count)| {
                let percent = count as f64 * 100.0 / sampled.max(1) as f64;
                let label = from.route().map_or_else(
                    || format!("requests answered {}", from.describe()),
                    |r| format!("route {r}"),
                );
                let mut to_text = to.describe();
                if let (Some(a), Some(b)) = (from.route(), to.route()) {
                    if a != b {
                        to_text = format!("{to_text} (route {b})");
                    }
                }
                Move {
                    route: from.route().map(str::to_string),
                    summary: format!(
                        "{label}: {percent:.1} % of {} sampled requests move from {} to {to_text}",
                        thousands(sampled),
                        from.describe()
                    ),
                    from,
                    to,
                    count,
                    percent,
                }
            })
            .collect();
        moves.sort_by(|a, b| b.count.cmp(&a.count).then(a.summary.cmp(&b.summary)));
        Preview {
            sampled,
            changed,
            moves,
            notes: Vec::new(),
        }
    }

    /// The same preview with these notes ([`super::headers::unsampled_notes`]).
    pub fn with_notes(mut self, notes: Vec<String>) -> Self {
        self.notes = notes;
        self
    }

    /// Human-readable lines (what `gatehouse check --against-running` prints).
    pub fn lines(&self) -> Vec<String> {
        if self.sampled == 0 {
            return vec!["no recent requests to replay (the running instance has not served any since it started)".into()];
        }
        let mut lines: Vec<String> = if self.moves.is_empty() {
            vec![format!(
                "none of {} sampled requests would be handled differently",
                thousands(self.sampled)
            )]
        } else {
            self.moves.iter().map(|m| m.summary.clone()).collect()
        };
        lines.extend(self.notes.iter().cloned());
        lines
    }
}

/// `5000` → `5,000`.
pub(super) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(route: &str, pool: &str) -> Class {
        Class::Pool {
            route: route.into(),
            pool: pool.into(),
        }
    }

    #[test]
    fn shares_are_of_the_whole_sample() {
        let pairs = (0..5000).map(|i| {
            let before = pool("api", "api");
            let after = if i < 105 {
                Class::NotFound
            } else {
                before.clone()
            };
            (before, after)
        });
        let p = Preview::compare(pairs);
        assert_eq!((p.sampled, p.changed), (5000, 105));
        assert_eq!(
            p.lines(),
            ["route api: 2.1 % of 5,000 sampled requests move from pool api to 404"]
        );
    }

    #[test]
    fn a_new_route_over_the_same_pool_is_named() {
        let p = Preview::compare([
            (pool("www", "web"), pool("static", "web")),
            (Class::NotFound, pool("www", "web")),
        ]);
        assert_eq!(
            p.lines(),
            [
                "requests answered 404: 50.0 % of 2 sampled requests move from 404 to pool web",
                "route www: 50.0 % of 2 sampled requests move from pool web to pool web (route static)"
            ]
        );
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
