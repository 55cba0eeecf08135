//! One backend of a pool at runtime, with the Pingora peer built once from its config.

use crate::config::model;
use crate::health::BackendState;
use pingora::upstreams::peer::HttpPeer;
use std::sync::Arc;

/// One backend of a pool.
#[derive(Debug)]
pub struct PoolBackend {
    /// Its validated config.
    pub config: model::Backend,
    /// Health, ejection, overrides, in-flight: shared with every snapshot that has it.
    pub state: Arc<BackendState>,
    /// The peer handed to Pingora, built once (a `SocketAddr`, never a name to resolve).
    pub peer: HttpPeer,
    /// `IP:port`, for logs and metric labels.
    pub label: Arc<str>,
    /// Identifies connections that may be reused for this backend: the peer's address and
    /// TLS settings (Pingora's `reuse_hash`).
    pub reuse_key: u64,
    /// Requests by status class, in flight (handles resolved on first use).
    pub metrics: crate::metrics::BackendMetrics,
}

impl PoolBackend {
    /// The backend `backend` of `pool`, with `state` from the registry.
    pub(super) fn new(
        pool: &model::Pool,
        backend: &model::Backend,
        state: Arc<BackendState>,
    ) -> Self {
        let peer = make_peer(pool, backend);
        PoolBackend {
            config: backend.clone(),
            state,
            reuse_key: pingora::upstreams::peer::Peer::reuse_hash(&peer),
            peer,
            label: Arc::from(backend.address.to_string()),
            metrics: Default::default(),
        }
    }
}

fn make_peer(pool: &model::Pool, backend: &model::Backend) -> HttpPeer {
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
