//! Responses gatehouse makes itself on the HTTP/1 engine: redirects, 404, refusals and error
//! pages. The same shape as on the HTTP/2 path ([`crate::forward::h2::answer`]): a small text body
//! with the request id to quote, `Cache-Control: no-store`, HSTS over TLS, no banner unless
//! asked for. gRPC requests get gRPC-shaped answers (HTTP 200, `grpc-status`), as Envoy does.

use super::body::write_all_vectored;
use crate::listener::gated::Gated;
use std::time::Duration;

/// A response to write.
#[derive(Debug, Clone, Copy)]
pub struct Local<'a> {
    /// Status.
    pub status: u16,
    /// Body; `None` for the standard one (`"{status} {reason}\nrequest id: {id}\n"`).
    pub body: Option<&'a [u8]>,
    /// More fields: name, value.
    pub extra: &'a [(&'a str, &'a [u8])],
    /// Close the connection after it.
    pub close: bool,
    /// Say `Connection: keep-alive` (an HTTP/1.0 client that asked for it).
    pub keep_alive: bool,
}

impl<'a> Local<'a> {
    /// The standard page for `status`, closing the connection.
    pub fn error(status: u16) -> Self {
        Local {
            status,
            body: None,
            extra: &[],
            close: true,
            keep_alive: false,
        }
    }
}

/// Where a local response goes and what it says about the request.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The request id.
    pub request_id: &'a [u8],
    /// `Strict-Transport-Security` value (TLS only).
    pub hsts: Option<&'a [u8]>,
    /// Send `Server: gatehouse`.
    pub server_header: bool,
    /// The request was `HEAD`: no body.
    pub head_only: bool,
    /// The request is gRPC: answer in gRPC's terms.
    pub grpc: bool,
    /// Longest wait for the client to take the response.
    pub write_timeout: Duration,
}

/// The reason phrase for a status.
pub fn reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}

/// The gRPC status code for an HTTP error gatehouse answers (Envoy's mapping).
pub fn grpc_status(status: u16) -> u8 {
    match status {
        400 => 13,       // INTERNAL
        401 => 16,       // UNAUTHENTICATED
        403 => 7,        // PERMISSION_DENIED
        404 => 12,       // UNIMPLEMENTED
        408 | 504 => 4,  // DEADLINE_EXCEEDED
        413 => 8,        // RESOURCE_EXHAUSTED
        429 => 14,       // UNAVAILABLE
        502..=503 => 14, // UNAVAILABLE
        _ => 2,          // UNKNOWN
    }
}

/// Writes the response into `out` and sends it. Returns false when the client could not take
/// it.
pub async fn send(client: &mut Gated, out: &mut Vec<u8>, r: &Local<'_>, cx: &Context<'_>) -> bool {
    out.clear();
    let mut default_body = Vec::new();
    let grpc = cx.grpc && r.status >= 400;
    let body: &[u8] = match r.body {
        _ if grpc => &[],
        Some(b) => b,
        None => {
            default_body.extend_from_slice(itoa::Buffer::new().format(r.status).as_bytes());
            default_body.push(b' ');
            default_body.extend_from_slice(reason(r.status).as_bytes());
            default_body.extend_from_slice(b"\nrequest id: ");
            default_body.extend_from_slice(cx.request_id);
            default_body.push(b'\n');
            &default_body
        }
    };
    let status = if grpc { 200 } else { r.status };
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\n");
    if grpc {
        out.extend_from_slice(b"content-type: application/grpc\r\ngrpc-status: ");
        out.extend_from_slice(itoa::Buffer::new().format(grpc_status(r.status)).as_bytes());
        out.extend_from_slice(b"\r\ngrpc-message: ");
        out.extend_from_slice(reason(r.status).as_bytes());
        out.extend_from_slice(b"\r\n");
    } else if !r
        .extra
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        out.extend_from_slice(b"content-type: text/plain; charset=utf-8\r\n");
    }
    out.extend_from_slice(b"content-length: ");
    out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
    out.extend_from_slice(b"\r\ncache-control: no-store\r\nx-request-id: ");
    out.extend_from_slice(cx.request_id);
    out.extend_from_slice(b"\r\n");
    if cx.server_header {
        out.extend_from_slice(b"server: gatehouse\r\n");
    }
    if let Some(hsts) = cx.hsts {
        out.extend_from_slice(b"strict-transport-security: ");
        out.extend_from_slice(hsts);
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in r.extra {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"date: ");
    out.extend_from_slice(pingora::protocols::http::date::get_cached_date().as_bytes());
    out.extend_from_slice(b"\r\n");
    if r.close {
        out.extend_from_slice(b"connection: close\r\n");
    } else if r.keep_alive {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    let body = if cx.head_only { &[][..] } else { body };
    let slices = [out.as_slice(), body];
    let write = write_all_vectored(client, &slices);
    matches!(
        tokio::time::timeout(cx.write_timeout, write).await,
        Ok(Ok(()))
    )
}
