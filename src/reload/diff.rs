//! What changed between two configs: the hot part (reported after a successful reload) and the
//! cold part (settings bound at startup, reported as "needs restart").

use crate::config::model::Config;
use serde::Serialize;

/// Lives with the state it compares; re-exported here beside the other diffs of a reload.
pub use crate::runtime::restart::restart_required;

/// Names added, removed and changed in one category.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Delta {
    /// New names.
    pub added: Vec<String>,
    /// Gone names.
    pub removed: Vec<String>,
    /// Same name, different settings.
    pub changed: Vec<String>,
}

impl Delta {
    /// Linear in the number of entries (a reload of 10,000 routes must not compare every
    /// route with every other). Keys are borrowed where they can be: only names that differ
    /// become strings.
    fn compute<'a, T, K>(
        old: &'a [T],
        new: &'a [T],
        key: impl Fn(&'a T) -> K,
        same: impl Fn(&T, &T) -> bool,
    ) -> Self
    where
        K: std::hash::Hash + Eq + std::fmt::Display,
    {
        let mut d = Delta::default();
        // A reload rarely reorders: compare position by position while the keys agree (no
        // hashing; 100,000 routes), and match up by key only what follows. Keys are unique
        // (validation refuses duplicate names and backends), so this finds what the maps would.
        let common = old
            .iter()
            .zip(new)
            .take_while(|(o, n)| key(o) == key(n))
            .count();
        for (o, n) in old[..common].iter().zip(&new[..common]) {
            if !same(o, n) {
                d.changed.push(key(n).to_string());
            }
        }
        let (old, new) = (&old[common..], &new[common..]);
        let old_by_key: std::collections::HashMap<K, &T> =
            old.iter().map(|o| (key(o), o)).collect();
        let mut new_keys = std::collections::HashSet::with_capacity(new.len());
        for n in new {
            let k = key(n);
            match old_by_key.get(&k) {
                None => d.added.push(k.to_string()),
                Some(o) if !same(o, n) => d.changed.push(k.to_string()),
                Some(_) => {}
            }
            new_keys.insert(k);
        }
        for o in old {
            let k = key(o);
            if !new_keys.contains(&k) {
                d.removed.push(k.to_string());
            }
        }
        d
    }

    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// The hot changes of a reload.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Changes {
    /// Routes.
    pub routes: Delta,
    /// Pools (settings or backend lists).
    pub pools: Delta,
    /// Backends (`pool/address`).
    pub backends: Delta,
    /// Certificates (`listener:file`), by content fingerprint.
    pub certificates: Delta,
}

impl Changes {
    /// Compares two configs.
    pub fn between(old: &Config, new: &Config) -> Self {
        let routes = Delta::compute(
            &old.routes,
            &new.routes,
            |r| r.name.as_str(),
            // Field by field, not through formatted text: at 100,000 routes the strings were
            // most of a reload's time.
            |a, b| {
                // The same allocation (`Config::settle` shares a route only under the same
                // pool name, checked again here): nothing else to compare.
                (std::sync::Arc::ptr_eq(a, b)
                    || a.hosts == b.hosts
                        && a.path_prefix == b.path_prefix
                        && a.strip_prefix == b.strip_prefix
                        && a.redirect_https == b.redirect_https
                        && a.extras.hsts == b.extras.hsts
                        && a.extras.request_headers == b.extras.request_headers
                        && a.extras.response_headers == b.extras.response_headers
                        && a.metrics == b.metrics)
                    && old.pools.get(a.pool).map(|p| &p.name)
                        == new.pools.get(b.pool).map(|p| &p.name)
            },
        );
        let pools = Delta::compute(&old.pools, &new.pools, |p| p.name.as_str(), |a, b| a == b);
        // Compared as values, not through their `Debug` text (10,000 backends).
        fn backends_of(c: &Config) -> Vec<(String, &crate::config::model::Backend)> {
            c.pools
                .iter()
                .flat_map(|p| {
                    p.backends
                        .iter()
                        .map(move |b| (format!("{}/{}", p.name, b.address), &**b))
                })
                .collect()
        }
        let (old_backends, new_backends) = (backends_of(old), backends_of(new));
        let backends = Delta::compute(
            &old_backends,
            &new_backends,
            |b| b.0.as_str(),
            |a, b| a.1 == b.1,
        );
        let certs_of = |c: &Config| -> Vec<(String, String)> {
            c.listeners
                .iter()
                .flat_map(|l| {
                    l.certificates.iter().map(move |cert| {
                        (
                            format!("{}:{}", l.name, cert.cert_path.display()),
                            cert.fingerprint.clone(),
                        )
                    })
                })
                .collect()
        };
        let certificates = Delta::compute(
            &certs_of(old),
            &certs_of(new),
            |c| c.0.as_str(),
            |a, b| a.1 == b.1,
        );
        Changes {
            routes,
            pools,
            backends,
            certificates,
        }
    }

    /// True when nothing hot changed.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
            && self.pools.is_empty()
            && self.backends.is_empty()
            && self.certificates.is_empty()
    }

    /// One-line summary for the log.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        for (what, d) in [
            ("routes", &self.routes),
            ("pools", &self.pools),
            ("backends", &self.backends),
            ("certificates", &self.certificates),
        ] {
            for (verb, names) in [
                ("added", &d.added),
                ("removed", &d.removed),
                ("changed", &d.changed),
            ] {
                if !names.is_empty() {
                    parts.push(format!("{what} {verb}: {}", names.join(", ")));
                }
            }
        }
        if parts.is_empty() {
            "no effective change".to_string()
        } else {
            parts.join("; ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{Applied, BoundListener};

    fn config(text: &str) -> Config {
        crate::config::validate::validate_text(text)
            .unwrap_or_else(|e| panic!("{e}"))
            .config
    }

    const BASE: &str = r#"
[listeners.http]
address = "127.0.0.1:8080"
[routes.default]
pool = "web"
[pools.web]
backends = [{ address = "127.0.0.1:9001" }]
"#;

    fn running(text: &str) -> (Vec<BoundListener>, Applied) {
        let c = config(text);
        let bound = c.listeners.iter().map(BoundListener::of).collect();
        let applied = Applied::of(&c, c.server.upgrade_socket.clone());
        (bound, applied)
    }

    /// The positional pass and the by-key pass together report what a by-key comparison
    /// alone would: order kept, an entry inserted, removed, changed and moved.
    #[test]
    fn deltas_match_by_name_whatever_the_order() {
        let compute = |old: &[(&str, u8)], new: &[(&str, u8)]| {
            Delta::compute(old, new, |e| e.0, |a, b| a.1 == b.1)
        };
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let old = [("a", 1), ("b", 1), ("c", 1), ("d", 1)];
        let d = compute(&old, &[("a", 2), ("b", 1), ("x", 1), ("d", 1), ("c", 2)]);
        assert_eq!(d.changed, names(&["a", "c"]));
        assert_eq!(d.added, names(&["x"]));
        assert!(d.removed.is_empty());
        let d = compute(&old, &[("d", 1), ("a", 1), ("b", 3)]);
        assert_eq!(d.changed, names(&["b"]));
        assert_eq!(d.removed, names(&["c"]));
        assert!(d.added.is_empty());
        assert!(compute(&old, &old).is_empty());
        let d = compute(&old, &old[..2]);
        assert_eq!(d.removed, names(&["c", "d"]));
    }

    #[test]
    fn every_cold_key_is_reported_against_what_runs() {
        let (bound, applied) = running(BASE);
        assert!(restart_required(&bound, &applied, &config(BASE)).is_empty());
        let changed = r#"
[server]
threads = 3
grace_period = "7s"
shutdown_timeout = "7s"
pid_file = "/run/x.pid"
upgrade_socket = "/run/x.sock"
upstream_keepalive_pool_size = 7
user = "nobody"
group = "nogroup"
server_header = true
[admin]
address = "127.0.0.1:9999"
[logging]
level = "debug"
format = "json"
[access_log]
sample = 0.5
buffer = 7
path = "/tmp/x.log"
[metrics]
enabled = false
[limits]
header_timeout = "3s"
[limits.http2]
max_concurrent_streams = 7
max_header_list_size = 4096
max_pending_reset_streams = 7
[listeners.http]
address = "127.0.0.1:8081"
h2c = true
proxy_protocol = true
[listeners.extra]
address = "127.0.0.1:8082"
[routes.default]
pool = "web"
[pools.web]
backends = [{ address = "127.0.0.1:9002" }]
"#;
        assert_eq!(
            restart_required(&bound, &applied, &config(changed)),
            [
                "listeners.http.address: changed",
                "listeners.http.h2c: changed",
                "listeners.http.proxy_protocol: changed",
                "listeners.extra: new listener (not bound until restart)",
                "server.threads: changed",
                "server.grace_period: changed",
                "server.shutdown_timeout: changed",
                "server.pid_file: changed",
                "server.upgrade_socket: changed",
                "server.upstream_keepalive_pool_size: changed",
                "server.user: changed",
                "server.group: changed",
                "admin.address: changed",
                "logging.level: changed",
                "logging.format: changed",
                "access_log.path: changed",
                "access_log.sample: changed",
                "access_log.buffer: changed",
                "metrics.enabled: changed",
                "limits.http2.max_concurrent_streams: changed",
                "limits.http2.max_header_list_size: changed",
                "limits.http2.max_pending_reset_streams: changed",
            ]
        );
        let removed = restart_required(
            &bound,
            &applied,
            &config(&format!(
                "[access_log]\nenabled = false\n[admin]\nenabled = false\n{}",
                BASE.replace("[listeners.http]", "[listeners.other]")
            )),
        );
        assert_eq!(
            removed,
            [
                "listeners.http: removed (still bound until restart)",
                "listeners.other: new listener (not bound until restart)",
                "admin.address: changed",
                "access_log.enabled: changed",
            ]
        );
        // An https listener needs certificate files: change a validated listener instead.
        let mut tls = config(BASE).listeners[0].clone();
        tls.protocol = crate::config::model::Protocol::Https;
        tls.alpn = vec![b"http/1.1".to_vec()];
        assert_eq!(bound[0].differing_keys(&tls), ["protocol", "alpn"]);
    }
}
