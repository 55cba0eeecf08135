//! An HTTP/2 stream to an HTTP/2 backend (gRPC's usual path): the request goes on as a stream
//! on a shared backend connection, with the forwarding fields and `te: trailers`; the request
//! body and the response flow at the same time (a bidirectional gRPC stream needs both), each
//! under its receiver's flow control; trailers pass both ways.

use super::stream::{failed_early, Attempt, StreamCtx, Target};
use crate::forward::account::Outcome;
use crate::forward::h1::body::BodyError;
use crate::forward::h1::request::ruled;
use crate::forward::h1::to_h2::send_data;
use crate::forward::h2pool::Slot;
use crate::forward::pick::Attempts;
use crate::listener::head::FieldKind;
use crate::proxy::headers::{X_FORWARDED_FOR, X_FORWARDED_HOST, X_REQUEST_ID};
use bytes::Bytes;
use h2::server::SendResponse;
use h2::{RecvStream, SendStream};
use http::{header, HeaderValue};
use pingora::ErrorType;
use std::time::Duration;
use tokio::time::Instant;

/// The request for the backend: the client's, minus what gatehouse replaces, plus the
/// forwarding fields and the route's rules.
fn request(ctx: &StreamCtx<'_>, target: &Target<'_>) -> Result<http::Request<()>, &'static str> {
    let parts = ctx.parts;
    let rules = &target.route.extras.request_headers;
    let scheme = if target.pool.config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let authority = rules
        .set
        .iter()
        .find(|(n, _)| n == header::HOST)
        .and_then(|(_, v)| v.to_str().ok())
        .unwrap_or(ctx.host);
    let mut uri = format!("{scheme}://{authority}{}", target.path);
    if let Some(q) = parts.uri.query() {
        uri.push('?');
        uri.push_str(q);
    }
    let mut builder = http::Request::builder()
        .method(parts.method.clone())
        .uri(uri)
        .version(http::Version::HTTP_2);
    let headers = builder.headers_mut().ok_or("invalid request")?;
    let mut forwarded_for: Vec<u8> = Vec::new();
    for (name, value) in &parts.headers {
        match FieldKind::of(name.as_str().as_bytes()) {
            FieldKind::XForwardedFor => {
                if !forwarded_for.is_empty() {
                    forwarded_for.extend_from_slice(b", ");
                }
                forwarded_for.extend_from_slice(value.as_bytes());
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
            _ => {}
        }
        if ruled(rules, name.as_str().as_bytes()) || ctx.snapshot.client_cert_strip.contains(name) {
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    if let Some(peer) = ctx.info.peer {
        if !forwarded_for.is_empty() {
            forwarded_for.extend_from_slice(b", ");
        }
        crate::forward::h1::request::write_ip(&mut forwarded_for, peer.ip());
    }
    if !forwarded_for.is_empty() {
        if let Ok(v) = HeaderValue::from_bytes(&forwarded_for) {
            headers.insert(X_FORWARDED_FOR.clone(), v);
        }
    }
    headers.insert(
        "x-forwarded-proto",
        HeaderValue::from_static(if ctx.info.tls { "https" } else { "http" }),
    );
    if let Ok(v) = HeaderValue::from_str(ctx.host) {
        headers.insert(X_FORWARDED_HOST.clone(), v);
    }
    if let Ok(v) = HeaderValue::from_bytes(ctx.id.as_bytes()) {
        headers.insert(X_REQUEST_ID.clone(), v);
    }
    for (name, value) in ctx.client_cert_fields().iter().flatten() {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert((*name).clone(), v);
        }
    }
    for name in &rules.remove {
        headers.remove(name);
    }
    for (name, value) in &rules.set {
        if name != header::HOST {
            headers.insert(name.clone(), value.clone());
        }
    }
    for (name, value) in &rules.add {
        headers.append(name.clone(), value.clone());
    }
    headers.insert(header::TE, HeaderValue::from_static("trailers"));
    builder.body(()).map_err(|_| "invalid request")
}

/// One attempt over an HTTP/2 backend connection.
#[allow(clippy::too_many_arguments)]
pub async fn attempt(
    ctx: &StreamCtx<'_>,
    target: &Target<'_>,
    slot: Slot,
    body: RecvStream,
    respond: &mut SendResponse<Bytes>,
    attempts: &Attempts,
    outcome: &mut Outcome,
) -> Attempt {
    let timeouts = target.route.timeouts(&target.pool.config.timeouts);
    let request = match request(ctx, target) {
        Ok(r) => r,
        Err(why) => {
            outcome.error = Some(why);
            super::answer::send(
                ctx,
                respond,
                Some(target.route),
                super::answer::Answer::error(400),
                outcome,
            );
            return Attempt::Done;
        }
    };
    let ready = tokio::time::timeout(timeouts.write, slot.sender().ready()).await;
    let Ok(Ok(mut sender)) = ready else {
        return failed_early(
            ctx,
            target,
            ErrorType::ConnectionClosed,
            slot.reused,
            Some(body),
            respond,
            attempts,
            outcome,
        );
    };
    let end = body.is_end_stream();
    let (response, upstream_body) = match sender.send_request(request, end) {
        Ok(pair) => pair,
        Err(e) => {
            tracing::debug!(error = %e, "HTTP/2 backend refused the stream");
            return failed_early(
                ctx,
                target,
                ErrorType::ConnectionClosed,
                slot.reused,
                Some(body),
                respond,
                attempts,
                outcome,
            );
        }
    };
    let sent_at = Instant::now();
    let limits = &ctx.snapshot.config.limits;
    let body_limit = BodyLimit {
        timeout: limits.body_timeout,
        max: target.route.extras.max_body_size,
        write: timeouts.write,
    };
    // The request body goes on while the response comes back (a bidirectional gRPC stream
    // needs both at once); the exchange is over when the response is.
    let mut body = body;
    let mut upstream_body = upstream_body;
    let mut pumped: Option<Result<u64, BodyError>> = end.then_some(Ok(0));
    let relayed = {
        let pump = pump_request(&mut body, &mut upstream_body, &body_limit);
        let relay = relay_response(ctx, target, response, respond, sent_at, outcome);
        tokio::pin!(pump);
        tokio::pin!(relay);
        loop {
            tokio::select! {
                r = &mut pump, if pumped.is_none() => pumped = Some(r),
                r = &mut relay => break r,
            }
        }
    };
    match pumped {
        Some(Ok(n)) => outcome.bytes_in = n,
        Some(Err(e)) if outcome.error.is_none() => {
            outcome.error = Some(e.kind());
            outcome.upstream_error = e.upstream();
        }
        _ => {}
    }
    match relayed {
        Ok(()) => Attempt::Done,
        Err(kind) => {
            // Nothing reached the client: retry if the request can be sent again.
            let body = end.then_some(body);
            failed_early(
                ctx,
                target,
                kind,
                slot.reused,
                body,
                respond,
                attempts,
                outcome,
            )
        }
    }
}

/// Waits for the backend's response head, sends the client's, then relays the body and
/// trailers. `Err` only when nothing was sent to the client (the attempt may be retried).
async fn relay_response(
    ctx: &StreamCtx<'_>,
    target: &Target<'_>,
    response: h2::client::ResponseFuture,
    respond: &mut SendResponse<Bytes>,
    sent_at: Instant,
    outcome: &mut Outcome,
) -> Result<(), ErrorType> {
    let timeouts = target.route.timeouts(&target.pool.config.timeouts);
    let head = match tokio::time::timeout(timeouts.read, response).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "HTTP/2 backend response failed");
            return Err(ErrorType::ConnectionClosed);
        }
        Err(_) => return Err(ErrorType::ReadTimedout),
    };
    let (parts, mut upstream_response) = head.into_parts();
    let status = parts.status.as_u16();
    outcome.upstream_status = Some(status);
    outcome.upstream_ttfb = Some(sent_at.elapsed());
    target.pool.report_response(target.index, status);
    let client_head = response_head(ctx, target, parts);
    outcome.status = status;
    let done = upstream_response.is_end_stream();
    let Ok(mut stream) = respond.send_response(client_head, done) else {
        outcome.error = Some("ConnectionClosed");
        return Ok(());
    };
    if done {
        return Ok(());
    }
    let deadline = timeouts.response.map(|d| sent_at + d);
    let limits = &ctx.snapshot.config.limits;
    let relayed = pump_response(
        &mut upstream_response,
        &mut stream,
        timeouts.read,
        limits.body_timeout,
        deadline,
        outcome,
    )
    .await;
    if let Err(e) = relayed {
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
    Ok(())
}

struct BodyLimit {
    timeout: Duration,
    max: Option<u64>,
    write: Duration,
}

/// The client's DATA frames to the backend, then its trailers (if any).
async fn pump_request(
    body: &mut RecvStream,
    upstream: &mut SendStream<Bytes>,
    limit: &BodyLimit,
) -> Result<u64, BodyError> {
    let mut payload = 0u64;
    loop {
        let data = match tokio::time::timeout(limit.timeout, body.data()).await {
            Err(_) => return Err(BodyError::ClientTimeout),
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(BodyError::ClientClosed),
            Ok(Some(Ok(data))) => data,
        };
        let _ = body.flow_control().release_capacity(data.len());
        payload += data.len() as u64;
        if limit.max.is_some_and(|max| payload > max) {
            upstream.send_reset(h2::Reason::CANCEL);
            return Err(BodyError::TooLarge);
        }
        send_data(upstream, data, false, limit.write).await?;
    }
    match body.trailers().await {
        Ok(Some(trailers)) => upstream
            .send_trailers(trailers)
            .map_err(|_| BodyError::UpstreamError)?,
        _ => upstream
            .send_data(Bytes::new(), true)
            .map_err(|_| BodyError::UpstreamError)?,
    }
    Ok(payload)
}

/// The backend's DATA frames to the client, then its trailers.
async fn pump_response(
    upstream: &mut RecvStream,
    client: &mut SendStream<Bytes>,
    read: Duration,
    write: Duration,
    deadline: Option<Instant>,
    outcome: &mut Outcome,
) -> Result<(), BodyError> {
    loop {
        if deadline.is_some_and(|d| Instant::now() > d) {
            return Err(BodyError::ResponseDeadline);
        }
        let data = match tokio::time::timeout(read, upstream.data()).await {
            Err(_) => return Err(BodyError::UpstreamReadTimeout),
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(BodyError::UpstreamClosed),
            Ok(Some(Ok(data))) => data,
        };
        let _ = upstream.flow_control().release_capacity(data.len());
        outcome.bytes_out += data.len() as u64;
        send_data(client, data, false, write)
            .await
            .map_err(|_| BodyError::ClientClosed)?;
    }
    match tokio::time::timeout(read, upstream.trailers()).await {
        Err(_) => Err(BodyError::UpstreamReadTimeout),
        Ok(Err(_)) => Err(BodyError::UpstreamClosed),
        Ok(Ok(Some(trailers))) => client
            .send_trailers(trailers)
            .map_err(|_| BodyError::ClientClosed),
        Ok(Ok(None)) => client
            .send_data(Bytes::new(), true)
            .map_err(|_| BodyError::ClientClosed),
    }
}

/// The client's response head: the backend's, minus what gatehouse replaces, plus its own.
fn response_head(
    ctx: &StreamCtx<'_>,
    target: &Target<'_>,
    mut parts: http::response::Parts,
) -> http::Response<()> {
    let route = target.route;
    let headers = &mut parts.headers;
    for name in &route.extras.response_headers.remove {
        headers.remove(name);
    }
    for (name, value) in &route.extras.response_headers.set {
        headers.insert(name.clone(), value.clone());
    }
    for (name, value) in &route.extras.response_headers.add {
        headers.append(name.clone(), value.clone());
    }
    if let Some(hsts) = ctx.hsts(Some(route)) {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
    }
    if let Some(cookie) = target.set_cookie {
        headers.append(header::SET_COOKIE, cookie.clone());
    }
    if let Ok(mut v) = HeaderValue::from_bytes(ctx.id.as_bytes()) {
        // Unique per response: never worth a place in the HPACK table (it would push
        // out the fields that repeat, and make every lookup slower).
        v.set_sensitive(true);
        headers.insert(X_REQUEST_ID.clone(), v);
    }
    if ctx.snapshot.config.server.server_header {
        headers.insert(header::SERVER, HeaderValue::from_static("gatehouse"));
    }
    if !headers.contains_key(header::DATE) {
        headers.insert(
            header::DATE,
            pingora::protocols::http::date::get_cached_date(),
        );
    }
    http::Response::from_parts(parts, ())
}
