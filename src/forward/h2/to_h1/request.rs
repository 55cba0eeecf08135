//! The HTTP/1 request an HTTP/2 stream becomes: its head (framing chosen for the body) and
//! the body sent after it.

use crate::forward::h1::body::{write_all_vectored, BodyError};
use crate::forward::h1::request::{ruled, write_ip};
use crate::forward::h1::to_h2::push_hex;
use crate::forward::h2::stream::{StreamCtx, Target};
use crate::forward::upstream::Upstream;
use crate::listener::head::FieldKind;
use bytes::BytesMut;
use h2::RecvStream;
use std::time::Duration;
use tokio::time::Instant;

/// How the request body goes to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::forward::h2) enum RequestFraming {
    None,
    Length,
    Chunked,
}

/// The backend's HTTP/1.1 request head, into `out`. With `websocket_key`, the head of the
/// WebSocket upgrade an extended CONNECT stands for (RFC 8441), with gatehouse's own key.
pub(in crate::forward::h2) fn write_head(
    ctx: &StreamCtx<'_>,
    target: &Target<'_>,
    framing: RequestFraming,
    websocket_key: Option<&str>,
    out: &mut Vec<u8>,
) {
    let parts = ctx.parts;
    let rules = &target.route.extras.request_headers;
    out.clear();
    let method = if websocket_key.is_some() {
        "GET"
    } else {
        parts.method.as_str()
    };
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.path.as_bytes());
    if let Some(q) = parts.uri.query() {
        out.push(b'?');
        out.extend_from_slice(q.as_bytes());
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !ruled(rules, b"host") {
        out.extend_from_slice(b"host: ");
        out.extend_from_slice(ctx.host.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let mut forwarded_for: Vec<&[u8]> = Vec::new();
    for (name, value) in &parts.headers {
        let n = name.as_str();
        let kind = FieldKind::of(n.as_bytes());
        match kind {
            FieldKind::XForwardedFor => {
                forwarded_for.push(value.as_bytes());
                continue;
            }
            FieldKind::Host
            | FieldKind::Connection
            | FieldKind::HopByHop
            | FieldKind::Upgrade
            | FieldKind::TransferEncoding
            | FieldKind::XForwardedProto
            | FieldKind::XForwardedHost
            | FieldKind::XRequestId => continue,
            FieldKind::ContentLength if framing != RequestFraming::Length => continue,
            _ => {}
        }
        if !rules.is_empty() && ruled(rules, n.as_bytes()) {
            continue;
        }
        if crate::tls::client_auth::is_stripped(&ctx.snapshot.client_cert_strip, n.as_bytes()) {
            continue;
        }
        if websocket_key.is_some() && n.eq_ignore_ascii_case("sec-websocket-key") {
            continue;
        }
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let own = |name: &[u8]| rules.is_empty() || !ruled(rules, name);
    if own(b"x-forwarded-for") {
        out.extend_from_slice(b"x-forwarded-for: ");
        for v in &forwarded_for {
            out.extend_from_slice(v);
            out.extend_from_slice(b", ");
        }
        match ctx.info.peer {
            Some(peer) => write_ip(out, peer.ip()),
            None if !forwarded_for.is_empty() => out.truncate(out.len() - 2),
            None => {}
        }
        out.extend_from_slice(b"\r\n");
    }
    if own(b"x-forwarded-proto") {
        out.extend_from_slice(if ctx.info.tls {
            b"x-forwarded-proto: https\r\n"
        } else {
            b"x-forwarded-proto: http\r\n"
        });
    }
    if !ctx.host.is_empty() && own(b"x-forwarded-host") {
        out.extend_from_slice(b"x-forwarded-host: ");
        out.extend_from_slice(ctx.host.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if own(b"x-request-id") {
        out.extend_from_slice(b"x-request-id: ");
        out.extend_from_slice(ctx.id.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in ctx.client_cert_fields().iter().flatten() {
        if own(name.as_str().as_bytes()) {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    for (name, value) in rules.set.iter().chain(rules.add.iter()) {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if framing == RequestFraming::Chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if let Some(key) = websocket_key {
        if !parts.headers.contains_key("sec-websocket-version") {
            out.extend_from_slice(b"sec-websocket-version: 13\r\n");
        }
        out.extend_from_slice(b"sec-websocket-key: ");
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\r\nconnection: upgrade\r\nupgrade: websocket\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Sends the client's body to the backend (length-delimited or chunked), within the limits.
pub(super) async fn send_body(
    body: &mut RecvStream,
    up: &mut Upstream,
    framing: RequestFraming,
    ctx: &StreamCtx<'_>,
    target: &Target<'_>,
) -> Result<u64, BodyError> {
    let limits = &ctx.snapshot.config.limits;
    let write_limit = target.route.timeouts(&target.pool.config.timeouts).write;
    let started = Instant::now();
    let mut payload = 0u64;
    let mut line = BytesMut::new();
    loop {
        let data = match tokio::time::timeout(limits.body_timeout, body.data()).await {
            Err(_) => return Err(BodyError::ClientTimeout),
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(BodyError::ClientClosed),
            Ok(Some(Ok(data))) => data,
        };
        let _ = body.flow_control().release_capacity(data.len());
        payload += data.len() as u64;
        if target
            .route
            .extras
            .max_body_size
            .is_some_and(|max| payload > max)
        {
            return Err(BodyError::TooLarge);
        }
        if limits.min_body_rate > 0 {
            let elapsed = started.elapsed();
            if elapsed > limits.body_rate_grace
                && (payload as f64) < elapsed.as_secs_f64() * limits.min_body_rate as f64
            {
                return Err(BodyError::ClientTooSlow);
            }
        }
        if data.is_empty() {
            continue;
        }
        let result = if framing == RequestFraming::Chunked {
            line.clear();
            push_hex(&mut line, data.len());
            line.extend_from_slice(b"\r\n");
            write_upstream(up, &[&line, &data, b"\r\n"], write_limit).await
        } else {
            write_upstream(up, &[&data], write_limit).await
        };
        result?;
    }
    if framing == RequestFraming::Chunked {
        let trailers = body.trailers().await.ok().flatten();
        let mut end = b"0\r\n".to_vec();
        for (name, value) in trailers.iter().flat_map(|t| t.iter()) {
            end.extend_from_slice(name.as_str().as_bytes());
            end.extend_from_slice(b": ");
            end.extend_from_slice(value.as_bytes());
            end.extend_from_slice(b"\r\n");
        }
        end.extend_from_slice(b"\r\n");
        write_upstream(up, &[&end], write_limit).await?;
    }
    Ok(payload)
}

async fn write_upstream(
    up: &mut Upstream,
    slices: &[&[u8]],
    limit: Duration,
) -> Result<(), BodyError> {
    match tokio::time::timeout(limit, write_all_vectored(&mut up.stream, slices)).await {
        Err(_) => Err(BodyError::UpstreamWriteTimeout),
        Ok(Err(_)) => Err(BodyError::UpstreamError),
        Ok(Ok(())) => Ok(()),
    }
}
