//! A client stream with bytes read ahead: the request gate reads (and checks) a request head
//! before Pingora does, then Pingora reads the same bytes from here, followed by the rest of
//! the connection. Everything else (TLS details, digests, shutdown) is the inner stream's.

use async_trait::async_trait;
use bytes::{Buf, BytesMut};
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::tls::TlsRef;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream,
    TimingDigest, UniqueID, UniqueIDType, ALPN,
};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// A stream whose first bytes come from a read-ahead buffer.
pub struct Gated {
    inner: Stream,
    /// Bytes read from `inner` that the next reader has not consumed yet.
    pub prefix: BytesMut,
    /// Payload size of the current request's chunked body, when the gate read all of it
    /// (lets route rules judge it before anything is forwarded).
    pub chunked_body_len: Option<u64>,
    /// A response head held back so that it leaves with the start of the body in one
    /// `writev` (Pingora writes them separately and does not flush a head with a
    /// `Content-Length`). Allocated while a response is written and freed at the flush: the
    /// listener has no L4 write buffer, which would otherwise stay allocated on every idle
    /// connection.
    out: Vec<u8>,
    /// How much of `out` is already written.
    out_written: usize,
    /// Whether the next write is a response head that may wait for the body. Only the head
    /// ever waits, and only until the next write or flush: holding later writes could stall a
    /// streaming body until the backend sends more.
    hold_next: bool,
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
            chunked_body_len: None,
            out: Vec::new(),
            out_written: 0,
            hold_next: false,
        }
    }

    /// Lets the next write (the head of the response to the request just read) wait for the
    /// body's first bytes.
    pub fn coalesce_response_head(&mut self) {
        self.hold_next = true;
    }

    /// Reads more bytes from the client into the read-ahead buffer (0 = closed).
    ///
    /// A connection waiting for its next request holds no buffer (see [`Gated::release`]):
    /// the wait reads into a small array in the task itself, and the heap buffer is only
    /// allocated once bytes arrive. Idle keep-alive connections are most connections at the
    /// edge; this keeps each to a few KiB.
    ///
    /// # Errors
    /// The stream's read error.
    pub async fn read_more(&mut self) -> io::Result<usize> {
        if self.prefix.capacity() == 0 {
            let mut first = [0u8; IDLE_READ];
            let n = self.inner.read(&mut first).await?;
            self.prefix = super::stash::bytes(READ_AHEAD.max(n));
            self.prefix.extend_from_slice(&first[..n]);
            return Ok(n);
        }
        self.prefix.reserve(READ_AHEAD);
        self.inner.read_buf(&mut self.prefix).await
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
/// A response head at least this large is written at once (one TCP segment's worth).
const COALESCE: usize = 1460;
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
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut *self.inner).poll_read(cx, buf)
    }
}

impl Gated {
    /// Writes out everything gathered in `out`.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.out_written < self.out.len() {
            let n =
                ready!(Pin::new(&mut *self.inner).poll_write(cx, &self.out[self.out_written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_written += n;
        }
        self.out.clear();
        self.out_written = 0;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Gated {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.out.is_empty() {
            if std::mem::take(&mut this.hold_next) && buf.len() < COALESCE {
                this.out.reserve_exact(COALESCE);
                this.out.extend_from_slice(buf);
                return Poll::Ready(Ok(buf.len()));
            }
            return Pin::new(&mut *this.inner).poll_write(cx, buf);
        }
        // The held head goes out together with (the start of) this write.
        loop {
            let held = this.out.len() - this.out_written;
            let slices = [
                io::IoSlice::new(&this.out[this.out_written..]),
                io::IoSlice::new(buf),
            ];
            let n = ready!(Pin::new(&mut *this.inner).poll_write_vectored(cx, &slices))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            if n < held {
                this.out_written += n;
                continue;
            }
            this.out.clear();
            this.out_written = 0;
            if n > held {
                return Poll::Ready(Ok(n - held));
            }
            return Pin::new(&mut *this.inner).poll_write(cx, buf);
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.out.is_empty() && !this.hold_next {
            return Pin::new(&mut *this.inner).poll_write_vectored(cx, bufs);
        }
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &**b);
        Pin::new(this).poll_write(cx, first)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_drain(cx))?;
        this.out = Vec::new();
        Pin::new(&mut *this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut *this.inner).poll_shutdown(cx)
    }
}

#[async_trait]
impl Shutdown for Gated {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await;
    }
}

impl UniqueID for Gated {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for Gated {
    fn get_ssl(&self) -> Option<&TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<pingora::protocols::tls::SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for Gated {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for Gated {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest);
    }
}

impl GetSocketDigest for Gated {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest);
    }
}

#[async_trait]
impl Peek for Gated {
    /// Pingora peeks for the h2c preface; serve it from (and into) the read-ahead buffer.
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        while self.prefix.len() < buf.len() {
            if self.read_more().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        buf.copy_from_slice(&self.prefix[..buf.len()]);
        Ok(true)
    }
}
