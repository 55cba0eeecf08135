//! A tunnel: after a backend switches protocols (`101` to an `Upgrade` request: WebSocket and
//! the like), bytes flow both ways unchanged until both sides are done, and nothing HTTP is
//! ever written into it again.
//!
//! HAProxy's model: once upgraded, only `timeout tunnel` applies: the tunnel is closed after that
//! long without a byte in either direction. A half-close is passed on (a side that finished
//! sending has its write side shut on the other end) and the other direction keeps flowing.
//! An error on either side closes both.
//!
//! An idle tunnel holds no buffer: each read goes into a stack buffer and is written on at
//! once; only bytes the other side could not take yet are kept on the heap, until written.

use std::future::{poll_fn, Future as _};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// How much one read moves at most.
const CHUNK: usize = 16 * 1024;

/// Why a tunnel ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Both directions finished (each side closed its sending half).
    Closed,
    /// No byte in either direction for the idle timeout.
    IdleTimeout,
    /// The client's connection failed.
    ClientError,
    /// The backend's connection failed.
    UpstreamError,
}

impl End {
    /// A short name for the access log and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            End::Closed => "closed",
            End::IdleTimeout => "idle_timeout",
            End::ClientError => "client_error",
            End::UpstreamError => "upstream_error",
        }
    }
}

/// What a finished tunnel moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Bytes from the client to the backend.
    pub to_upstream: u64,
    /// Bytes from the backend to the client.
    pub to_client: u64,
    /// Why it ended.
    pub end: End,
}

/// One direction of the tunnel.
#[derive(Default)]
struct Half {
    /// Bytes read but not yet written (empty, and unallocated, most of the time).
    pending: Vec<u8>,
    written: usize,
    /// The reader reached EOF.
    eof: bool,
    /// The writer's sending half was shut after EOF: this direction is done.
    done: bool,
    bytes: u64,
}

impl Half {
    /// Moves what it can. `Ready(Ok)` once this direction is done; `active` is set when a byte
    /// moved.
    fn poll_copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut R,
        writer: &mut W,
        active: &mut bool,
    ) -> Poll<Result<(), Side>>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        loop {
            if self.done {
                return Poll::Ready(Ok(()));
            }
            if self.written < self.pending.len() {
                let n =
                    ready!(Pin::new(&mut *writer).poll_write(cx, &self.pending[self.written..]))
                        .map_err(|_| Side::Writer)?;
                if n == 0 {
                    return Poll::Ready(Err(Side::Writer));
                }
                self.written += n;
                *active = true;
                if self.written == self.pending.len() {
                    self.pending = Vec::new();
                    self.written = 0;
                }
                continue;
            }
            if self.eof {
                ready!(Pin::new(&mut *writer).poll_flush(cx)).map_err(|_| Side::Writer)?;
                // The other side may already be gone; the direction is done either way.
                let _ = ready!(Pin::new(&mut *writer).poll_shutdown(cx));
                self.done = true;
                return Poll::Ready(Ok(()));
            }
            let mut stack = [0u8; CHUNK];
            let mut buf = ReadBuf::new(&mut stack);
            ready!(Pin::new(&mut *reader).poll_read(cx, &mut buf)).map_err(|_| Side::Reader)?;
            let data = buf.filled();
            if data.is_empty() {
                self.eof = true;
                continue;
            }
            *active = true;
            self.bytes += data.len() as u64;
            // Straight on when the writer takes it; what it cannot take waits on the heap.
            let n = match Pin::new(&mut *writer).poll_write(cx, data) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(Err(Side::Writer)),
                Poll::Ready(Ok(n)) => n,
                Poll::Pending => 0,
            };
            if n < data.len() {
                self.pending = data[n..].to_vec();
                self.written = 0;
            } else {
                // Flushed lazily: the streams here write through (no user-space write buffer
                // except TLS records, which rustls sends as they are produced).
                let _ = Pin::new(&mut *writer).poll_flush(cx);
            }
        }
    }
}

/// Which end of a copy failed.
#[derive(Debug, Clone, Copy)]
enum Side {
    Reader,
    Writer,
}

/// Runs a tunnel between `client` and `upstream` until both directions finish, either side
/// fails, or nothing moves for `idle`.
pub async fn run<C, U>(client: &mut C, upstream: &mut U, idle: Duration) -> Outcome
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let mut up = Half::default();
    let mut down = Half::default();
    let mut last_activity = Instant::now();
    // One timer for the whole tunnel: activity only records the time; when the timer fires
    // early it is pushed to the real deadline.
    let sleep = tokio::time::sleep(idle);
    tokio::pin!(sleep);
    let end = poll_fn(|cx| {
        let mut active = false;
        let up_ready = up.poll_copy(cx, client, upstream, &mut active);
        if let Poll::Ready(Err(side)) = up_ready {
            return Poll::Ready(match side {
                Side::Reader => End::ClientError,
                Side::Writer => End::UpstreamError,
            });
        }
        let down_ready = down.poll_copy(cx, upstream, client, &mut active);
        if let Poll::Ready(Err(side)) = down_ready {
            return Poll::Ready(match side {
                Side::Reader => End::UpstreamError,
                Side::Writer => End::ClientError,
            });
        }
        if up.done && down.done {
            return Poll::Ready(End::Closed);
        }
        if active {
            last_activity = Instant::now();
        }
        loop {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let deadline = last_activity + idle;
            if deadline <= Instant::now() {
                return Poll::Ready(End::IdleTimeout);
            }
            sleep.as_mut().reset(deadline);
        }
    })
    .await;
    Outcome {
        to_upstream: up.bytes,
        to_client: down.bytes,
        end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn bytes_flow_both_ways_and_half_close_is_passed_on() {
        let (mut client_far, mut client_near) = duplex(64);
        let (mut upstream_near, mut upstream_far) = duplex(64);
        let tunnel = tokio::spawn(async move {
            run(
                &mut client_near,
                &mut upstream_near,
                Duration::from_secs(60),
            )
            .await
        });
        client_far.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        upstream_far.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        // The client stops sending: the backend sees EOF but can still answer at length.
        client_far.shutdown().await.unwrap();
        assert_eq!(upstream_far.read(&mut buf).await.unwrap(), 0);
        let big = vec![7u8; 100_000];
        let send = async {
            upstream_far.write_all(&big).await.unwrap();
            upstream_far.shutdown().await.unwrap();
        };
        let mut got = Vec::new();
        let receive = client_far.read_to_end(&mut got);
        let (_, received) = tokio::join!(send, receive);
        received.unwrap();
        assert_eq!(got, big);
        let outcome = tunnel.await.unwrap();
        assert_eq!(
            outcome,
            Outcome {
                to_upstream: 4,
                to_client: 100_000,
                end: End::Closed
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_tunnel_is_closed_after_the_timeout_and_activity_extends_it() {
        let (mut client_far, mut client_near) = duplex(64);
        let (mut upstream_near, mut upstream_far) = duplex(64);
        let started = Instant::now();
        let tunnel = tokio::spawn(async move {
            run(
                &mut client_near,
                &mut upstream_near,
                Duration::from_secs(10),
            )
            .await
        });
        tokio::time::sleep(Duration::from_secs(8)).await;
        client_far.write_all(b"x").await.unwrap();
        let mut b = [0u8; 1];
        upstream_far.read_exact(&mut b).await.unwrap();
        let outcome = tunnel.await.unwrap();
        assert_eq!(outcome.end, End::IdleTimeout);
        let lasted = started.elapsed();
        assert!(
            lasted >= Duration::from_secs(18) && lasted < Duration::from_secs(19),
            "{lasted:?}"
        );
    }
}
