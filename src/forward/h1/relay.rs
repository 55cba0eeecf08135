//! Forwarding a routed request: pick a backend, get a connection (idle or new), send the head
//! and body, read the response head, then relay the response — or turn the connection into a
//! tunnel when the backend switches protocols. Failures before any response byte are retried
//! by the rules of [`crate::proxy::retry`] (HAProxy's): a kept-alive connection the backend had
//! closed is retried on a fresh one; a backend that broke the connection, on another backend
//! for idempotent requests; never after a response byte, never after a timeout.

mod await_head;
mod respond;
mod switch;

use await_head::await_head;
use respond::relay_response;
use switch::switch_protocols;
pub use switch::{run_tunnel, TunnelJob, TunnelRecord};

use super::body::{send_request_body, write_all_vectored, RequestBody, RequestLimits};
use super::exchange::{answer, Ctx, Next};
use super::local::Local;
use super::request::{write_upstream_head, Forwarding};
use super::response::ResponseHead;
use super::Conn;
use crate::forward::account::Outcome;
use crate::forward::chunked::Framer;
use crate::forward::pick::{self, Attempts, Connection};
use crate::forward::upstream::Upstream;
use crate::listener::head::Body;
use crate::listener::stash::StashedBytes;
use crate::proxy::retry::{self, Retry};
use crate::runtime::pool::PoolBackend;
use crate::runtime::snapshot::RouteEntry;
use crate::runtime::Pool;
use bytes::Buf;
use pingora::ErrorType;
use std::sync::Arc;

use tokio::time::Instant;

/// Largest response head accepted from a backend.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// While waiting for a response, bytes a client may send ahead (a pipelined request) are read
/// into its buffer up to this much; past it, the client is no longer watched.
const CLIENT_READ_AHEAD: usize = 64 * 1024;
/// The upstream read buffer's first size.
const UPSTREAM_BUFFER: usize = 16 * 1024;

/// The path the backend gets: the normalised path, without the route's prefix when it strips.
pub(super) fn upstream_path<'a>(route: &RouteEntry, path: &'a str) -> &'a str {
    if !route.strip_prefix || route.path_prefix == "/" {
        return path;
    }
    match path.strip_prefix(route.path_prefix.as_str()) {
        Some("") => "/",
        Some(rest) => rest,
        None => path,
    }
}

/// How much of the read-ahead buffer is the request's whole body, when all of it is there
/// (then it can be sent again on a retry). `Some(0)` without a body.
fn buffered_body(prefix: &[u8], body: Body) -> Option<usize> {
    match body {
        Body::None => Some(0),
        Body::Length(n) => (n <= prefix.len() as u64).then_some(n as usize),
        Body::Chunked => {
            let mut framer = Framer::new();
            match framer.feed(prefix, |_, _| {}) {
                Ok(p) if p.done => Some(p.consumed),
                _ => None,
            }
        }
    }
}

/// What one attempt came to.
pub(super) enum Attempt {
    /// The exchange is over (answered, relayed, or the client went away).
    Done(Next),
    /// Failed before any response byte; try again (on a fresh connection to the same backend
    /// when `same_backend`).
    Retry { same_backend: bool },
}

/// Forwards a routed request (the retry loop around [`attempt`]).
pub(crate) async fn forward(
    ctx: &Ctx<'_>,
    conn: &mut Conn,
    route: &RouteEntry,
    pool: &Arc<Pool>,
    path: &str,
    affinity: crate::runtime::balance::Affinity,
    outcome: &mut Outcome,
) -> Next {
    let mut attempts = Attempts::new(affinity, route.extras.max_retries);
    loop {
        let picked = match attempts.pick(pool).await {
            Ok(p) => p,
            Err(refused) => {
                outcome.error = Some(refused.kind());
                outcome.retries = attempts.retries;
                return answer(ctx, conn, Some(route), Local::error(503), outcome).await;
            }
        };
        outcome.backend = Some(picked.index);
        let connection = match pick::connect(ctx.engine, pool, &picked).await {
            Ok(c) => c,
            Err(failure) => {
                if attempts.connect_failed(ctx.engine, ctx.snapshot, pool, &picked, &failure) {
                    continue;
                }
                outcome.error = Some(failure.kind);
                outcome.upstream_error = true;
                outcome.retries = attempts.retries;
                let status = if failure.timed_out { 504 } else { 502 };
                return answer(ctx, conn, Some(route), Local::error(status), outcome).await;
            }
        };
        let target = Target {
            route,
            pool,
            index: picked.index,
            backend: picked.backend,
            path,
            set_cookie: pool.set_cookie(attempts.affinity, picked.index, conn.info.tls),
        };
        let result = match connection {
            Connection::H1(up) => attempt(ctx, conn, &target, up, &attempts, outcome).await,
            Connection::H2(slot) => {
                // Boxed: only requests to HTTP/2 pools carry its state.
                Box::pin(super::to_h2::attempt(
                    ctx, conn, &target, slot, &attempts, outcome,
                ))
                .await
            }
        };
        match result {
            Attempt::Done(next) => {
                outcome.retries = attempts.retries;
                return next;
            }
            Attempt::Retry { same_backend } => {
                let reason = if same_backend {
                    attempts.again_on_fresh_connection(picked.index);
                    "reused_connection"
                } else {
                    "backend_reset"
                };
                attempts.count_retry(pool, reason);
            }
        }
    }
}

/// Where an attempt goes.
pub(super) struct Target<'a> {
    pub(super) route: &'a RouteEntry,
    pub(super) pool: &'a Arc<Pool>,
    pub(super) index: u32,
    pub(super) backend: &'a PoolBackend,
    pub(super) path: &'a str,
    /// The sticky cookie to set on the response, if any.
    pub(super) set_cookie: Option<&'a http::HeaderValue>,
}

/// How waiting for a response head ended.
enum HeadEvent {
    /// A final (or 101) response head.
    Head(ResponseHead),
    /// The client started sending its body (after `Expect: 100-continue`).
    ClientData,
    /// The client closed or broke its connection.
    ClientGone,
    /// The backend failed: the error kind, whether any response byte had arrived.
    Failed(ErrorType, bool),
}

/// One attempt on one connection.
async fn attempt(
    ctx: &Ctx<'_>,
    conn: &mut Conn,
    target: &Target<'_>,
    mut up: Upstream,
    attempts: &Attempts,
    outcome: &mut Outcome,
) -> Attempt {
    let req = ctx.req;
    let route = target.route;
    let timeouts = target.route.timeouts(&target.pool.config.timeouts);
    let limits = &ctx.snapshot.config.limits;
    let upgrade = req.allowed_upgrade(&route.extras.upgrades);
    let body = match req.head.body {
        Body::None => None,
        Body::Length(n) => Some(RequestBody::Length(n)),
        Body::Chunked => Some(RequestBody::Chunked),
    };
    let buffered = buffered_body(&conn.client.prefix, req.head.body);
    write_upstream_head(
        &mut conn.out,
        req,
        &Forwarding {
            path: upstream_path(route, target.path).as_bytes(),
            query: req.query.map(str::as_bytes),
            client: conn.info.peer.map(|a| a.ip()),
            tls: conn.info.tls,
            request_id: ctx.id.as_bytes(),
            rules: &route.extras.request_headers,
            upgrade,
            strip: &ctx.snapshot.client_cert_strip,
            client_cert: crate::tls::client_auth::forwarded(
                ctx.snapshot
                    .listeners
                    .get(conn.info.listener)
                    .and_then(|l| l.client_cert_headers.as_ref()),
                conn.info.client_cert.as_deref(),
            ),
        },
    );
    let expect_continue = req.head.expect_continue && body.is_some() && buffered.is_none();
    // With the head goes whatever of the body is already here (all of it, usually).
    let first_body = match buffered {
        Some(n) => n,
        None if expect_continue => 0,
        None => conn.client.prefix.len(),
    };
    let sent_at = Instant::now();
    let slices = [conn.out.as_slice(), &conn.client.prefix[..first_body]];
    let write = write_all_vectored(&mut up.stream, &slices);
    if tokio::time::timeout(timeouts.write, write)
        .await
        .map_or(true, |r| r.is_err())
    {
        return failed_early(
            ctx,
            conn,
            target,
            ErrorType::WriteError,
            false,
            up.reused,
            true,
            attempts,
            outcome,
        )
        .await;
    }
    let mut buf = StashedBytes::new(UPSTREAM_BUFFER);
    let mut body_consumed = body.is_none();
    let mut sent_continue = false;
    // Expect: 100-continue: the client waits for a go-ahead (or for the backend's refusal).
    let mut early_head = None;
    if expect_continue {
        match await_head(
            ctx,
            conn,
            &mut up,
            &mut buf,
            timeouts.read,
            true,
            &mut sent_continue,
        )
        .await
        {
            HeadEvent::Head(h) => early_head = Some(h),
            HeadEvent::ClientData => {}
            HeadEvent::ClientGone => return client_gone(outcome),
            HeadEvent::Failed(kind, started) => {
                return failed_early(
                    ctx, conn, target, kind, started, up.reused, true, attempts, outcome,
                )
                .await;
            }
        }
    }
    if early_head.is_none() {
        if let (Some(body), None) = (body, buffered) {
            let request_limits = RequestLimits {
                body_timeout: limits.body_timeout,
                min_rate: limits.min_body_rate,
                rate_grace: limits.body_rate_grace,
                max_size: route.extras.max_body_size,
                upstream_write: timeouts.write,
            };
            let already = if expect_continue { 0 } else { first_body };
            match send_request_body(
                &mut conn.client,
                &mut up.stream,
                body,
                already,
                &request_limits,
            )
            .await
            {
                Ok(n) => {
                    outcome.bytes_in = n;
                    body_consumed = true;
                }
                Err(e) if e.upstream() => {
                    // The backend stopped taking the body: it may have answered early.
                    outcome.error = Some(e.kind());
                    outcome.upstream_error = true;
                }
                Err(e) => {
                    outcome.error = Some(e.kind());
                    let status = e.status();
                    if status == 0 {
                        return Attempt::Done(Next::Close);
                    }
                    return Attempt::Done(
                        answer(ctx, conn, Some(route), Local::error(status), outcome).await,
                    );
                }
            }
        }
    }
    let head = match early_head {
        Some(h) => h,
        None => match await_head(
            ctx,
            conn,
            &mut up,
            &mut buf,
            timeouts.read,
            false,
            &mut sent_continue,
        )
        .await
        {
            HeadEvent::Head(h) => h,
            HeadEvent::ClientData => {
                let replayable = body.is_none() || buffered.is_some();
                return failed_early(
                    ctx,
                    conn,
                    target,
                    ErrorType::InternalError,
                    false,
                    up.reused,
                    replayable,
                    attempts,
                    outcome,
                )
                .await;
            }
            HeadEvent::ClientGone => return client_gone(outcome),
            HeadEvent::Failed(kind, started) => {
                let replayable = body.is_none() || buffered.is_some();
                return failed_early(
                    ctx, conn, target, kind, started, up.reused, replayable, attempts, outcome,
                )
                .await;
            }
        },
    };
    // The response is the backend's now: a buffered body was delivered.
    if let (Some(n), Some(_)) = (buffered, body) {
        conn.client.prefix.advance(n);
        outcome.bytes_in = match req.head.body {
            Body::Length(len) => len,
            _ => n as u64,
        };
        body_consumed = true;
    }
    outcome.upstream_status = Some(head.status);
    outcome.upstream_ttfb = Some(sent_at.elapsed());
    target.pool.report_response(target.index, head.status);
    if head.status == 101 {
        // The tunnel keeps what the backend sent after its 101.
        let rest = std::mem::take(&mut *buf);
        return switch_protocols(ctx, conn, target, up, rest, &head, upgrade, outcome).await;
    }
    relay_response(
        ctx,
        conn,
        target,
        up,
        buf,
        &head,
        body_consumed,
        sent_at,
        outcome,
    )
    .await
}

fn client_gone(outcome: &mut Outcome) -> Attempt {
    outcome.status = 0;
    outcome.error = Some("ConnectionClosed");
    outcome.upstream_error = false;
    Attempt::Done(Next::Close)
}

/// The backend failed before a usable response: count it, and retry or answer.
#[allow(clippy::too_many_arguments)]
pub(super) async fn failed_early(
    ctx: &Ctx<'_>,
    conn: &mut Conn,
    target: &Target<'_>,
    kind: ErrorType,
    response_started: bool,
    reused: bool,
    replayable: bool,
    attempts: &Attempts,
    outcome: &mut Outcome,
) -> Attempt {
    let pool = target.pool;
    let timed_out = matches!(kind, ErrorType::ReadTimedout | ErrorType::WriteTimedout);
    if timed_out {
        pool.report_timeout(target.index);
        target
            .backend
            .metrics
            .timeout(&pool.name, &target.backend.label);
    }
    let failure = retry::Failure {
        etype: &kind,
        upstream: true,
        keepalive_race: reused && !response_started,
        reused,
        idempotent: ctx.req.idempotent(),
        body_unsent: replayable,
        body_truncated: !replayable,
        response_started,
    };
    let decision = retry::decide(&failure);
    if decision == Retry::OtherBackend {
        pool.report_connect_failure(target.index);
    }
    let allowed = match decision {
        Retry::No => false,
        Retry::FreshConnection => attempts.may_retry(ctx.engine, ctx.snapshot, pool, true),
        Retry::OtherBackend => attempts.may_retry(ctx.engine, ctx.snapshot, pool, false),
    };
    if allowed {
        return Attempt::Retry {
            same_backend: decision == Retry::FreshConnection,
        };
    }
    outcome.error = Some(kind.as_str());
    outcome.upstream_error = true;
    let status = if timed_out { 504 } else { 502 };
    Attempt::Done(answer(ctx, conn, Some(target.route), Local::error(status), outcome).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffered_bodies() {
        assert_eq!(buffered_body(b"", Body::None), Some(0));
        assert_eq!(buffered_body(b"abcGET", Body::Length(3)), Some(3));
        assert_eq!(buffered_body(b"ab", Body::Length(3)), None);
        assert_eq!(
            buffered_body(b"3\r\nabc\r\n0\r\n\r\nGET", Body::Chunked),
            Some(13)
        );
        assert_eq!(buffered_body(b"3\r\nabc\r\n", Body::Chunked), None);
    }
}
