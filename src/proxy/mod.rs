//! The Pingora `ProxyHttp` implementation. Each phase is short and delegates decisions to pure
//! functions ([`decide`], [`headers`], [`respond`]) and to the runtime (pool selection, passive
//! health), so the phases read as the request's story:
//!
//! 1. `request_filter`: load the snapshot (once), pick the listener, decide route / redirect / 404.
//! 2. `upstream_peer`: pick a backend (never one already tried), count it in flight.
//! 3. `fail_to_connect` / `error_while_proxy`: passive health, and whether to retry.
//! 4. `upstream_request_filter` / `response_filter`: forwarding headers, rules, HSTS.
//! 5. `fail_to_proxy`: the error page. 6. `logging`: metrics, access log.

pub mod access;
pub mod client_ip;
pub mod ctx;
pub mod decide;
pub mod headers;
pub mod log;
pub mod path;
pub mod rate_limit;
pub mod respond;
pub mod retry;
pub mod retry_budget;
pub mod select;

use crate::access_log::AccessLog;
use crate::runtime::SharedState;
use async_trait::async_trait;
use ctx::RequestCtx;
use decide::Decision;
use http::header::{self, HeaderValue};
use metrics::counter;
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use retry_budget::RetryBudget;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A request body is measured against `min_body_rate` only after this long.
const MIN_RATE_GRACE_SECS: f64 = 5.0;

/// The proxy: shared state plus the process-wide retry budget.
#[derive(Debug)]
pub struct Proxy {
    state: Arc<SharedState>,
    budget: Arc<RetryBudget>,
    access_log: Option<Arc<AccessLog>>,
}

impl Proxy {
    /// A proxy reading `state`, drawing retries from `budget` (shared by all proxy instances)
    /// and writing to `access_log` if there is one.
    pub fn new(
        state: Arc<SharedState>,
        budget: Arc<RetryBudget>,
        access_log: Option<Arc<AccessLog>>,
    ) -> Self {
        Proxy {
            state,
            budget,
            access_log,
        }
    }

    fn server_header(ctx: &RequestCtx) -> bool {
        ctx.snapshot()
            .is_some_and(|s| s.config.server.server_header)
    }

    /// Whether another attempt is allowed: attempts left, a candidate left, and budget.
    fn may_retry(&self, ctx: &RequestCtx, same_backend: bool) -> bool {
        let Some(snapshot) = ctx.snapshot() else {
            return false;
        };
        let Some((_, pool)) = ctx.route.and_then(|id| snapshot.route(id)) else {
            return false;
        };
        select::may_retry(
            &self.budget,
            &snapshot.config.server.retry_budget,
            pool,
            ctx.attempts,
            ctx.tried.as_slice(),
            same_backend,
        )
    }

    fn current_backend(
        ctx: &RequestCtx,
    ) -> Option<(
        &crate::runtime::Pool,
        u32,
        &crate::runtime::pool::PoolBackend,
    )> {
        let snapshot = ctx.snapshot()?;
        let (_, pool) = snapshot.route(ctx.route?)?;
        let index = ctx.backend?;
        let backend = pool.backends.get(index as usize)?;
        Some((pool, index, backend))
    }
}

#[async_trait]
impl ProxyHttp for Proxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::default()
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        ctx.started = Some(Instant::now());
        ctx.in_flight = Some(crate::metrics::InFlight::begin());
        let snapshot = self.state.load();
        let digest = session.digest();
        ctx.tls = digest.is_some_and(|d| d.ssl_digest.is_some());
        let local = digest
            .and_then(|d| d.socket_digest.as_ref())
            .and_then(|s| s.local_addr())
            .and_then(|a| a.as_inet())
            .copied();
        ctx.listener = self.state.listener_index(local);
        ctx.request_id = Some(
            match session.req_header().headers.get(&headers::X_REQUEST_ID) {
                Some(id) if headers::valid_request_id(id) => id.clone(),
                _ => headers::new_request_id(),
            },
        );
        self.budget.deposit();
        let decision = match normalize_path(session) {
            Ok(()) => decide::decide(&snapshot, ctx.listener, ctx.tls, session.req_header()),
            Err(why) => Decision::BadRequest(why),
        };
        let decision = match decision {
            Decision::Route(id) => self.admit(session, ctx, &snapshot, id),
            other => other,
        };
        let server_header = snapshot.config.server.server_header;
        ctx.snapshot = Some(snapshot);
        match decision {
            Decision::Route(id) => {
                ctx.route = Some(id);
                Ok(false)
            }
            Decision::Refused(status, reason, retry_after) => {
                if let Some((route, pool)) = ctx.snapshot().and_then(|s| s.route(ctx.route?)) {
                    route.refused(pool, reason);
                }
                let extra: Vec<(header::HeaderName, HeaderValue)> = retry_after
                    .map(|w| {
                        (
                            header::RETRY_AFTER,
                            HeaderValue::from(access::retry_after_secs(w)),
                        )
                    })
                    .into_iter()
                    .collect();
                respond::write(session, ctx, status, None, &extra, server_header).await?;
                Ok(true)
            }
            Decision::Redirect(location) => {
                let status = respond::redirect_status(&session.req_header().method);
                let location = HeaderValue::from_str(&location)
                    .or_err(ErrorType::InvalidHTTPHeader, "redirect location")?;
                let body = format!("{status} redirect to {}\n", location.to_str().unwrap_or(""));
                respond::write(
                    session,
                    ctx,
                    status,
                    Some(body),
                    &[(header::LOCATION, location)],
                    server_header,
                )
                .await?;
                Ok(true)
            }
            Decision::NotFound => {
                counter!(crate::metrics::names::UNROUTED_REQUESTS_TOTAL, "listener" => self.listener_name(ctx)).increment(1);
                respond::write(session, ctx, 404, None, &[], server_header).await?;
                Ok(true)
            }
            Decision::BadRequest(why) => {
                tracing::debug!(why, "bad request");
                session.set_keepalive(None);
                respond::write(session, ctx, 400, None, &[], server_header).await?;
                Ok(true)
            }
        }
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(b) = body {
            ctx.body_bytes += b.len() as u64;
        }
        if ctx.max_body_size.is_some_and(|max| ctx.body_bytes > max) {
            return Err(Error::explain(
                ErrorType::HTTPStatus(413),
                "request body larger than max_body_size",
            ));
        }
        if ctx.min_body_rate > 0 && !end_of_stream {
            let started = *ctx.body_started.get_or_insert_with(Instant::now);
            let elapsed = started.elapsed().as_secs_f64();
            if elapsed > MIN_RATE_GRACE_SECS
                && (ctx.body_bytes as f64) < elapsed * ctx.min_body_rate as f64
            {
                return Err(Error::explain(
                    ErrorType::HTTPStatus(408),
                    "request body slower than min_body_rate",
                ));
            }
        }
        Ok(())
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let snapshot = ctx
            .snapshot
            .clone()
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no snapshot in context"))?;
        let (_, pool) = ctx
            .route
            .and_then(|id| snapshot.route(id))
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no route in context"))?;
        let index = if ctx.fresh_connection {
            ctx.backend
        } else if ctx.attempts == 0 {
            pool.select()
        } else {
            pool.select_excluding(ctx.tried.as_slice())
        };
        let Some(mut index) = index else {
            return Err(Error::explain(
                ErrorType::HTTPStatus(503),
                format!("pool {}: no backend available", pool.name),
            ));
        };
        // A backend at max_connections: prefer another with a free slot before queueing.
        if !ctx.fresh_connection {
            index = select::prefer_room(pool, index, ctx.tried.as_slice());
        }
        let backend = pool.backends.get(index as usize).ok_or_else(|| {
            Error::explain(ErrorType::InternalError, "backend index out of range")
        })?;
        ctx.attempts += 1;
        ctx.backend = Some(index);
        ctx.tried.push(index);
        ctx.inflight = Some(backend.state.begin_request());
        if let Some(max) = backend.config.max_connections {
            if ctx.permit.is_none() || !ctx.fresh_connection {
                ctx.permit = None;
                let permit = backend
                    .state
                    .acquire_slot(max, backend.config.max_queue, backend.config.queue_timeout)
                    .await
                    .map_err(|e| {
                        Error::explain(
                            ErrorType::HTTPStatus(503),
                            format!("{}: {e}", backend.label),
                        )
                    })?;
                ctx.permit = Some(permit);
            }
        }
        let mut peer = Box::new(backend.peer.clone());
        if ctx.fresh_connection {
            // A different group key cannot match any pooled connection: the retry connects anew.
            peer.group_key = fastrand::u64(1..);
            ctx.fresh_connection = false;
        }
        let now = Instant::now();
        ctx.upstream_started = Some(now);
        ctx.response_deadline = pool.config.timeouts.response.map(|limit| now + limit);
        Ok(peer)
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        if let Some((pool, index, backend)) = Self::current_backend(ctx) {
            pool.report_connect_failure(index);
            counter!(crate::metrics::names::UPSTREAM_CONNECT_FAILURES_TOTAL, "pool" => pool.name.to_string(), "backend" => backend.label.to_string()).increment(1);
            if matches!(e.etype(), ErrorType::ConnectTimedout) {
                counter!(crate::metrics::names::UPSTREAM_TIMEOUTS_TOTAL, "pool" => pool.name.to_string(), "backend" => backend.label.to_string()).increment(1);
            }
            tracing::warn!(pool = %pool.name, backend = %backend.label, error = %e, "upstream connect failed");
        }
        ctx.permit = None;
        let retry = self.may_retry(ctx, false);
        if retry {
            ctx.retries += 1;
            if let Some((pool, _, _)) = Self::current_backend(ctx) {
                counter!(crate::metrics::names::UPSTREAM_RETRIES_TOTAL, "pool" => pool.name.to_string(), "reason" => "connect").increment(1);
            }
        }
        e.set_retry(retry);
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut RequestCtx,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("backend {peer}"));
        // Pingora routes client-side failures (the client hung up or stalled mid-request) through
        // here too; only the backend's own failures count against it.
        let upstream = *e.esource() == ErrorSource::Upstream;
        if let Some((pool, index, backend)) = Self::current_backend(ctx).filter(|_| upstream) {
            if matches!(
                e.etype(),
                ErrorType::ReadTimedout | ErrorType::WriteTimedout
            ) {
                pool.report_timeout(index);
                counter!(crate::metrics::names::UPSTREAM_TIMEOUTS_TOTAL, "pool" => pool.name.to_string(), "backend" => backend.label.to_string()).increment(1);
            }
        }
        e.retry.decide_reuse(client_reused);
        let failure = retry::Failure {
            etype: e.etype(),
            upstream,
            keepalive_race: e.retry(),
            reused: client_reused,
            idempotent: session.req_header().method.is_idempotent(),
            body_unsent: session.upstream_body_bytes_sent().is_none_or(|n| n == 0),
            body_truncated: session.as_ref().retry_buffer_truncated(),
            response_started: ctx.upstream_status.is_some(),
        };
        let decision = retry::decide(&failure);
        if decision == retry::Retry::OtherBackend {
            // The backend dropped a connection mid-request: count it towards ejection like a
            // failed connect, so a dead backend leaves rotation quickly.
            if let Some((pool, index, _)) = Self::current_backend(ctx) {
                pool.report_connect_failure(index);
            }
        }
        let allowed = match decision {
            retry::Retry::No => false,
            retry::Retry::FreshConnection => self.may_retry(ctx, true),
            retry::Retry::OtherBackend => self.may_retry(ctx, false),
        };
        if allowed {
            ctx.fresh_connection = decision == retry::Retry::FreshConnection;
            ctx.retries += 1;
            let reason = match decision {
                retry::Retry::FreshConnection => "reused_connection",
                _ => "backend_reset",
            };
            if let Some((pool, _, _)) = Self::current_backend(ctx) {
                counter!(crate::metrics::names::UPSTREAM_RETRIES_TOTAL, "pool" => pool.name.to_string(), "reason" => reason).increment(1);
            }
        }
        e.set_retry(allowed);
        e
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let client = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        let original_host = session
            .req_header()
            .headers
            .get(header::HOST)
            .cloned()
            .or_else(|| {
                session
                    .req_header()
                    .uri
                    .authority()
                    .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            });
        let fallback_id;
        let id = match &ctx.request_id {
            Some(id) => id,
            None => {
                fallback_id = headers::new_request_id();
                &fallback_id
            }
        };
        headers::set_forwarding_headers(upstream, client, ctx.tls, original_host.as_ref(), id);
        if let Some((route, _)) = ctx.snapshot().and_then(|s| s.route(ctx.route?)) {
            if route.strip_prefix {
                if let Some(uri) = headers::strip_prefix(&upstream.uri, &route.path_prefix) {
                    upstream.set_uri(uri);
                }
            }
            if !route.request_headers.is_empty() {
                headers::apply_request_rules(upstream, &route.request_headers);
            }
        }
        let h2_pool = ctx
            .snapshot()
            .and_then(|s| s.route(ctx.route?))
            .is_some_and(|(_, pool)| {
                pool.config.protocol == crate::config::model::UpstreamProtocol::H2
            });
        if h2_pool {
            // gRPC servers may insist on it; Pingora strips TE as hop-by-hop before this filter.
            let _ = upstream.insert_header(header::TE, "trailers");
        }
        Ok(())
    }

    /// Enforces `timeouts.response`: a body that keeps trickling (each read within `read`)
    /// is cut once the whole response has taken too long.
    fn upstream_response_body_filter(
        &self,
        _session: &mut Session,
        _body: &mut Option<bytes::Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Duration>> {
        let Some(deadline) = ctx.response_deadline else {
            return Ok(None);
        };
        if Instant::now() <= deadline {
            return Ok(None);
        }
        if let Some((pool, index, backend)) = Self::current_backend(ctx) {
            pool.report_timeout(index);
            counter!(crate::metrics::names::UPSTREAM_TIMEOUTS_TOTAL, "pool" => pool.name.to_string(), "backend" => backend.label.to_string()).increment(1);
        }
        Error::e_explain(
            ErrorType::Custom("ResponseDeadline"),
            "response not complete within timeouts.response",
        )
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if upstream_response.status.is_informational() {
            return Ok(());
        }
        let status = upstream_response.status.as_u16();
        ctx.upstream_status = Some(status);
        ctx.upstream_ttfb = ctx.upstream_started.map(|t| t.elapsed());
        if let Some((pool, index, _)) = Self::current_backend(ctx) {
            pool.report_response(index, status);
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if response.status.is_informational() {
            return Ok(());
        }
        let Some(snapshot) = ctx.snapshot() else {
            return Ok(());
        };
        let route = ctx.route.and_then(|id| snapshot.route(id)).map(|(r, _)| r);
        if let Some(route) = route {
            if !route.response_headers.is_empty() {
                headers::apply_response_rules(response, &route.response_headers);
            }
        }
        if let Some(hsts) = respond::hsts(ctx) {
            response.insert_header(header::STRICT_TRANSPORT_SECURITY, hsts.clone())?;
        }
        if let Some(id) = &ctx.request_id {
            response.insert_header("x-request-id", id.clone())?;
        }
        if snapshot.config.server.server_header {
            response.insert_header(header::SERVER, "gatehouse")?;
        }
        Ok(())
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let status = respond::status_for(e);
        // Pingora 0.9.1 closes the client connection after any proxy failure, whatever
        // `can_reuse_downstream` says (its main path passes the *upstream* reuse flag to
        // `finish`), so every error answer says `Connection: close`: a client told keep-alive
        // would reuse a connection about to die and see a reset.
        session.set_keepalive(None);
        if status > 0 {
            if let Err(write_error) =
                respond::write(session, ctx, status, None, &[], Self::server_header(ctx)).await
            {
                tracing::debug!(error = %write_error, "could not send error response");
            }
        }
        FailToProxy {
            error_code: status,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        ctx.permit = None;
        ctx.inflight = None;
        let status = session
            .response_written()
            .map(|r| r.status.as_u16())
            .or(ctx.local_status)
            .or_else(|| e.map(respond::status_for))
            .unwrap_or(0);
        let elapsed = ctx.started.map_or(Duration::ZERO, |t| t.elapsed());
        if let Some((route, pool)) = ctx.snapshot().and_then(|s| s.route(ctx.route?)) {
            route.record(
                pool,
                ctx.listener,
                status,
                elapsed.as_secs_f64(),
                session.body_bytes_read() as u64,
                session.body_bytes_sent() as u64,
            );
            if let Some(ttfb) = ctx.upstream_ttfb {
                pool.metrics.upstream_ttfb(ttfb.as_secs_f64());
            }
        }
        if let Some(err) = e.filter(|e| *e.esource() == ErrorSource::Upstream) {
            if let Some((_, pool)) = ctx.snapshot().and_then(|s| s.route(ctx.route?)) {
                counter!(crate::metrics::names::UPSTREAM_ERRORS_TOTAL, "pool" => pool.name.to_string(), "kind" => err.etype().as_str())
                    .increment(1);
            }
        }
        if let Some(log) = &self.access_log {
            if log.wants(status) {
                log.log(&log::record(session, ctx, status, elapsed, e));
            }
        }
        ctx.in_flight = None;
    }

    fn suppress_error_log(&self, _session: &Session, _ctx: &RequestCtx, error: &Error) -> bool {
        // 503 "no backend" is an expected, already-counted outcome; a client that went away
        // mid-request is routine (nginx's 499; the access log has it, status 0 with the error
        // kind). Keep the error log for real faults.
        if respond::client_went_away(error) {
            tracing::debug!(error = %error, "client went away mid-request");
            return true;
        }
        matches!(error.etype(), ErrorType::HTTPStatus(_))
    }
}

/// Resolves dot segments before routing (the backend gets the normalised path too).
fn normalize_path(session: &mut Session) -> std::result::Result<(), &'static str> {
    let uri = &session.req_header().uri;
    let normalized = match path::normalize(uri.path()) {
        None => return Err("path climbs above the root"),
        Some(std::borrow::Cow::Borrowed(_)) => return Ok(()),
        Some(std::borrow::Cow::Owned(p)) => p,
    };
    let pq = match uri.query() {
        Some(q) => format!("{normalized}?{q}"),
        None => normalized,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(http::uri::PathAndQuery::try_from(pq).map_err(|_| "invalid path")?);
    let uri = http::Uri::from_parts(parts).map_err(|_| "invalid path")?;
    session.req_header_mut().set_uri(uri);
    Ok(())
}

impl Proxy {
    /// Applies the route's access rules; on success also arms the body limits for the request.
    fn admit(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        snapshot: &crate::runtime::Snapshot,
        id: crate::runtime::RouteId,
    ) -> Decision {
        let Some((route, _)) = snapshot.route(id) else {
            return Decision::Route(id);
        };
        let client = session.client_addr().and_then(|a| a.as_inet()).map(|a| {
            let trusted = snapshot
                .listeners
                .get(ctx.listener)
                .map_or(&[][..], |l| &l.trusted_proxies[..]);
            let xff = session
                .req_header()
                .headers
                .get_all(&headers::X_FORWARDED_FOR)
                .iter()
                .filter_map(|v| v.to_str().ok());
            client_ip::resolve(a.ip(), trusted, xff)
        });
        let content_length = session
            .req_header()
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .or_else(|| {
                // A chunked body the gate already read in full has a known size too.
                session
                    .as_downstream()
                    .stream()
                    .and_then(|s| s.as_any().downcast_ref::<crate::listener::gated::Gated>())
                    .and_then(|g| g.chunked_body_len)
            });
        if let Err(r) = access::check(route, client, content_length) {
            ctx.route = Some(id);
            return Decision::Refused(r.status, r.reason, r.retry_after);
        }
        let limits = &snapshot.config.limits;
        ctx.max_body_size = route.max_body_size;
        ctx.min_body_rate = limits.min_body_rate;
        session.set_read_timeout(Some(limits.body_timeout));
        Decision::Route(id)
    }

    fn listener_name(&self, ctx: &RequestCtx) -> String {
        self.state
            .bound
            .get(ctx.listener)
            .map(|b| b.name.clone())
            .unwrap_or_default()
    }
}
