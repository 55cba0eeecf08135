//! An HTTP/2 stream to an HTTP/1.1 backend: the head becomes an HTTP/1.1 head (`Host` from
//! `:authority`, the forwarding fields, the route's rules), the body is sent length-delimited or
//! chunked, and the backend's response — parsed once — goes back as HTTP/2 headers and DATA
//! frames under the client's flow control.

use super::stream::{failed_early, Attempt, StreamCtx, Target};
use crate::forward::account::Outcome;
use crate::forward::chunked::Framer;
use crate::forward::h1::body::{write_all_vectored, BodyError, READ_SIZE};
use crate::forward::h1::request::{ruled, write_ip};
use crate::forward::h1::response::{self, Framing, ResponseHead};
use crate::forward::h1::to_h2::{push_hex, send_data};
use crate::forward::pick::Attempts;
use crate::forward::upstream::Upstream;
use crate::listener::head::{Field, FieldKind};
use crate::listener::stash::StashedBytes;
use bytes::{Buf, Bytes, BytesMut};
use h2::server::SendResponse;
use h2::RecvStream;
use http::{header, HeaderName, HeaderValue};
use pingora::ErrorType;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;

/// How the request body goes to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RequestFraming {
    None,
    Length,
    Chunked,
}

/// The backend's HTTP/1.1 request head, into `out`. With `websocket_key`, the head of the
/// WebSocket upgrade an extended CONNECT stands for (RFC 8441), with gatehouse's own key.
pub(super) fn write_head(
    ctx: &StreamCtx<'_>,
    target: &Target<'_>,
    framing: RequestFraming,
    websocket_key: Option<&str>,
    out: &mut Vec<u8>,
) {
    let parts = ctx.parts;
    let rules = &target.route.request_headers;
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
    let mut out = Vec::with_capacity(512);
    write_head(ctx, target, framing, None, &mut out);
    let sent_at = Instant::now();
    let slices = [out.as_slice()];
    let write = tokio::time::timeout(timeouts.write, write_all_vectored(&mut up.stream, &slices));
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
    let mut fields: Vec<Field> = Vec::with_capacity(32);
    let head = loop {
        match read_head(ctx, &mut up, &mut buf, &mut fields, respond, timeouts.read).await {
            Ok(h) if (100..200).contains(&h.status) && h.status != 101 => {
                if h.status == 103 {
                    if let Ok(hint) = interim(&buf, &h, &fields) {
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
    let Ok(client_head) = response_head(ctx, target, &buf, &head, &fields) else {
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
            match tokio::time::timeout(timeouts.read, up.stream.read_buf(&mut *buf)).await {
                Err(_) => return Err(BodyError::UpstreamReadTimeout),
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

/// Sends the client's body to the backend (length-delimited or chunked), within the limits.
async fn send_body(
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
        if target.route.max_body_size.is_some_and(|max| payload > max) {
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

enum HeadError {
    ClientGone,
    /// The backend failed: the error kind, whether any response byte had arrived.
    Backend(ErrorType, bool),
}

/// Reads a response head from the backend, watching for the client resetting the stream.
async fn read_head(
    ctx: &StreamCtx<'_>,
    up: &mut Upstream,
    buf: &mut BytesMut,
    fields: &mut Vec<Field>,
    respond: &mut SendResponse<Bytes>,
    read_timeout: Duration,
) -> Result<ResponseHead, HeadError> {
    let is_head = ctx.parts.method == http::Method::HEAD;
    let mut deadline = Instant::now() + read_timeout;
    let mut any = !buf.is_empty();
    loop {
        if !buf.is_empty() {
            match response::parse(buf, is_head, fields) {
                Ok(Some(h)) => return Ok(h),
                Ok(None) if buf.len() > 64 * 1024 => {
                    return Err(HeadError::Backend(ErrorType::InvalidHTTPHeader, true))
                }
                Ok(None) => {}
                Err(_) => return Err(HeadError::Backend(ErrorType::InvalidHTTPHeader, true)),
            }
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        let read = tokio::time::timeout_at(deadline, up.stream.read_buf(buf));
        tokio::select! {
            biased;
            r = read => match r {
                Err(_) => return Err(HeadError::Backend(ErrorType::ReadTimedout, any)),
                Ok(Err(_)) => return Err(HeadError::Backend(ErrorType::ReadError, any)),
                Ok(Ok(0)) => return Err(HeadError::Backend(ErrorType::ConnectionClosed, any)),
                Ok(Ok(_)) => {
                    any = true;
                    deadline = Instant::now() + read_timeout;
                }
            },
            _ = std::future::poll_fn(|cx| respond.poll_reset(cx)) => return Err(HeadError::ClientGone),
        }
    }
}

/// An interim (103) response head for the client.
fn interim(buf: &[u8], head: &ResponseHead, fields: &[Field]) -> Result<http::Response<()>, ()> {
    let mut b = http::Response::builder().status(head.status);
    for f in fields {
        if f.kind == FieldKind::Other {
            b = b.header(f.name(buf), f.value(buf));
        }
    }
    b.body(()).map_err(|_| ())
}

/// The client's HTTP/2 response head: the backend's fields but those HTTP/2 forbids
/// (connection-specific ones) and the ones gatehouse replaces, then gatehouse's own.
fn response_head(
    ctx: &StreamCtx<'_>,
    target: &Target<'_>,
    buf: &[u8],
    head: &ResponseHead,
    fields: &[Field],
) -> Result<http::Response<()>, ()> {
    let route = target.route;
    let server_header = ctx.snapshot.config.server.server_header;
    let hsts = ctx.hsts(Some(route));
    let nominated: Vec<&[u8]> = fields
        .iter()
        .filter(|f| f.kind == FieldKind::Connection)
        .flat_map(|f| f.value(buf).split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .collect();
    let mut response = http::Response::builder().status(head.status);
    let headers = response.headers_mut().ok_or(())?;
    let mut has_date = false;
    for f in fields {
        let name = f.name(buf);
        let keep = match f.kind {
            FieldKind::Connection
            | FieldKind::Upgrade
            | FieldKind::TransferEncoding
            | FieldKind::XRequestId => false,
            FieldKind::HopByHop => name.eq_ignore_ascii_case(b"trailer"),
            FieldKind::ContentLength => matches!(head.framing, Framing::Length(_)),
            _ => {
                let replaced = (server_header && name.eq_ignore_ascii_case(b"server"))
                    || (hsts.is_some() && name.eq_ignore_ascii_case(b"strict-transport-security"));
                !replaced && !nominated.iter().any(|n| n.eq_ignore_ascii_case(name))
            }
        };
        if !keep || (!route.response_headers.is_empty() && ruled(&route.response_headers, name)) {
            continue;
        }
        has_date |= name.eq_ignore_ascii_case(b"date");
        let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name),
            HeaderValue::from_bytes(f.value(buf)),
        ) else {
            return Err(());
        };
        headers.append(n, v);
    }
    for (name, value) in &route.response_headers.set {
        headers.insert(name.clone(), value.clone());
    }
    for (name, value) in &route.response_headers.add {
        headers.append(name.clone(), value.clone());
    }
    if let Some(hsts) = hsts {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
    }
    if let Some(cookie) = target.set_cookie {
        headers.append(header::SET_COOKIE, cookie.clone());
    }
    if let Ok(mut v) = HeaderValue::from_bytes(ctx.id.as_bytes()) {
        // Unique per response: never worth a place in the HPACK table (it would push
        // out the fields that repeat, and make every lookup slower).
        v.set_sensitive(true);
        headers.insert("x-request-id", v);
    }
    if server_header {
        headers.insert(header::SERVER, HeaderValue::from_static("gatehouse"));
    }
    if !has_date {
        headers.insert(
            header::DATE,
            pingora::protocols::http::date::get_cached_date(),
        );
    }
    response.body(()).map_err(|_| ())
}
