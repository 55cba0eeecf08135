//! One HTTP/2 stream, from its request head to its access-log line: load the snapshot once,
//! **decide** (normalise the path, route, admit), **forward** (the attempt loop over
//! [`super::to_h1`] and [`super::to_h2`]) or answer locally, then **account**.

mod attempts;

pub(crate) use attempts::failed_early;
use attempts::forward;
pub use attempts::{Attempt, Target};

use super::answer::{self, Answer};
use crate::access_log::Record;
use crate::forward::account::{self, Outcome};
use crate::forward::h1::ConnInfo;
use crate::forward::request_id::RequestId;
use crate::forward::Engine;
use crate::preview::Fact;
use crate::proxy::decide::{self, Decision};
use crate::proxy::{access, client_ip, path};
use crate::runtime::balance::key::KeyInput;
use crate::runtime::router::RequestFacts;
use crate::runtime::snapshot::RouteEntry;
use crate::runtime::{Pool, Snapshot};
use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;
use http::header;
use std::sync::Arc;
use tokio::time::Instant;

/// The facts of one stream every step reads.
pub struct StreamCtx<'a> {
    pub(crate) engine: &'a Engine,
    pub(crate) snapshot: &'a Snapshot,
    pub(crate) info: ConnInfo,
    pub(crate) parts: &'a http::request::Parts,
    /// The host addressed (`:authority`, else `Host`), port included.
    pub(crate) host: &'a str,
    pub(crate) id: &'a RequestId,
    pub(crate) grpc: bool,
}

impl StreamCtx<'_> {
    /// The HSTS value (TLS only): the route's, else the listener's.
    pub(crate) fn hsts<'s>(
        &'s self,
        route: Option<&'s RouteEntry>,
    ) -> Option<&'s http::HeaderValue> {
        if !self.info.tls {
            return None;
        }
        route.and_then(|r| r.extras.hsts.as_ref()).or_else(|| {
            self.snapshot
                .listeners
                .get(self.info.listener)
                .and_then(|l| l.hsts.as_ref())
        })
    }

    /// The verified client certificate's header fields for the backend, if any.
    pub(crate) fn client_cert_fields(&self) -> Option<[(&http::HeaderName, &str); 3]> {
        crate::tls::client_auth::forwarded(
            self.snapshot
                .listeners
                .get(self.info.listener)
                .and_then(|l| l.client_cert_headers.as_ref()),
            self.info.client_cert.as_deref(),
        )
    }

    /// `GET`, `HEAD`, `OPTIONS`, `TRACE`, `PUT`, `DELETE`.
    pub(crate) fn idempotent(&self) -> bool {
        self.parts.method.is_idempotent()
    }
}

/// Serves one stream.
pub async fn handle(
    engine: &Arc<Engine>,
    info: ConnInfo,
    request: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
) {
    let started = Instant::now();
    let in_flight = crate::metrics::InFlight::begin();
    let open = crate::metrics::http2::stream_open();
    let snapshot = engine.state.load();
    let (parts, body) = request.into_parts();
    let host = parts
        .uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| {
            parts
                .headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
        })
        .unwrap_or("");
    let id = RequestId::new(
        parts
            .headers
            .get(crate::proxy::headers::X_REQUEST_ID.clone())
            .map(|v| v.as_bytes()),
    );
    let grpc = parts
        .headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    engine.budget.deposit();
    let ctx = StreamCtx {
        engine,
        snapshot: &snapshot,
        info: info.clone(),
        parts: &parts,
        host,
        id: &id,
        grpc,
    };
    let mut outcome = Outcome::default();
    decide_and_forward(&ctx, body, &mut respond, &mut outcome).await;
    let line = Record {
        at: Some(std::time::SystemTime::now()),
        request_id: Some(id.as_str()),
        client_ip: info.peer.map(|a| a.ip()),
        client_port: info.peer.map(|a| a.port()),
        method: parts.method.as_str(),
        host: (!host.is_empty()).then_some(host),
        path: parts.uri.path(),
        query: parts.uri.query(),
        http_version: "2",
        tls_version: info.tls_version,
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
        listener: snapshot.listeners.get(info.listener).map(|l| &*l.name),
        ..Default::default()
    };
    account::record(
        engine,
        &snapshot,
        info.listener,
        &outcome,
        started.elapsed(),
        line,
    );
    drop(in_flight);
    drop(open);
}

async fn decide_and_forward(
    ctx: &StreamCtx<'_>,
    body: RecvStream,
    respond: &mut SendResponse<Bytes>,
    outcome: &mut Outcome,
) {
    let parts = ctx.parts;
    let websocket = parts.method == http::Method::CONNECT;
    if websocket
        && !parts
            .extensions
            .get::<h2::ext::Protocol>()
            .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"))
    {
        // A plain CONNECT (a TCP tunnel to anywhere) is not a reverse proxy's business, and
        // no other extended CONNECT protocol is carried.
        outcome.error = Some("CONNECT refused");
        return answer::send(ctx, respond, None, Answer::error(405), outcome);
    }
    let Some(path) = path::normalize(parts.uri.path()) else {
        outcome.error = Some("path climbs above the root");
        return answer::send(ctx, respond, None, Answer::error(400), outcome);
    };
    let listener = ctx.info.listener;
    let trusted = ctx
        .snapshot
        .listeners
        .get(listener)
        .map_or(&[][..], |l| &l.trusted_proxies[..]);
    let forwarded_for = parts
        .headers
        .get_all(&crate::proxy::headers::X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let client = ctx
        .info
        .peer
        .map(|a| client_ip::resolve(a.ip(), trusted, forwarded_for));
    ctx.engine.state.samples.record(&Fact {
        listener,
        tls: ctx.info.tls,
        client_cert: ctx.info.client_cert.is_some(),
        client,
        method: parts.method.as_str(),
        host: ctx.host,
        path: &path,
        query: parts.uri.query(),
        fields: &parts.headers,
        headers: &ctx.snapshot.sampled_headers,
    });
    let facts = RequestFacts {
        method: parts.method.as_str(),
        query: parts.uri.query(),
        client,
        fields: &parts.headers,
    };
    let decision = decide::route(
        ctx.snapshot,
        listener,
        ctx.info.tls,
        ctx.host,
        &path,
        &facts,
    );
    match decision {
        Decision::Route(id) => {
            outcome.route = Some(id);
            let Some((route, pool)) = ctx.snapshot.route(id) else {
                return answer::send(ctx, respond, None, Answer::error(502), outcome);
            };
            let length = parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if route.client_auth_required && ctx.info.client_cert.is_none() {
                let name = ctx
                    .snapshot
                    .listeners
                    .get(listener)
                    .map(|l| l.name.to_string())
                    .unwrap_or_default();
                crate::tls::client_auth::count_failure(&name, "request", "missing");
                outcome.error = Some("no verified client certificate");
                return answer::send(ctx, respond, Some(route), Answer::error(403), outcome);
            }
            if let Err(refusal) = access::check(route, client, length) {
                route.refused(pool, refusal.reason);
                let retry_after = refusal
                    .retry_after
                    .map(|w| access::retry_after_secs(w).to_string());
                let extra: Vec<(&str, &str)> = retry_after
                    .as_deref()
                    .map(|v| ("retry-after", v))
                    .into_iter()
                    .collect();
                let answer = Answer {
                    extra: &extra,
                    ..Answer::error(refusal.status)
                };
                return answer::send(ctx, respond, Some(route), answer, outcome);
            }
            if websocket && !websocket_allowed(route, pool) {
                outcome.error = Some("WebSocket not allowed on this route");
                return answer::send(ctx, respond, Some(route), Answer::error(501), outcome);
            }
            if let Some((status, location)) =
                crate::forward::rewrite::redirect(route, &path, parts.uri.query())
            {
                let text = format!("{status} redirect to {location}\n");
                let extra = [("location", location.as_str())];
                let answer = Answer {
                    status,
                    body: Some(text.as_bytes()),
                    extra: &extra,
                };
                return answer::send(ctx, respond, Some(route), answer, outcome);
            }
            if let Some(fixed) = &route.extras.actions.respond {
                let extra = [("content-type", fixed.content_type.as_str())];
                let answer = Answer {
                    status: fixed.status,
                    body: Some(fixed.body.as_bytes()),
                    extra: &extra,
                };
                return answer::send(ctx, respond, Some(route), answer, outcome);
            }
            let forwarded = crate::forward::rewrite::backend_path(route, &path);
            let affinity = pool.affinity(&KeyInput {
                client,
                path: &path,
                query: parts.uri.query(),
                fields: &parts.headers,
            });
            forward(
                ctx, route, pool, &forwarded, affinity, body, respond, outcome,
            )
            .await;
        }
        Decision::Redirect(location) => {
            let status = decide::redirect_status(&parts.method);
            let text = format!("{status} redirect to {location}\n");
            let extra = [("location", location.as_str())];
            let answer = Answer {
                status,
                body: Some(text.as_bytes()),
                extra: &extra,
            };
            answer::send(ctx, respond, None, answer, outcome);
        }
        Decision::NotFound => {
            if let Some(l) = ctx.snapshot.listeners.get(listener) {
                l.metrics.unrouted();
            }
            answer::send(ctx, respond, None, Answer::error(404), outcome);
        }
        Decision::BadRequest(why) | Decision::Refused(_, why, _) => {
            outcome.error = Some(why);
            answer::send(ctx, respond, None, Answer::error(400), outcome);
        }
    }
}

/// A WebSocket over HTTP/2 goes to the backend as an HTTP/1.1 upgrade: the route must allow
/// `websocket`, and the pool must speak HTTP/1.1.
fn websocket_allowed(route: &RouteEntry, pool: &Pool) -> bool {
    route.extras.upgrades.allows(b"websocket")
        && pool.config.protocol != crate::config::model::UpstreamProtocol::H2
}
