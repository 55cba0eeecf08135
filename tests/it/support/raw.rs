//! Raw sockets for hardening tests: a backend that records exactly what it receives (and can
//! misbehave on purpose), and a client that sends exactly the bytes given.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the raw backend answers each request head.
#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    /// `200` with body `raw-ok`, keep-alive.
    Ok,
    /// Headers promising 100 bytes, 10 bytes, then a TCP reset.
    ResetMidBody,
    /// A reset before any response byte.
    ResetBeforeResponse,
    /// A status line that is not HTTP.
    Garbage,
    /// 2 MiB of response headers.
    HugeHeaders,
    /// Headers promising 1000 bytes, 10 bytes, then silence.
    Stall,
    /// Headers promising 100 bytes, 10 bytes, then a clean close.
    ShortBody,
    /// Headers promising 100,000 bytes, then one byte every 100 ms, for as long as anyone reads.
    Trickle,
    /// `Content-Length: 10` followed by 30 bytes, keep-alive.
    LongBody,
}

/// A raw backend on 127.0.0.1.
pub struct RawBackend {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RawBackend {
    pub async fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let r = received.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((s, _)) = listener.accept().await else {
                    return;
                };
                let r = r.clone();
                tokio::spawn(serve(s, behaviour, r));
            }
        });
        RawBackend {
            addr,
            received,
            task,
        }
    }

    /// Everything received, per connection, concatenated.
    pub fn received(&self) -> String {
        let all = self.received.lock().unwrap();
        all.iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("\n--\n")
    }

    pub fn bytes_received(&self) -> usize {
        self.received.lock().unwrap().iter().map(Vec::len).sum()
    }
}

impl Drop for RawBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut s: TcpStream, behaviour: Behaviour, received: Arc<Mutex<Vec<Vec<u8>>>>) {
    let slot = {
        let mut all = received.lock().unwrap();
        all.push(Vec::new());
        all.len() - 1
    };
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let n = match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        received.lock().unwrap()[slot].extend_from_slice(&buf[..n]);
        pending.extend_from_slice(&buf[..n]);
        let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        // Consume a Content-Length body if announced (enough for these tests).
        let head = String::from_utf8_lossy(&pending[..end]).to_ascii_lowercase();
        let cl: usize = head
            .lines()
            .find_map(|l| {
                l.strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap_or(0))
            })
            .unwrap_or(0);
        while pending.len() < end + 4 + cl {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    received.lock().unwrap()[slot].extend_from_slice(&buf[..n]);
                    pending.extend_from_slice(&buf[..n]);
                }
            }
        }
        pending.drain(..end + 4 + cl);
        let reset = |s: TcpStream| {
            let _ = s.set_zero_linger();
            drop(s);
        };
        match behaviour {
            Behaviour::Ok => {
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nx-backend: raw\r\n\r\nraw-ok",
                    )
                    .await;
            }
            Behaviour::ResetMidBody => {
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
                    .await;
                let _ = s.flush().await;
                reset(s);
                return;
            }
            Behaviour::ResetBeforeResponse => {
                reset(s);
                return;
            }
            Behaviour::Garbage => {
                let _ = s.write_all(b"HTTX/9.9 banana\r\n\r\n").await;
                return;
            }
            Behaviour::HugeHeaders => {
                let mut resp = b"HTTP/1.1 200 OK\r\n".to_vec();
                for i in 0..20_000 {
                    resp.extend_from_slice(format!("X-Pad-{i}: {}\r\n", "p".repeat(90)).as_bytes());
                }
                resp.extend_from_slice(b"Content-Length: 0\r\n\r\n");
                let _ = s.write_all(&resp).await;
                return;
            }
            Behaviour::Stall => {
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
                    .await;
                let _ = s.flush().await;
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            Behaviour::ShortBody => {
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
                    .await;
                return;
            }
            Behaviour::Trickle => {
                if s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                loop {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if s.write_all(b"x").await.is_err() {
                        return;
                    }
                }
            }
            Behaviour::LongBody => {
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789ABCDEFGHIJKLMNOPQRST")
                    .await;
                // Keep-alive as far as the backend is concerned: the next request on this
                // connection would read the extra 20 bytes as a response head.
            }
        }
    }
}

/// What a raw request got back.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// Sends `bytes` on a new connection and reads until the peer closes (or `limit`, times the
/// patience factor, passes). Status 0 means no response at all.
pub async fn send(addr: SocketAddr, bytes: &[u8], limit: Duration) -> RawResponse {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(bytes).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(super::patient(limit), async {
        let mut buf = [0u8; 8192];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
            // Stop after one complete response with a Content-Length body.
            if let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&out[..end]).to_ascii_lowercase();
                let cl = head.lines().find_map(|l| {
                    l.strip_prefix("content-length:")
                        .and_then(|v| v.trim().parse::<usize>().ok())
                });
                if cl.is_some_and(|cl| out.len() >= end + 4 + cl) {
                    break;
                }
            }
        }
    })
    .await;
    parse(&out)
}

fn parse(out: &[u8]) -> RawResponse {
    let end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(out.len());
    let head = String::from_utf8_lossy(&out[..end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = out.get(end + 4..).map(<[u8]>::to_vec).unwrap_or_default();
    RawResponse { status, head, body }
}
