//! A client stream with bytes read ahead: the request gate reads (and checks) a request head
//! into the read-ahead buffer, where the engine forwards it from (the head is parsed once), and
//! a body, a tunnel or an HTTP/2 codec reads what follows from here: first what is left in the
//! buffer, then the stream itself.

use bytes::{Buf, BytesMut};
use pingora::protocols::{Stream, ALPN};
use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// A stream whose first bytes come from a read-ahead buffer.
pub struct Gated {
    inner: Stream,
    /// Bytes read from `inner` that the next reader has not consumed yet.
    pub prefix: BytesMut,
}

impl std::fmt::Debug for Gated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gated")
            .field("buffered", &self.prefix.len())
            .finish()
    }
}

impl Gated {
    /// Wraps a client stream.
    pub fn new(inner: Stream) -> Self {
        Gated {
            inner,
            prefix: BytesMut::new(),
        }
    }

    /// Reads more bytes from the client into the read-ahead buffer (0 = closed).
    ///
    /// A connection waiting for its next request holds no buffer (see [`Gated::release`]):
    /// the wait reads into a small array on the stack of each poll, and the heap buffer is
    /// only allocated once bytes arrive. Idle keep-alive connections are most connections at
    /// the edge; this keeps each to a few KiB. The array lives in the poll, not in the
    /// future: a read that returns `Pending` wrote nothing into it, so nothing is kept across
    /// polls, and the future is a pointer (it used to carry, zero and copy the 512 bytes on
    /// every request).
    ///
    /// # Errors
    /// The stream's read error.
    pub fn read_more(&mut self) -> impl std::future::Future<Output = io::Result<usize>> + '_ {
        std::future::poll_fn(move |cx| self.poll_read_more(cx))
    }

    /// [`Gated::read_more`], one poll.
    fn poll_read_more(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.prefix.capacity() == 0 {
            let mut first = [std::mem::MaybeUninit::<u8>::uninit(); IDLE_READ];
            let mut buf = ReadBuf::uninit(&mut first);
            match Pin::new(&mut *self.inner).poll_read(cx, &mut buf) {
                Poll::Ready(read) => read?,
                Poll::Pending => {
                    // The connection waits for its client with nothing of a request read: TLS
                    // gives its record buffer back too (4 KiB, which rustls would otherwise
                    // keep for the connection's life), as nginx and HAProxy have OpenSSL
                    // release its buffers on idle connections.
                    self.inner.release_idle_buffers();
                    return Poll::Pending;
                }
            }
            let n = buf.filled().len();
            self.prefix = super::stash::bytes(READ_AHEAD.max(n));
            self.prefix.extend_from_slice(buf.filled());
            return Poll::Ready(Ok(n));
        }
        self.prefix.reserve(READ_AHEAD);
        // `read_buf`'s future holds only its two references: one made per poll is the same
        // read.
        std::pin::pin!(self.inner.read_buf(&mut self.prefix)).poll(cx)
    }

    /// Reads more bytes from the client, asking for up to `n` at once (streaming a body).
    ///
    /// # Errors
    /// The stream's read error.
    pub async fn read_up_to(&mut self, n: usize) -> io::Result<usize> {
        self.prefix.reserve(n);
        self.inner.read_buf(&mut self.prefix).await
    }

    /// Frees the read-ahead buffer if everything in it was consumed (between requests).
    pub fn release(&mut self) {
        if self.prefix.is_empty() {
            super::stash::put_bytes(std::mem::take(&mut self.prefix));
        }
    }

    /// The stream's TLS state, if any (to route h2 by ALPN).
    pub fn alpn(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

/// A transport that can give back its buffers while its connection waits for the peer: the
/// HTTP/2 codec calls it when a client connection goes idle (on either kind of client stream
/// it runs on), the upstream idle pool on the backend connections it keeps.
pub trait IdleRelease {
    /// Gives back the transport's buffers (TLS's record buffer); a no-op for plain TCP.
    fn release_idle_buffers(&mut self);
}

impl IdleRelease for Stream {
    fn release_idle_buffers(&mut self) {
        pingora::protocols::Ssl::release_idle_buffers(&mut **self);
    }
}

impl IdleRelease for Gated {
    fn release_idle_buffers(&mut self) {
        self.inner.release_idle_buffers();
    }
}

/// What an idle connection's first read takes in one go: most request heads fit.
const IDLE_READ: usize = 512;
/// How much the read-ahead buffer grows by once a request is arriving.
const READ_AHEAD: usize = 4096;

impl AsyncRead for Gated {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            if self.prefix.is_empty() {
                // Whoever reads through this trait (the HTTP/2 codec of an h2c connection, a
                // tunnel) reads the socket itself from now on: the read-ahead buffer goes back
                // to the stash instead of staying with the connection for its whole life.
                super::stash::put_bytes(std::mem::take(&mut self.prefix));
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut *self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Gated {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::counting;
    use crate::tls::test_pair::{configs, idle_test, RECORD_BUFFER};
    use rustls::Connection;
    use std::io::{Read as _, Write as _};
    use tokio::io::AsyncWriteExt as _;

    /// The TLS bytes `from` has to send.
    fn wire(from: &mut Connection) -> Vec<u8> {
        let mut wire = Vec::new();
        while from.wants_write() {
            from.write_tls(&mut wire).unwrap();
        }
        wire
    }

    /// Feeds `bytes` to `to` and lets it process them.
    fn feed(to: &mut Connection, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            to.read_tls(&mut bytes).unwrap();
            to.process_new_packets().unwrap();
        }
    }

    fn release(server: &mut Connection) {
        if let Connection::Server(s) = server {
            s.release_idle_buffers();
        }
    }

    /// The carried rustls patch (vendor/rustls/PATCHES.md): an idle connection gives its 4 KiB
    /// record buffer back, and a connection holding part of a record keeps it — releasing
    /// then loses nothing.
    #[test]
    fn rustls_gives_back_an_empty_record_buffer_and_keeps_a_partial_record() {
        let (server_config, client_config) = configs();
        let mut client =
            Connection::Client(rustls::ClientConnection::new(client_config, idle_test()).unwrap());
        let mut server = Connection::Server(rustls::ServerConnection::new(server_config).unwrap());
        while client.is_handshaking() || server.is_handshaking() {
            let to_server = wire(&mut client);
            feed(&mut server, &to_server);
            let to_client = wire(&mut server);
            feed(&mut client, &to_client);
        }
        let request = b"GET / HTTP/1.1\r\nHost: idle.test\r\n\r\n";
        client.writer().write_all(request).unwrap();
        let record = wire(&mut client);
        let (first, second) = record.split_at(record.len() / 2);

        // Half a record is held across a release and completed by the rest.
        feed(&mut server, first);
        let ((), held) = counting::measure(|| release(&mut server));
        // (The empty queues' storage, ~100 bytes, may go; the record buffer stays.)
        assert!(
            held.live_bytes > -RECORD_BUFFER,
            "a partial record's buffer was freed ({} bytes)",
            -held.live_bytes
        );
        feed(&mut server, second);
        let mut got = vec![0; request.len()];
        server.reader().read_exact(&mut got).unwrap();
        assert_eq!(&got[..], &request[..]);

        // Everything read: the buffer goes back.
        let ((), idle) = counting::measure(|| release(&mut server));
        assert!(
            idle.live_bytes <= -RECORD_BUFFER,
            "an idle connection gave back {} bytes",
            -idle.live_bytes
        );
    }

    /// Through Pingora's TLS stream and this wrapper, as the HTTP/1 engine waits for a
    /// client's next request: the wait's first poll that finds nothing gives the record buffer
    /// back, and the connection then reads the next request as before.
    #[test]
    fn a_tls_connection_waiting_for_its_next_request_holds_no_record_buffer() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (client, server) = crate::tls::test_pair::connected().await;
            let mut client = client;
            let mut gated = Gated::new(Box::new(server));
            for request in [&b"first"[..], b"second"] {
                client.write_all(request).await.unwrap();
                client.flush().await.unwrap();
                while gated.prefix.len() < request.len() {
                    gated.read_more().await.unwrap();
                }
                assert_eq!(&gated.prefix[..], request);
                gated.prefix.clear();
                gated.release();
                // The wait for the next request: nothing has been sent.
                let (pending, idle) = counting::measure(|| {
                    let mut cx = Context::from_waker(std::task::Waker::noop());
                    gated.poll_read_more(&mut cx).is_pending()
                });
                assert!(pending);
                assert!(
                    idle.live_bytes <= -RECORD_BUFFER,
                    "the idle wait gave back {} bytes",
                    -idle.live_bytes
                );
            }
        });
    }
}
