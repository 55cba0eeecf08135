//! The pair guard: two nodes behind one floating address must serve the same config, or a
//! failover moves clients onto a node that behaves differently.
//!
//! Each node asks its peer's admin listener (`[pair] peer`, `GET /pair/facts`, a read) every
//! `interval` for the facts of the config it *serves* — the digest without per-node settings,
//! pending restart, certificate expiries, and (for information: it counts reloads, not
//! content) the generation — and compares them with its own ([`compare`]). The result is in
//! `/status` (`pair`) and `gatehouse_pair_in_sync`. `GET /healthz?role=standby` refuses (503)
//! only on a node that does **not** hold the floating address while a reachable peer serves
//! a different config: keepalived then never moves the address onto it. An unreachable peer,
//! or a node holding the address, is never made ineligible by the guard — that is exactly the
//! failover case.

pub mod guard;
pub mod status;

pub use status::{Pair, PairStatus};

use crate::runtime::SharedState;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a node serves, as its peer compares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// Digest of the served config without per-node settings.
    pub shared_digest: String,
    /// Generation (reloads since start: informational).
    pub generation: u64,
    /// Cold settings waiting for `gatehouse upgrade`.
    pub pending_restart: Vec<String>,
    /// Certificate expiry (seconds since the epoch) by `listener: names`.
    pub certificates: BTreeMap<String, u64>,
}

impl Facts {
    /// This process's facts.
    pub fn of(state: &SharedState) -> Facts {
        let snapshot = state.load();
        Facts {
            shared_digest: snapshot.config.shared_digest.value().to_string(),
            generation: snapshot.generation,
            pending_restart: state.pending_restart(),
            certificates: snapshot
                .config
                .listeners
                .iter()
                .flat_map(|l| {
                    l.certificates.iter().map(move |c| {
                        (
                            format!("{}: {}", l.name, c.names.join(",")),
                            c.not_after_unix(),
                        )
                    })
                })
                .collect(),
        }
    }
}

/// The differences that make two nodes out of sync (empty: in sync). The generation is not
/// one of them: it counts reloads, and a restarted node starts again at 1.
pub fn compare(here: &Facts, peer: &Facts) -> Vec<String> {
    let mut out = Vec::new();
    if here.shared_digest != peer.shared_digest {
        out.push(format!(
            "config: digest {} here, {} on the peer",
            short(&here.shared_digest),
            short(&peer.shared_digest)
        ));
    }
    if here.pending_restart != peer.pending_restart {
        out.push(format!(
            "pending restart: [{}] here, [{}] on the peer",
            here.pending_restart.join("; "),
            peer.pending_restart.join("; ")
        ));
    }
    for (name, at) in &here.certificates {
        match peer.certificates.get(name) {
            None => out.push(format!("certificate {name}: only here")),
            Some(p) if p != at => out.push(format!(
                "certificate {name}: expires at {at} here, {p} on the peer"
            )),
            Some(_) => {}
        }
    }
    for name in peer.certificates.keys() {
        if !here.certificates.contains_key(name) {
            out.push(format!("certificate {name}: only on the peer"));
        }
    }
    out
}

fn short(digest: &str) -> &str {
    digest.get(..16).unwrap_or(digest)
}

impl Pair {
    /// Why this node must not take the floating address now (`GET /healthz?role=standby`):
    /// only when it does not hold it, and a reachable peer serves something else.
    pub fn standby_refusal(&self, state: &SharedState) -> Option<String> {
        let floating = state.load().config.pair.floating_address?;
        let status = self.status();
        if status.peer.is_none() || !status.peer_reachable || status.in_sync {
            return None;
        }
        if guard::holds(floating) {
            return None;
        }
        Some(format!(
            "not eligible to take {floating}: the peer {} serves a different config ({})",
            status.peer.unwrap_or_default(),
            status.differences.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(digest: &str, generation: u64) -> Facts {
        Facts {
            shared_digest: digest.into(),
            generation,
            pending_restart: Vec::new(),
            certificates: BTreeMap::from([("https: a.test".to_string(), 100)]),
        }
    }

    #[test]
    fn per_node_settings_are_left_out_of_the_shared_digest() {
        use crate::config::validate::validate_text;
        let node = |admin: &str, peer: &str, level: &str, pool: &str| {
            validate_text(&format!(
                "[admin]\naddress = \"{admin}\"\n[pair]\npeer = \"{peer}\"\nfloating_address = \"10.0.0.10\"\n[logging]\nlevel = \"{level}\"\n[listeners.http]\naddress = \"127.0.0.1:8080\"\n[routes.default]\npool = \"{pool}\"\n[pools.{pool}]\nbackends = [{{ address = \"127.0.0.1:9001\" }}]\n"
            ))
            .unwrap()
            .config
        };
        let a = node("10.0.0.11:9901", "10.0.0.12:9901", "info", "web");
        let b = node("10.0.0.12:9901", "10.0.0.11:9901", "debug", "web");
        let c = node("10.0.0.12:9901", "10.0.0.11:9901", "debug", "app");
        assert_ne!(a.digest, b.digest);
        assert_eq!(a.shared_digest, b.shared_digest);
        assert_ne!(b.shared_digest, c.shared_digest);
        assert_eq!(a.pair.peer.as_deref(), Some("10.0.0.12:9901"));
        assert_eq!(a.pair.interval, std::time::Duration::from_secs(2));
    }

    #[test]
    fn a_bad_pair_section_is_reported_with_its_keys() {
        let err = crate::config::validate::validate_text(
            "[pair]\npeer = \"nowhere\"\nfloating_address = \"x\"\n[listeners.http]\naddress = \"127.0.0.1:8080\"\n[routes.default]\npool = \"web\"\n[pools.web]\nbackends = [{ address = \"127.0.0.1:9001\" }]\n",
        )
        .unwrap_err()
        .issues()
        .join("\n");
        assert!(err.contains("pair.peer"), "{err}");
        assert!(err.contains("pair.floating_address"), "{err}");
    }

    #[test]
    fn generation_alone_is_no_difference() {
        assert!(compare(&facts("aa", 1), &facts("aa", 7)).is_empty());
    }

    #[test]
    fn digest_restart_and_certificates_are() {
        let mut peer = facts("bb", 1);
        peer.pending_restart = vec!["listeners.http.address: x".into()];
        peer.certificates.insert("https: a.test".into(), 200);
        peer.certificates.insert("https: b.test".into(), 300);
        let d = compare(&facts("aa", 1), &peer);
        assert_eq!(d.len(), 4, "{d:?}");
        assert!(d[0].starts_with("config: digest aa here, bb on the peer"));
        assert!(d[2].contains("expires at 100 here, 200 on the peer"));
        assert!(d[3].contains("b.test: only on the peer"));
    }
}
