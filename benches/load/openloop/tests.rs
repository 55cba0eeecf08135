//! The generator's own tests (`cargo test --example openloop`, and `cargo test` runs them too):
//! a server that stalls must show its stall in every request that came due during it, over
//! HTTP/2 (streams of a connection all busy) as over HTTP/1.1 (the connection busy).

use super::io::Target;
use crate::drive;
use bytes::Bytes;
use parking_lot::Mutex;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// From the `at`-th request on, every response waits until `length` has passed since that
/// request arrived: a proxy stall as its clients see it.
struct Stall {
    at: u64,
    length: Duration,
    seen: AtomicU64,
    until: Mutex<Option<Instant>>,
}

impl Stall {
    fn new(at: u64, length: Duration) -> Arc<Self> {
        Arc::new(Self {
            at,
            length,
            seen: AtomicU64::new(0),
            until: Mutex::new(None),
        })
    }

    /// Called once per request: holds its response while the stall lasts.
    async fn hold(&self) {
        let now = Instant::now();
        let until = {
            let mut until = self.until.lock();
            if self.seen.fetch_add(1, Ordering::Relaxed) == self.at {
                *until = Some(now + self.length);
            }
            *until
        };
        if let Some(until) = until.filter(|u| *u > now) {
            tokio::time::sleep_until(until.into()).await;
        }
    }
}

/// An HTTP/2 server over TLS (ALPN h2, a self-signed certificate) answering 200 with a short body.
async fn h2_server(stall: Arc<Stall>) -> SocketAddr {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der());
    let mut config = rustls::ServerConfig::builder_with_provider(gatehouse::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key.into())
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, stall) = (acceptor.clone(), stall.clone());
            tokio::spawn(async move {
                let tls = acceptor.accept(tcp).await.unwrap();
                let mut conn = h2::server::handshake(tls).await.unwrap();
                while let Some(Ok((_, mut respond))) = conn.accept().await {
                    let stall = stall.clone();
                    tokio::spawn(async move {
                        stall.hold().await;
                        let response = http::Response::new(());
                        if let Ok(mut body) = respond.send_response(response, false) {
                            let _ = body.send_data(Bytes::from_static(b"hello\n"), true);
                        }
                    });
                }
            });
        }
    });
    addr
}

/// An HTTP/1.1 keep-alive server over plain TCP answering 200 with a short body.
async fn h1_server(stall: Arc<Stall>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(serve_h1(tcp, stall.clone()));
        }
    });
    addr
}

async fn serve_h1(mut tcp: TcpStream, stall: Arc<Stall>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            stall.hold().await;
            let response = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello\n";
            if tcp.write_all(response).await.is_err() {
                return;
            }
        }
        match tcp.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// 2,000 requests a second for one second; from the 400th (0.2 s in) the server stalls for
/// 300 ms. About 400 requests come due in the stall's first 200 ms, so at least that many
/// must wait 100 ms or more. A generator that timed requests from when it sent them would
/// see only those already in flight when the stall began (at most 8 here) take that long.
async fn a_stall_counts_in_every_request_due_during_it(url: String, streams: Option<usize>) {
    let target = Arc::new(Target::parse(&url, streams.is_some()).unwrap());
    let (_, tally) = drive(target, 2000.0, 1.0, 4, streams).await;
    assert_eq!(tally.errors, 0);
    assert_eq!(tally.latencies.len(), 2000);
    let slow = tally.latencies.iter().filter(|&&us| us >= 100_000).count();
    assert!(
        slow >= 200,
        "only {slow} requests took 100 ms or more: the stall was not counted from due times"
    );
    let worst = tally.latencies.iter().max().copied().unwrap_or(0);
    assert!(worst >= 250_000, "the worst latency was {worst} µs");
}

#[tokio::test]
async fn http2_requests_waiting_for_a_stream_count_the_wait() {
    let stall = Stall::new(400, Duration::from_millis(300));
    let addr = h2_server(stall).await;
    a_stall_counts_in_every_request_due_during_it(format!("https://{addr}/"), Some(2)).await;
}

#[tokio::test]
async fn http1_requests_waiting_for_their_connection_count_the_wait() {
    let stall = Stall::new(400, Duration::from_millis(300));
    let addr = h1_server(stall).await;
    a_stall_counts_in_every_request_due_during_it(format!("http://{addr}/"), None).await;
}
