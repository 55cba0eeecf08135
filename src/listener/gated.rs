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
            std::task::ready!(Pin::new(&mut *self.inner).poll_read(cx, &mut buf))?;
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
