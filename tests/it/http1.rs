//! HTTP/1 details a client sees through the engine: pipelining, `Expect: 100-continue`,
//! HTTP/1.0 clients, chunked responses with trailers, early answers to uploads, connection
//! reuse towards the backend, and the head edits on the way back.

use crate::support::{bounded, Client, TestBackend, TestProxy};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

fn config(backend: SocketAddr) -> String {
    format!(
        r#"
[server]
threads = 1
grace_period = "0s"
[admin]
address = "{{admin}}"
[listeners.http]
address = "{{http}}"
[routes.all]
pool = "p"
[pools.p]
backends = [{{ address = "{backend}" }}]
"#
    )
}

/// Reads one response (head plus a Content-Length or chunked body) from `s`.
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> (String, Vec<u8>) {
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
            let lower = head.to_ascii_lowercase();
            let length = lower.lines().find_map(|l| {
                l.strip_prefix("content-length:")
                    .and_then(|v| v.trim().parse::<usize>().ok())
            });
            let body_start = end + 4;
            if let Some(n) = length {
                if buf.len() >= body_start + n {
                    let body = buf[body_start..body_start + n].to_vec();
                    buf.drain(..body_start + n);
                    return (head, body);
                }
            } else if lower.contains("transfer-encoding: chunked") {
                if let Some(p) = buf[body_start..].windows(5).position(|w| w == b"0\r\n\r\n") {
                    let body = buf[body_start..body_start + p + 5].to_vec();
                    buf.drain(..body_start + p + 5);
                    return (head, body);
                }
                // Trailers end with an empty line too.
                let tail = &buf[body_start..];
                if let Some(z) = tail.windows(3).position(|w| w == b"\n0\r") {
                    if let Some(e) = tail[z..].windows(4).position(|w| w == b"\r\n\r\n") {
                        let n = z + e + 4;
                        let body = tail[..n].to_vec();
                        buf.drain(..body_start + n);
                        return (head, body);
                    }
                }
            } else if lower.starts_with("http/1.1 1") || lower.starts_with("http/1.1 204") {
                buf.drain(..body_start);
                return (head, Vec::new());
            }
        }
        let n = bounded("response bytes", s.read(&mut chunk)).await.unwrap();
        if n == 0 {
            let end = buf
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(buf.len(), |p| p + 4);
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let body = buf[end..].to_vec();
            buf.clear();
            return (head, body);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let backend = TestBackend::start("pipe").await;
    let proxy = TestProxy::start(&config(backend.addr)).await;
    let mut s = TcpStream::connect(proxy.http).await.unwrap();
    let mut batch = Vec::new();
    for i in 0..5 {
        batch.extend_from_slice(
            format!("GET /echo?n={i} HTTP/1.1\r\nHost: p.test\r\n\r\n").as_bytes(),
        );
    }
    batch.extend_from_slice(
        b"POST /echo?n=5 HTTP/1.1\r\nHost: p.test\r\nContent-Length: 5\r\n\r\nhello",
    );
    batch.extend_from_slice(b"GET /echo?n=6 HTTP/1.1\r\nHost: p.test\r\n\r\n");
    s.write_all(&batch).await.unwrap();
    let mut buf = Vec::new();
    for i in 0..7 {
        let (head, body) = read_response(&mut s, &mut buf).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{i}: {head}");
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(doc["query"], format!("n={i}"), "{doc}");
        if i == 5 {
            assert_eq!(doc["body_length"], 5);
        }
    }
}

#[tokio::test]
async fn expect_continue_is_passed_through() {
    let backend = TestBackend::start("cont").await;
    let proxy = TestProxy::start(&config(backend.addr)).await;
    let mut s = TcpStream::connect(proxy.http).await.unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: c.test\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let (head, _) = read_response(&mut s, &mut buf).await;
    assert!(
        head.starts_with("HTTP/1.1 100"),
        "the go-ahead first: {head}"
    );
    s.write_all(b"hello world").await.unwrap();
    let (head, body) = read_response(&mut s, &mut buf).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["body_length"], 11);
}

#[tokio::test]
async fn http10_clients_get_keepalive_when_asked_and_no_chunked_framing() {
    let backend = TestBackend::start("old").await;
    let proxy = TestProxy::start(&config(backend.addr)).await;
    // Keep-alive asked for: granted, with a length-delimited body.
    let mut s = TcpStream::connect(proxy.http).await.unwrap();
    s.write_all(b"GET /echo HTTP/1.0\r\nHost: o.test\r\nConnection: keep-alive\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let (head, body) = read_response(&mut s, &mut buf).await;
    assert!(
        head.to_ascii_lowercase().contains("connection: keep-alive"),
        "{head}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["version"], "HTTP/1.1", "HTTP/1.1 to the backend");
    // A chunked response reaches an HTTP/1.0 client as plain bytes, ended by the close.
    s.write_all(
        b"GET /stream/3?interval_ms=1 HTTP/1.0\r\nHost: o.test\r\nConnection: keep-alive\r\n\r\n",
    )
    .await
    .unwrap();
    let mut rest = Vec::new();
    bounded("the close", s.read_to_end(&mut rest))
        .await
        .unwrap();
    buf.extend_from_slice(&rest);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let lower = text.to_ascii_lowercase();
    assert!(lower.contains("connection: close"), "{text}");
    assert!(!lower.contains("transfer-encoding"), "{text}");
    assert!(
        text.ends_with("old chunk 0\nold chunk 1\nold chunk 2\n"),
        "{text}"
    );
}

/// A backend that answers every request with a chunked body and trailers, counting the
/// connections it accepts.
async fn trailer_backend() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        let answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: grpc-status\r\nKeep-Alive: timeout=5\r\nConnection: keep-alive, X-Hop\r\nX-Hop: secret\r\n\r\n5\r\nhello\r\n0\r\ngrpc-status: 0\r\n\r\n";
                        if s.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (addr, accepted)
}

#[tokio::test]
async fn trailers_pass_and_backend_connections_are_reused() {
    let (backend, accepted) = trailer_backend().await;
    let proxy = TestProxy::start(&config(backend)).await;
    let mut s = TcpStream::connect(proxy.http).await.unwrap();
    let mut buf = Vec::new();
    for _ in 0..5 {
        s.write_all(b"GET / HTTP/1.1\r\nHost: t.test\r\n\r\n")
            .await
            .unwrap();
        let (head, body) = read_response(&mut s, &mut buf).await;
        let lower = head.to_ascii_lowercase();
        assert!(lower.contains("transfer-encoding: chunked"), "{head}");
        assert!(lower.contains("trailer: grpc-status"), "{head}");
        assert!(lower.contains("date: "), "a Date is added: {head}");
        assert!(lower.contains("x-request-id: "), "{head}");
        for hop in ["keep-alive:", "x-hop:", "connection:"] {
            assert!(!lower.contains(hop), "{hop} is hop-by-hop: {head}");
        }
        assert_eq!(body, b"5\r\nhello\r\n0\r\ngrpc-status: 0\r\n\r\n");
    }
    // Five requests in a row, one backend connection.
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_backend_refusing_an_upload_early_is_answered_and_the_connection_closed() {
    // The backend answers 413 after the head and closes without reading the body.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbig!")
                    .await;
            });
        }
    });
    let proxy = TestProxy::start(&config(addr)).await;
    let mut s = TcpStream::connect(proxy.http).await.unwrap();
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: u.test\r\nContent-Length: 50000000\r\n\r\n")
        .await
        .unwrap();
    let sender = async {
        let data = vec![b'x'; 64 * 1024];
        for _ in 0..200 {
            if s.write_all(&data).await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(
        crate::support::patient(std::time::Duration::from_secs(5)),
        sender,
    )
    .await;
    let mut buf = Vec::new();
    let (head, body) = read_response(&mut s, &mut buf).await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert_eq!(body, b"big!");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
}

#[tokio::test]
async fn request_ids_are_kept_when_valid_and_every_answer_has_one() {
    let backend = TestBackend::start("ids").await;
    let proxy = TestProxy::start(&config(backend.addr)).await;
    let c = Client::new();
    let req = |id: &str| {
        http::Request::get(proxy.url("/echo"))
            .header("host", "i.test")
            .header("x-request-id", id)
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap()
    };
    let r = c.send(req("trace-42_ok")).await.unwrap();
    assert_eq!(r.header("x-request-id").as_deref(), Some("trace-42_ok"));
    assert_eq!(
        r.echoed_header("x-request-id").as_deref(),
        Some("trace-42_ok")
    );
    let r = c.send(req("has space")).await.unwrap();
    let id = r.header("x-request-id").unwrap();
    assert_eq!(id.len(), 32, "replaced: {id}");
    assert_eq!(r.echoed_header("x-request-id"), Some(id));
    let r = c.get(proxy.http, "i.test", "/../../etc").await;
    assert_eq!(r.status, 400);
    assert!(r.header("x-request-id").is_some());
}

#[tokio::test]
async fn a_streamed_body_is_cut_when_it_passes_max_body_size() {
    let backend = TestBackend::start("cut").await;
    let proxy = TestProxy::start(
        &config(backend.addr)
            .replace("pool = \"p\"\n", "pool = \"p\"\nmax_body_size = 100000\n")
            .replace(
                "[listeners.http]",
                "[limits]\nmax_buffered_body = 1024\n[listeners.http]",
            ),
    )
    .await;
    let mut s = TcpStream::connect(proxy.http).await.unwrap();
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: c.test\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 10_000, "y".repeat(10_000));
    let sender = async {
        for _ in 0..20 {
            if s.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(
        crate::support::patient(std::time::Duration::from_secs(5)),
        sender,
    )
    .await;
    let mut buf = Vec::new();
    let (head, _) = read_response(&mut s, &mut buf).await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
}
