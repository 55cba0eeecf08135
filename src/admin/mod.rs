//! The admin listener (loopback by default): `/healthz`, `/status`, `/metrics`, and
//! state-changing calls that require the bearer token from `admin.token_file`:
//! `POST /reload` (`?dry_run=1`: validate and preview, apply nothing), `GET /preview/samples`,
//! `POST /backends/<pool>/<address>/{drain,disable,enable}`, `POST /upgrade`.

mod rollout;
pub mod status;

use crate::health::AdminOverride;
use crate::reload::{Reloader, Trigger};
use async_trait::async_trait;
use http::{Method, Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use serde_json::json;
use std::sync::Arc;

/// Hook for `POST /upgrade`, provided by the server (it owns the process lifecycle).
pub type UpgradeHook = Arc<dyn Fn() -> Result<serde_json::Value, String> + Send + Sync>;

/// The admin HTTP app.
pub struct AdminApp {
    reloader: Arc<Reloader>,
    upgrade: Option<UpgradeHook>,
    shutting_down: Arc<std::sync::atomic::AtomicBool>,
}

impl AdminApp {
    /// An admin app for this reloader (and its shared state).
    pub fn new(
        reloader: Arc<Reloader>,
        upgrade: Option<UpgradeHook>,
        shutting_down: Arc<std::sync::atomic::AtomicBool>,
    ) -> Self {
        AdminApp {
            reloader,
            upgrade,
            shutting_down,
        }
    }

    fn authorize(&self, session: &ServerSession) -> Result<(), Box<Response<Vec<u8>>>> {
        let snapshot = self.reloader.state().load();
        let Some(token) = snapshot.config.admin.token.as_deref() else {
            return Err(Box::new(json_response(
                StatusCode::FORBIDDEN,
                &json!({"error": "state-changing admin calls are disabled: set admin.token_file in the config"}),
            )));
        };
        let presented = session
            .req_header()
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if constant_time_eq(presented.as_bytes(), token.as_bytes()) {
            Ok(())
        } else {
            Err(Box::new(json_response(
                StatusCode::UNAUTHORIZED,
                &json!({"error": "missing or wrong bearer token"}),
            )))
        }
    }

    async fn reload(&self) -> Response<Vec<u8>> {
        let r = self.reloader.clone();
        match tokio::task::spawn_blocking(move || r.reload(Trigger::Admin)).await {
            Ok(Ok(outcome)) => {
                json_response(StatusCode::OK, &json!({"result": "ok", "outcome": outcome}))
            }
            Ok(Err(err)) => json_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                &json!({"result": "error", "generation": self.reloader.state().load().generation, "errors": err.issues()}),
            ),
            Err(join) => json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"result": "error", "errors": [join.to_string()]}),
            ),
        }
    }

    /// `GET /healthz`: 200 while serving, 503 once a stop has begun.
    fn healthz(&self) -> Response<Vec<u8>> {
        if self
            .shutting_down
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            text_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                b"shutting down\n".to_vec(),
            )
        } else {
            text_response(StatusCode::OK, "text/plain", b"ok\n".to_vec())
        }
    }

    /// `POST /reload?dry_run=1`: validates the file and replays recent requests through it;
    /// nothing is applied.
    async fn dry_run(&self) -> Response<Vec<u8>> {
        let r = self.reloader.clone();
        let run = move || {
            let validated = r.validate_file()?;
            let state = r.state();
            let serving = state.load();
            let restart_required = crate::reload::diff::restart_required(
                &state.bound,
                &state.applied,
                &validated.config,
            );
            let changes = crate::reload::diff::Changes::between(&serving.config, &validated.config);
            let bound: Vec<String> = state.bound.iter().map(|b| b.name.clone()).collect();
            let warnings: Vec<String> =
                validated.warnings.iter().map(ToString::to_string).collect();
            let candidate = crate::preview::candidate(validated.config, &bound, Some(&serving));
            let preview = crate::preview::against_serving(state, &candidate);
            Ok::<_, crate::reload::ReloadError>(json!({
                "result": "ok",
                "dry_run": true,
                "generation": serving.generation,
                "changes": changes,
                "restart_required": restart_required,
                "warnings": warnings,
                "lines": preview.lines(),
                "preview": preview,
            }))
        };
        match tokio::task::spawn_blocking(run).await {
            Ok(Ok(doc)) => json_response(StatusCode::OK, &doc),
            Ok(Err(err)) => json_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                &json!({"result": "error", "dry_run": true, "generation": self.reloader.state().load().generation, "errors": err.issues()}),
            ),
            Err(join) => json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"result": "error", "errors": [join.to_string()]}),
            ),
        }
    }

    fn backend_override(&self, pool: &str, address: &str, action: &str) -> Response<Vec<u8>> {
        let value = match action {
            "drain" => AdminOverride::Drain,
            "disable" => AdminOverride::Disable,
            "enable" => AdminOverride::None,
            _ => {
                return json_response(
                    StatusCode::NOT_FOUND,
                    &json!({"error": "action must be drain, disable or enable"}),
                )
            }
        };
        let snapshot = self.reloader.state().load();
        let Some(p) = snapshot.pools.iter().find(|p| &*p.name == pool) else {
            return json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": format!("no pool {pool:?}")}),
            );
        };
        let matches: Vec<_> = p
            .backends
            .iter()
            .filter(|b| &*b.label == address || b.config.configured == address)
            .collect();
        if matches.is_empty() {
            return json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": format!("pool {pool} has no backend {address:?}")}),
            );
        }
        for b in &matches {
            b.state.set_admin(value);
        }
        json_response(
            StatusCode::OK,
            &json!({"pool": pool, "backends": matches.iter().map(|b| b.label.to_string()).collect::<Vec<_>>(), "admin": value}),
        )
    }
}

/// Backend states that change by the passing of time (an ejection or failback delay ending)
/// and pool tiers are computed lazily, when traffic or a check looks at them; a scrape looks
/// at them first, so it never reports a state that has already ended.
fn refresh_lazy_state(snapshot: &crate::runtime::Snapshot) {
    for pool in &snapshot.pools {
        for backend in &pool.backends {
            backend.state.refresh();
        }
        let _ = pool.tier();
    }
}

/// `?role=standby` on the request.
fn standby_role(session: &ServerSession) -> bool {
    session
        .req_header()
        .uri
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "role=standby"))
}

/// `?dry_run=1` (or `=true`) on the request.
fn dry_run(session: &ServerSession) -> bool {
    session.req_header().uri.query().is_some_and(|q| {
        q.split('&')
            .any(|kv| kv == "dry_run=1" || kv == "dry_run=true")
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(body).unwrap_or_default();
    bytes.push(b'\n');
    text_response(status, "application/json", bytes)
}

fn text_response(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    resp.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    resp
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let method = session.req_header().method.clone();
        let path = session.req_header().uri.path().to_string();
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        // Recorded requests name clients and paths: only for token holders, like changes.
        let state_changing = method == Method::POST || path == "/preview/samples";
        if state_changing {
            if let Err(denied) = self.authorize(session) {
                return *denied;
            }
        }
        match (method, segments.as_slice()) {
            (Method::GET | Method::HEAD, ["healthz"]) if standby_role(session) => {
                let state = self.reloader.state();
                match state.pair.standby_refusal(state) {
                    Some(why)
                        if !self
                            .shutting_down
                            .load(std::sync::atomic::Ordering::Relaxed) =>
                    {
                        text_response(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "text/plain",
                            format!("{why}\n").into_bytes(),
                        )
                    }
                    _ => self.healthz(),
                }
            }
            (Method::GET | Method::HEAD, ["healthz"]) => self.healthz(),
            (Method::GET, ["pair", "facts"]) => json_response(
                StatusCode::OK,
                &serde_json::to_value(crate::pair::Facts::of(self.reloader.state()))
                    .unwrap_or_default(),
            ),
            (Method::GET, ["status"]) => {
                let state = self.reloader.state();
                let reloads = status::Reloads {
                    restart_required: state.pending_restart(),
                    last: self.reloader.last_report(),
                    last_applied: self.reloader.last_applied_report(),
                };
                let filter = status::Filter::from_query(session.req_header().uri.query());
                match status::build(&state.load(), &state.tls, reloads, &filter) {
                    Ok(mut doc) => {
                        doc.rollouts = state.rollouts.list();
                        doc.pair = state.pair.status();
                        let response = json_response(
                            StatusCode::OK,
                            &serde_json::to_value(doc).unwrap_or_default(),
                        );
                        // The document's scratch (a JSON tree per pool) is megabytes at
                        // thousands of pools: give it back now, not when this thread next
                        // works (see `memory`).
                        crate::memory::release_freed_memory();
                        response
                    }
                    Err(e) => {
                        json_response(StatusCode::NOT_FOUND, &json!({"error": e.to_string()}))
                    }
                }
            }
            // `metrics.enabled` as applied at start (cold): a process without a recorder has
            // nothing to export.
            (Method::GET, ["metrics"]) if !self.reloader.state().applied.metrics_enabled => {
                json_response(
                    StatusCode::NOT_FOUND,
                    &json!({"error": "metrics are disabled (metrics.enabled = false)"}),
                )
            }
            (Method::GET, ["metrics"]) => {
                let snapshot = self.reloader.state().load();
                refresh_lazy_state(&snapshot);
                let mut body = crate::metrics::render();
                // Written from the backends' state, not held as series (see `metrics::scraped`).
                crate::runtime::pool::render_backend_gauges(&snapshot.pools, &mut body);
                // Rendering's scratch is several times the body (12 MB at 10,000 backends).
                crate::memory::release_freed_memory();
                text_response(
                    StatusCode::OK,
                    "text/plain; version=0.0.4",
                    body.into_bytes(),
                )
            }
            (Method::POST, ["reload"]) if dry_run(session) => self.dry_run().await,
            (Method::POST, ["reload"]) => self.reload().await,
            (Method::GET, ["preview", "samples"]) => {
                let export = crate::preview::Export::of(self.reloader.state());
                json_response(
                    StatusCode::OK,
                    &serde_json::to_value(export).unwrap_or_default(),
                )
            }
            (Method::POST, ["rollouts", pool, action]) => {
                let query = session.req_header().uri.query().map(str::to_string);
                rollout::record(self.reloader.state(), pool, action, query.as_deref())
            }
            (Method::GET, ["rollouts", pool, address]) => {
                rollout::watch(self.reloader.state(), pool, address)
            }
            (Method::POST, ["backends", pool, address, action]) => {
                self.backend_override(pool, address, action)
            }
            (Method::POST, ["upgrade"]) => match &self.upgrade {
                None => json_response(
                    StatusCode::NOT_IMPLEMENTED,
                    &json!({"result": "error", "errors": ["upgrade is not available in this process"]}),
                ),
                Some(hook) => {
                    let hook = hook.clone();
                    match tokio::task::spawn_blocking(move || hook()).await {
                        Ok(Ok(v)) => {
                            json_response(StatusCode::OK, &json!({"result": "ok", "upgrade": v}))
                        }
                        Ok(Err(e)) => json_response(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            &json!({"result": "error", "errors": [e]}),
                        ),
                        Err(e) => json_response(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            &json!({"result": "error", "errors": [e.to_string()]}),
                        ),
                    }
                }
            },
            _ => json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": "unknown endpoint", "endpoints": ["GET /healthz[?role=standby]", "GET /pair/facts", "GET /status", "GET /metrics", "POST /reload[?dry_run=1]", "GET /preview/samples", "GET /rollouts/<pool>/<address>", "POST /rollouts/<pool>/{begin,step,end}", "POST /backends/<pool>/<address>/{drain,disable,enable}", "POST /upgrade"]}),
            ),
        }
    }
}
