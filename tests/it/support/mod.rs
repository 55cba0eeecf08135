//! Test harness: real proxy, real sample apps, ephemeral loopback ports, bounded waits.

#![allow(dead_code)]

pub mod backend;
pub mod child;
pub mod client;
pub mod corpus;
pub mod golden;
pub mod h2raw;
pub mod load;
pub mod patience;
pub mod pebble;
pub mod proxy;
pub mod raw;
pub mod recorder;
pub mod tlsutil;

pub use backend::{ChildBackend, TestBackend, TestGrpcBackend};
pub use client::{Client, Reply};
pub use patience::patient;
pub use proxy::TestProxy;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

/// Every wait in the tests is bounded by this unless a test says otherwise, times the patience
/// factor (`GATEHOUSE_TEST_PATIENCE`, [`patience`]): the helpers here scale it, and a test that
/// uses it directly writes `patient(WAIT)`.
pub const WAIT: Duration = Duration::from_secs(10);

/// Logs to the test output when `RUST_LOG` is set (quiet otherwise).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// A free port on 127.0.0.1 (bound and released; the caller binds it next).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

/// Four distinct free loopback addresses for a config template's placeholders (`{http}`,
/// `{https}`, `{admin}`, `{extra}`), none on a port the template already names: a test that
/// fixed `{http}` itself (ACME's HTTP-01 port, say) released that port, and the OS may hand it
/// out again.
pub fn placeholder_addrs(template: &str) -> [SocketAddr; 4] {
    let taken: Vec<u16> = template
        .match_indices("127.0.0.1:")
        .filter_map(|(at, prefix)| {
            let rest = &template[at + prefix.len()..];
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            rest[..digits].parse().ok()
        })
        .collect();
    let mut ports: Vec<u16> = Vec::new();
    while ports.len() < 4 {
        let p = free_port();
        if !ports.contains(&p) && !taken.contains(&p) {
            ports.push(p);
        }
    }
    [ports[0], ports[1], ports[2], ports[3]].map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
}

/// A loopback port that refuses connections and stays reserved while the value lives: a port
/// that is merely free may be handed to the next proxy a parallel test starts (a proxy that
/// forwards to itself loops until its headers are too large).
pub struct RefusingPort {
    pub addr: SocketAddr,
    _bound_not_listening: tokio::net::TcpSocket,
}

impl RefusingPort {
    pub fn new() -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind 127.0.0.1:0");
        RefusingPort {
            addr: socket.local_addr().expect("local addr"),
            _bound_not_listening: socket,
        }
    }
}

/// Polls `check` every 10 ms until it returns `Some`, failing the test after `limit` (times the
/// patience factor).
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let limit = patient(limit);
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {limit:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until something accepts TCP connections on `addr`.
pub async fn wait_listening(addr: SocketAddr) {
    eventually(
        &format!("{addr} accepting connections"),
        WAIT,
        || async move { tokio::net::TcpStream::connect(addr).await.ok().map(|_| ()) },
    )
    .await;
}

/// Bounds a future by [`WAIT`] (times the patience factor).
pub async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    let limit = patient(WAIT);
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {limit:?}: {what}"))
}

/// Flips a sample app's fault switches (`healthz=ok|fail|hold`, `work=ok|refuse`).
pub async fn fault(addr: SocketAddr, query: &str) {
    let req = http::Request::post(format!("http://{addr}/fault?{query}"))
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let r = Client::no_keepalive().send(req).await.unwrap();
    assert_eq!(r.status, 200, "fault {query}");
}

/// Raises this process's open-file limit to the hard limit (children started later inherit
/// it), for tests that hold many connections.
pub fn raise_nofile() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}
