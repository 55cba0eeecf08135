//! HTTP/2 connections to backends of `protocol = "h2"` pools, shared by every request: each
//! carries up to the pool's `h2_streams` requests at once (Pingora's default is one stream per
//! connection, which is no multiplexing at all).
//!
//! A connection is opened through Pingora's `TransportConnector` (TCP, TLS with ALPN `h2`, or
//! cleartext with prior knowledge), handed to the `h2` crate, and driven by its own task. It
//! leaves the pool when that task ends (the backend closed it, sent GOAWAY, or broke it).

use bytes::Bytes;
use parking_lot::Mutex;
use pingora::protocols::ALPN;
use pingora::upstreams::peer::{HttpPeer, Peer as _};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Flow-control windows announced to backends: large enough that a download is not held to
/// the protocol's 64 KiB default per round trip.
const STREAM_WINDOW: u32 = 1024 * 1024;
const CONNECTION_WINDOW: u32 = 8 * 1024 * 1024;

/// One HTTP/2 connection to a backend.
#[derive(Debug)]
pub struct H2Conn {
    send: h2::client::SendRequest<Bytes>,
    active: AtomicUsize,
    closed: Arc<AtomicBool>,
}

/// A stream slot on a connection, released when dropped.
#[derive(Debug)]
pub struct Slot {
    conn: Arc<H2Conn>,
    /// The connection was open before this request (a failure may be the connection's age,
    /// and is retried on a new one).
    pub reused: bool,
}

impl Slot {
    /// A request sender for this connection.
    pub fn sender(&self) -> h2::client::SendRequest<Bytes> {
        self.conn.send.clone()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.conn.active.fetch_sub(1, Ordering::Release);
    }
}

/// Why no HTTP/2 connection could be had.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// TCP or TLS failed.
    #[error("{0}")]
    Transport(Box<pingora::Error>),
    /// TLS succeeded but the backend did not agree to HTTP/2.
    #[error("the backend did not negotiate h2 (ALPN)")]
    NoH2,
    /// The HTTP/2 handshake failed.
    #[error("HTTP/2 handshake: {0}")]
    Handshake(h2::Error),
}

/// The HTTP/2 connections of one gatehouse instance, by backend.
#[derive(Debug, Default)]
pub struct H2Pool {
    conns: Mutex<HashMap<u64, Vec<Arc<H2Conn>>>>,
}

impl H2Pool {
    /// A slot on an open connection to the backend with this key that has a free stream.
    pub fn take(&self, key: u64, max_streams: usize) -> Option<Slot> {
        let mut conns = self.conns.lock();
        let list = conns.get_mut(&key)?;
        list.retain(|c| !c.closed.load(Ordering::Acquire));
        let conn = list
            .iter()
            .find(|c| c.active.load(Ordering::Acquire) < max_streams)?
            .clone();
        conn.active.fetch_add(1, Ordering::AcqRel);
        Some(Slot { conn, reused: true })
    }

    /// Opens a new connection, adds it to the pool, and takes a slot on it.
    ///
    /// # Errors
    /// Transport, ALPN or handshake failures.
    pub async fn open(
        &self,
        transport: &pingora::connectors::TransportConnector,
        peer: &HttpPeer,
        key: u64,
    ) -> Result<Slot, ConnectError> {
        let stream = Box::pin(transport.new_stream(peer))
            .await
            .map_err(ConnectError::Transport)?;
        if peer.tls() && stream.selected_alpn_proto() != Some(ALPN::H2) {
            return Err(ConnectError::NoH2);
        }
        let (send, connection) = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .enable_push(false)
            .handshake::<_, Bytes>(stream)
            .await
            .map_err(ConnectError::Handshake)?;
        let closed = Arc::new(AtomicBool::new(false));
        let driver_closed = closed.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "HTTP/2 backend connection ended");
            }
            driver_closed.store(true, Ordering::Release);
        });
        let conn = Arc::new(H2Conn {
            send,
            active: AtomicUsize::new(1),
            closed,
        });
        self.conns.lock().entry(key).or_default().push(conn.clone());
        Ok(Slot {
            conn,
            reused: false,
        })
    }

    /// Forgets connections that have ended.
    pub fn sweep(&self) {
        let mut conns = self.conns.lock();
        conns.retain(|_, list| {
            list.retain(|c| !c.closed.load(Ordering::Acquire));
            !list.is_empty()
        });
    }

    /// Open connections (for tests and `/status`).
    pub fn open_count(&self) -> usize {
        self.conns
            .lock()
            .values()
            .flat_map(|l| l.iter())
            .filter(|c| !c.closed.load(Ordering::Acquire))
            .count()
    }
}
