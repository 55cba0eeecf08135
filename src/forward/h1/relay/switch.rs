//! Protocol switches (`101`, a successful `CONNECT`): the connection leaves HTTP and becomes
//! a tunnel, logged and counted while it stays open.

use super::{client_gone, Attempt, Target};
use crate::access_log::{AccessLog, Record};
use crate::forward::account::{OpenTunnel, Outcome};
use crate::forward::h1::body::write_all_vectored;
use crate::forward::h1::exchange::{answer, Ctx, Next};
use crate::forward::h1::local::Local;
use crate::forward::h1::response::{ClientHead, ResponseHead};
use crate::forward::h1::{response, Conn};
use crate::forward::upstream::Upstream;
use crate::forward::{tunnel, Engine};
use crate::runtime::Pool;
use bytes::Buf;
use bytes::BytesMut;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

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
    let outcome = tunnel::run(&mut conn.client, &mut job.up.stream, job.idle).await;
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

/// A 101: a tunnel if the client asked for this protocol, else a bad gateway.
#[allow(clippy::too_many_arguments)]
pub(super) async fn switch_protocols(
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
        &mut conn.bufs.out,
        &buf,
        head,
        &conn.bufs.resp_fields,
        &ClientHead {
            rules: (!target.route.extras.response_headers.is_empty())
                .then_some(&target.route.extras.response_headers),
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
    let slices = [conn.bufs.out.as_slice(), &buf[..]];
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
