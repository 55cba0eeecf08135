//! The connection layer in front of Pingora's HTTP proxy.
//!
//! Pingora binds the sockets (so listening sockets can be handed to a successor process on
//! upgrade), but every listener is plain TCP as far as Pingora knows. Each accepted connection
//! comes here first: gatehouse counts it, performs the TLS handshake itself with its own rustls
//! config (see [`tls`]), and then hands the stream to Pingora's `HttpProxy`, which negotiates
//! HTTP/1.1 or HTTP/2 (ALPN) and runs the proxy phases.

pub mod chunked;
pub mod gated;
pub mod head;
pub mod proxy_protocol;
pub mod tls;

use crate::config::model::Protocol;
use crate::metrics::names;
use crate::proxy::Proxy;
use crate::runtime::SharedState;
use async_trait::async_trait;
use metrics::{counter, gauge, Counter, Gauge};
use pingora::apps::ServerApp;
use pingora::listeners::tls::Acceptor;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::{Ssl, Stream};
use pingora::proxy::HttpProxy;
use pingora::server::ShutdownWatch;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Longest time a client gets to complete a TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Per-listener connection handling.
pub struct ListenerRuntime {
    name: Arc<str>,
    acceptor: Option<Acceptor>,
    proxy: Arc<HttpProxy<Proxy>>,
    open: Gauge,
    accepted: Counter,
    handshakes_tls12: Counter,
    handshakes_tls13: Counter,
    handshake_failures: Counter,
    handshake_timeouts: Counter,
}

/// The `ServerApp` serving every proxy listener.
pub struct Connections {
    state: Arc<SharedState>,
    listeners: Vec<ListenerRuntime>,
    open_total: Arc<AtomicUsize>,
}

impl Connections {
    /// Builds per-listener runtimes. `proxy_for` gives the HTTP proxy to use for a listener
    /// (listeners with h2c get one configured for it).
    ///
    /// # Errors
    /// When a TLS config cannot be built.
    pub fn new(
        state: Arc<SharedState>,
        alpn: &[Vec<Vec<u8>>],
        proxy_for: impl Fn(usize) -> Arc<HttpProxy<Proxy>>,
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
            let failures = |stage: &'static str| counter!(names::TLS_HANDSHAKE_FAILURES_TOTAL, "listener" => l.clone(), "stage" => stage);
            listeners.push(ListenerRuntime {
                name: Arc::from(bound.name.as_str()),
                acceptor,
                proxy: proxy_for(i),
                open: gauge!(names::DOWNSTREAM_CONNECTIONS, "listener" => l.clone()),
                accepted: counter!(names::DOWNSTREAM_CONNECTIONS_TOTAL, "listener" => l.clone()),
                handshakes_tls12: counter!(names::TLS_HANDSHAKES_TOTAL, "listener" => l.clone(), "version" => "TLSv1.2"),
                handshakes_tls13: counter!(names::TLS_HANDSHAKES_TOTAL, "listener" => l.clone(), "version" => "TLSv1.3"),
                handshake_failures: failures("handshake"),
                handshake_timeouts: failures("timeout"),
            });
        }
        Ok(Connections {
            state,
            listeners,
            open_total: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Open client connections across all listeners (for draining on shutdown).
    pub fn open_connections(&self) -> Arc<AtomicUsize> {
        self.open_total.clone()
    }
}

struct OpenConnection<'a>(&'a Gauge, &'a AtomicUsize);

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.decrement(1.0);
        self.1.fetch_sub(1, Ordering::Relaxed);
    }
}

#[async_trait]
impl ServerApp for Connections {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let local = stream
            .get_socket_digest()
            .and_then(|d| d.local_addr().and_then(|a| a.as_inet()).copied());
        let index = self.state.listener_index(local);
        let listener = self.listeners.get(index)?;
        listener.accepted.increment(1);
        listener.open.increment(1.0);
        self.open_total.fetch_add(1, Ordering::Relaxed);
        let _open = OpenConnection(&listener.open, &self.open_total);

        let stream = match &listener.acceptor {
            None => stream,
            Some(acceptor) => {
                let l4 = match stream.into_any().downcast::<L4Stream>() {
                    Ok(l4) => *l4,
                    Err(_) => {
                        tracing::error!(listener = %listener.name, "unexpected stream type on a TLS listener");
                        return None;
                    }
                };
                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.tls_handshake(l4)).await
                {
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
        listener.proxy.process_new(stream, shutdown).await
    }
}
