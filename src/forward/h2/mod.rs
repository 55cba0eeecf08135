//! The HTTP/2 engine: a client connection (TLS with ALPN `h2`, or cleartext with prior
//! knowledge) is one task; its streams are driven inside that task — no task per stream — so
//! the responses that complete together leave together, in one flush of the codec (one TLS
//! record, one write). Framing and flow control are the `h2` crate's; its limits are the
//! configured ones (`[limits.http2]`): concurrent streams announced and enforced, header list
//! size, and rapid-reset and CONTINUATION floods answered with GOAWAY.
//!
//! Each stream goes through the same three stages as an HTTP/1 request ([`stream`]):
//! decide (route, admission), forward (to an HTTP/1 backend with [`to_h1`], to an HTTP/2
//! backend with [`to_h2`]; a WebSocket's extended CONNECT with [`websocket`]), account.

pub mod answer;
pub mod io;
pub mod stream;
pub mod to_h1;
pub mod to_h2;
pub mod websocket;
mod woken;

use super::h1::ConnInfo;
use super::Engine;
use crate::config::model::Http2Settings;
use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt as _};
use pingora::server::ShutdownWatch;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// Per-stream receive window announced to clients: uploads are not held to HTTP/2's 64 KiB
/// default per round trip.
pub const STREAM_WINDOW: u32 = 1024 * 1024;
/// Per-connection receive window.
pub const CONNECTION_WINDOW: u32 = 4 * 1024 * 1024;
/// Locally reset streams tolerated before the connection is closed (the h2 crate's guard
/// against a peer that provokes resets).
const MAX_LOCAL_ERROR_RESETS: usize = 1024;

/// The server side of the handshake, with the configured limits.
fn builder(limits: &Http2Settings) -> h2::server::Builder {
    let mut b = h2::server::Builder::new();
    b.max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(limits.max_header_list_size)
        .max_pending_accept_reset_streams(limits.max_pending_reset_streams)
        .max_local_error_reset_streams(Some(MAX_LOCAL_ERROR_RESETS))
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        // Header strings go out as they are, not Huffman coded (HAProxy's choice too): the
        // coding was ~0.7 k instructions per proxied request (callgrind, 46.1 k -> 45.4 k),
        // for a few bytes per response on fields the HPACK table does not already hold.
        .hpack_huffman(false)
        // Sent fields stay out of the HPACK dynamic table (HAProxy's and nginx's encoders keep
        // none either): an idle connection then holds no copy of the last responses' fields,
        // and a response's fields cost no table lookup or insertion. A repeated field costs
        // its literal bytes on the wire instead of one index byte.
        .hpack_index_sent_fields(false)
        // RFC 8441: WebSocket over HTTP/2 (extended CONNECT), for routes that allow it.
        .enable_connect_protocol();
    b
}

/// Serves an HTTP/2 connection until it closes: accepts streams and drives them in this task;
/// on shutdown, says GOAWAY and lets the streams in flight finish. `info` is borrowed: an async
/// fn keeps a by-value argument twice, for the connection's whole life.
pub async fn serve<IO>(engine: &Arc<Engine>, io: IO, info: &ConnInfo, shutdown: &ShutdownWatch)
where
    IO: AsyncRead + AsyncWrite + crate::listener::gated::IdleRelease + Unpin + Send + 'static,
{
    let _open = crate::metrics::http2::connection_open();
    let (handshake_timeout, idle, http2) = {
        let limits = &engine.state.peek().config.limits;
        (
            limits.handshake_timeout,
            limits.keepalive_timeout,
            limits.http2,
        )
    };
    // The handshake (the codec under construction, ~1.2 KiB, and its timer) is boxed: this
    // future is sized for its largest state and lives as long as the connection.
    let handshake = Box::pin(tokio::time::timeout(
        handshake_timeout,
        builder(&http2).handshake::<_, Bytes>(io),
    ));
    let mut conn = match handshake.await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "HTTP/2 handshake failed");
            return;
        }
        Err(_) => return,
    };
    // Each time the connection goes idle and gives its codec's buffers back, the transport
    // gives back its own (TLS's record buffer).
    conn.set_release_idle_io(|io: &mut IO| io.release_idle_buffers());
    let mut shutdown = shutdown.clone();
    let mut draining = *shutdown.borrow();
    if draining {
        conn.graceful_shutdown();
    }
    // Each stream's future boxed: FuturesUnordered keeps a task node per stream (and a stub)
    // sized like its future, and a node lingers while any waker of it does; boxed, what
    // lingers is a pointer, not ~2 KiB of stream state per connection.
    let mut streams = FuturesUnordered::new();
    // One wait for the shutdown signal for the connection's life: a `changed()` made anew on
    // each turn of the loop registered with the watch's notifier and unregistered again, each
    // under its lock (with the lazy idle timer below: 41.3 k -> 40.8 k instructions per request
    // at 10 streams per connection); and it is polled only once the notifier woke it, not on
    // every turn (~0.3 k fewer again).
    let shutdown_signal = woken::PolledWhenWoken::new(shutdown.changed());
    tokio::pin!(shutdown_signal);
    // The idle timer is armed lazily, as the HTTP/1 engine's `Watchdog`: a connection that
    // goes idle only moves `idle_deadline`; when the timer fires before it, it is re-armed then.
    // Resetting it each time the last stream ended was a timer-wheel operation per burst.
    let mut idle_deadline = tokio::time::Instant::now() + idle;
    let idle_timer = tokio::time::sleep_until(idle_deadline);
    tokio::pin!(idle_timer);
    loop {
        tokio::select! {
            biased;
            _ = &mut shutdown_signal, if !draining => {
                conn.graceful_shutdown();
                draining = true;
            }
            Some(()) = streams.next(), if !streams.is_empty() => {
                if streams.is_empty() {
                    idle_deadline = tokio::time::Instant::now() + idle;
                }
            }
            accepted = conn.accept() => match accepted {
                Some(Ok((request, respond))) => {
                    // Allocated, then written: built in place, not on the stack and then
                    // copied into the box.
                    streams.push(Box::into_pin(Box::write(
                        Box::new_uninit(),
                        stream::handle(engine, info.clone(), request, respond),
                    )));
                }
                Some(Err(e)) => {
                    if e.is_io() || e.is_go_away() || e.reason() == Some(h2::Reason::ENHANCE_YOUR_CALM) {
                        tracing::debug!(error = %e, "HTTP/2 connection ended");
                        break;
                    }
                    // A stream-level error: the stream was reset, the connection goes on.
                    tracing::debug!(error = %e, "HTTP/2 stream refused");
                }
                None => break,
            },
            _ = &mut idle_timer, if streams.is_empty() => {
                if tokio::time::Instant::now() < idle_deadline {
                    // Streams came and went since it was armed: wait for the rest.
                    idle_timer.as_mut().reset(idle_deadline);
                    continue;
                }
                // Idle with nothing in flight: close (a GOAWAY first).
                conn.graceful_shutdown();
                draining = true;
                idle_deadline = tokio::time::Instant::now() + Duration::from_secs(3600);
                idle_timer.as_mut().reset(idle_deadline);
            }
        }
    }
    // The codec is done accepting; the streams still in flight are finished while the
    // connection is driven to its end.
    while !streams.is_empty() {
        tokio::select! {
            Some(()) = streams.next() => {}
            _ = std::future::poll_fn(|cx| conn.poll_closed(cx)) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use pingora::protocols::l4::stream::Stream as L4Stream;
    use pingora::protocols::Stream;

    fn future_size<A, B, C, D, Fut>(_: impl FnOnce(A, B, C, D) -> Fut) -> usize {
        std::mem::size_of::<Fut>()
    }

    /// What an idle HTTP/2 connection holds besides the codec's own state: the connection's
    /// future (the codec, ~1.2 KiB, is inline) and its TLS stream. In a release build the
    /// future was 3,096 bytes with the handshake inline next to a moved-from copy of it and the
    /// `[limits]` section copied in; the TLS stream 4,704 with both of rustls's handshake
    /// futures inline (pingora-core patch 6), then 1,712 with rustls's QUIC state inline in
    /// every connection (rustls patch 2: 1,224, under the allocator's 1,280-byte class).
    #[test]
    fn an_http2_connection_keeps_no_handshake_state() {
        let future = future_size::<
            &'static std::sync::Arc<super::Engine>,
            Stream,
            &'static super::ConnInfo,
            &'static pingora::server::ShutdownWatch,
            _,
        >(super::serve::<Stream>);
        let tls = std::mem::size_of::<pingora::protocols::tls::TlsStream<L4Stream>>();
        eprintln!("MEASURE HTTP/2 connection future {future} bytes, TLS stream {tls} bytes");
        assert!(future <= 2048, "{future} bytes");
        assert!(tls <= 1280, "{tls} bytes");
    }

    /// A transport that counts the codec's calls of its idle hook.
    struct Counted {
        io: tokio::io::DuplexStream,
        released: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    impl tokio::io::AsyncRead for Counted {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
        }
    }

    impl tokio::io::AsyncWrite for Counted {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
        }

        fn poll_flush(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.io).poll_flush(cx)
        }

        fn poll_shutdown(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
        }
    }

    /// The carried h2 patch 9 (vendor/h2/PATCHES.md): once a connection has served its
    /// stream and goes idle, the codec calls the transport's release hook (a TLS stream gives
    /// its record buffer back there); not before the stream is done.
    #[tokio::test]
    async fn an_idle_connection_has_its_transport_release_its_buffers() {
        use std::sync::atomic::Ordering::SeqCst;
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let released = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let server = tokio::spawn({
            let released = released.clone();
            async move {
                let io = Counted {
                    io: server_io,
                    released: released.clone(),
                };
                let mut conn = h2::server::handshake(io).await.unwrap();
                conn.set_release_idle_io(|io: &mut Counted| {
                    io.released.fetch_add(1, SeqCst);
                });
                while let Some(Ok((_request, mut respond))) = conn.accept().await {
                    // Driven again while the stream is open: the connection finds nothing to
                    // do and waits, without calling the hook.
                    let before = released.load(SeqCst);
                    let waits = std::future::poll_fn(|cx| {
                        std::task::Poll::Ready(conn.poll_accept(cx).is_pending())
                    })
                    .await;
                    assert!(waits);
                    assert_eq!(released.load(SeqCst), before, "released with a stream open");
                    respond
                        .send_response(http::Response::new(()), true)
                        .unwrap();
                }
            }
        });
        let (client, conn) = h2::client::handshake(client_io).await.unwrap();
        let driver = tokio::spawn(conn);
        let mut client = client.ready().await.unwrap();
        let calls_before_the_request = released.load(SeqCst);
        let request = http::Request::get("http://idle.test/").body(()).unwrap();
        let (response, _) = client.send_request(request, true).unwrap();
        assert_eq!(response.await.unwrap().status(), 200);
        tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while released.load(SeqCst) <= calls_before_the_request {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the idle connection called its transport's release hook");
        drop(client);
        driver.abort();
        server.abort();
    }
}
