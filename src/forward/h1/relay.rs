//! Forwarding a routed request: pick a backend, get a connection (idle or new), send the head
//! and body, read the response head, then relay the response — or turn the connection into a
//! tunnel when the backend switches protocols. Failures before any response byte are retried
//! by the rules of [`crate::proxy::retry`] (HAProxy's): a kept-alive connection the backend had
//! closed is retried on a fresh one; a backend that broke the connection, on another backend
//! for idempotent requests; never after a response byte, never after a timeout.

use super::body::{
    relay_response_body, send_request_body, write_all_vectored, BodyError, RequestBody,
    RequestLimits, ResponseBody, ResponseRelay,
};
use super::exchange::{answer, Ctx, Next};
use super::local::Local;
use super::request::{write_upstream_head, Forwarding};
use super::response::{self, ClientHead, Framing, ResponseHead};
use super::Conn;
use crate::access_log::{AccessLog, Record};
use crate::forward::account::{OpenTunnel, Outcome};
use crate::forward::chunked::Framer;
use crate::forward::pick::{self, Attempts, Connection};
use crate::forward::upstream::Upstream;
use crate::forward::{tunnel, Engine};
use crate::listener::head::Body;
use crate::listener::stash::StashedBytes;
use crate::proxy::retry::{self, Retry};
use crate::runtime::pool::PoolBackend;
use crate::runtime::snapshot::RouteEntry;
use crate::runtime::Pool;
use bytes::{Buf, BytesMut};
use pingora::ErrorType;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

/// Largest response head accepted from a backend.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// While waiting for a response, bytes a client may send ahead (a pipelined request) are read
/// into its buffer up to this much; past it, the client is no longer watched.
const CLIENT_READ_AHEAD: usize = 64 * 1024;
/// The upstream read buffer's first size.
const UPSTREAM_BUFFER: usize = 16 * 1024;

/// An upgraded connection waiting to become a tunnel, with what its access-log line needs.
pub struct TunnelJob {
    up: Upstream,
    idle: Duration,
    pool: Arc<Pool>,
    started: Instant,
    /// Counts the tunnel against its backend while it is open.
    _open: crate::health::TunnelGuard,
    /// The access log and the request's fields, when a line is wanted.
    pub log: Option<(Arc<AccessLog>, TunnelRecord)>,
}

/// The fields of an upgraded request's access-log line, owned.
#[derive(Debug)]
pub struct TunnelRecord {
    pub(crate) request_id: String,
    pub(crate) client: Option<SocketAddr>,
    pub(crate) method: String,
    pub(crate) host: String,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) tls_version: Option<&'static str>,
    pub(crate) user_agent: Option<String>,
    pub(crate) listener: Option<Arc<str>>,
    pub(crate) route: Option<Arc<str>>,
    pub(crate) pool: Option<Arc<str>>,
    pub(crate) upstream: Option<Arc<str>>,
    pub(crate) upstream_time: Option<Duration>,
    pub(crate) status: u16,
}

/// Runs a tunnel to its end and writes its one access-log line.
pub async fn run_tunnel(_engine: &Engine, conn: &mut Conn, mut job: TunnelJob) {
    let open = OpenTunnel::begin(&job.pool);
    let outcome = tunnel::run(&mut *conn.client, &mut job.up.stream, job.idle).await;
    open.end(&outcome);
    if let Some((log, r)) = &job.log {
        if log.wants(r.status) {
            let line = Record {
                at: Some(std::time::SystemTime::now()),
                request_id: Some(&r.request_id),
                client_ip: r.client.map(|a| a.ip()),
                client_port: r.client.map(|a| a.port()),
                method: &r.method,
                host: Some(&r.host),
                path: &r.path,
                query: r.query.as_deref(),
                http_version: "1.1",
                tls_version: r.tls_version,
                status: r.status,
                bytes_in: outcome.to_upstream,
                bytes_out: outcome.to_client,
                duration: job.started.elapsed(),
                upstream: r.upstream.as_deref(),
                upstream_status: Some(r.status),
                upstream_time: r.upstream_time,
                retries: 0,
                route: r.route.as_deref(),
                pool: r.pool.as_deref(),
                listener: r.listener.as_deref(),
                user_agent: r.user_agent.as_deref(),
                error: (outcome.end != tunnel::End::Closed).then(|| outcome.end.as_str()),
            };
            log.log(&line);
        }
    }
}

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
    let mut attempts = Attempts::new(affinity, route.max_retries);
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
    let upgrade = req.allowed_upgrade(&route.upgrades);
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
            rules: &route.request_headers,
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
                max_size: route.max_body_size,
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

/// Reads the response head, passing on interim responses (100 to a client that asked for it,
/// 103 to HTTP/1.1 clients) and watching the client: a client that goes away ends the wait,
/// and with `expect_body` one that starts sending its body does too.
async fn await_head(
    ctx: &Ctx<'_>,
    conn: &mut Conn,
    up: &mut Upstream,
    buf: &mut BytesMut,
    read_timeout: Duration,
    expect_body: bool,
    sent_continue: &mut bool,
) -> HeadEvent {
    let mut deadline = Instant::now() + read_timeout;
    let mut any_byte = false;
    loop {
        if !buf.is_empty() {
            match response::parse(buf, ctx.req.is_head(), &mut conn.resp_fields) {
                Ok(Some(head)) if head.status >= 200 || head.status == 101 => {
                    return HeadEvent::Head(head)
                }
                Ok(Some(interim)) => {
                    let forward = match interim.status {
                        100 => ctx.req.head.expect_continue && !*sent_continue,
                        103 => !ctx.req.head.http10,
                        _ => false,
                    };
                    if forward {
                        let write = conn.client.write_all(&buf[..interim.len]);
                        if !matches!(tokio::time::timeout(read_timeout, write).await, Ok(Ok(()))) {
                            return HeadEvent::ClientGone;
                        }
                        let _ = conn.client.flush().await;
                        if interim.status == 100 {
                            *sent_continue = true;
                        }
                    }
                    buf.advance(interim.len);
                    if interim.status == 100 && expect_body && *sent_continue {
                        return HeadEvent::ClientData;
                    }
                    continue;
                }
                Ok(None) if buf.len() > MAX_RESPONSE_HEAD => {
                    return HeadEvent::Failed(ErrorType::InvalidHTTPHeader, true)
                }
                Ok(None) => {}
                Err(why) => {
                    tracing::debug!(why, "invalid response head");
                    return HeadEvent::Failed(ErrorType::InvalidHTTPHeader, true);
                }
            }
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(UPSTREAM_BUFFER);
        }
        let watch_client = conn.client.prefix.len() < CLIENT_READ_AHEAD;
        let read = tokio::time::timeout_at(deadline, up.stream.read_buf(buf));
        tokio::select! {
            biased;
            r = read => match r {
                Err(_) => return HeadEvent::Failed(ErrorType::ReadTimedout, any_byte),
                Ok(Err(_)) => return HeadEvent::Failed(ErrorType::ReadError, any_byte),
                Ok(Ok(0)) => return HeadEvent::Failed(ErrorType::ConnectionClosed, any_byte),
                Ok(Ok(_)) => {
                    any_byte = true;
                    deadline = Instant::now() + read_timeout;
                }
            },
            r = conn.client.read_up_to(4096), if watch_client => match r {
                Ok(0) | Err(_) => return HeadEvent::ClientGone,
                Ok(_) if expect_body => return HeadEvent::ClientData,
                Ok(_) => {}
            },
        }
    }
}

/// Relays a final response to the client, then keeps the backend connection if it is clean.
#[allow(clippy::too_many_arguments)]
async fn relay_response(
    ctx: &Ctx<'_>,
    conn: &mut Conn,
    target: &Target<'_>,
    up: Upstream,
    mut buf: StashedBytes,
    head: &ResponseHead,
    body_consumed: bool,
    sent_at: Instant,
    outcome: &mut Outcome,
) -> Attempt {
    let mut up = up;
    let req = ctx.req;
    let route = target.route;
    let timeouts = target.route.timeouts(&target.pool.config.timeouts);
    let dechunk = req.head.http10 && head.framing == Framing::Chunked;
    let close = !ctx.keepalive(body_consumed) || head.framing == Framing::Close || dechunk;
    let rules = (!route.response_headers.is_empty()).then_some(&route.response_headers);
    response::write_client_head(
        &mut conn.out,
        &buf,
        head,
        &conn.resp_fields,
        &ClientHead {
            rules,
            hsts: ctx.hsts(&conn.info, Some(route)),
            set_cookie: target.set_cookie.map(http::HeaderValue::as_bytes),
            request_id: ctx.id.as_bytes(),
            server_header: ctx.snapshot.config.server.server_header,
            close,
            keep_alive: req.head.http10 && !close,
            dechunk,
        },
    );
    buf.advance(head.len);
    let mut body = ResponseBody::new(head.framing, dechunk);
    let (take, mut done) = if body.dechunks() {
        (0, false)
    } else {
        match body.take(&buf) {
            Ok(t) => t,
            Err(e) => {
                outcome.error = Some(e.kind());
                outcome.upstream_error = true;
                return Attempt::Done(
                    answer(ctx, conn, Some(route), Local::error(502), outcome).await,
                );
            }
        }
    };
    let client_write = ctx.snapshot.config.limits.body_timeout;
    let slices = [conn.out.as_slice(), &buf[..take]];
    let write = write_all_vectored(&mut conn.client, &slices);
    if !matches!(tokio::time::timeout(client_write, write).await, Ok(Ok(()))) {
        return client_gone(outcome);
    }
    outcome.status = head.status;
    let mut progress = take as u64;
    buf.advance(take);
    let mut clean = done && buf.is_empty();
    if !done {
        let relay = ResponseRelay {
            read_timeout: timeouts.read,
            deadline: timeouts.response.map(|d| sent_at + d),
            client_write,
        };
        match relay_response_body(
            &mut up.stream,
            &mut buf,
            &mut conn.client,
            &mut body,
            &relay,
            &mut progress,
        )
        .await
        {
            Ok(c) => {
                clean = c;
                done = true;
            }
            Err(e) => {
                outcome.bytes_out = progress;
                outcome.error = Some(e.kind());
                outcome.upstream_error = e.upstream();
                if matches!(
                    e,
                    BodyError::UpstreamReadTimeout | BodyError::ResponseDeadline
                ) {
                    target.pool.report_timeout(target.index);
                    target
                        .backend
                        .metrics
                        .timeout(&target.pool.name, &target.backend.label);
                }
                return Attempt::Done(Next::Close);
            }
        }
    }
    outcome.bytes_out = progress;
    if done && clean && !head.close && body_consumed {
        ctx.engine.connector.release(up, timeouts.idle);
    }
    Attempt::Done(if close { Next::Close } else { Next::KeepAlive })
}

/// A 101: a tunnel if the client asked for this protocol, else a bad gateway.
#[allow(clippy::too_many_arguments)]
async fn switch_protocols(
    ctx: &Ctx<'_>,
    conn: &mut Conn,
    target: &Target<'_>,
    mut up: Upstream,
    mut buf: BytesMut,
    head: &ResponseHead,
    upgrade: Option<&[u8]>,
    outcome: &mut Outcome,
) -> Attempt {
    let granted = head
        .upgrade
        .map(|(s, e)| &buf[s as usize..e as usize])
        .zip(upgrade)
        .is_some_and(|(answered, asked)| {
            answered
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(asked))
        });
    if !granted {
        outcome.error = Some("InvalidUpgrade");
        outcome.upstream_error = true;
        return Attempt::Done(
            answer(ctx, conn, Some(target.route), Local::error(502), outcome).await,
        );
    }
    response::write_client_head(
        &mut conn.out,
        &buf,
        head,
        &conn.resp_fields,
        &ClientHead {
            rules: (!target.route.response_headers.is_empty())
                .then_some(&target.route.response_headers),
            hsts: ctx.hsts(&conn.info, Some(target.route)),
            set_cookie: target.set_cookie.map(http::HeaderValue::as_bytes),
            request_id: ctx.id.as_bytes(),
            server_header: ctx.snapshot.config.server.server_header,
            close: false,
            keep_alive: false,
            dechunk: false,
        },
    );
    buf.advance(head.len);
    // The backend may already have spoken in the new protocol, and the client too.
    let client_write = ctx.snapshot.config.limits.body_timeout;
    let slices = [conn.out.as_slice(), &buf[..]];
    let write = write_all_vectored(&mut conn.client, &slices);
    if !matches!(tokio::time::timeout(client_write, write).await, Ok(Ok(()))) {
        return client_gone(outcome);
    }
    if !conn.client.prefix.is_empty() {
        let early = conn.client.prefix.split();
        if up.stream.write_all(&early).await.is_err() {
            outcome.status = 101;
            outcome.error = Some("WriteError");
            return Attempt::Done(Next::Close);
        }
    }
    outcome.status = 101;
    let pool = target.pool;
    Attempt::Done(Next::Tunnel(Box::new(TunnelJob {
        up,
        idle: pool.config.timeouts.tunnel,
        pool: pool.clone(),
        started: ctx.started,
        _open: target.backend.state.begin_tunnel(),
        log: None,
    })))
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
