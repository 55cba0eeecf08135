//! An HTTP/2 stream to an HTTP/1.1 backend: the head becomes an HTTP/1.1 head (`Host` from
//! `:authority`, the forwarding fields, the route's rules), the body is sent length-delimited or
//! chunked, and the backend's response — parsed once — goes back as HTTP/2 headers and DATA
//! frames under the client's flow control.

mod request;
mod response_head;

use request::send_body;
pub(super) use request::{write_head, RequestFraming};
use response_head::{interim, read_head, response_head, HeadError};

use super::stream::{failed_early, Attempt, StreamCtx, Target};
use crate::forward::account::Outcome;
use crate::forward::chunked::Framer;
use crate::forward::h1::body::{write_all_vectored, BodyError, READ_SIZE};
use crate::forward::h1::response::Framing;
use crate::forward::h1::to_h2::send_data;
use crate::forward::pick::Attempts;
use crate::forward::upstream::Upstream;
use crate::listener::deadline::{within, TimedOut};
use crate::listener::stash::{StashedBytes, StashedSet};
use bytes::{Buf, Bytes, BytesMut};
use h2::server::SendResponse;
use h2::RecvStream;
use http::header;
use pingora::ErrorType;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;

/// One attempt on an HTTP/1.1 connection.
#[allow(clippy::too_many_arguments)]
pub async fn attempt(
    ctx: &StreamCtx<'_>,
    target: &Target<'_>,
    mut up: Upstream,
    mut body: RecvStream,
    respond: &mut SendResponse<Bytes>,
    attempts: &Attempts,
    outcome: &mut Outcome,
) -> Attempt {
    let timeouts = target.route.timeouts(&target.pool.config.timeouts);
    let limits = &ctx.snapshot.config.limits;
    let framing = if body.is_end_stream() {
        RequestFraming::None
    } else if ctx.parts.headers.contains_key(header::CONTENT_LENGTH) {
        RequestFraming::Length
    } else {
        RequestFraming::Chunked
    };
    // The head and the response's field spans, in buffers from the thread's stash.
    let mut bufs = StashedSet::default();
    write_head(ctx, target, framing, None, &mut bufs.out);
    let sent_at = Instant::now();
    let slices = [bufs.out.as_slice()];
    // A head the socket takes at once (nearly every one) needs no timer.
    let write = within(timeouts.write, write_all_vectored(&mut up.stream, &slices));
    if !matches!(write.await, Ok(Ok(()))) {
        return failed_early(
            ctx,
            target,
            ErrorType::WriteError,
            up.reused,
            Some(body),
            respond,
            attempts,
            outcome,
        );
    }
    let mut body_sent = framing == RequestFraming::None;
    if !body_sent {
        match send_body(&mut body, &mut up, framing, ctx, target).await {
            Ok(n) => {
                outcome.bytes_in = n;
                body_sent = true;
            }
            Err(e) if e.upstream() => {
                outcome.error = Some(e.kind());
                outcome.upstream_error = true;
            }
            Err(e) => {
                outcome.error = Some(e.kind());
                let status = e.status();
                if status == 0 {
                    return Attempt::Done;
                }
                super::answer::send(
                    ctx,
                    respond,
                    Some(target.route),
                    super::answer::Answer::error(status),
                    outcome,
                );
                return Attempt::Done;
            }
        }
    }
    // The response head; interim responses other than 101 are passed on (100, 103).
    let mut buf = StashedBytes::new(16 * 1024);
    let fields = &mut bufs.resp_fields;
    let head = loop {
        match read_head(ctx, &mut up, &mut buf, fields, respond, timeouts.read).await {
            Ok(h) if (100..200).contains(&h.status) && h.status != 101 => {
                if h.status == 103 {
                    if let Ok(hint) = interim(&buf, &h, fields) {
                        let _ = respond.send_informational(hint);
                    }
                }
                buf.advance(h.len);
            }
            Ok(h) => break h,
            Err(HeadError::ClientGone) => {
                outcome.error = Some("ConnectionClosed");
                return Attempt::Done;
            }
            Err(HeadError::Backend(kind, any_byte)) => {
                let body = (!any_byte && framing == RequestFraming::None).then_some(body);
                return failed_early(
                    ctx, target, kind, up.reused, body, respond, attempts, outcome,
                );
            }
        }
    };
    outcome.error = None;
    outcome.upstream_error = false;
    outcome.upstream_status = Some(head.status);
    outcome.upstream_ttfb = Some(sent_at.elapsed());
    target.pool.report_response(target.index, head.status);
    if head.status == 101 {
        outcome.error = Some("InvalidUpgrade");
        outcome.upstream_error = true;
        super::answer::send(
            ctx,
            respond,
            Some(target.route),
            super::answer::Answer::error(502),
            outcome,
        );
        return Attempt::Done;
    }
    let Ok(client_head) = response_head(ctx, target, &buf, &head, fields) else {
        outcome.error = Some("InvalidHTTPHeader");
        outcome.upstream_error = true;
        let answer = super::answer::Answer::error(502);
        super::answer::send(ctx, respond, Some(target.route), answer, outcome);
        return Attempt::Done;
    };
    buf.advance(head.len);
    outcome.status = head.status;
    let end = head.framing == Framing::None;
    let Ok(mut stream) = respond.send_response(client_head, end) else {
        outcome.error = Some("ConnectionClosed");
        return Attempt::Done;
    };
    if end {
        if body_sent && !head.close && buf.is_empty() {
            ctx.engine.connector.release(up, timeouts.idle);
        }
        return Attempt::Done;
    }
    // The body, as the backend framed it, without its HTTP/1 framing.
    let deadline = timeouts.response.map(|d| sent_at + d);
    let mut framer = Framer::new();
    let mut left = match head.framing {
        Framing::Length(n) => n,
        _ => u64::MAX,
    };
    let write_limit = limits.body_timeout;
    let result: Result<bool, BodyError> = async {
        loop {
            if !buf.is_empty() {
                let (data, done) = match head.framing {
                    Framing::Chunked => {
                        let mut data = BytesMut::new();
                        let input: &[u8] = &buf;
                        let p = framer
                            .feed(input, |s, e| data.extend_from_slice(&input[s..e]))
                            .map_err(BodyError::UpstreamFraming)?;
                        buf.advance(p.consumed);
                        (data.freeze(), p.done)
                    }
                    _ => {
                        let take = left.min(buf.len() as u64) as usize;
                        left -= take as u64;
                        (buf.split_to(take).freeze(), left == 0)
                    }
                };
                outcome.bytes_out += data.len() as u64;
                send_data(&mut stream, data, done, write_limit)
                    .await
                    .map_err(|_| BodyError::ClientClosed)?;
                if done {
                    return Ok(buf.is_empty());
                }
            }
            if deadline.is_some_and(|d| Instant::now() > d) {
                return Err(BodyError::ResponseDeadline);
            }
            if buf.capacity() - buf.len() < 8192 {
                // Grows once for a long body; a short one fits the first buffer.
                buf.reserve(READ_SIZE);
            }
            let read = up.stream.read_buf(&mut *buf);
            match up.watchdog.run(Instant::now() + timeouts.read, read).await {
                Err(TimedOut) => return Err(BodyError::UpstreamReadTimeout),
                Ok(Err(_)) => return Err(BodyError::UpstreamClosed),
                Ok(Ok(0)) if head.framing == Framing::Close => {
                    send_data(&mut stream, Bytes::new(), true, write_limit)
                        .await
                        .map_err(|_| BodyError::ClientClosed)?;
                    return Ok(false);
                }
                Ok(Ok(0)) => return Err(BodyError::UpstreamClosed),
                Ok(Ok(_)) => {}
            }
        }
    }
    .await;
    match result {
        Ok(clean) => {
            if clean && body_sent && !head.close {
                ctx.engine.connector.release(up, timeouts.idle);
            }
        }
        Err(e) => {
            stream.send_reset(h2::Reason::INTERNAL_ERROR);
            outcome.error = Some(e.kind());
            outcome.upstream_error = e.upstream();
            if matches!(
                e,
                BodyError::UpstreamReadTimeout | BodyError::ResponseDeadline
            ) {
                target.pool.report_timeout(target.index);
            }
        }
    }
    Attempt::Done
}
