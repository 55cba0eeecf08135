//! What changed between two configs: the hot part (reported after a successful reload) and the
//! cold part (settings bound at startup, reported as "needs restart").

use crate::config::model::Config;
use crate::runtime::BoundListener;
use serde::Serialize;
use std::collections::BTreeSet;

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
    fn compute<T>(
        old: &[T],
        new: &[T],
        key: impl Fn(&T) -> String,
        same: impl Fn(&T, &T) -> bool,
    ) -> Self {
        let mut d = Delta::default();
        for n in new {
            match old.iter().find(|o| key(o) == key(n)) {
                None => d.added.push(key(n)),
                Some(o) if !same(o, n) => d.changed.push(key(n)),
                Some(_) => {}
            }
        }
        for o in old {
            if !new.iter().any(|n| key(n) == key(o)) {
                d.removed.push(key(o));
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
            |r| r.name.clone(),
            |a, b| {
                format!(
                    "{:?}{}{}{}{:?}{:?}{:?}",
                    a.hosts,
                    a.path_prefix,
                    a.strip_prefix,
                    a.redirect_https,
                    a.hsts,
                    a.request_headers,
                    a.response_headers
                ) == format!(
                    "{:?}{}{}{}{:?}{:?}{:?}",
                    b.hosts,
                    b.path_prefix,
                    b.strip_prefix,
                    b.redirect_https,
                    b.hsts,
                    b.request_headers,
                    b.response_headers
                ) && old.pools.get(a.pool).map(|p| &p.name)
                    == new.pools.get(b.pool).map(|p| &p.name)
            },
        );
        let pools = Delta::compute(&old.pools, &new.pools, |p| p.name.clone(), |a, b| a == b);
        let backends_of = |c: &Config| -> Vec<(String, String)> {
            c.pools
                .iter()
                .flat_map(|p| {
                    p.backends
                        .iter()
                        .map(move |b| (format!("{}/{}", p.name, b.address), format!("{b:?}")))
                })
                .collect()
        };
        let backends = Delta::compute(
            &backends_of(old),
            &backends_of(new),
            |b| b.0.clone(),
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
            |c| c.0.clone(),
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

/// Settings that the running process cannot apply without a restart, compared with what is
/// bound. Each entry names the key and what would change.
pub fn restart_required(running: &Config, bound: &[BoundListener], new: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let names: BTreeSet<&str> = bound.iter().map(|b| b.name.as_str()).collect();
    for b in bound {
        match new.listeners.iter().find(|l| l.name == b.name) {
            None => out.push(format!(
                "listeners.{}: removed (still bound until restart)",
                b.name
            )),
            Some(l) => {
                let old = running.listeners.iter().find(|o| o.name == b.name);
                let old_sig = old.map(|o| o.cold_signature());
                if old_sig.as_deref() != Some(l.cold_signature().as_str()) {
                    out.push(format!(
                        "listeners.{}: address/protocol/ALPN/h2c changed",
                        b.name
                    ));
                }
            }
        }
    }
    for l in &new.listeners {
        if !names.contains(l.name.as_str()) {
            out.push(format!(
                "listeners.{}: new listener (not bound until restart)",
                l.name
            ));
        }
    }
    let (a, b) = (&running.server, &new.server);
    let checks: [(&str, bool); 6] = [
        ("server.threads", a.threads != b.threads),
        ("server.grace_period", a.grace_period != b.grace_period),
        (
            "server.shutdown_timeout",
            a.shutdown_timeout != b.shutdown_timeout,
        ),
        ("server.pid_file", a.pid_file != b.pid_file),
        (
            "server.upgrade_socket",
            a.upgrade_socket != b.upgrade_socket,
        ),
        (
            "server.upstream_keepalive_pool_size",
            a.upstream_keepalive_pool_size != b.upstream_keepalive_pool_size,
        ),
    ];
    out.extend(
        checks
            .iter()
            .filter(|c| c.1)
            .map(|c| format!("{}: changed", c.0)),
    );
    if running.admin.address != new.admin.address {
        out.push("admin.address: changed".to_string());
    }
    if running.logging != new.logging {
        out.push("logging: changed".to_string());
    }
    if running.access_log != new.access_log {
        out.push("access_log: changed".to_string());
    }
    if running.metrics_enabled != new.metrics_enabled {
        out.push("metrics.enabled: changed".to_string());
    }
    out
}
