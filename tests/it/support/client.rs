//! A small HTTP client for tests (hyper), plus one-shot TLS requests that also report which
//! certificate the server presented.

use bytes::Bytes;
use http::{HeaderMap, Request, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::Arc;

/// A received response, fully read.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub version: Version,
}

impl Reply {
    /// Which sample app answered (`x-backend`).
    pub fn backend(&self) -> String {
        self.header("x-backend").unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// A header the backend received, from an `/echo` reply.
    pub fn echoed_header(&self, name: &str) -> Option<String> {
        self.json()["headers"]
            .as_array()?
            .iter()
            .find(|pair| pair[0].as_str() == Some(name))
            .and_then(|pair| pair[1].as_str().map(str::to_string))
    }

    /// Every value of a header the backend received.
    pub fn echoed_headers(&self, name: &str) -> Vec<String> {
        self.json()["headers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|pair| pair[0].as_str() == Some(name))
            .filter_map(|pair| pair[1].as_str().map(str::to_string))
            .collect()
    }
}

/// Keep-alive HTTP/1.1 client.
#[derive(Clone)]
pub struct Client {
    inner: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Client {
            inner: hyper_util::client::legacy::Client::builder(TokioExecutor::new())
                .build(connector),
        }
    }

    /// A client that opens a new connection for every request.
    pub fn no_keepalive() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Client {
            inner: hyper_util::client::legacy::Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(0)
                .build(connector),
        }
    }

    /// Sends a request and reads the whole answer, bounded by [`super::WAIT`] (times the
    /// patience factor) so that a hung proxy fails the test instead of hanging it.
    pub async fn send(&self, req: Request<Full<Bytes>>) -> Result<Reply, String> {
        let what = format!("{} {}", req.method(), req.uri());
        tokio::time::timeout(super::patient(super::WAIT), async {
            let resp = self
                .inner
                .request(req)
                .await
                .map_err(|e| format!("{e:?}"))?;
            let (parts, body) = resp.into_parts();
            let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok(Reply {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
                version: parts.version,
            })
        })
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "{what}: no complete answer within {:?}",
                super::WAIT
            ))
        })
    }

    /// GET with a Host header; panics (with the error) if the request fails.
    pub async fn get(&self, addr: SocketAddr, host: &str, path: &str) -> Reply {
        self.try_get(addr, host, path)
            .await
            .unwrap_or_else(|e| panic!("GET http://{host}{path} via {addr}: {e}"))
    }

    pub async fn try_get(&self, addr: SocketAddr, host: &str, path: &str) -> Result<Reply, String> {
        let req = Request::get(format!("http://{addr}{path}"))
            .header(http::header::HOST, host)
            .body(Full::new(Bytes::new()))
            .unwrap();
        self.send(req).await
    }
}

/// Result of a one-shot TLS request.
pub struct TlsReply {
    pub reply: Reply,
    /// DER of the leaf certificate the server presented.
    pub peer_cert: Vec<u8>,
    pub protocol: Option<rustls::ProtocolVersion>,
    pub alpn: Option<Vec<u8>>,
}

/// Connects with TLS (SNI `sni`, or none), sends one GET and returns what happened.
pub async fn tls_get(
    addr: SocketAddr,
    sni: Option<&str>,
    host: &str,
    path: &str,
    config: Arc<rustls::ClientConfig>,
) -> Result<TlsReply, String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let mut config = (*config).clone();
    let name = match sni {
        Some(n) => {
            rustls::pki_types::ServerName::try_from(n.to_string()).map_err(|e| e.to_string())?
        }
        None => {
            config.enable_sni = false;
            rustls::pki_types::ServerName::try_from("no-sni.invalid".to_string()).unwrap()
        }
    };
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake: {e}"))?;
    let (_, conn) = tls.get_ref();
    let peer_cert = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .unwrap_or_default();
    let protocol = conn.protocol_version();
    let alpn = conn.alpn_protocol().map(|a| a.to_vec());
    let h2 = alpn.as_deref() == Some(b"h2");
    let io = TokioIo::new(tls);
    let (status, headers, body, version) = if h2 {
        let (mut sender, c) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(c);
        let req = Request::get(format!("https://{host}{path}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let (p, b) = resp.into_parts();
        (
            p.status,
            p.headers,
            b.collect().await.map_err(|e| e.to_string())?.to_bytes(),
            p.version,
        )
    } else {
        let (mut sender, c) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(c);
        let req = Request::get(path)
            .header(http::header::HOST, host)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let (p, b) = resp.into_parts();
        (
            p.status,
            p.headers,
            b.collect().await.map_err(|e| e.to_string())?.to_bytes(),
            p.version,
        )
    };
    Ok(TlsReply {
        reply: Reply {
            status: status.as_u16(),
            headers,
            body,
            version,
        },
        peer_cert,
        protocol,
        alpn,
    })
}

/// Connects with TLS (SNI `sni`), writes `request` as is and returns everything the server
/// sends until it closes (send `Connection: close`).
pub async fn tls_raw(
    addr: SocketAddr,
    sni: &str,
    request: &[u8],
    config: Arc<rustls::ClientConfig>,
) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let name =
        rustls::pki_types::ServerName::try_from(sni.to_string()).map_err(|e| e.to_string())?;
    let mut tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake: {e}"))?;
    tls.write_all(request).await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    // A peer that closes without close_notify ends the read with an error after the bytes.
    let _ = super::bounded("TLS response", tls.read_to_end(&mut out)).await;
    Ok(String::from_utf8_lossy(&out).into_owned())
}
