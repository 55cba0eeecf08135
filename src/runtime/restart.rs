//! What needs a restart: the cold settings of a config that the running process did not bind
//! or apply. It lives with the state it compares ([`BoundListener`], [`Applied`]) so that
//! [`super::SharedState::pending_restart`] needs nothing from the reload machinery above it.

use super::{Applied, BoundListener};
use crate::config::model::Config;

/// Cold settings of `new` that differ from what the running process bound and applied at
/// start (`bound`, `applied`), one `key: what` line each. Comparing with what runs — not with
/// the previous file — keeps a change reported until the file matches the process again or a
/// successor applies it, however many reloads come in between.
pub fn restart_required(bound: &[BoundListener], applied: &Applied, new: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for b in bound {
        match new.listeners.iter().find(|l| l.name == b.name) {
            None => out.push(format!(
                "listeners.{}: removed (still bound until restart)",
                b.name
            )),
            Some(l) => out.extend(
                b.differing_keys(l)
                    .into_iter()
                    .map(|key| format!("listeners.{}.{key}: changed", b.name)),
            ),
        }
    }
    for l in &new.listeners {
        if !bound.iter().any(|b| b.name == l.name) {
            out.push(format!(
                "listeners.{}: new listener (not bound until restart)",
                l.name
            ));
        }
    }
    let wanted = Applied::of(new, new.server.upgrade_socket.clone());
    out.extend(
        applied
            .differing_keys(&wanted)
            .into_iter()
            .map(|key| format!("{key}: changed")),
    );
    out
}
