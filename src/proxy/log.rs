//! The access-log record of a finished request, gathered from the session and the context.

use super::ctx::RequestCtx;
use super::headers::{request_host, valid_request_id, X_REQUEST_ID};
use crate::access_log::Record;
use pingora::prelude::*;
use pingora::proxy::Session;
use std::time::Duration;

/// Builds the record; `status` is what the client got, `duration` how long it took (measured
/// once for the metrics and the log).
pub fn record<'a>(
    session: &'a Session,
    ctx: &'a RequestCtx,
    status: u16,
    duration: Duration,
    error: Option<&'a Error>,
) -> Record<'a> {
    let req = session.req_header();
    let client = session.client_addr().and_then(|a| a.as_inet());
    let tls_version = session
        .digest()
        .and_then(|d| d.ssl_digest.as_ref())
        .map(|d| match d.version.as_ref() {
            v if v.contains("1_2") || v.contains("1.2") => "1.2",
            _ => "1.3",
        });
    let snapshot = ctx.snapshot();
    let route = ctx.route.and_then(|id| snapshot?.route(id));
    let upstream = route
        .and_then(|(_, pool)| pool.backends.get(ctx.backend? as usize))
        .map(|b| &*b.label);
    Record {
        at: Some(std::time::SystemTime::now()),
        request_id: ctx
            .request_id
            .as_ref()
            .or_else(|| {
                req.headers
                    .get(&X_REQUEST_ID)
                    .filter(|id| valid_request_id(id))
            })
            .and_then(|v| v.to_str().ok()),
        client_ip: client.map(|a| a.ip()),
        client_port: client.map(|a| a.port()),
        method: req.method.as_str(),
        host: request_host(req),
        path: req.uri.path(),
        query: req.uri.query(),
        http_version: match req.version {
            http::Version::HTTP_2 => "2",
            http::Version::HTTP_10 => "1.0",
            _ => "1.1",
        },
        tls_version,
        status,
        bytes_in: session.body_bytes_read() as u64,
        bytes_out: session.body_bytes_sent() as u64,
        duration,
        upstream,
        upstream_status: ctx.upstream_status,
        upstream_time: ctx.upstream_ttfb,
        retries: ctx.retries,
        route: route.map(|(r, _)| &*r.name),
        pool: route.map(|(_, p)| &*p.name),
        listener: snapshot
            .and_then(|s| s.listeners.get(ctx.listener))
            .map(|l| &*l.name),
        user_agent: req
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
        error: error.map(|e| e.etype().as_str()),
    }
}
