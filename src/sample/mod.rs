//! The sample backend used by the demo, the tests and the benchmarks.
//!
//! HTTP routes ([`serve`]; HTTP/1.1 and h2, TLS optional):
//!
//! - `/` (a page naming the instance), `/healthz`, `/echo` (request line and headers as JSON),
//!   `/status/{code}`, `/delay/{ms}`, `/bytes/{n}`, `/stream/{chunks}?interval_ms=`.
//! - `POST /fault?healthz=ok|fail|hold&work=ok|refuse` breaks it on purpose (shared with the
//!   gRPC listener of the same [`SampleOptions`]: `healthz=fail` makes gRPC health
//!   `NOT_SERVING`, `work=refuse` makes the Echo calls fail with `UNAVAILABLE`).
//! - `GET /ws[?hello=<text>]`: WebSocket echo (HTTP/1.1 Upgrade). Echoes text and binary
//!   messages; a text message `push:<ms>:<text>` is not echoed, the server sends `<text>` on its
//!   own `<ms>` ms later; `hello` is sent first, right after the handshake.
//! - `GET /upgrade/echo` with any `Upgrade: <token>` but `h2c`: `101` with the same token, then
//!   a raw byte echo that honours half-close (client EOF → server flushes and shuts down its
//!   write side).
//! - `GET /upgrade/bad?mode=no-upgrade-header|ignore`: a broken upgrade server: `101` without
//!   an `Upgrade` header (then a raw echo), or a plain `200` that ignores the Upgrade request.
//! - `GET /sse?n=<count>&interval=<ms>`: server-sent events `id: <i>\ndata: <name> event <i>`
//!   for i in 0..n, the first at once (default n=10, interval=1000; n=0 means until the client
//!   goes away).
//! - `GET /download?size=<bytes>&chunk=<bytes>&chunked=1`: `size` bytes (default 1 MiB) of the
//!   [`pattern_byte`] pattern, generated lazily chunk by chunk; `Content-Length` unless
//!   `chunked=1`.
//! - `POST /upload[?verify=pattern]`: streams the request body away and answers
//!   `{"backend", "bytes"[, "pattern_ok"]}`.
//!
//! gRPC ([`serve_grpc`], a separate h2-only listener): `grpc.health.v1.Health` and
//! `gatehouse.sample.v1.Echo` (see [`grpc`]).
//!
//! Every response carries `x-backend: <name>` so callers can see who answered.

mod download;
mod fault;
pub mod grpc;
mod routes;
mod sse;
mod upgrade;
mod ws;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

pub use fault::{Faults, Healthz};
pub use grpc::serve_grpc;

/// Response body type.
pub type Body = BoxBody<Bytes, std::convert::Infallible>;

/// How an instance presents itself.
#[derive(Clone)]
pub struct SampleOptions {
    /// Name shown in responses (`x-backend`).
    pub name: String,
    /// Serve TLS with this config (for backend-TLS tests).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Fault switches. Clones of the options share them, so the HTTP and gRPC listeners of one
    /// instance fail together.
    pub faults: Arc<Faults>,
}

impl std::fmt::Debug for SampleOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SampleOptions")
            .field("name", &self.name)
            .field("tls", &self.tls.is_some())
            .field("faults", &self.faults)
            .finish()
    }
}

impl SampleOptions {
    /// A plain-HTTP instance called `name`.
    pub fn named(name: &str) -> Self {
        SampleOptions {
            name: name.to_string(),
            tls: None,
            faults: Arc::default(),
        }
    }

    /// The same instance served with TLS.
    pub fn with_tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }
}

/// Serves until `shutdown` resolves. HTTP/1.1 with keep-alive, and HTTP/2 (prior knowledge or
/// ALPN when TLS is on). Upgraded connections (WebSocket, `/upgrade/*`) end with it too.
pub async fn serve(
    listener: TcpListener,
    options: SampleOptions,
    shutdown: impl Future<Output = ()>,
) {
    let state = Arc::new(routes::Instance::new(
        options.name.clone(),
        options.faults.clone(),
    ));
    let acceptor = options.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    tokio::pin!(shutdown);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            a = listener.accept() => a,
        };
        let Ok((tcp, _)) = accepted else { continue };
        let _ = tcp.set_nodelay(true);
        let state = state.clone();
        let acceptor = acceptor.clone();
        connections.spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, std::convert::Infallible>(state.handle(req).await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            match acceptor {
                None => {
                    let _ = builder
                        .serve_connection_with_upgrades(TokioIo::new(tcp), service)
                        .await;
                }
                Some(acceptor) => {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        let _ = builder
                            .serve_connection_with_upgrades(TokioIo::new(tls), service)
                            .await;
                    }
                }
            }
        });
        // Reap finished connection tasks so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
    connections.abort_all();
    state.abort_upgraded();
}

/// Byte `offset` of the pattern `/download` sends and `/upload?verify=pattern` expects:
/// `offset % 251` (a prime, so it does not line up with power-of-two chunk sizes and a
/// misplaced or repeated chunk shows).
pub fn pattern_byte(offset: u64) -> u8 {
    (offset % PATTERN_LEN) as u8
}

/// Whether `data` is the pattern starting at stream offset `offset` (cheap: compares whole
/// runs against a table).
pub fn pattern_matches(offset: u64, data: &[u8]) -> bool {
    let mut start = (offset % PATTERN_LEN) as usize;
    let mut rest = data;
    while !rest.is_empty() {
        let n = rest.len().min(PATTERN.len() - start);
        if rest[..n] != PATTERN[start..start + n] {
            return false;
        }
        rest = &rest[n..];
        start = 0;
    }
    true
}

const PATTERN_LEN: u64 = 251;

/// One period of the pattern.
static PATTERN: [u8; PATTERN_LEN as usize] = {
    let mut t = [0u8; PATTERN_LEN as usize];
    let mut i = 0;
    while i < t.len() {
        t[i] = i as u8;
        i += 1;
    }
    t
};

/// The value of `key` in a query string, percent-decoded (`+` is a space). First match wins.
pub(crate) fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_are_decoded() {
        let q = Some("n=5&hello=hi%20there&x=a+b&bad=%zz&empty&end=%4");
        assert_eq!(query_param(q, "n").as_deref(), Some("5"));
        assert_eq!(query_param(q, "hello").as_deref(), Some("hi there"));
        assert_eq!(query_param(q, "x").as_deref(), Some("a b"));
        assert_eq!(query_param(q, "bad").as_deref(), Some("%zz"));
        assert_eq!(query_param(q, "empty").as_deref(), Some(""));
        assert_eq!(query_param(q, "end").as_deref(), Some("%4"));
        assert_eq!(query_param(q, "missing"), None);
        assert_eq!(query_param(None, "n"), None);
    }

    #[test]
    fn pattern_checks_runs_across_periods() {
        let data: Vec<u8> = (1000..1000 + 3000u64).map(pattern_byte).collect();
        assert!(pattern_matches(1000, &data));
        assert!(!pattern_matches(1001, &data));
        let mut broken = data.clone();
        broken[2999] ^= 1;
        assert!(!pattern_matches(1000, &broken));
        assert!(pattern_matches(7, &[]));
    }
}
