//! The comparison loop and the floating-address test.

use super::{compare, Facts, PairStatus};
use crate::ctl::{call, AdminEndpoint};
use crate::metrics::names;
use crate::runtime::SharedState;
use metrics::gauge;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Whether this host holds `address` now: binding to it succeeds only on a local address.
/// (Not so with `net.ipv4.ip_nonlocal_bind = 1`, which a pair does not need: see the guide.)
pub fn holds(address: IpAddr) -> bool {
    std::net::UdpSocket::bind(SocketAddr::new(address, 0)).is_ok()
}

/// The peer's facts (blocking: name resolution and one admin call, bounded by `limit`).
fn ask(peer: &str, limit: Duration) -> Result<Facts, String> {
    let address = peer
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve the peer {peer}: {e}"))?
        .next()
        .ok_or_else(|| format!("the peer {peer} has no address"))?;
    let endpoint = AdminEndpoint {
        address,
        token: None,
    };
    let (status, body) = call(&endpoint, "GET", "/pair/facts", limit).map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("the peer answered {status} to /pair/facts"));
    }
    serde_json::from_str(&body).map_err(|e| format!("unreadable facts from the peer: {e}"))
}

/// One comparison with the peer named in the served config (none: the guard is off).
pub async fn check(state: &Arc<SharedState>) {
    let config = state.load().config.clone();
    let Some(peer) = config.pair.peer.clone() else {
        state.pair.set(PairStatus::default());
        return;
    };
    let limit = config
        .pair
        .interval
        .clamp(Duration::from_millis(200), Duration::from_secs(5));
    let asked = {
        let peer = peer.clone();
        tokio::task::spawn_blocking(move || ask(&peer, limit))
            .await
            .unwrap_or_else(|e| Err(e.to_string()))
    };
    let here = Facts::of(state);
    let (reachable, differences, peer_generation) = match asked {
        Ok(theirs) => (true, compare(&here, &theirs), Some(theirs.generation)),
        Err(e) => (false, vec![e], None),
    };
    let in_sync = reachable && differences.is_empty();
    gauge!(names::PAIR_IN_SYNC).set(if in_sync { 1.0 } else { 0.0 });
    gauge!(names::PAIR_PEER_REACHABLE).set(if reachable { 1.0 } else { 0.0 });
    let before = state.pair.status();
    if before.in_sync != in_sync || before.peer_reachable != reachable {
        if in_sync {
            tracing::info!(%peer, "pair: in sync with the peer");
        } else {
            tracing::warn!(%peer, reachable, differences = %differences.join("; "), "pair: not in sync with the peer");
        }
    }
    state.pair.set(PairStatus {
        peer: Some(peer),
        peer_reachable: reachable,
        in_sync,
        differences,
        generation: here.generation,
        peer_generation,
        holds_floating_address: config.pair.floating_address.map(holds),
        checked_at_unix: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
    });
}

/// Compares with the peer every `[pair] interval` until shutdown.
pub async fn run(state: Arc<SharedState>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        check(&state).await;
        let interval = state
            .load()
            .config
            .pair
            .interval
            .max(Duration::from_millis(100));
        tokio::select! {
            _ = shutdown.changed() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}
