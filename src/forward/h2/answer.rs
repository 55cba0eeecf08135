//! Answers gatehouse makes itself on an HTTP/2 stream: the same shape as over HTTP/1
//! ([`crate::forward::h1::local`]): a small text body with the request id to quote,
//! `Cache-Control: no-store`, HSTS over TLS; gRPC requests get a gRPC "trailers-only" answer
//! (HTTP 200, `grpc-status` and `grpc-message`), as Envoy does.

use super::stream::StreamCtx;
use crate::forward::account::Outcome;
use crate::forward::h1::local::{grpc_status, reason};
use crate::proxy::headers::X_REQUEST_ID;
use crate::runtime::snapshot::RouteEntry;
use bytes::Bytes;
use h2::server::SendResponse;
use http::{header, HeaderValue};

/// An answer to send.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    /// Status.
    pub status: u16,
    /// Body; `None` for the standard one.
    pub body: Option<&'a [u8]>,
    /// More fields.
    pub extra: &'a [(&'a str, &'a str)],
}

impl Answer<'_> {
    /// The standard page for `status`.
    pub fn error(status: u16) -> Self {
        Answer {
            status,
            body: None,
            extra: &[],
        }
    }
}

/// Sends the answer (nothing happens if the stream is already gone). Records the status.
pub fn send(
    ctx: &StreamCtx<'_>,
    respond: &mut SendResponse<Bytes>,
    route: Option<&RouteEntry>,
    answer: Answer<'_>,
    outcome: &mut Outcome,
) {
    outcome.status = answer.status;
    let grpc = ctx.grpc && answer.status >= 400;
    let mut builder = http::Response::builder().status(if grpc { 200 } else { answer.status });
    let body = match (grpc, answer.body) {
        (true, _) => Bytes::new(),
        (false, Some(b)) => Bytes::copy_from_slice(b),
        (false, None) => Bytes::from(format!(
            "{} {}\nrequest id: {}\n",
            answer.status,
            reason(answer.status),
            ctx.id.as_str()
        )),
    };
    if let Some(h) = builder.headers_mut() {
        if grpc {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/grpc"),
            );
            h.insert(
                "grpc-status",
                HeaderValue::from(u16::from(grpc_status(answer.status))),
            );
            h.insert(
                "grpc-message",
                HeaderValue::from_static(reason(answer.status)),
            );
        } else {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Ok(mut v) = HeaderValue::from_bytes(ctx.id.as_bytes()) {
            // Unique per response: never worth a place in the HPACK table (it would push
            // out the fields that repeat, and make every lookup slower).
            v.set_sensitive(true);
            h.insert(X_REQUEST_ID.clone(), v);
        }
        if ctx.snapshot.config.server.server_header {
            h.insert(header::SERVER, HeaderValue::from_static("gatehouse"));
        }
        if let Some(hsts) = ctx.hsts(route) {
            h.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
        }
        for (name, value) in answer.extra {
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                h.insert(n, v);
            }
        }
    }
    let Ok(head) = builder.body(()) else {
        return;
    };
    let head_only = ctx.parts.method == http::Method::HEAD;
    let end = body.is_empty() || head_only;
    match respond.send_response(head, end) {
        Ok(mut stream) if !end => {
            let _ = stream.send_data(body, true);
        }
        Ok(_) => {}
        Err(e) => tracing::debug!(error = %e, "could not answer the stream"),
    }
}
