//! One active check: TCP connect (plus TLS handshake for TLS pools), or an HTTP request whose
//! status and body are checked.

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
            let config = if tls.verify {
                tls.material.client_config.clone()
            } else {
                tls.material.client_config_no_verify.clone()
            };
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
    let CheckKind::Http {
        method,
        path,
        host,
        expect_status,
        expect_body,
    } = kind
    else {
        return Ok("connected".to_string());
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
