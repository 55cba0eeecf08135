//! Forwarding a decided HTTP/2 stream: attempts against backends under the retry rules,
//! and the answer when a stream fails before any response byte.

use super::StreamCtx;
use crate::forward::account::Outcome;
use crate::forward::h2::answer;
use crate::forward::h2::answer::Answer;
use crate::forward::pick;
use crate::forward::pick::{Attempts, Connection};
use crate::proxy::retry;
use crate::proxy::retry::Retry;
use crate::runtime::snapshot::RouteEntry;
use crate::runtime::Pool;
use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;
use pingora::ErrorType;
use std::sync::Arc;

/// What one attempt came to.
pub enum Attempt {
    /// The stream is answered (or the client went away).
    Done,
    /// Failed before any response byte: try again (same backend on a fresh connection when
    /// `same_backend`). The request body is handed back for the next attempt.
    Retry {
        /// Retry on the same backend.
        same_backend: bool,
        /// The request body, untouched.
        body: RecvStream,
    },
}

/// Where an attempt goes.
pub struct Target<'a> {
    pub(crate) route: &'a RouteEntry,
    pub(crate) pool: &'a Arc<Pool>,
    pub(crate) index: u32,
    pub(crate) backend: &'a crate::runtime::pool::PoolBackend,
    /// The path to send (normalised, perhaps without the route's prefix).
    pub(crate) path: &'a str,
    /// The sticky cookie to set on the response, if any.
    pub(crate) set_cookie: Option<&'a http::HeaderValue>,
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn forward(
    ctx: &StreamCtx<'_>,
    route: &RouteEntry,
    pool: &Arc<Pool>,
    path: &str,
    affinity: crate::runtime::balance::Affinity,
    body: RecvStream,
    respond: &mut SendResponse<Bytes>,
    outcome: &mut Outcome,
) {
    let mut attempts = Attempts::new(affinity, route.extras.max_retries);
    let path = upstream_path(route, path);
    let mut body = Some(body);
    loop {
        let picked = match attempts.pick(pool).await {
            Ok(p) => p,
            Err(refused) => {
                outcome.error = Some(refused.kind());
                outcome.retries = attempts.retries;
                return answer::send(ctx, respond, Some(route), Answer::error(503), outcome);
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
                return answer::send(ctx, respond, Some(route), Answer::error(status), outcome);
            }
        };
        let target = Target {
            route,
            pool,
            index: picked.index,
            backend: picked.backend,
            path,
            set_cookie: pool.set_cookie(attempts.affinity, picked.index, ctx.info.tls),
        };
        let Some(request_body) = body.take() else {
            return;
        };
        let result = match connection {
            Connection::H1(up) if ctx.parts.method == http::Method::CONNECT => {
                Box::pin(crate::forward::h2::websocket::tunnel(
                    ctx,
                    &target,
                    up,
                    request_body,
                    respond,
                    &attempts,
                    outcome,
                ))
                .await
            }
            Connection::H1(up) => {
                // Allocated, then written (built in place rather than copied into the box).
                Box::into_pin(Box::write(
                    Box::new_uninit(),
                    crate::forward::h2::to_h1::attempt(
                        ctx,
                        &target,
                        up,
                        request_body,
                        respond,
                        &attempts,
                        outcome,
                    ),
                ))
                .await
            }
            Connection::H2(slot) => {
                Box::pin(crate::forward::h2::to_h2::attempt(
                    ctx,
                    &target,
                    slot,
                    request_body,
                    respond,
                    &attempts,
                    outcome,
                ))
                .await
            }
        };
        match result {
            Attempt::Done => {
                outcome.retries = attempts.retries;
                return;
            }
            Attempt::Retry {
                same_backend,
                body: returned,
            } => {
                body = Some(returned);
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

/// The path the backend gets: without the route's prefix when it strips.
fn upstream_path<'a>(route: &RouteEntry, path: &'a str) -> &'a str {
    if !route.strip_prefix || route.path_prefix == "/" {
        return path;
    }
    match path.strip_prefix(route.path_prefix.as_str()) {
        Some("") => "/",
        Some(rest) => rest,
        None => path,
    }
}

/// The backend failed before any response byte: count it, then retry (handing the body back)
/// or answer. `replayable`: no request body byte was taken from the client yet.
#[allow(clippy::too_many_arguments)]
pub(crate) fn failed_early(
    ctx: &StreamCtx<'_>,
    target: &Target<'_>,
    kind: ErrorType,
    reused: bool,
    body: Option<RecvStream>,
    respond: &mut SendResponse<Bytes>,
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
    let replayable = body.is_some();
    let failure = retry::Failure {
        etype: &kind,
        upstream: true,
        keepalive_race: reused,
        reused,
        idempotent: ctx.idempotent(),
        body_unsent: replayable,
        body_truncated: !replayable,
        response_started: false,
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
    if let (true, Some(body)) = (allowed, body) {
        return Attempt::Retry {
            same_backend: decision == Retry::FreshConnection,
            body,
        };
    }
    outcome.error = Some(kind.as_str());
    outcome.upstream_error = true;
    let status = if timed_out { 504 } else { 502 };
    answer::send(
        ctx,
        respond,
        Some(target.route),
        Answer::error(status),
        outcome,
    );
    Attempt::Done
}
