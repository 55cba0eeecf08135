//! The HTTP/2 request a translated HTTP/1 request becomes: pseudo-headers and fields, with
//! the connection-specific ones dropped; and the HTTP/1 response head written back.

use super::body::ClientFraming;
use crate::forward::h1::exchange::Ctx;
use crate::forward::h1::local::reason;
use crate::forward::h1::relay::Target;
use crate::forward::h1::request::ruled;
use crate::forward::h1::Conn;
use crate::listener::head::FieldKind;
use crate::proxy::headers::{X_FORWARDED_FOR, X_FORWARDED_HOST, X_REQUEST_ID};
use http::header;
use http::header::{HeaderName, HeaderValue};

/// Builds the HTTP/2 request: pseudo-headers from the request line and `Host`, every field
/// HTTP/2 allows (no connection-specific ones), the forwarding fields, `te: trailers`.
pub(super) fn request(
    ctx: &Ctx<'_>,
    conn: &Conn,
    target: &Target<'_>,
) -> Result<http::Request<()>, &'static str> {
    let req = ctx.req;
    let route = target.route;
    let scheme = if target.pool.config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let path = crate::forward::h1::relay::upstream_path(route, target.path);
    let mut uri = String::with_capacity(req.host.len() + path.len() + 16);
    uri.push_str(scheme);
    uri.push_str("://");
    let host_rule = route
        .extras
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
        if ruled(&route.extras.request_headers, name)
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
        crate::forward::h1::request::write_ip(&mut forwarded_for, ip);
    }
    let static_value = HeaderValue::from_static;
    if let Ok(v) = HeaderValue::from_bytes(&forwarded_for) {
        if !forwarded_for.is_empty() {
            headers.insert(X_FORWARDED_FOR.clone(), v);
        }
    }
    headers.insert(
        "x-forwarded-proto",
        static_value(if conn.info.tls { "https" } else { "http" }),
    );
    if let Ok(v) = HeaderValue::from_str(req.host) {
        headers.insert(X_FORWARDED_HOST.clone(), v);
    }
    if let Ok(v) = HeaderValue::from_bytes(ctx.id.as_bytes()) {
        headers.insert(X_REQUEST_ID.clone(), v);
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
    for name in &route.extras.request_headers.remove {
        headers.remove(name);
    }
    for (name, value) in &route.extras.request_headers.set {
        if name != header::HOST {
            headers.insert(name.clone(), value.clone());
        }
    }
    for (name, value) in &route.extras.request_headers.add {
        if name != header::HOST {
            headers.append(name.clone(), value.clone());
        }
    }
    headers.insert(header::TE, static_value("trailers"));
    builder.body(()).map_err(|_| "invalid request")
}

/// The client's HTTP/1.1 head for an HTTP/2 response, into `conn.bufs.out`.
pub(super) fn write_head(
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
    let out = &mut conn.bufs.out;
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
            || ruled(&route.extras.response_headers, n.as_bytes())
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
        .extras
        .response_headers
        .set
        .iter()
        .chain(route.extras.response_headers.add.iter())
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
