//! The HTTP/1 engine: one task per client connection, request after request.
//!
//! Each request head is read and checked by the gate ([`crate::listener::h1::read_head`]: the
//! one parse, which also indexes the fields), then [`exchange`] decides, forwards and accounts.
//! Buffers live in the connection and are released while it idles, so an idle keep-alive
//! connection holds no more than its task and socket.

pub mod body;
pub mod exchange;
pub mod local;
pub mod relay;
pub mod request;
pub mod response;
pub mod to_h2;

use super::Engine;
use crate::listener::deadline::Watchdog;
use crate::listener::gated::Gated;
use crate::listener::h1::{check_chunked_body, read_head, refuse, CurrentLimits, Gate, Origin};
use crate::listener::head::{Body, Refusal};
use crate::listener::stash;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

/// What a client connection is, for the whole of its life.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// Index of the bound listener.
    pub listener: usize,
    /// The client (after PROXY protocol).
    pub peer: Option<SocketAddr>,
    /// TLS terminated here.
    pub tls: bool,
    /// `1.2` / `1.3`.
    pub tls_version: Option<&'static str>,
    /// The verified client certificate (mTLS), read once after the handshake.
    pub client_cert: Option<Arc<crate::tls::client_auth::ClientCert>>,
}

/// A client connection and the buffers its requests reuse. Boxed, in one allocation with the
/// client stream's wrapper: an async fn keeps a by-value argument twice in its future (as the
/// argument and as the local it is moved into), and the connection's future is alive for as
/// long as the connection idles.
pub struct Conn {
    /// The client stream and its read-ahead buffer.
    pub client: Gated,
    /// The buffers of the request in progress (given back to the stash while idle): the
    /// request head, copied out of the read-ahead buffer (which then stays the connection's
    /// own: splitting the head off made it shared, and each request paid for a new read-ahead
    /// buffer); its field spans; the response's field spans; where heads are written.
    pub bufs: stash::Set,
    /// Who the connection is.
    pub info: ConnInfo,
    /// The connection's timer for waits on a read (see [`Watchdog`]).
    pub watchdog: Watchdog,
}

impl Conn {
    /// A new client connection, before its first request.
    pub fn new(stream: Stream, info: ConnInfo) -> Box<Conn> {
        Box::new(Conn {
            client: Gated::new(stream),
            bufs: stash::Set::default(),
            info,
            watchdog: Watchdog::default(),
        })
    }

    /// Frees what an idle connection does not need.
    fn release(&mut self) {
        self.client.release();
        stash::put_set(std::mem::take(&mut self.bufs));
    }

    /// Takes warm buffers for the request about to be served (see [`stash`]).
    pub(crate) fn acquire(&mut self) {
        if self.bufs.is_released() {
            self.bufs = stash::set();
        }
    }
}

impl CurrentLimits for crate::runtime::SharedState {
    fn read<R>(&self, read: impl FnOnce(&crate::config::model::LimitsSettings) -> R) -> R {
        read(&self.peek().config.limits)
    }
}

/// Serves HTTP/1 requests on the connection until it closes; serves an h2c connection (prior
/// knowledge) with the HTTP/2 engine when the listener allows it.
///
/// This future is what an idle keep-alive connection holds, so it keeps little: the limits are
/// read from the snapshot where they are applied, and every wait but the one for the next
/// request head (refusals, chunked-body checks, the exchange, closing) is its own boxed future.
pub async fn serve(
    engine: &Arc<Engine>,
    h2c: bool,
    mut conn: Box<Conn>,
    accepted_at: Instant,
    origin: &Origin<'_>,
    shutdown: &ShutdownWatch,
) -> Option<Stream> {
    let mut first = true;
    loop {
        let gate = read_head(
            &mut conn.client,
            &*engine.state,
            first.then_some(accepted_at),
            // Idle connections are not closed when shutdown begins: a client could be sending
            // its next request at that moment (a reset it would see as a failure). The next
            // response says `Connection: close` instead.
            &mut conn.bufs,
            &mut conn.watchdog,
        )
        .await;
        let head = match gate {
            Gate::Ready(head) => head,
            Gate::H2Preface => {
                if h2c {
                    // Cleartext HTTP/2 with prior knowledge: the preface is in the read-ahead
                    // buffer, which the HTTP/2 codec reads first.
                    let Conn { client, info, .. } = *conn;
                    Box::pin(crate::forward::h2::serve(engine, client, &info, shutdown)).await;
                } else {
                    let r = Refusal {
                        status: 400,
                        reason: "h2c is not enabled on this listener",
                    };
                    Box::pin(refuse(&mut conn.client, r, origin)).await;
                }
                return None;
            }
            Gate::Closed => return None,
            Gate::TimedOut { partial } => {
                if partial {
                    let r = Refusal {
                        status: 408,
                        reason: "request head not received in time",
                    };
                    Box::pin(refuse(&mut conn.client, r, origin)).await;
                } else {
                    if let Some(m) = &origin.metrics {
                        m.bad_request("408");
                    }
                }
                return None;
            }
            Gate::Refused(r) => {
                Box::pin(refuse(&mut conn.client, r, origin)).await;
                return None;
            }
        };
        let mut chunked_len = None;
        if head.body == Body::Chunked && !head.expect_continue {
            match Box::pin(check_chunked_body(
                &mut conn.client,
                head.len,
                &*engine.state,
            ))
            .await
            {
                Ok(len) => chunked_len = len,
                Err(r) => {
                    Box::pin(refuse(&mut conn.client, r, origin)).await;
                    return None;
                }
            }
        }
        // Boxed: the exchange's state (a few KiB across its awaits) is only allocated while a
        // request is in progress, not in every idle keep-alive connection's task. Allocated
        // first and then written, so the state is built in place rather than built on the
        // stack and copied whole into the box (a 4.7 KiB `memcpy` per request).
        let exchange = Box::into_pin(Box::write(
            Box::new_uninit(),
            exchange::exchange(engine, &mut conn, head, chunked_len, shutdown),
        ));
        match exchange.await {
            exchange::Next::KeepAlive => {
                conn.release();
                first = false;
            }
            exchange::Next::Close => {
                let close =
                    tokio::time::timeout(std::time::Duration::from_secs(1), conn.client.shutdown());
                let _ = Box::pin(close).await;
                return None;
            }
            exchange::Next::Tunnel(job) => {
                Box::pin(relay::run_tunnel(engine, &mut conn, *job)).await;
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the future an async fn of these argument types returns occupies, without calling it.
    fn future_size<A, B, C, D, E, F, Fut>(_: impl FnOnce(A, B, C, D, E, F) -> Fut) -> usize {
        std::mem::size_of::<Fut>()
    }

    /// An idle keep-alive connection holds this future (inside the connection's task, with the
    /// admission's own state overlapping it): every wait but the one for the next head is boxed
    /// and no copy of the limits is kept, so it stays a few hundred bytes. It was 1,152 bytes
    /// (release build) with the cold waits inline, the `[limits]` section copied in and the
    /// connection's parts passed by value (an async fn keeps such an argument twice).
    #[test]
    fn the_idle_connection_future_stays_small() {
        let size = future_size::<
            &'static Arc<Engine>,
            bool,
            Box<Conn>,
            Instant,
            &'static Origin<'static>,
            &'static ShutdownWatch,
            _,
        >(serve);
        assert!(size <= 448, "{size} bytes");
        eprintln!("MEASURE h1::serve future: {size} bytes");
    }
}
