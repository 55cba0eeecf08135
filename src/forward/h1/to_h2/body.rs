//! Request bodies across the translation: HTTP/1 framing read from the client, sent as
//! HTTP/2 DATA frames under the stream's flow control.

use crate::forward::chunked::Framer;
use crate::forward::h1::body::{BodyError, RequestLimits, READ_SIZE};
use crate::listener::gated::Gated;
use crate::listener::head::Body;
use bytes::Buf;
use bytes::{Bytes, BytesMut};
use std::future::poll_fn;
use std::time::Duration;
use tokio::time::Instant;

/// How the response body reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ClientFraming {
    None,
    Length,
    Chunked,
    Close,
}

/// Sends the request body in DATA frames, as the backend's flow control allows.
pub(super) async fn send_body(
    client: &mut Gated,
    stream: &mut h2::SendStream<Bytes>,
    body: Body,
    limits: &RequestLimits,
) -> Result<u64, BodyError> {
    let started = Instant::now();
    let mut framer = Framer::new();
    let mut left = match body {
        Body::Length(n) => n,
        _ => u64::MAX,
    };
    let mut payload = 0u64;
    loop {
        if !client.prefix.is_empty() {
            let (data, done) = match body {
                Body::Chunked => {
                    let mut data = BytesMut::new();
                    let input: &[u8] = &client.prefix;
                    let p = framer
                        .feed(input, |s, e| data.extend_from_slice(&input[s..e]))
                        .map_err(BodyError::ClientFraming)?;
                    client.prefix.advance(p.consumed);
                    (data.freeze(), p.done)
                }
                _ => {
                    let take = left.min(client.prefix.len() as u64) as usize;
                    left -= take as u64;
                    (client.prefix.split_to(take).freeze(), left == 0)
                }
            };
            payload += data.len() as u64;
            if limits.max_size.is_some_and(|max| payload > max) {
                return Err(BodyError::TooLarge);
            }
            send_data(stream, data, done, limits.upstream_write).await?;
            if done {
                return Ok(payload);
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

/// Sends `data` as the backend's window allows (and ends the stream with it when `end`).
pub(crate) async fn send_data(
    stream: &mut h2::SendStream<Bytes>,
    mut data: Bytes,
    end: bool,
    limit: Duration,
) -> Result<(), BodyError> {
    while !data.is_empty() {
        stream.reserve_capacity(data.len());
        let capacity = tokio::time::timeout(limit, poll_fn(|cx| stream.poll_capacity(cx))).await;
        let n = match capacity {
            Err(_) => return Err(BodyError::UpstreamWriteTimeout),
            Ok(None) | Ok(Some(Err(_))) => return Err(BodyError::UpstreamError),
            Ok(Some(Ok(n))) => n.min(data.len()),
        };
        if n == 0 {
            continue;
        }
        let piece = data.split_to(n);
        let last = end && data.is_empty();
        stream
            .send_data(piece, last)
            .map_err(|_| BodyError::UpstreamError)?;
        if last {
            return Ok(());
        }
    }
    if end {
        stream
            .send_data(Bytes::new(), true)
            .map_err(|_| BodyError::UpstreamError)?;
    }
    Ok(())
}

pub(crate) fn push_hex(out: &mut BytesMut, mut n: usize) {
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}
