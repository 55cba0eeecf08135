//! Relaying a response the backend started: its head (rewritten for the client), then its
//! body, and the decision whether the connections can be kept.

use super::{client_gone, Attempt, Target};
use crate::forward::account::Outcome;
use crate::forward::h1::body::{
    relay_response_body, write_all_vectored, BodyError, ResponseBody, ResponseRelay,
};
use crate::forward::h1::exchange::{answer, Ctx, Next};
use crate::forward::h1::local::Local;
use crate::forward::h1::response::{ClientHead, Framing, ResponseHead};
use crate::forward::h1::{response, Conn};
use crate::forward::upstream::Upstream;
use crate::listener::stash::StashedBytes;
use bytes::Buf;
use tokio::time::Instant;

/// Relays a final response to the client, then keeps the backend connection if it is clean.
#[allow(clippy::too_many_arguments)]
pub(super) async fn relay_response(
    ctx: &Ctx<'_>,
    conn: &mut Conn,
    target: &Target<'_>,
    up: Upstream,
    mut buf: StashedBytes,
    head: &ResponseHead,
    body_consumed: bool,
    sent_at: Instant,
    outcome: &mut Outcome,
) -> Attempt {
    let mut up = up;
    let req = ctx.req;
    let route = target.route;
    let timeouts = target.route.timeouts(&target.pool.config.timeouts);
    let dechunk = req.head.http10 && head.framing == Framing::Chunked;
    let close = !ctx.keepalive(body_consumed) || head.framing == Framing::Close || dechunk;
    let rules =
        (!route.extras.response_headers.is_empty()).then_some(&route.extras.response_headers);
    response::write_client_head(
        &mut conn.out,
        &buf,
        head,
        &conn.resp_fields,
        &ClientHead {
            rules,
            hsts: ctx.hsts(&conn.info, Some(route)),
            set_cookie: target.set_cookie.map(http::HeaderValue::as_bytes),
            request_id: ctx.id.as_bytes(),
            server_header: ctx.snapshot.config.server.server_header,
            close,
            keep_alive: req.head.http10 && !close,
            dechunk,
        },
    );
    buf.advance(head.len);
    let mut body = ResponseBody::new(head.framing, dechunk);
    let (take, mut done) = if body.dechunks() {
        (0, false)
    } else {
        match body.take(&buf) {
            Ok(t) => t,
            Err(e) => {
                outcome.error = Some(e.kind());
                outcome.upstream_error = true;
                return Attempt::Done(
                    answer(ctx, conn, Some(route), Local::error(502), outcome).await,
                );
            }
        }
    };
    let client_write = ctx.snapshot.config.limits.body_timeout;
    let slices = [conn.out.as_slice(), &buf[..take]];
    let write = write_all_vectored(&mut conn.client, &slices);
    if !matches!(tokio::time::timeout(client_write, write).await, Ok(Ok(()))) {
        return client_gone(outcome);
    }
    outcome.status = head.status;
    let mut progress = take as u64;
    buf.advance(take);
    let mut clean = done && buf.is_empty();
    if !done {
        let relay = ResponseRelay {
            read_timeout: timeouts.read,
            deadline: timeouts.response.map(|d| sent_at + d),
            client_write,
        };
        match relay_response_body(
            &mut up.stream,
            &mut buf,
            &mut conn.client,
            &mut body,
            &relay,
            &mut progress,
        )
        .await
        {
            Ok(c) => {
                clean = c;
                done = true;
            }
            Err(e) => {
                outcome.bytes_out = progress;
                outcome.error = Some(e.kind());
                outcome.upstream_error = e.upstream();
                if matches!(
                    e,
                    BodyError::UpstreamReadTimeout | BodyError::ResponseDeadline
                ) {
                    target.pool.report_timeout(target.index);
                    target
                        .backend
                        .metrics
                        .timeout(&target.pool.name, &target.backend.label);
                }
                return Attempt::Done(Next::Close);
            }
        }
    }
    outcome.bytes_out = progress;
    if done && clean && !head.close && body_consumed {
        ctx.engine.connector.release(up, timeouts.idle);
    }
    Attempt::Done(if close { Next::Close } else { Next::KeepAlive })
}
