//! Reading the HTTP/1 response head from the backend for an HTTP/2 stream: interim
//! responses, then the final head turned into HTTP/2 fields.

use crate::forward::h1::request::ruled;
use crate::forward::h1::response;
use crate::forward::h1::response::{Framing, ResponseHead};
use crate::forward::h2::stream::{StreamCtx, Target};
use crate::forward::upstream::Upstream;
use crate::listener::deadline::TimedOut;
use crate::listener::head::{Field, FieldKind};
use crate::proxy::headers::X_REQUEST_ID;
use bytes::{Bytes, BytesMut};
use h2::server::SendResponse;
use http::{header, HeaderName, HeaderValue};
use pingora::ErrorType;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;

pub(super) enum HeadError {
    ClientGone,
    /// The backend failed: the error kind, whether any response byte had arrived.
    Backend(ErrorType, bool),
}

/// Reads a response head from the backend, watching for the client resetting the stream.
pub(super) async fn read_head(
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
        let stream = &mut up.stream;
        let read_or_reset = async {
            tokio::select! {
                biased;
                r = stream.read_buf(buf) => Some(r),
                _ = std::future::poll_fn(|cx| respond.poll_reset(cx)) => None,
            }
        };
        match up.watchdog.run(deadline, read_or_reset).await {
            Err(TimedOut) => return Err(HeadError::Backend(ErrorType::ReadTimedout, any)),
            Ok(None) => return Err(HeadError::ClientGone),
            Ok(Some(Err(_))) => return Err(HeadError::Backend(ErrorType::ReadError, any)),
            Ok(Some(Ok(0))) => return Err(HeadError::Backend(ErrorType::ConnectionClosed, any)),
            Ok(Some(Ok(_))) => {
                any = true;
                deadline = Instant::now() + read_timeout;
            }
        }
    }
}

/// An interim (103) response head for the client.
pub(super) fn interim(
    buf: &[u8],
    head: &ResponseHead,
    fields: &[Field],
) -> Result<http::Response<()>, ()> {
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
///
/// The values are copied, not sliced from the backend's read buffer, which a slice would keep
/// allocated for as long as the value lives. (Slices of one copy of the head measured the same
/// as a copy per value, within callgrind's spread, once h2 patch 10 left the values out of the
/// HPACK table.) The map is sized once.
pub(super) fn response_head(
    ctx: &StreamCtx<'_>,
    target: &Target<'_>,
    buf: &[u8],
    head: &ResponseHead,
    fields: &[Field],
) -> Result<http::Response<()>, ()> {
    let route = target.route;
    let server_header = ctx.snapshot.config.server.server_header;
    let hsts = ctx.hsts(Some(route));
    // The fields `Connection` names; `keep-alive` and `close` (almost always the only ones)
    // are left out: they name no field that is not dropped anyway, and the list then stays
    // empty, without an allocation.
    let nominated: Vec<&[u8]> = fields
        .iter()
        .filter(|f| f.kind == FieldKind::Connection)
        .flat_map(|f| f.value(buf).split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|n| !n.eq_ignore_ascii_case(b"keep-alive") && !n.eq_ignore_ascii_case(b"close"))
        .collect();
    let mut response = http::Response::new(());
    *response.status_mut() = http::StatusCode::from_u16(head.status).map_err(|_| ())?;
    let headers = response.headers_mut();
    headers.reserve(fields.len() + 4);
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
        if !keep
            || (!route.extras.response_headers.is_empty()
                && ruled(&route.extras.response_headers, name))
        {
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
    for (name, value) in &route.extras.response_headers.set {
        headers.insert(name.clone(), value.clone());
    }
    for (name, value) in &route.extras.response_headers.add {
        headers.append(name.clone(), value.clone());
    }
    if let Some(hsts) = hsts {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
    }
    if let Some(cookie) = target.set_cookie {
        headers.append(header::SET_COOKIE, cookie.clone());
    }
    if let Ok(mut v) = HeaderValue::from_bytes(ctx.id.as_bytes()) {
        // Unique per response: never worth a place in an HPACK table, should the encoder
        // ever index sent fields again (h2 patch 10 turned that off).
        v.set_sensitive(true);
        headers.insert(X_REQUEST_ID.clone(), v);
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
    Ok(response)
}
