//! One active check, over a connection opened exactly as traffic opens one: the backend's own
//! Pingora peer (address, SNI, verification, CA, client certificate, ALPN, connect timeout)
//! through a `TransportConnector` built by the same code as the forwarding engine's
//! ([`crate::tls::upstream::transport_connector`]). A probe therefore fails whenever a request
//! would fail to connect, and passes only when one could connect. Over that stream it speaks
//! what traffic speaks: HTTP/1.1, or HTTP/2 for `protocol = "h2"` pools and gRPC checks.

use super::grpc::{grpc_check_request, grpc_status, serving_status};
use crate::config::model::{Backend, CheckKind, Pool};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use pingora::connectors::TransportConnector;
use pingora::protocols::{Stream, ALPN};
use pingora::upstreams::peer::{HttpPeer, Peer as _};
use std::sync::Arc;

/// Largest body read when checking for a substring.
const MAX_BODY: usize = 64 * 1024;

/// Where and how to probe one backend: the configs its traffic peer is built from, shared
/// with the runtime pool (the peer itself, ~670 bytes, is built for each probe).
#[derive(Debug, Clone)]
pub struct Target {
    /// The pool's settings.
    pub pool: Arc<Pool>,
    /// The backend (its host name is the default Host header and `:authority`).
    pub backend: Arc<Backend>,
    /// The pool speaks HTTP/2 to its backends.
    pub h2: bool,
}

impl Target {
    /// The peer traffic uses for this backend.
    fn peer(&self) -> HttpPeer {
        crate::runtime::pool::make_peer(&self.pool, &self.backend)
    }

    /// `host[:port]`, the port left out when it is the scheme's default.
    fn authority(&self) -> String {
        let host = &self.backend.host;
        match (self.pool.tls.is_some(), self.backend.address.port()) {
            (true, 443) | (false, 80) => host.clone(),
            (_, port) => format!("{host}:{port}"),
        }
    }
}

/// Runs one check. `Ok(detail)` = passed, `Err(detail)` = failed; the detail is for `/status`.
pub async fn probe(
    kind: &CheckKind,
    target: &Target,
    transport: &TransportConnector,
) -> Result<String, String> {
    let h2 = target.h2 || matches!(kind, CheckKind::Grpc { .. });
    // Boxed: the probe task's future would otherwise be sized for it between probes too.
    let mut peer = Box::new(target.peer());
    if h2 && !target.h2 {
        // gRPC is HTTP/2 only: a gRPC check of an HTTP/1 pool offers `h2`, as a gRPC client
        // would; everything else about the connection stays the pool's.
        peer.options.set_http_version(2, 2);
    }
    let stream = Box::pin(transport.new_stream(&*peer))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    if h2 && peer.tls() && stream.selected_alpn_proto() != Some(ALPN::H2) {
        // What the HTTP/2 engine refuses too (`h2pool::ConnectError::NoH2`).
        return Err("the backend did not negotiate h2 (ALPN)".to_string());
    }
    match kind {
        CheckKind::Tcp => Ok("connected".to_string()),
        CheckKind::Grpc { service } => grpc(service, target, stream).await,
        CheckKind::Http {
            method,
            path,
            host,
            expect_status,
            expect_body,
        } => {
            let authority = host.clone().unwrap_or_else(|| target.authority());
            let response = if h2 {
                let uri = format!("{}://{authority}{path}", scheme(target));
                let request = http::Request::builder()
                    .method(method.clone())
                    .uri(uri)
                    .header(http::header::USER_AGENT, "gatehouse-health-check")
                    .body(Empty::<Bytes>::new())
                    .map_err(|e| format!("request: {e}"))?;
                send_h2(stream, request).await?
            } else {
                let request = http::Request::builder()
                    .method(method.clone())
                    .uri(path.as_str())
                    .header(http::header::HOST, authority)
                    .header(http::header::USER_AGENT, "gatehouse-health-check")
                    .header(http::header::CONNECTION, "close");
                send_h1(stream, request).await?
            };
            judge(response, expect_status, expect_body.as_deref()).await
        }
    }
}

fn scheme(target: &Target) -> &'static str {
    if target.pool.tls.is_some() {
        "https"
    } else {
        "http"
    }
}

/// A response, and the task driving its connection (aborted when the answer is dropped).
struct Answer {
    response: http::Response<hyper::body::Incoming>,
    _driver: Driver,
}

/// Aborts the connection task when dropped: the probe is over.
struct Driver(tokio::task::JoinHandle<()>);

impl Drop for Driver {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn send_h1(stream: Stream, request: http::request::Builder) -> Result<Answer, String> {
    let request = request
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("request: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("http: {e}"))?;
    let driver = Driver(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("http: {e}"))?;
    Ok(Answer {
        response,
        _driver: driver,
    })
}

async fn send_h2<B>(stream: Stream, request: http::Request<B>) -> Result<Answer, String>
where
    B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        TokioIo::new(stream),
    )
    .await
    .map_err(|e| format!("h2: {e}"))?;
    let driver = Driver(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("h2: {e}"))?;
    Ok(Answer {
        response,
        _driver: driver,
    })
}

/// Status in one of the expected ranges and, if asked, the body containing `needle`.
async fn judge(
    answer: Answer,
    expect_status: &[(u16, u16)],
    needle: Option<&str>,
) -> Result<String, String> {
    let Answer { response, _driver } = answer;
    let status = response.status().as_u16();
    if !expect_status
        .iter()
        .any(|(lo, hi)| (*lo..=*hi).contains(&status))
    {
        return Err(format!("status {status}"));
    }
    if let Some(needle) = needle {
        let body = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        if !body
            .windows(needle.len().max(1))
            .any(|w| w == needle.as_bytes())
        {
            return Err(format!("status {status}, body lacks {needle:?}"));
        }
    }
    Ok(format!("status {status}"))
}

/// `grpc.health.v1.Health/Check` over HTTP/2 (prior knowledge, or ALPN `h2` over TLS):
/// passes when the answer is `SERVING` with `grpc-status: 0`.
async fn grpc(service: &str, target: &Target, stream: Stream) -> Result<String, String> {
    let request = http::Request::post(format!(
        "{}://{}/grpc.health.v1.Health/Check",
        scheme(target),
        target.authority()
    ))
    .header(http::header::CONTENT_TYPE, "application/grpc")
    .header(http::header::TE, "trailers")
    .header(http::header::USER_AGENT, "gatehouse-health-check")
    .body(http_body_util::Full::new(Bytes::from(grpc_check_request(
        service,
    ))))
    .map_err(|e| format!("request: {e}"))?;
    let Answer { response, _driver } = send_h2(stream, request).await?;
    if response.status() != http::StatusCode::OK {
        return Err(format!("status {}", response.status().as_u16()));
    }
    let headers_status = grpc_status(response.headers());
    let collected = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?;
    let trailers_status = collected.trailers().and_then(grpc_status);
    match headers_status.or(trailers_status) {
        Some(0) => {}
        Some(code) => return Err(format!("grpc-status {code}")),
        None => return Err("no grpc-status".to_string()),
    }
    match serving_status(&collected.to_bytes()) {
        Some(1) => Ok("SERVING".to_string()),
        Some(2) => Err("NOT_SERVING".to_string()),
        Some(3) => Err("SERVICE_UNKNOWN".to_string()),
        Some(other) => Err(format!("serving status {other}")),
        None => Err("unreadable HealthCheckResponse".to_string()),
    }
}
