//! An HTTP/1 client's request to a `protocol = "h2"` pool: the head becomes HTTP/2 pseudo-headers
//! and fields (the same forwarding edits as over HTTP/1, plus `te: trailers`), the body goes in
//! DATA frames under the backend's flow control, and the response comes back as HTTP/1.1 —
//! length-delimited when the backend said how long, else chunked with the backend's trailers
//! (`grpc-status`…) as chunked trailers, or delimited by the close for an HTTP/1.0 client.

mod body;
mod head;

pub(crate) use body::{push_hex, send_data};
use body::{send_body, ClientFraming};
use head::{request, write_head};

use super::body::{write_all_vectored, BodyError, RequestLimits};
use super::exchange::{answer, Ctx, Next};
use super::local::Local;
use super::relay::{failed_early, Attempt, Target};
use super::Conn;
use crate::forward::account::Outcome;
use crate::forward::h2pool::Slot;
use crate::listener::gated::Gated;
use crate::listener::head::Body;
use bytes::BytesMut;
use http::header;
use pingora::ErrorType;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

/// One attempt over an HTTP/2 connection.
#[allow(clippy::too_many_arguments)]
pub(super) async fn attempt(
    ctx: &Ctx<'_>,
    conn: &mut Conn,
    target: &Target<'_>,
    slot: Slot,
    attempts: &crate::forward::pick::Attempts,
    outcome: &mut Outcome,
) -> Attempt {
    let req = ctx.req;
    let timeouts = target.route.timeouts(&target.pool.config.timeouts);
    let limits = &ctx.snapshot.config.limits;
    let request = match request(ctx, conn, target) {
        Ok(r) => r,
        Err(why) => {
            outcome.error = Some(why);
            return Attempt::Done(
                answer(ctx, conn, Some(target.route), Local::error(400), outcome).await,
            );
        }
    };
    let has_body = req.head.body != Body::None;
    let sender = slot.sender();
    let ready = tokio::time::timeout(timeouts.write, sender.ready()).await;
    let Ok(Ok(mut sender)) = ready else {
        return failed_early(
            ctx,
            conn,
            target,
            ErrorType::ConnectionClosed,
            false,
            slot.reused,
            true,
            attempts,
            outcome,
        )
        .await;
    };
    let (response, mut stream) = match sender.send_request(request, !has_body) {
        Ok(pair) => pair,
        Err(e) => {
            tracing::debug!(error = %e, "HTTP/2 request refused");
            return failed_early(
                ctx,
                conn,
                target,
                ErrorType::ConnectionClosed,
                false,
                slot.reused,
                true,
                attempts,
                outcome,
            )
            .await;
        }
    };
    let sent_at = Instant::now();
    let mut body_consumed = !has_body;
    if has_body {
        if req.head.expect_continue {
            // The backend's answer to the headers would come over HTTP/2; the client waits
            // for ours. A proxy may give the go-ahead itself (RFC 9110 §10.1.1).
            let _ = conn
                .client
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await;
        }
        let request_limits = RequestLimits {
            body_timeout: limits.body_timeout,
            min_rate: limits.min_body_rate,
            rate_grace: limits.body_rate_grace,
            max_size: target.route.extras.max_body_size,
            upstream_write: timeouts.write,
        };
        match send_body(
            &mut conn.client,
            &mut stream,
            req.head.body,
            &request_limits,
        )
        .await
        {
            Ok(n) => {
                outcome.bytes_in = n;
                body_consumed = true;
            }
            Err(e) if e.upstream() => {
                // The stream was reset: an early answer may still be there.
                outcome.error = Some(e.kind());
                outcome.upstream_error = true;
            }
            Err(e) => {
                stream.send_reset(h2::Reason::CANCEL);
                outcome.error = Some(e.kind());
                let status = e.status();
                if status == 0 {
                    return Attempt::Done(Next::Close);
                }
                return Attempt::Done(
                    answer(ctx, conn, Some(target.route), Local::error(status), outcome).await,
                );
            }
        }
    }
    let response = match tokio::time::timeout(timeouts.read, response).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "HTTP/2 response failed");
            let replayable = !has_body;
            return failed_early(
                ctx,
                conn,
                target,
                ErrorType::ConnectionClosed,
                false,
                slot.reused,
                replayable,
                attempts,
                outcome,
            )
            .await;
        }
        Err(_) => {
            return failed_early(
                ctx,
                conn,
                target,
                ErrorType::ReadTimedout,
                false,
                slot.reused,
                !has_body,
                attempts,
                outcome,
            )
            .await;
        }
    };
    outcome.error = None;
    outcome.upstream_error = false;
    let (parts, body) = response.into_parts();
    let status = parts.status.as_u16();
    outcome.upstream_status = Some(status);
    outcome.upstream_ttfb = Some(sent_at.elapsed());
    target.pool.report_response(target.index, status);
    relay(
        ctx,
        conn,
        target,
        &parts,
        body,
        body_consumed,
        sent_at,
        outcome,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn relay(
    ctx: &Ctx<'_>,
    conn: &mut Conn,
    target: &Target<'_>,
    parts: &http::response::Parts,
    mut body: h2::RecvStream,
    body_consumed: bool,
    sent_at: Instant,
    outcome: &mut Outcome,
) -> Attempt {
    let req = ctx.req;
    let status = parts.status.as_u16();
    let no_body = req.is_head() || status == 204 || status == 304 || (100..200).contains(&status);
    let framing = if no_body {
        ClientFraming::None
    } else if parts.headers.contains_key(header::CONTENT_LENGTH) {
        ClientFraming::Length
    } else if body.is_end_stream() {
        ClientFraming::None
    } else if req.head.http10 {
        ClientFraming::Close
    } else {
        ClientFraming::Chunked
    };
    let close = !ctx.keepalive(body_consumed) || framing == ClientFraming::Close;
    write_head(ctx, conn, target, parts, framing, close, no_body);
    let client_write = ctx.snapshot.config.limits.body_timeout;
    let timeouts = target.route.timeouts(&target.pool.config.timeouts);
    let deadline = timeouts.response.map(|d| sent_at + d);
    let mut head = std::mem::take(&mut conn.out);
    let mut progress = 0u64;
    let mut chunk_line = BytesMut::new();
    let result: Result<(), BodyError> = async {
        if framing == ClientFraming::None {
            return write(&mut conn.client, &[&head], client_write).await;
        }
        loop {
            if deadline.is_some_and(|d| Instant::now() > d) {
                return Err(BodyError::ResponseDeadline);
            }
            let data = match tokio::time::timeout(timeouts.read, body.data()).await {
                Err(_) => return Err(BodyError::UpstreamReadTimeout),
                Ok(None) => break,
                Ok(Some(Err(_))) => return Err(BodyError::UpstreamClosed),
                Ok(Some(Ok(data))) => data,
            };
            let _ = body.flow_control().release_capacity(data.len());
            if data.is_empty() {
                continue;
            }
            progress += data.len() as u64;
            if framing == ClientFraming::Chunked {
                chunk_line.clear();
                push_hex(&mut chunk_line, data.len());
                chunk_line.extend_from_slice(b"\r\n");
                write(
                    &mut conn.client,
                    &[&head, &chunk_line, &data, b"\r\n"],
                    client_write,
                )
                .await?;
            } else {
                write(&mut conn.client, &[&head, &data], client_write).await?;
            }
            head.clear();
        }
        if framing == ClientFraming::Chunked {
            let trailers = match tokio::time::timeout(timeouts.read, body.trailers()).await {
                Err(_) => return Err(BodyError::UpstreamReadTimeout),
                Ok(Err(_)) => return Err(BodyError::UpstreamClosed),
                Ok(Ok(t)) => t,
            };
            let mut end = b"0\r\n".to_vec();
            for (name, value) in trailers.iter().flat_map(|t| t.iter()) {
                end.extend_from_slice(name.as_str().as_bytes());
                end.extend_from_slice(b": ");
                end.extend_from_slice(value.as_bytes());
                end.extend_from_slice(b"\r\n");
            }
            end.extend_from_slice(b"\r\n");
            write(&mut conn.client, &[&head, &end], client_write).await?;
        } else if !head.is_empty() {
            write(&mut conn.client, &[&head], client_write).await?;
        }
        Ok(())
    }
    .await;
    head.clear();
    conn.out = head;
    outcome.bytes_out = progress;
    match result {
        Ok(()) => {
            outcome.status = status;
            Attempt::Done(if close { Next::Close } else { Next::KeepAlive })
        }
        Err(e) => {
            outcome.status = if progress == 0 && !matches!(e, BodyError::ClientClosed) {
                status
            } else {
                outcome.upstream_status.unwrap_or(0)
            };
            outcome.error = Some(e.kind());
            outcome.upstream_error = e.upstream();
            if matches!(
                e,
                BodyError::UpstreamReadTimeout | BodyError::ResponseDeadline
            ) {
                target.pool.report_timeout(target.index);
            }
            Attempt::Done(Next::Close)
        }
    }
}

async fn write(client: &mut Gated, slices: &[&[u8]], limit: Duration) -> Result<(), BodyError> {
    match tokio::time::timeout(limit, write_all_vectored(client, slices)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(BodyError::ClientClosed),
        Err(_) => Err(BodyError::ClientTimeout),
    }
}
