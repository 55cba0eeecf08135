//! An HTTP/1 client's request to a `protocol = "h2"` pool: the head becomes HTTP/2 pseudo-headers
//! and fields (the same forwarding edits as over HTTP/1, plus `te: trailers`), the body goes in
//! DATA frames under the backend's flow control, and the response comes back as HTTP/1.1 —
//! length-delimited when the backend said how long, else chunked with the backend's trailers
//! (`grpc-status`…) as chunked trailers, or delimited by the close for an HTTP/1.0 client.

use super::body::{write_all_vectored, BodyError, RequestLimits, READ_SIZE};
use super::exchange::{answer, Ctx, Next};
use super::local::{reason, Local};
use super::relay::{failed_early, Attempt, Target};
use super::request::ruled;
use super::Conn;
use crate::forward::account::Outcome;
use crate::forward::chunked::Framer;
use crate::forward::h2pool::Slot;
use crate::listener::gated::Gated;
use crate::listener::head::{Body, FieldKind};
use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderName, HeaderValue};
use pingora::ErrorType;
use std::future::poll_fn;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

/// Builds the HTTP/2 request: pseudo-headers from the request line and `Host`, every field
/// HTTP/2 allows (no connection-specific ones), the forwarding fields, `te: trailers`.
fn request(
    ctx: &Ctx<'_>,
    conn: &Conn,
    target: &Target<'_>,
) -> Result<http::Request<()>, &'static str> {
    let req = ctx.req;
    let route = target.route;
    let scheme = if pingora::upstreams::peer::Peer::tls(&target.backend.peer) {
        "https"
    } else {
        "http"
    };
    let path = super::relay::upstream_path(route, target.path);
    let mut uri = String::with_capacity(req.host.len() + path.len() + 16);
    uri.push_str(scheme);
    uri.push_str("://");
    let host_rule = route
        .request_headers
        .set
        .iter()
        .find(|(n, _)| n == header::HOST)
        .and_then(|(_, v)| v.to_str().ok());
    uri.push_str(host_rule.unwrap_or(req.host));
    uri.push_str(path);
    if let Some(q) = req.query {
        uri.push('?');
        uri.push_str(q);
    }
    let mut builder = http::Request::builder()
        .method(req.method)
        .uri(uri)
        .version(http::Version::HTTP_2);
    let headers = builder.headers_mut().ok_or("invalid request")?;
    let buf = req.buf;
    let mut forwarded_for: Vec<u8> = Vec::new();
    for field in req.fields {
        match field.kind {
            FieldKind::Connection
            | FieldKind::HopByHop
            | FieldKind::Upgrade
            | FieldKind::TransferEncoding
            | FieldKind::Host
            | FieldKind::Expect
            | FieldKind::XForwardedProto
            | FieldKind::XForwardedHost
            | FieldKind::XRequestId => continue,
            FieldKind::XForwardedFor => {
                if !forwarded_for.is_empty() {
                    forwarded_for.extend_from_slice(b", ");
                }
                forwarded_for.extend_from_slice(field.value(buf));
                continue;
            }
            _ => {}
        }
        let name = field.name(buf);
        if ruled(&route.request_headers, name)
            || crate::tls::client_auth::is_stripped(&ctx.snapshot.client_cert_strip, name)
        {
            continue;
        }
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name),
            HeaderValue::from_bytes(field.value(buf)),
        ) else {
            return Err("unrepresentable header field");
        };
        if name == header::TE {
            continue;
        }
        headers.append(name, value);
    }
    if let Some(ip) = conn.info.peer.map(|a| a.ip()) {
        if !forwarded_for.is_empty() {
            forwarded_for.extend_from_slice(b", ");
        }
        super::request::write_ip(&mut forwarded_for, ip);
    }
    let static_value = HeaderValue::from_static;
    if let Ok(v) = HeaderValue::from_bytes(&forwarded_for) {
        if !forwarded_for.is_empty() {
            headers.insert("x-forwarded-for", v);
        }
    }
    headers.insert(
        "x-forwarded-proto",
        static_value(if conn.info.tls { "https" } else { "http" }),
    );
    if let Ok(v) = HeaderValue::from_str(req.host) {
        headers.insert("x-forwarded-host", v);
    }
    if let Ok(v) = HeaderValue::from_bytes(ctx.id.as_bytes()) {
        headers.insert("x-request-id", v);
    }
    let cert_fields = crate::tls::client_auth::forwarded(
        ctx.snapshot
            .listeners
            .get(conn.info.listener)
            .and_then(|l| l.client_cert_headers.as_ref()),
        conn.info.client_cert.as_deref(),
    );
    for (name, value) in cert_fields.iter().flatten() {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert((*name).clone(), v);
        }
    }
    for name in &route.request_headers.remove {
        headers.remove(name);
    }
    for (name, value) in &route.request_headers.set {
        if name != header::HOST {
            headers.insert(name.clone(), value.clone());
        }
    }
    for (name, value) in &route.request_headers.add {
        if name != header::HOST {
            headers.append(name.clone(), value.clone());
        }
    }
    headers.insert(header::TE, static_value("trailers"));
    builder.body(()).map_err(|_| "invalid request")
}

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
            max_size: target.route.max_body_size,
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

/// How the response body reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientFraming {
    None,
    Length,
    Chunked,
    Close,
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

/// The client's HTTP/1.1 head for an HTTP/2 response, into `conn.out`.
fn write_head(
    ctx: &Ctx<'_>,
    conn: &mut Conn,
    target: &Target<'_>,
    parts: &http::response::Parts,
    framing: ClientFraming,
    close: bool,
    no_body: bool,
) {
    let route = target.route;
    let server_header = ctx.snapshot.config.server.server_header;
    let hsts = ctx.hsts(&conn.info, Some(route));
    let out = &mut conn.out;
    out.clear();
    let status = parts.status.as_u16();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut has_date = false;
    for (name, value) in &parts.headers {
        let n = name.as_str();
        if (server_header && name == header::SERVER)
            || (hsts.is_some() && name == header::STRICT_TRANSPORT_SECURITY)
            || n == "x-request-id"
            || ruled(&route.response_headers, n.as_bytes())
        {
            continue;
        }
        has_date |= name == header::DATE;
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in route
        .response_headers
        .set
        .iter()
        .chain(route.response_headers.add.iter())
    {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(hsts) = hsts {
        out.extend_from_slice(b"strict-transport-security: ");
        out.extend_from_slice(hsts);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(cookie) = target.set_cookie {
        out.extend_from_slice(b"set-cookie: ");
        out.extend_from_slice(cookie.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"x-request-id: ");
    out.extend_from_slice(ctx.id.as_bytes());
    out.extend_from_slice(b"\r\n");
    if server_header {
        out.extend_from_slice(b"server: gatehouse\r\n");
    }
    if !has_date {
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(pingora::protocols::http::date::get_cached_date().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match framing {
        ClientFraming::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        ClientFraming::None if !no_body => out.extend_from_slice(b"content-length: 0\r\n"),
        _ => {}
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    } else if ctx.req.head.http10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Sends the request body in DATA frames, as the backend's flow control allows.
async fn send_body(
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
