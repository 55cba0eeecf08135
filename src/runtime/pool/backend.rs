//! One backend of a pool at runtime. Its Pingora peer is not kept: it is built from the pool's
//! and the backend's settings when a new connection is opened (a few field copies), because a
//! stored `HttpPeer` is ~670 bytes per backend, most of a backend's footprint, for something a
//! request that reuses a connection never reads.

use crate::config::model;
use crate::health::BackendState;
use pingora::upstreams::peer::HttpPeer;
use std::sync::Arc;

/// One backend of a pool.
#[derive(Debug)]
pub struct PoolBackend {
    /// Its validated config (shared with the config it came from, not copied).
    pub config: Arc<model::Backend>,
    /// Health, ejection, overrides, in-flight: shared with every snapshot that has it.
    pub state: Arc<BackendState>,
    /// `IP:port`, for logs and metric labels.
    pub label: Arc<str>,
    /// Identifies connections that may be reused for this backend: the peer's address and
    /// TLS settings, and the CA and client certificate files' contents (see [`reuse_key`]),
    /// computed once.
    pub reuse_key: u64,
    /// Requests by status class, connect failures, timeouts (handles resolved on first use).
    pub metrics: crate::metrics::BackendMetrics,
}

impl PoolBackend {
    /// The backend `backend` of `pool`, with `state` from the registry.
    pub(super) fn new(
        pool: &model::Pool,
        backend: &Arc<model::Backend>,
        state: Arc<BackendState>,
    ) -> Self {
        PoolBackend {
            config: backend.clone(),
            state,
            reuse_key: reuse_key(pool, backend),
            label: Arc::from(backend.address.to_string()),
            metrics: Default::default(),
        }
    }

    /// The peer to open a connection to this backend with, `pool` being the settings of the
    /// pool it is in (a `SocketAddr`, never a name to resolve). The same peer every time, so
    /// its `reuse_hash` is part of [`Self::reuse_key`].
    pub fn peer(&self, pool: &model::Pool) -> HttpPeer {
        make_peer(pool, &self.config)
    }
}

/// The key of connections to `backend` of `pool` that may be reused: Pingora's `reuse_hash`
/// of its peer, and the digest of the pool's CA and client certificate files. Pingora's hash
/// leaves the CA out, so a connection verified against a CA a reload has since replaced
/// (rotated, or withdrawn after a compromise) would go on serving requests from the idle pool
/// until it timed out.
fn reuse_key(pool: &model::Pool, backend: &model::Backend) -> u64 {
    use std::hash::{Hash, Hasher};
    let peer = pingora::upstreams::peer::Peer::reuse_hash(&make_peer(pool, backend));
    let Some(tls) = pool.tls.as_ref() else {
        return peer;
    };
    let mut h = std::collections::hash_map::DefaultHasher::new();
    peer.hash(&mut h);
    tls.material.digest.hash(&mut h);
    h.finish()
}

/// The peer for `backend` of `pool`: its address, the pool's TLS (SNI: the pool's `tls_sni`,
/// else the backend's host), verification, CA, client certificate, protocol and timeouts.
/// Traffic and active checks both connect with it.
pub fn make_peer(pool: &model::Pool, backend: &model::Backend) -> HttpPeer {
    let tls = pool.tls.as_ref();
    let sni = tls.and_then(|t| t.sni.clone()).unwrap_or_else(|| {
        if tls.is_some() {
            backend.host.clone()
        } else {
            String::new()
        }
    });
    let mut peer = HttpPeer::new(backend.address, tls.is_some(), sni);
    let t = &pool.timeouts;
    peer.options.connection_timeout = Some(t.connect);
    peer.options.total_connection_timeout = Some(t.connect);
    peer.options.read_timeout = Some(t.read);
    peer.options.write_timeout = Some(t.write);
    peer.options.idle_timeout = Some(t.idle);
    if pool.protocol == model::UpstreamProtocol::H2 {
        // HTTP/2 only: ALPN `h2` over TLS, prior knowledge (h2c) over cleartext.
        peer.options.set_http_version(2, 2);
        peer.options.max_h2_streams = pool.h2_streams as usize;
    }
    if let Some(tls) = tls {
        peer.options.verify_cert = tls.verify;
        peer.options.verify_hostname = tls.verify;
        peer.options.ca = tls.material.ca.clone();
        peer.client_cert_key = tls.material.client.clone();
    }
    peer
}
