//! Request handling of a sample instance.

use super::fault::{Faults, Healthz};
use super::Body;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use parking_lot::Mutex;
use serde_json::json;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// One sample instance's shared state.
pub(crate) struct Instance {
    pub(super) name: String,
    pub(super) name_header: HeaderValue,
    faults: Arc<Faults>,
    /// Connections handed over by an HTTP upgrade (they outlive hyper's connection task);
    /// aborted when the server stops.
    upgraded: Mutex<JoinSet<()>>,
}

pub(super) fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into()).boxed()
}

/// The `x-backend` value for `name` (a fixed one when `name` cannot be a header value).
pub(super) fn name_header(name: &str) -> HeaderValue {
    HeaderValue::from_str(name).unwrap_or_else(|_| HeaderValue::from_static("sample"))
}

impl Instance {
    pub(crate) fn new(name: String, faults: Arc<Faults>) -> Self {
        Instance {
            name_header: name_header(&name),
            name,
            faults,
            upgraded: Mutex::new(JoinSet::new()),
        }
    }

    /// Runs an upgraded connection until it ends or the server stops.
    pub(super) fn spawn_upgraded(&self, task: impl Future<Output = ()> + Send + 'static) {
        let mut set = self.upgraded.lock();
        while set.try_join_next().is_some() {}
        set.spawn(task);
    }

    pub(super) fn abort_upgraded(&self) {
        self.upgraded.lock().abort_all();
    }

    /// A response without a body type of its own (101, errors of the upgrade routes).
    pub(super) fn bare(&self, status: StatusCode) -> Response<Body> {
        let mut resp = Response::new(full(Bytes::new()));
        *resp.status_mut() = status;
        resp.headers_mut()
            .insert("x-backend", self.name_header.clone());
        resp
    }

    pub(super) fn respond(
        &self,
        status: StatusCode,
        content_type: &'static str,
        body: Body,
    ) -> Response<Body> {
        let mut resp = Response::new(body);
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        h.insert("x-backend", self.name_header.clone());
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
        resp
    }

    pub(crate) async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_string();
        let segments: Vec<&str> = path.trim_start_matches('/').splitn(2, '/').collect();
        match segments.as_slice() {
            ["healthz"] => return self.healthz().await,
            ["fault"] if req.method() == http::Method::POST => {
                return self.fault(req.uri().query())
            }
            _ => {}
        }
        if self.faults.inject_error() {
            return self.respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                full("injected error (--error-every)\n"),
            );
        }
        if self.faults.refusing() {
            return self.respond(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                full("refusing work (fault)\n"),
            );
        }
        match segments.as_slice() {
            [""] => self.respond(
                StatusCode::OK,
                "text/html; charset=utf-8",
                full(format!(
                    "<!doctype html><title>{0}</title><h1>Hello from {0}</h1>\n",
                    self.name
                )),
            ),
            ["echo"] | ["echo", _] => self.echo(req).await,
            ["status", code] => {
                let status = code
                    .parse::<u16>()
                    .ok()
                    .and_then(|c| StatusCode::from_u16(c).ok())
                    .unwrap_or(StatusCode::BAD_REQUEST);
                self.respond(
                    status,
                    "text/plain",
                    full(format!("status {}\n", status.as_u16())),
                )
            }
            ["delay", ms] => {
                let ms: u64 = ms.parse().unwrap_or(0).min(600_000);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                self.respond(
                    StatusCode::OK,
                    "text/plain",
                    full(format!("delayed {ms} ms\n")),
                )
            }
            ["bytes", n] => {
                let n: usize = n.parse().unwrap_or(0).min(64 * 1024 * 1024);
                self.respond(
                    StatusCode::OK,
                    "application/octet-stream",
                    full(vec![b'x'; n]),
                )
            }
            ["stream", chunks] => {
                self.stream(chunks.parse().unwrap_or(10).min(100_000), req.uri().query())
            }
            ["ws"] => super::ws::handshake(self, req),
            ["upgrade", "echo"] => super::upgrade::echo(self, req),
            ["upgrade", "bad"] => super::upgrade::bad(self, req),
            ["sse"] => super::sse::events(self, req.uri().query()),
            ["download"] => super::download::download(self, req.uri().query()),
            ["upload"] if matches!(*req.method(), http::Method::POST | http::Method::PUT) => {
                super::download::upload(self, req).await
            }
            _ => self.respond(StatusCode::NOT_FOUND, "text/plain", full("not found\n")),
        }
    }

    async fn healthz(&self) -> Response<Body> {
        if self.faults.healthz() == Healthz::Hold {
            self.faults.wait_released().await;
        }
        match self.faults.healthz() {
            Healthz::Fail => self.respond(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                full("unhealthy (fault)\n"),
            ),
            _ => self.respond(StatusCode::OK, "text/plain", full("ok\n")),
        }
    }

    fn fault(&self, query: Option<&str>) -> Response<Body> {
        for pair in query.unwrap_or("").split('&') {
            match pair.split_once('=') {
                Some(("healthz", "ok")) => self.faults.set_healthz(Healthz::Ok),
                Some(("healthz", "fail")) => self.faults.set_healthz(Healthz::Fail),
                Some(("healthz", "hold")) => self.faults.set_healthz(Healthz::Hold),
                Some(("work", "ok")) => self.faults.set_refusing(false),
                Some(("work", "refuse")) => self.faults.set_refusing(true),
                _ => {}
            }
        }
        let body = json!({
            "healthz": format!("{:?}", self.faults.healthz()).to_lowercase(),
            "work": if self.faults.refusing() { "refuse" } else { "ok" },
        });
        self.respond(StatusCode::OK, "application/json", full(body.to_string()))
    }

    async fn echo(&self, req: Request<Incoming>) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let headers: Vec<(String, String)> = parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let doc = json!({
            "backend": self.name,
            "method": parts.method.as_str(),
            "uri": parts.uri.to_string(),
            "path": parts.uri.path(),
            "query": parts.uri.query(),
            "version": format!("{:?}", parts.version),
            "headers": headers,
            "body_length": body.len(),
        });
        self.respond(StatusCode::OK, "application/json", full(doc.to_string()))
    }

    fn stream(&self, chunks: u32, query: Option<&str>) -> Response<Body> {
        let interval = query
            .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("interval_ms=")))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(10);
        let name = self.name.clone();
        let stream = futures_stream(chunks, Duration::from_millis(interval), name);
        self.respond(
            StatusCode::OK,
            "text/plain",
            StreamBody::new(stream).boxed(),
        )
    }
}

fn futures_stream(
    chunks: u32,
    interval: Duration,
    name: String,
) -> impl futures_core::Stream<Item = Result<Frame<Bytes>, std::convert::Infallible>> + Send + Sync
{
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        for i in 0..chunks {
            if i > 0 {
                tokio::time::sleep(interval).await;
            }
            if tx
                .send(Ok(Frame::data(Bytes::from(format!("{name} chunk {i}\n")))))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    ReceiverStream(rx)
}

struct ReceiverStream<T>(tokio::sync::mpsc::Receiver<T>);

impl<T> futures_core::Stream for ReceiverStream<T> {
    type Item = T;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        self.0.poll_recv(cx)
    }
}
