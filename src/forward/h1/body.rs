//! Bodies, moved by one loop per direction without channels: request bodies from the client's
//! read-ahead buffer to the backend, response bodies from the backend's read buffer to the
//! client. Content-Length and chunked bodies end where their framing says (chunks pass through
//! unchanged, or lose their framing for an HTTP/1.0 client); close-delimited bodies end at EOF.
//!
//! Memory is bounded by the read sizes, whatever the body's length: each read is written on
//! before the next one.

use super::response::Framing;
use crate::forward::chunked::Framer;
use crate::listener::gated::Gated;
use bytes::{Buf, BytesMut};
use pingora::protocols::Stream;
use std::io::{self, IoSlice};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// Bytes asked for per read when streaming a body.
pub const READ_SIZE: usize = 64 * 1024;

/// How a body transfer failed, by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// The client closed its connection before the body ended.
    ClientClosed,
    /// The client's connection failed.
    ClientError,
    /// No byte from the client within the body timeout.
    ClientTimeout,
    /// The client sends slower than `min_body_rate`.
    ClientTooSlow,
    /// The request body passed `max_body_size`.
    TooLarge,
    /// The client's chunked framing is broken.
    ClientFraming(&'static str),
    /// The backend closed before the body ended.
    UpstreamClosed,
    /// The backend's connection failed.
    UpstreamError,
    /// No byte from the backend within its read timeout.
    UpstreamReadTimeout,
    /// The backend did not take bytes within its write timeout.
    UpstreamWriteTimeout,
    /// The backend's chunked framing is broken.
    UpstreamFraming(&'static str),
    /// The response took longer than `timeouts.response`.
    ResponseDeadline,
}

impl BodyError {
    /// The error kind for the access log and metrics (Pingora's names where they exist).
    pub fn kind(self) -> &'static str {
        match self {
            BodyError::ClientClosed | BodyError::UpstreamClosed => "ConnectionClosed",
            BodyError::ClientError => "ReadError",
            BodyError::UpstreamError => "WriteError",
            BodyError::ClientTimeout | BodyError::UpstreamReadTimeout => "ReadTimedout",
            BodyError::UpstreamWriteTimeout => "WriteTimedout",
            BodyError::ClientTooSlow => "BodyTooSlow",
            BodyError::TooLarge => "BodyTooLarge",
            BodyError::ClientFraming(_) | BodyError::UpstreamFraming(_) => "InvalidHTTPHeader",
            BodyError::ResponseDeadline => "ResponseDeadline",
        }
    }

    /// Whether the backend is at fault (counts against it, and is an upstream error).
    pub fn upstream(self) -> bool {
        matches!(
            self,
            BodyError::UpstreamClosed
                | BodyError::UpstreamError
                | BodyError::UpstreamReadTimeout
                | BodyError::UpstreamWriteTimeout
                | BodyError::UpstreamFraming(_)
                | BodyError::ResponseDeadline
        )
    }

    /// The status to answer with when no response has been sent yet (0: nobody to answer).
    pub fn status(self) -> u16 {
        match self {
            BodyError::ClientClosed | BodyError::ClientError => 0,
            BodyError::ClientTimeout | BodyError::ClientTooSlow => 408,
            BodyError::TooLarge => 413,
            BodyError::ClientFraming(_) => 400,
            BodyError::UpstreamReadTimeout
            | BodyError::UpstreamWriteTimeout
            | BodyError::ResponseDeadline => 504,
            BodyError::UpstreamClosed
            | BodyError::UpstreamError
            | BodyError::UpstreamFraming(_) => 502,
        }
    }
}

/// Writes all of `slices` (one system call in the common case).
///
/// # Errors
/// The writer's error, or `WriteZero`.
pub async fn write_all_vectored<W: AsyncWrite + Unpin>(
    w: &mut W,
    slices: &[&[u8]],
) -> io::Result<()> {
    let mut index = 0;
    let mut offset = 0;
    while index < slices.len() {
        if slices[index].len() == offset {
            index += 1;
            offset = 0;
            continue;
        }
        let mut io = [IoSlice::new(&[]); 4];
        let mut n_io = 0;
        for (k, s) in slices[index..].iter().enumerate().take(io.len()) {
            io[k] = IoSlice::new(if k == 0 { &s[offset..] } else { s });
            n_io = k + 1;
        }
        let mut n = w.write_vectored(&io[..n_io]).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while n > 0 && index < slices.len() {
            let left = slices[index].len() - offset;
            if n >= left {
                n -= left;
                index += 1;
                offset = 0;
            } else {
                offset += n;
                n = 0;
            }
        }
    }
    w.flush().await
}

/// The request body limits in force.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// Longest wait for the next body bytes.
    pub body_timeout: Duration,
    /// Minimum average rate, bytes/s (0: off).
    pub min_rate: u64,
    /// The rate is judged after this long.
    pub rate_grace: Duration,
    /// Largest body (payload bytes).
    pub max_size: Option<u64>,
    /// Longest wait for the backend to take bytes.
    pub upstream_write: Duration,
}

/// How a request body is framed, for sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestBody {
    /// This many bytes.
    Length(u64),
    /// Chunked, passed on as it came.
    Chunked,
}

/// Sends the request body from the client's read-ahead buffer and connection to the backend.
/// The first `already_sent` bytes of the buffer were sent with the head. Bytes after the body
/// (a pipelined request) stay in the buffer. Returns the payload size.
///
/// # Errors
/// Either side failing, a limit, or broken framing.
pub async fn send_request_body(
    client: &mut Gated,
    up: &mut Stream,
    body: RequestBody,
    already_sent: usize,
    limits: &RequestLimits,
) -> Result<u64, BodyError> {
    let started = Instant::now();
    let mut framer = Framer::new();
    let mut left = match body {
        RequestBody::Length(n) => n,
        RequestBody::Chunked => u64::MAX,
    };
    let mut payload = 0u64;
    let mut skip = already_sent;
    loop {
        // What of the buffer belongs to the body.
        if !client.prefix.is_empty() {
            let (take, done) = match body {
                RequestBody::Length(_) => {
                    let take = (left.min(client.prefix.len() as u64)) as usize;
                    left -= take as u64;
                    payload += take as u64;
                    (take, left == 0)
                }
                RequestBody::Chunked => {
                    let p = framer
                        .feed(&client.prefix, |_, _| {})
                        .map_err(BodyError::ClientFraming)?;
                    payload = framer.payload();
                    (p.consumed, p.done)
                }
            };
            if limits.max_size.is_some_and(|max| payload > max) {
                return Err(BodyError::TooLarge);
            }
            if take > skip {
                let write = up.write_all(&client.prefix[skip..take]);
                match tokio::time::timeout(limits.upstream_write, write).await {
                    Err(_) => return Err(BodyError::UpstreamWriteTimeout),
                    Ok(Err(_)) => return Err(BodyError::UpstreamError),
                    Ok(Ok(())) => {}
                }
            }
            skip = skip.saturating_sub(take);
            client.prefix.advance(take);
            if done {
                return match tokio::time::timeout(limits.upstream_write, up.flush()).await {
                    Err(_) => Err(BodyError::UpstreamWriteTimeout),
                    Ok(Err(_)) => Err(BodyError::UpstreamError),
                    Ok(Ok(())) => Ok(payload),
                };
            }
        }
        if limits.min_rate > 0 {
            let elapsed = started.elapsed();
            if elapsed > limits.rate_grace
                && (payload as f64) < elapsed.as_secs_f64() * limits.min_rate as f64
            {
                return Err(BodyError::ClientTooSlow);
            }
        }
        match tokio::time::timeout(limits.body_timeout, client.read_up_to(READ_SIZE)).await {
            Err(_) => return Err(BodyError::ClientTimeout),
            Ok(Err(_)) => return Err(BodyError::ClientError),
            Ok(Ok(0)) => return Err(BodyError::ClientClosed),
            Ok(Ok(_)) => {}
        }
    }
}

/// Where a response body goes, and how.
#[derive(Debug, Clone, Copy)]
pub struct ResponseRelay {
    /// Longest wait for the backend's next bytes.
    pub read_timeout: Duration,
    /// The whole response must be done by then (`timeouts.response`).
    pub deadline: Option<Instant>,
    /// Longest wait for the client to take bytes.
    pub client_write: Duration,
}

/// Where a response body stands: how it is framed and how much of it has passed.
#[derive(Debug)]
pub struct ResponseBody {
    framing: Framing,
    framer: Framer,
    left: u64,
    /// Drop the chunked framing (HTTP/1.0 client).
    dechunk: bool,
}

impl ResponseBody {
    /// A body framed like this, not started yet.
    pub fn new(framing: Framing, dechunk: bool) -> Self {
        ResponseBody {
            framing,
            framer: Framer::new(),
            left: match framing {
                Framing::Length(n) => n,
                _ => 0,
            },
            dechunk: dechunk && framing == Framing::Chunked,
        }
    }

    /// Whether the payload goes out without its chunked framing.
    pub fn dechunks(&self) -> bool {
        self.dechunk
    }

    /// How many bytes at the start of `data` belong to the body, passed on as they are, and
    /// whether the body ends there (not for a dechunked body).
    ///
    /// # Errors
    /// Broken chunked framing.
    pub fn take(&mut self, data: &[u8]) -> Result<(usize, bool), BodyError> {
        Ok(match self.framing {
            Framing::None => (0, true),
            Framing::Length(_) => {
                let take = self.left.min(data.len() as u64) as usize;
                self.left -= take as u64;
                (take, self.left == 0)
            }
            Framing::Chunked => {
                let p = self
                    .framer
                    .feed(data, |_, _| {})
                    .map_err(BodyError::UpstreamFraming)?;
                (p.consumed, p.done)
            }
            Framing::Close => (data.len(), false),
        })
    }
}

/// Relays the rest of a response body: `buf` holds what was read and not yet written, then
/// the rest is read from `up`. `progress` counts bytes written to the client. Returns whether
/// the backend connection ended exactly at the body's end (it may be reused).
///
/// # Errors
/// Either side failing, a timeout, or broken framing.
pub async fn relay_response_body(
    up: &mut Stream,
    buf: &mut BytesMut,
    client: &mut Gated,
    body: &mut ResponseBody,
    relay: &ResponseRelay,
    progress: &mut u64,
) -> Result<bool, BodyError> {
    if body.framing == Framing::None {
        return Ok(buf.is_empty());
    }
    loop {
        if !buf.is_empty() {
            if body.dechunk {
                let mut payload = Vec::new();
                let data: &[u8] = buf;
                let p = body
                    .framer
                    .feed(data, |s, e| payload.extend_from_slice(&data[s..e]))
                    .map_err(BodyError::UpstreamFraming)?;
                write_client(client, &payload, relay).await?;
                *progress += payload.len() as u64;
                buf.advance(p.consumed);
                if p.done {
                    return Ok(buf.is_empty());
                }
            } else {
                let (take, done) = body.take(buf)?;
                write_client(client, &buf[..take], relay).await?;
                *progress += take as u64;
                buf.advance(take);
                if done {
                    return Ok(buf.is_empty());
                }
            }
        }
        if relay.deadline.is_some_and(|d| Instant::now() > d) {
            return Err(BodyError::ResponseDeadline);
        }
        if buf.capacity() - buf.len() < 8192 {
            // Grows once for a long body; a short one fits the first buffer.
            buf.reserve(READ_SIZE);
        }
        match tokio::time::timeout(relay.read_timeout, up.read_buf(buf)).await {
            Err(_) => return Err(BodyError::UpstreamReadTimeout),
            Ok(Err(_)) => return Err(BodyError::UpstreamClosed),
            Ok(Ok(0)) => {
                if body.framing == Framing::Close {
                    return Ok(false);
                }
                return Err(BodyError::UpstreamClosed);
            }
            Ok(Ok(_)) => {}
        }
    }
}

async fn write_client(
    client: &mut Gated,
    data: &[u8],
    relay: &ResponseRelay,
) -> Result<(), BodyError> {
    if data.is_empty() {
        return Ok(());
    }
    match tokio::time::timeout(relay.client_write, client.write_all(data)).await {
        Err(_) => Err(BodyError::ClientTimeout),
        Ok(Err(_)) => Err(BodyError::ClientClosed),
        Ok(Ok(())) => Ok(()),
    }
}
