//! One request on the HTTP/1 engine, from its checked head to its access-log line: load the
//! snapshot once, **decide** (normalise the path, route, admit), **forward** ([`super::relay`])
//! or answer locally, then **account** ([`crate::forward::account`]).

use super::local::{self, Local};
use super::relay::{self, TunnelJob};
use super::request::RequestView;
use super::{Conn, ConnInfo};
use crate::access_log::Record;
use crate::forward::account::{self, Outcome};
use crate::forward::request_id::RequestId;
use crate::forward::Engine;
use crate::listener::head::{Body, Head};
use crate::preview::Fact;
use crate::proxy::decide::{self, Decision};
use crate::proxy::{access, client_ip, path};
use crate::runtime::balance::key::KeyInput;
use crate::runtime::router::RequestFacts;
use crate::runtime::snapshot::RouteEntry;
use crate::runtime::Snapshot;
use crate::tls::acme::challenge::HTTP_PREFIX;
use pingora::server::ShutdownWatch;
use std::time::Duration;
use tokio::time::Instant;

/// What the connection does after a request.
pub enum Next {
    /// Wait for the next request.
    KeepAlive,
    /// Close the connection.
    Close,
    /// The backend switched protocols: run a tunnel.
    Tunnel(Box<TunnelJob>),
}

/// The facts of one request every step reads.
pub(crate) struct Ctx<'a> {
    pub engine: &'a Engine,
    pub snapshot: &'a Snapshot,
    pub req: &'a RequestView<'a>,
    pub id: &'a RequestId,
    pub shutting_down: bool,
    pub started: Instant,
}

impl Ctx<'_> {
    /// The HSTS value for a response (TLS only): the route's, else the listener's.
    pub(crate) fn hsts<'s>(
        &'s self,
        info: &ConnInfo,
        route: Option<&'s RouteEntry>,
    ) -> Option<&'s [u8]> {
        if !info.tls {
            return None;
        }
        route
            .and_then(|r| r.extras.hsts.as_ref())
            .or_else(|| {
                self.snapshot
                    .listeners
                    .get(info.listener)
                    .and_then(|l| l.hsts.as_ref())
            })
            .map(|v| v.as_bytes())
    }

    /// How to write a local response for this request.
    pub(crate) fn local_context<'s>(
        &'s self,
        info: &ConnInfo,
        route: Option<&'s RouteEntry>,
    ) -> local::Context<'s> {
        local::Context {
            request_id: self.id.as_bytes(),
            hsts: self.hsts(info, route),
            server_header: self.snapshot.config.server.server_header,
            head_only: self.req.is_head(),
            grpc: self.req.grpc,
            write_timeout: self.snapshot.config.limits.body_timeout,
        }
    }

    /// Whether the client connection may be kept after a response to this request, as far as
    /// the request goes (its body must have been read whole).
    pub(crate) fn keepalive(&self, body_consumed: bool) -> bool {
        body_consumed && !self.shutting_down && self.req.wants_keepalive()
    }
}

/// Serves one request whose head the gate accepted.
pub async fn exchange(
    engine: &Engine,
    conn: &mut Conn,
    head: Head,
    chunked_len: Option<u64>,
    shutdown: &ShutdownWatch,
) -> Next {
    let started = Instant::now();
    let in_flight = crate::metrics::InFlight::begin();
    let snapshot = engine.state.load();
    conn.acquire();
    let mut head_buf = std::mem::take(&mut conn.bufs.head);
    head_buf.clear();
    head_buf.extend_from_slice(conn.client.prefix.get(..head.len).unwrap_or_default());
    let taken = head.len.min(conn.client.prefix.len());
    bytes::Buf::advance(&mut conn.client.prefix, taken);
    let fields = std::mem::take(&mut conn.bufs.fields);
    let req = RequestView::new(&head_buf, head, &fields);
    let id = RequestId::new(req.request_id);
    engine.budget.deposit();
    let mut outcome = Outcome::default();
    let ctx = Ctx {
        engine,
        snapshot: &snapshot,
        req: &req,
        id: &id,
        shutting_down: *shutdown.borrow(),
        started,
    };
    let next = decide_and_forward(&ctx, conn, chunked_len, &mut outcome).await;
    let listener = conn.info.listener;
    match next {
        Next::Tunnel(mut job) => {
            // Counted as a request now (its 101); logged when the tunnel closes.
            if let Some((route, pool)) = outcome.route.and_then(|r| snapshot.route(r)) {
                route.record(pool, listener, outcome.status, started.elapsed(), 0, 0);
            }
            job.log = engine
                .access_log
                .clone()
                .map(|log| (log, owned_record(&req, conn, &id, &outcome, &snapshot)));
            drop(in_flight);
            conn.bufs.fields = fields;
            conn.bufs.head = head_buf;
            Next::Tunnel(job)
        }
        next => {
            account::record(
                engine,
                &snapshot,
                listener,
                &outcome,
                started.elapsed(),
                record(&req, conn, &id, &snapshot),
            );
            drop(in_flight);
            conn.bufs.fields = fields;
            conn.bufs.head = head_buf;
            next
        }
    }
}

/// The access-log fields that come from the request and connection.
fn record<'a>(
    req: &'a RequestView<'a>,
    conn: &Conn,
    id: &'a RequestId,
    snapshot: &'a Snapshot,
) -> Record<'a> {
    Record {
        at: Some(std::time::SystemTime::now()),
        request_id: Some(id.as_str()),
        client_ip: conn.info.peer.map(|a| a.ip()),
        client_port: conn.info.peer.map(|a| a.port()),
        method: req.method,
        host: (!req.host.is_empty()).then_some(req.host),
        path: req.path,
        query: req.query,
        http_version: if req.head.http10 { "1.0" } else { "1.1" },
        tls_version: conn.info.tls_version,
        user_agent: req.user_agent,
        listener: snapshot.listeners.get(conn.info.listener).map(|l| &*l.name),
        ..Default::default()
    }
}

/// The access-log fields of an upgraded request, owned: its line is written when the tunnel
/// closes, long after the request's buffers are gone.
fn owned_record(
    req: &RequestView<'_>,
    conn: &Conn,
    id: &RequestId,
    outcome: &Outcome,
    snapshot: &Snapshot,
) -> relay::TunnelRecord {
    let route = outcome.route.and_then(|r| snapshot.route(r));
    relay::TunnelRecord {
        request_id: id.as_str().to_string(),
        client: conn.info.peer,
        method: req.method.to_string(),
        host: req.host.to_string(),
        path: req.path.to_string(),
        query: req.query.map(str::to_string),
        tls_version: conn.info.tls_version,
        user_agent: req.user_agent.map(str::to_string),
        listener: snapshot
            .listeners
            .get(conn.info.listener)
            .map(|l| l.name.clone()),
        route: route.map(|(r, _)| r.name.clone()),
        pool: route.map(|(_, p)| p.name.clone()),
        upstream: route
            .and_then(|(_, p)| p.backends.get(outcome.backend? as usize))
            .map(|b| b.label.clone()),
        upstream_time: outcome.upstream_ttfb,
        status: outcome.status,
    }
}

async fn decide_and_forward(
    ctx: &Ctx<'_>,
    conn: &mut Conn,
    chunked_len: Option<u64>,
    outcome: &mut Outcome,
) -> Next {
    let req = ctx.req;
    let Some(path) = path::normalize(req.path) else {
        outcome.error = Some("path climbs above the root");
        return answer(ctx, conn, None, Local::error(400), outcome).await;
    };
    // ACME HTTP-01 (RFC 8555 §8.3): answered here, before routing and any HTTPS redirect.
    if !conn.info.tls {
        let challenges = &ctx.engine.state.tls.challenges;
        if let Some(token) = path
            .strip_prefix(HTTP_PREFIX)
            .filter(|_| challenges.active())
        {
            if let Some(key_authorization) = challenges.http_answer(token) {
                let body_pending = req.head.body != Body::None;
                let local = Local {
                    status: 200,
                    body: Some(key_authorization.as_bytes()),
                    extra: &[],
                    close: !ctx.keepalive(!body_pending),
                    keep_alive: req.head.http10,
                };
                return answer(ctx, conn, None, local, outcome).await;
            }
        }
    }
    let listener = conn.info.listener;
    let trusted = ctx
        .snapshot
        .listeners
        .get(listener)
        .map_or(&[][..], |l| &l.trusted_proxies[..]);
    let client = conn
        .info
        .peer
        .map(|a| client_ip::resolve(a.ip(), trusted, req.forwarded_for()));
    ctx.engine.state.samples.record(&Fact {
        listener,
        tls: conn.info.tls,
        client_cert: conn.info.client_cert.is_some(),
        client,
        method: req.method,
        host: req.host,
        path: &path,
        query: req.query,
        fields: req,
        headers: &ctx.snapshot.sampled_headers,
    });
    let facts = RequestFacts {
        method: req.method,
        query: req.query,
        client,
        fields: req,
    };
    let decision = decide::route(
        ctx.snapshot,
        listener,
        conn.info.tls,
        req.host,
        &path,
        &facts,
    );
    match decision {
        Decision::Route(id) => {
            outcome.route = Some(id);
            let Some((route, pool)) = ctx.snapshot.route(id) else {
                return answer(ctx, conn, None, Local::error(502), outcome).await;
            };
            let known_length = match req.head.body {
                Body::Length(n) => Some(n),
                Body::Chunked => chunked_len,
                Body::None => None,
            };
            if route.client_auth_required && conn.info.client_cert.is_none() {
                let name = ctx
                    .snapshot
                    .listeners
                    .get(listener)
                    .map(|l| l.name.to_string())
                    .unwrap_or_default();
                crate::tls::client_auth::count_failure(&name, "request", "missing");
                outcome.error = Some("no verified client certificate");
                let body_pending = req.head.body != Body::None;
                let local = Local {
                    close: !ctx.keepalive(!body_pending),
                    keep_alive: req.head.http10,
                    ..Local::error(403)
                };
                return answer(ctx, conn, Some(route), local, outcome).await;
            }
            if let Err(refusal) = access::check(route, client, known_length) {
                route.refused(pool, refusal.reason);
                let retry_after = refusal.retry_after.map(|w| {
                    itoa::Buffer::new()
                        .format(access::retry_after_secs(w))
                        .to_string()
                });
                let extra: Vec<(&str, &[u8])> = retry_after
                    .as_deref()
                    .map(|v| ("retry-after", v.as_bytes()))
                    .into_iter()
                    .collect();
                let body_pending = req.head.body != Body::None;
                let local = Local {
                    status: refusal.status,
                    body: None,
                    extra: &extra,
                    close: !ctx.keepalive(!body_pending),
                    keep_alive: req.head.http10,
                };
                return answer(ctx, conn, Some(route), local, outcome).await;
            }
            if let Some(next) = route_answer(ctx, conn, route, &path, outcome).await {
                return next;
            }
            let forwarded = crate::forward::rewrite::backend_path(route, &path);
            let affinity = pool.affinity(&KeyInput {
                client,
                path: &path,
                query: req.query,
                fields: req,
            });
            relay::forward(ctx, conn, route, pool, &forwarded, affinity, outcome).await
        }
        Decision::Redirect(location) => {
            let status = decide::redirect_status(&http_method(req.method));
            let body = format!("{status} redirect to {location}\n");
            let extra = [("location", location.as_bytes())];
            let body_pending = req.head.body != Body::None;
            let local = Local {
                status,
                body: Some(body.as_bytes()),
                extra: &extra,
                close: !ctx.keepalive(!body_pending),
                keep_alive: req.head.http10,
            };
            answer(ctx, conn, None, local, outcome).await
        }
        Decision::NotFound => {
            if let Some(l) = ctx.snapshot.listeners.get(listener) {
                l.metrics.unrouted();
            }
            let body_pending = req.head.body != Body::None;
            let local = Local {
                close: !ctx.keepalive(!body_pending),
                keep_alive: req.head.http10,
                ..Local::error(404)
            };
            answer(ctx, conn, None, local, outcome).await
        }
        Decision::BadRequest(why) | Decision::Refused(_, why, _) => {
            tracing::debug!(why, "bad request");
            outcome.error = Some(why);
            answer(ctx, conn, None, Local::error(400), outcome).await
        }
    }
}

/// The route's own answer (`redirect`, `respond`), when it has one.
async fn route_answer(
    ctx: &Ctx<'_>,
    conn: &mut Conn,
    route: &RouteEntry,
    path: &str,
    outcome: &mut Outcome,
) -> Option<Next> {
    let req = ctx.req;
    let body_pending = req.head.body != Body::None;
    if let Some((status, location)) = crate::forward::rewrite::redirect(route, path, req.query) {
        let body = format!("{status} redirect to {location}\n");
        let extra = [("location", location.as_bytes())];
        let local = Local {
            status,
            body: Some(body.as_bytes()),
            extra: &extra,
            close: !ctx.keepalive(!body_pending),
            keep_alive: req.head.http10,
        };
        return Some(answer(ctx, conn, Some(route), local, outcome).await);
    }
    let fixed = route.extras.actions.respond.as_ref()?;
    let extra = [("content-type", fixed.content_type.as_bytes())];
    let local = Local {
        status: fixed.status,
        body: Some(fixed.body.as_bytes()),
        extra: &extra,
        close: !ctx.keepalive(!body_pending),
        keep_alive: req.head.http10,
    };
    Some(answer(ctx, conn, Some(route), local, outcome).await)
}

fn http_method(method: &str) -> http::Method {
    http::Method::from_bytes(method.as_bytes()).unwrap_or(http::Method::POST)
}

/// Sends a local response and says what the connection does next.
pub(crate) async fn answer(
    ctx: &Ctx<'_>,
    conn: &mut Conn,
    route: Option<&RouteEntry>,
    local: Local<'_>,
    outcome: &mut Outcome,
) -> Next {
    outcome.status = local.status;
    let cx = ctx.local_context(&conn.info, route);
    let sent = local::send(&mut conn.client, &mut conn.bufs.out, &local, &cx).await;
    if !sent {
        return Next::Close;
    }
    if local.close {
        if ctx.req.head.body != Body::None {
            linger(conn).await;
        }
        return Next::Close;
    }
    Next::KeepAlive
}

/// After refusing a request whose body the client may still be sending: stop sending, then
/// read and discard for a moment, so the client reads the answer instead of a reset (closing
/// with unread bytes makes the kernel send RST, which can destroy the response in flight).
pub(crate) async fn linger(conn: &mut Conn) {
    use tokio::io::AsyncWriteExt;
    let _ = tokio::time::timeout(Duration::from_millis(500), conn.client.shutdown()).await;
    let drain = async {
        let mut seen = 0usize;
        while seen < 256 * 1024 {
            conn.client.prefix.clear();
            match conn.client.read_up_to(16 * 1024).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen += n,
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(500), drain).await;
}
