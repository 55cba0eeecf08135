//! Responses gatehouse writes itself: redirects, 404, refusals and the error pages (small
//! bodies, a request id to quote to support, no internals). Over TLS they carry HSTS like
//! proxied responses do: a browser must learn the policy from whatever answer it gets.

use super::ctx::RequestCtx;
use super::headers::X_REQUEST_ID;
use bytes::Bytes;
use http::{header, HeaderValue, Method};
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::Session;

/// The status a failed proxy attempt is answered with.
pub fn status_for(error: &Error) -> u16 {
    match error.etype() {
        ErrorType::HTTPStatus(code) => *code,
        ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => {
            if *error.esource() == ErrorSource::Downstream {
                // The client was too slow: nobody to answer meaningfully, but 408 is accurate.
                408
            } else {
                504
            }
        }
        _ if client_went_away(error) => 0,
        _ => match error.esource() {
            ErrorSource::Upstream => 502,
            ErrorSource::Downstream => 400,
            ErrorSource::Internal | ErrorSource::Unset => 502,
        },
    }
}

/// The client closed or broke its connection: there is nobody to answer.
pub fn client_went_away(error: &Error) -> bool {
    *error.esource() == ErrorSource::Downstream
        && matches!(
            error.etype(),
            ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed
        )
}

fn reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}

/// The `Strict-Transport-Security` value for a response over TLS: the matched route's if it
/// has one, else the listener's.
pub fn hsts(ctx: &RequestCtx) -> Option<&HeaderValue> {
    if !ctx.tls {
        return None;
    }
    let snapshot = ctx.snapshot()?;
    ctx.route
        .and_then(|id| snapshot.route(id))
        .and_then(|(route, _)| route.hsts.as_ref())
        .or_else(|| {
            snapshot
                .listeners
                .get(ctx.listener)
                .and_then(|l| l.hsts.as_ref())
        })
}

/// Writes a complete small response (with HSTS over TLS, see [`hsts`]) and records its status
/// in the context.
///
/// # Errors
/// When the client connection fails while writing.
pub async fn write(
    session: &mut Session,
    ctx: &mut RequestCtx,
    status: u16,
    body: Option<String>,
    extra: &[(header::HeaderName, HeaderValue)],
    server_header: bool,
) -> Result<()> {
    if status >= 400 && is_grpc(session.req_header()) {
        return write_grpc(session, ctx, status, server_header).await;
    }
    let body = Bytes::from(body.unwrap_or_else(|| {
        let id = ctx
            .request_id
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        format!("{status} {}\nrequest id: {id}\n", reason(status))
    }));
    let mut resp = ResponseHeader::build(status, Some(6))?;
    resp.insert_header(header::CONTENT_TYPE, "text/plain; charset=utf-8")?;
    resp.insert_header(header::CONTENT_LENGTH, body.len().to_string())?;
    resp.insert_header(header::CACHE_CONTROL, "no-store")?;
    if let Some(id) = &ctx.request_id {
        resp.insert_header(X_REQUEST_ID.clone(), id.clone())?;
    }
    if server_header {
        resp.insert_header(header::SERVER, "gatehouse")?;
    }
    if let Some(hsts) = hsts(ctx) {
        resp.insert_header(header::STRICT_TRANSPORT_SECURITY, hsts.clone())?;
    }
    for (name, value) in extra {
        resp.insert_header(name.clone(), value.clone())?;
    }
    let head_only = session.req_header().method == Method::HEAD;
    ctx.local_status = Some(status);
    session
        .write_response_header(Box::new(resp), head_only)
        .await?;
    if !head_only {
        session.write_response_body(Some(body), true).await?;
    }
    Ok(())
}

/// Whether a request is gRPC (`content-type: application/grpc…`): its errors are answered in
/// gRPC's terms.
pub fn is_grpc(req: &pingora::http::RequestHeader) -> bool {
    req.headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// A gRPC "trailers-only" answer (Envoy's behaviour): HTTP 200 with `grpc-status` and
/// `grpc-message` in the only header block, so gRPC clients see the real reason (14
/// UNAVAILABLE when no backend is up, 4 DEADLINE_EXCEEDED on a timeout) instead of an HTTP
/// status they would translate to UNKNOWN or INTERNAL.
async fn write_grpc(
    session: &mut Session,
    ctx: &mut RequestCtx,
    status: u16,
    server_header: bool,
) -> Result<()> {
    let mut resp = ResponseHeader::build(200, Some(6))?;
    resp.insert_header(header::CONTENT_TYPE, "application/grpc")?;
    resp.insert_header(
        "grpc-status",
        crate::forward::h1::local::grpc_status(status).to_string(),
    )?;
    resp.insert_header("grpc-message", reason(status))?;
    if let Some(id) = &ctx.request_id {
        resp.insert_header(X_REQUEST_ID.clone(), id.clone())?;
    }
    if server_header {
        resp.insert_header(header::SERVER, "gatehouse")?;
    }
    if let Some(hsts) = hsts(ctx) {
        resp.insert_header(header::STRICT_TRANSPORT_SECURITY, hsts.clone())?;
    }
    ctx.local_status = Some(status);
    session.write_response_header(Box::new(resp), true).await
}

/// 301 for GET/HEAD (cacheable, method kept by definition), 308 for everything else so the
/// method and body are kept.
pub fn redirect_status(method: &Method) -> u16 {
    if method == Method::GET || method == Method::HEAD {
        301
    } else {
        308
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(status_for(&Error::new(ErrorType::HTTPStatus(503))), 503);
        let mut e = Error::new(ErrorType::ConnectRefused);
        e.as_up();
        assert_eq!(status_for(&e), 502);
        let mut e = Error::new(ErrorType::ConnectTimedout);
        e.as_up();
        assert_eq!(status_for(&e), 504);
        let mut e = Error::new(ErrorType::ReadTimedout);
        e.as_up();
        assert_eq!(status_for(&e), 504);
        let mut e = Error::new(ErrorType::ConnectionClosed);
        e.as_down();
        assert_eq!(status_for(&e), 0);
        assert_eq!(redirect_status(&Method::GET), 301);
        assert_eq!(redirect_status(&Method::POST), 308);
    }
}
