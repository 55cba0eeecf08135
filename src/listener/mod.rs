//! The connection layer in front of gatehouse's forwarding engines.
//!
//! Pingora binds the sockets (so listening sockets can be handed to a successor process on
//! upgrade), but every listener is plain TCP as far as Pingora knows. Each accepted connection
//! comes here first: gatehouse counts and admits it, reads a PROXY header, performs the TLS
//! handshake itself with its own rustls config (see [`tls`]), and then hands the stream to the
//! HTTP/2 engine (ALPN `h2`) or to the HTTP/1 gate and engine ([`h1`], [`crate::forward::h1`]).

pub mod caps;
pub mod chunked;
pub mod client_auth;
pub mod deadline;
pub mod gated;
pub mod h1;
pub mod head;
pub mod pp;
pub mod proxy_protocol;
pub mod stash;
pub mod tls;

use crate::config::model::Protocol;
use crate::metrics::names::{self, label};
use crate::runtime::SharedState;
use async_trait::async_trait;
use metrics::{counter, gauge, Counter, Gauge};
use pingora::apps::ServerApp;
use pingora::listeners::tls::Acceptor;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::{Ssl, Stream};
use pingora::server::ShutdownWatch;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Per-listener connection handling.
pub struct ListenerRuntime {
    name: Arc<str>,
    acceptor: Option<Acceptor>,
    proxy_protocol: bool,
    /// Cleartext HTTP/2 with prior knowledge is served here.
    h2c: bool,
    open: Gauge,
    accepted: Counter,
    handshakes_tls12: Counter,
    handshakes_tls13: Counter,
    handshake_failures: Counter,
    handshake_timeouts: Counter,
    proxy_header_failures: Counter,
    rejected_total: Counter,
    rejected_per_ip: Counter,
}

/// The `ServerApp` serving every proxy listener.
pub struct Connections {
    state: Arc<SharedState>,
    /// gatehouse's forwarding engine (HTTP/1 and HTTP/2).
    engine: Arc<crate::forward::Engine>,
    listeners: Vec<ListenerRuntime>,
    caps: Arc<caps::Caps>,
    open_total: Arc<AtomicUsize>,
}

impl Connections {
    /// Builds per-listener runtimes around the engine (`h2c_listeners`: which listeners serve
    /// cleartext HTTP/2 with prior knowledge).
    ///
    /// # Errors
    /// When a TLS config cannot be built.
    pub fn new(
        state: Arc<SharedState>,
        alpn: &[Vec<Vec<u8>>],
        h2c_listeners: &[bool],
        engine: Arc<crate::forward::Engine>,
    ) -> Result<Self, rustls::Error> {
        let mut listeners = Vec::new();
        for (i, bound) in state.bound.iter().enumerate() {
            let acceptor = match bound.protocol {
                Protocol::Https => {
                    let config =
                        tls::server_config(state.clone(), i, alpn.get(i).map_or(&[][..], |a| a))?;
                    Some(Acceptor::from_server_config(config))
                }
                Protocol::Http => None,
            };
            let l = bound.name.clone();
            let failures = |stage: &'static str| counter!(names::TLS_HANDSHAKE_FAILURES_TOTAL, label::LISTENER => l.clone(), label::STAGE => stage);
            let rejected = |reason: &'static str| counter!(names::CONNECTIONS_REJECTED_TOTAL, label::LISTENER => l.clone(), label::REASON => reason);
            listeners.push(ListenerRuntime {
                name: Arc::from(bound.name.as_str()),
                acceptor,
                proxy_protocol: bound.proxy_protocol,
                h2c: h2c_listeners.get(i).copied().unwrap_or(false),
                open: gauge!(names::DOWNSTREAM_CONNECTIONS, label::LISTENER => l.clone()),
                accepted: counter!(names::DOWNSTREAM_CONNECTIONS_TOTAL, label::LISTENER => l.clone()),
                handshakes_tls12: counter!(names::TLS_HANDSHAKES_TOTAL, label::LISTENER => l.clone(), label::VERSION => "TLSv1.2"),
                handshakes_tls13: counter!(names::TLS_HANDSHAKES_TOTAL, label::LISTENER => l.clone(), label::VERSION => "TLSv1.3"),
                handshake_failures: failures("handshake"),
                handshake_timeouts: failures("timeout"),
                proxy_header_failures: rejected("proxy_protocol"),
                rejected_total: rejected("max_connections"),
                rejected_per_ip: rejected("max_connections_per_ip"),
            });
        }
        Ok(Connections {
            state,
            engine,
            listeners,
            caps: Arc::new(caps::Caps::default()),
            open_total: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Open client connections across all listeners (for draining on shutdown).
    pub fn open_connections(&self) -> Arc<AtomicUsize> {
        self.open_total.clone()
    }
}

/// Whether the handshake negotiated `acme-tls/1` (a TLS-ALPN-01 validation connection).
fn acme_challenge<S>(tls: &pingora::protocols::tls::TlsStream<S>) -> bool {
    matches!(
        tls.selected_alpn_proto(),
        Some(pingora::protocols::ALPN::Custom(ref c)) if c.protocol() == crate::tls::acme::challenge::ACME_TLS_ALPN
    )
}

/// Counts a connection as open until dropped. Owned (handles, not borrows), so that an HTTP/2
/// connection's own task can hold it.
struct OpenConnection(Gauge, Arc<AtomicUsize>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.decrement(1.0);
        let was_open = self.1.fetch_sub(1, Ordering::Relaxed);
        crate::memory::connection_closed(was_open.saturating_sub(1));
    }
}

/// A connection past admission, the PROXY header and the TLS handshake: what serving it needs,
/// and the guards that count it while it is open.
struct Admitted<'a> {
    stream: Stream,
    listener: &'a ListenerRuntime,
    info: crate::forward::h1::ConnInfo,
    /// For the request gate's own refusals over TLS.
    hsts: Option<http::HeaderValue>,
    metrics: Option<Arc<crate::metrics::ListenerMetrics>>,
    _slot: caps::Slot,
    _open: OpenConnection,
}

impl Connections {
    /// Admits a new connection (caps, trusted PROXY peers), reads its PROXY header and performs
    /// its TLS handshake. Its own future: none of this state is needed once the connection is
    /// established, and the connection's future (alive while it idles) overlaps it with the
    /// serving state instead of adding it.
    async fn admit(self: &Arc<Self>, stream: Stream) -> Option<Admitted<'_>> {
        // Nothing is read from a client before root privileges are dropped (one relaxed load
        // once they are, or when there is nothing to drop).
        if crate::privileges::GATE.is_closed() {
            crate::privileges::GATE.wait_open().await;
        }
        let snapshot = self.state.load();
        let (max_connections, max_connections_per_ip, handshake_timeout) = {
            let l = &snapshot.config.limits;
            (
                l.max_connections,
                l.max_connections_per_ip,
                l.handshake_timeout,
            )
        };
        // Which listener accepted it, by the local address (a `getsockname` per connection):
        // only asked when there is more than one.
        let local = if self.state.bound.len() > 1 {
            stream
                .get_socket_digest()
                .and_then(|d| d.local_addr().and_then(|a| a.as_inet()).copied())
        } else {
            None
        };
        let index = self.state.listener_index(local);
        let listener = self.listeners.get(index)?;
        let hsts = match listener.acceptor {
            Some(_) => snapshot.listeners.get(index).and_then(|l| l.hsts.clone()),
            None => None,
        };
        let metrics = snapshot.listeners.get(index).map(|l| l.metrics.clone());
        // A PROXY header is believed only from the listed L4 balancers (from anyone when the
        // list is empty: validation warns about that).
        let proxy_header_trusted = !listener.proxy_protocol
            || snapshot.listeners.get(index).is_some_and(|l| {
                l.trusted_proxies.is_empty()
                    || stream
                        .get_socket_digest()
                        .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()))
                        .is_some_and(|ip| crate::net::cidr::any_contains(&l.trusted_proxies, ip))
            });
        drop(snapshot);
        listener.accepted.increment(1);
        let Ok(mut slot) = self.caps.admit(max_connections) else {
            listener.rejected_total.increment(1);
            return None;
        };
        listener.open.increment(1.0);
        self.open_total.fetch_add(1, Ordering::Relaxed);
        let open = OpenConnection(listener.open.clone(), self.open_total.clone());

        let Ok(mut l4) = stream.into_any().downcast::<L4Stream>() else {
            tracing::error!(listener = %listener.name, "unexpected stream type");
            return None;
        };
        if listener.proxy_protocol {
            if !proxy_header_trusted {
                listener.proxy_header_failures.increment(1);
                tracing::debug!(listener = %listener.name, "PROXY protocol from a peer not in trusted_proxies");
                return None;
            }
            // Boxed (as is the TLS handshake below): only the connection's first moments need
            // this state.
            if let Err(reason) = Box::pin(pp::read(&mut l4, handshake_timeout)).await {
                listener.proxy_header_failures.increment(1);
                tracing::debug!(listener = %listener.name, reason, "PROXY protocol header refused");
                return None;
            }
        }
        // The client's address is all gatehouse reads from the socket digest, and now it has
        // it: the digest (~400 bytes of address caches) is given back rather than kept by
        // every open connection (pingora-core patch 5).
        let client = l4
            .take_socket_digest()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).copied());
        if let Some(client) = client {
            if caps::Caps::admit_ip(&mut slot, client.ip(), max_connections_per_ip).is_err() {
                listener.rejected_per_ip.increment(1);
                return None;
            }
        }

        let stream = match &listener.acceptor {
            None => l4 as Stream,
            Some(acceptor) => {
                let handshake = Box::pin(tokio::time::timeout(
                    handshake_timeout,
                    acceptor.tls_handshake(*l4),
                ));
                match handshake.await {
                    Ok(Ok(tls)) if acme_challenge(&tls) => {
                        // RFC 8737 §3: the TLS-ALPN-01 validation ends with the handshake.
                        return None;
                    }
                    Ok(Ok(tls)) => {
                        match tls.get_ssl_digest().map(|d| d.version.to_string()) {
                            Some(v) if v.contains("1_2") || v.contains("1.2") => {
                                listener.handshakes_tls12.increment(1)
                            }
                            _ => listener.handshakes_tls13.increment(1),
                        }
                        Box::new(tls) as Stream
                    }
                    Ok(Err(e)) => {
                        listener.handshake_failures.increment(1);
                        if e.to_string().contains("peer sent no certificates") {
                            crate::tls::client_auth::count_failure(
                                &listener.name,
                                "handshake",
                                "missing",
                            );
                        }
                        tracing::debug!(listener = %listener.name, error = %e, "TLS handshake failed");
                        return None;
                    }
                    Err(_) => {
                        listener.handshake_timeouts.increment(1);
                        return None;
                    }
                }
            }
        };
        let tls_version = stream.get_ssl_digest().map(|d| {
            if d.version.contains("1_2") || d.version.contains("1.2") {
                "1.2"
            } else {
                "1.3"
            }
        });
        let client_cert = match &listener.acceptor {
            Some(_) => client_auth::connection_facts(
                &self.state,
                index,
                &listener.name,
                stream.get_ssl().and_then(|t| t.peer_cert_chain_der()),
            ),
            None => None,
        };
        let info = crate::forward::h1::ConnInfo {
            listener: index,
            peer: client,
            tls: listener.acceptor.is_some(),
            tls_version,
            client_cert,
        };
        Some(Admitted {
            stream,
            listener,
            info,
            hsts,
            metrics,
            _slot: slot,
            _open: open,
        })
    }
}

#[async_trait]
impl ServerApp for Connections {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let accepted_at = tokio::time::Instant::now();
        let Admitted {
            stream,
            listener,
            info,
            hsts,
            metrics,
            _slot,
            _open,
        } = self.admit(stream).await?;
        if matches!(
            stream.selected_alpn_proto(),
            Some(pingora::protocols::ALPN::H2)
        ) {
            // HTTP/2: the h2 codec enforces framing and the configured stream limits. The
            // connection gets a task of its own, with its state inline, and this one ends: an
            // idle connection then holds one allocation sized for HTTP/2 alone, not the accept
            // task, this future (sized for HTTP/1's state too) and a box for HTTP/2's (~0.5 KiB
            // less). Pingora does not track the task it spawned for the connection (nothing
            // waits for it), so nothing changes for shutdown, which counts `_open`.
            let engine = self.engine.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                // Held, and counted as open, for as long as the connection is served.
                let (_slot, _open) = (_slot, _open);
                crate::forward::h2::serve(&engine, stream, &info, &shutdown).await;
            });
            return None;
        }
        let origin = h1::Origin {
            listener: &listener.name,
            client: info.peer,
            hsts,
            metrics,
        };
        crate::forward::h1::serve(
            &self.engine,
            listener.h2c,
            crate::forward::h1::Conn::new(stream, info),
            accepted_at,
            &origin,
            shutdown,
        )
        .await
    }
}
