//! One active check: TCP connect (plus TLS handshake for TLS pools), an HTTP request whose
//! status and body are checked, or gRPC's standard health check over HTTP/2.

use crate::config::model::{CheckKind, UpstreamTls};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Largest body read when checking for a substring.
const MAX_BODY: usize = 64 * 1024;

/// Where and how to probe one backend.
#[derive(Debug, Clone)]
pub struct Target {
    /// Backend address.
    pub address: SocketAddr,
    /// Host name for SNI and the default Host header.
    pub host: String,
    /// TLS settings of the pool, if any.
    pub tls: Option<UpstreamTls>,
}

/// Runs one check. `Ok(detail)` = passed, `Err(detail)` = failed; the detail is for `/status`.
pub async fn probe(kind: &CheckKind, target: &Target) -> Result<String, String> {
    let tcp = TcpStream::connect(target.address)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    match &target.tls {
        None => check(kind, target, tcp).await,
        Some(tls) => {
            let mut config = if tls.verify {
                tls.material.client_config.clone()
            } else {
                tls.material.client_config_no_verify.clone()
            };
            if matches!(kind, CheckKind::Grpc { .. }) {
                // gRPC is HTTP/2 only: offer it in the handshake.
                let mut h2 = (*config).clone();
                h2.alpn_protocols = vec![b"h2".to_vec()];
                config = Arc::new(h2);
            }
            let name = tls.sni.clone().unwrap_or_else(|| target.host.clone());
            let server_name = rustls::pki_types::ServerName::try_from(name)
                .map_err(|e| format!("invalid TLS name: {e}"))?;
            let stream = tokio_rustls::TlsConnector::from(Arc::clone(&config))
                .connect(server_name, tcp)
                .await
                .map_err(|e| format!("TLS: {e}"))?;
            check(kind, target, stream).await
        }
    }
}

async fn check<S>(kind: &CheckKind, target: &Target, stream: S) -> Result<String, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (method, path, host, expect_status, expect_body) = match kind {
        CheckKind::Http {
            method,
            path,
            host,
            expect_status,
            expect_body,
        } => (method, path, host, expect_status, expect_body),
        CheckKind::Grpc { service } => return grpc(service, target, stream).await,
        CheckKind::Tcp => return Ok("connected".to_string()),
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("http: {e}"))?;
    let driver = tokio::spawn(conn);
    let host_header = host.clone().unwrap_or_else(|| match target.address.port() {
        80 | 443 => target.host.clone(),
        port => format!("{}:{port}", target.host),
    });
    let request = http::Request::builder()
        .method(method.clone())
        .uri(path.as_str())
        .header(http::header::HOST, host_header)
        .header(http::header::USER_AGENT, "gatehouse-health-check")
        .header(http::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("request: {e}"))?;
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("http: {e}"))?;
        let status = response.status().as_u16();
        if !expect_status
            .iter()
            .any(|(lo, hi)| (*lo..=*hi).contains(&status))
        {
            return Err(format!("status {status}"));
        }
        if let Some(needle) = expect_body {
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
    .await;
    driver.abort();
    result
}

/// `grpc.health.v1.Health/Check` over HTTP/2 (prior knowledge, or ALPN `h2` over TLS):
/// passes when the answer is `SERVING` with `grpc-status: 0`.
async fn grpc<S>(service: &str, target: &Target, stream: S) -> Result<String, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        TokioIo::new(stream),
    )
    .await
    .map_err(|e| format!("h2: {e}"))?;
    let driver = tokio::spawn(conn);
    let authority = match target.address.port() {
        80 | 443 => target.host.clone(),
        port => format!("{}:{port}", target.host),
    };
    let scheme = if target.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let request = http::Request::post(format!(
        "{scheme}://{authority}/grpc.health.v1.Health/Check"
    ))
    .header(http::header::CONTENT_TYPE, "application/grpc")
    .header(http::header::TE, "trailers")
    .header(http::header::USER_AGENT, "gatehouse-health-check")
    .body(http_body_util::Full::new(Bytes::from(grpc_check_request(
        service,
    ))))
    .map_err(|e| format!("request: {e}"))?;
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("h2: {e}"))?;
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
    .await;
    driver.abort();
    result
}

fn grpc_status(headers: &http::HeaderMap) -> Option<u32> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// A gRPC message frame holding `HealthCheckRequest { service }` (protobuf field 1, string).
fn grpc_check_request(service: &str) -> Vec<u8> {
    let mut message = Vec::new();
    if !service.is_empty() {
        message.push(0x0a);
        push_varint(&mut message, service.len() as u64);
        message.extend_from_slice(service.as_bytes());
    }
    let mut frame = Vec::with_capacity(5 + message.len());
    frame.push(0); // not compressed
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    frame
}

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The `status` (protobuf field 1, varint) of the first `HealthCheckResponse` frame; 0
/// (UNKNOWN) when the field is absent, as protobuf's defaults say.
fn serving_status(body: &[u8]) -> Option<u64> {
    let (&compressed, rest) = body.split_first()?;
    if compressed != 0 || rest.len() < 4 {
        return None;
    }
    let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    let mut message = rest.get(4..4 + len)?;
    let mut status = 0;
    while let Some((&key, rest)) = message.split_first() {
        let (value, used) = read_varint(rest)?;
        match key {
            0x08 => status = value,
            _ if key & 7 == 0 => {}
            _ => return None, // no other field types in this message
        }
        message = &rest[used..];
    }
    Some(status)
}

fn read_varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_health_messages() {
        assert_eq!(grpc_check_request(""), vec![0, 0, 0, 0, 0]);
        assert_eq!(
            grpc_check_request("a.B"),
            vec![0, 0, 0, 0, 5, 0x0a, 3, b'a', b'.', b'B']
        );
        assert_eq!(serving_status(&[0, 0, 0, 0, 2, 0x08, 1]), Some(1));
        assert_eq!(serving_status(&[0, 0, 0, 0, 2, 0x08, 2]), Some(2));
        assert_eq!(
            serving_status(&[0, 0, 0, 0, 0]),
            Some(0),
            "UNKNOWN by default"
        );
        assert_eq!(serving_status(&[1, 0, 0, 0, 0]), None, "compressed");
        assert_eq!(serving_status(&[0, 0, 0, 0, 9, 0x08]), None, "truncated");
    }
}
