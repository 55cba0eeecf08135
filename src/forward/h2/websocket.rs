//! WebSocket over HTTP/2 (RFC 8441): a client opens a stream with an extended CONNECT
//! (`:method CONNECT`, `:protocol websocket`); gatehouse asks the HTTP/1.1 backend for the same
//! WebSocket with a classic `Upgrade` request (its own `Sec-WebSocket-Key`, the answer checked),
//! answers the stream `200` when the backend switches protocols, and from then on carries the
//! bytes both ways as a tunnel, under the pool's `timeouts.tunnel` like any other tunnel.

use super::answer::{self, Answer};
use super::io::StreamIo;
use super::stream::{failed_early, Attempt, StreamCtx, Target};
use super::to_h1::{self, RequestFraming};
use crate::forward::account::{OpenTunnel, Outcome};
use crate::forward::h1::response::{self, ResponseHead};
use crate::forward::pick::Attempts;
use crate::forward::tunnel;
use crate::forward::upstream::Upstream;
use crate::listener::head::Field;
use crate::proxy::headers::X_REQUEST_ID;
use bytes::Bytes;
use bytes::{Buf, BytesMut};
use h2::server::SendResponse;
use h2::RecvStream;
use http::{header, HeaderName, HeaderValue};
use pingora::ErrorType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::handshake::{client::generate_key, derive_accept_key};

/// Whether the backend's `101` is the switch gatehouse asked for: `Upgrade: websocket` and
/// the right `Sec-WebSocket-Accept`.
fn accepted(buf: &[u8], head: &ResponseHead, fields: &[Field], key: &str) -> bool {
    let upgrade_ok = head
        .upgrade
        .is_some_and(|(s, e)| buf[s as usize..e as usize].eq_ignore_ascii_case(b"websocket"));
    let expected = derive_accept_key(key.as_bytes());
    let accept_ok = fields.iter().any(|f| {
        f.name(buf).eq_ignore_ascii_case(b"sec-websocket-accept")
            && f.value(buf) == expected.as_bytes()
    });
    upgrade_ok && accept_ok
}

/// Serves an extended CONNECT for WebSocket through an HTTP/1.1 connection to the backend.
/// A failure before the backend's first byte is handed back like any other attempt's (retried
/// on a fresh connection when it may be the keep-alive race).
pub async fn tunnel(
    ctx: &StreamCtx<'_>,
    target: &Target<'_>,
    mut up: Upstream,
    body: RecvStream,
    respond: &mut SendResponse<Bytes>,
    attempts: &Attempts,
    outcome: &mut Outcome,
) -> Attempt {
    let timeouts = target.route.timeouts(&target.pool.config.timeouts);
    let key = generate_key();
    let mut out = Vec::with_capacity(512);
    to_h1::write_head(ctx, target, RequestFraming::None, Some(&key), &mut out);
    let sent = tokio::time::Instant::now();
    let early =
        |kind: ErrorType, body, respond: &mut SendResponse<Bytes>, outcome: &mut Outcome| {
            failed_early(
                ctx,
                target,
                kind,
                up.reused,
                Some(body),
                respond,
                attempts,
                outcome,
            )
        };
    match tokio::time::timeout(timeouts.write, up.stream.write_all(&out)).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return early(ErrorType::WriteError, body, respond, outcome),
        Err(_) => return early(ErrorType::WriteTimedout, body, respond, outcome),
    }
    let mut buf = BytesMut::with_capacity(4096);
    let mut fields = Vec::new();
    let head = loop {
        match tokio::time::timeout(timeouts.read, up.stream.read_buf(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            Err(_) => return early(ErrorType::ReadTimedout, body, respond, outcome),
            _ if buf.is_empty() => {
                return early(ErrorType::ConnectionClosed, body, respond, outcome)
            }
            _ => return bad_answer(ctx, target, respond, outcome),
        }
        match response::parse(&buf, false, &mut fields) {
            Ok(Some(h)) if (100..200).contains(&h.status) && h.status != 101 => buf.advance(h.len),
            Ok(Some(h)) => break h,
            Ok(None) if buf.len() < 64 * 1024 => {}
            _ => return bad_answer(ctx, target, respond, outcome),
        }
    };
    outcome.upstream_status = Some(head.status);
    outcome.upstream_ttfb = Some(sent.elapsed());
    target.pool.report_response(target.index, head.status);
    if head.status != 101 || !accepted(&buf, &head, &fields, &key) {
        // Refused (or a bad switch): an ordinary answer. A refusal's body is not relayed.
        if head.status == 101 {
            return bad_answer(ctx, target, respond, outcome);
        }
        answer::send(
            ctx,
            respond,
            Some(target.route),
            Answer::error(head.status),
            outcome,
        );
        return Attempt::Done;
    }
    // The switch, in HTTP/2's terms: 200 on the stream, the negotiated extensions and
    // subprotocol passed on.
    let mut response = http::Response::builder().status(200);
    if let Some(h) = response.headers_mut() {
        for f in &fields {
            let name = f.name(&buf);
            if name.eq_ignore_ascii_case(b"sec-websocket-protocol")
                || name.eq_ignore_ascii_case(b"sec-websocket-extensions")
            {
                if let (Ok(n), Ok(v)) = (
                    HeaderName::from_bytes(name),
                    HeaderValue::from_bytes(f.value(&buf)),
                ) {
                    h.append(n, v);
                }
            }
        }
        if let Ok(mut v) = HeaderValue::from_bytes(ctx.id.as_bytes()) {
            v.set_sensitive(true);
            h.insert(X_REQUEST_ID.clone(), v);
        }
        if let Some(hsts) = ctx.hsts(Some(target.route)) {
            h.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
        }
    }
    let Ok(head_only) = response.body(()) else {
        return Attempt::Done;
    };
    let Ok(send) = respond.send_response(head_only, false) else {
        outcome.error = Some("ConnectionClosed");
        return Attempt::Done;
    };
    outcome.status = 200;
    buf.advance(head.len);
    let mut io = StreamIo::new(body, send);
    // What the backend already sent in the new protocol goes first.
    if !buf.is_empty() && io.write_all(&buf).await.is_err() {
        outcome.error = Some("ConnectionClosed");
        return Attempt::Done;
    }
    let open = OpenTunnel::begin(target.pool);
    let _counted = target.backend.state.begin_tunnel();
    let result = tunnel::run(&mut io, &mut up.stream, timeouts.tunnel).await;
    open.end(&result);
    outcome.bytes_in = result.to_upstream;
    outcome.bytes_out = result.to_client;
    if result.end != tunnel::End::Closed {
        outcome.error = Some(result.end.as_str());
    }
    Attempt::Done
}

/// The backend answered with something that is not HTTP, or switched without the key's proof.
fn bad_answer(
    ctx: &StreamCtx<'_>,
    target: &Target<'_>,
    respond: &mut SendResponse<Bytes>,
    outcome: &mut Outcome,
) -> Attempt {
    outcome.error = Some("InvalidHTTPHeader");
    outcome.upstream_error = true;
    answer::send(
        ctx,
        respond,
        Some(target.route),
        Answer::error(502),
        outcome,
    );
    Attempt::Done
}
