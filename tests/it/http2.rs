//! HTTP/2 clients through gatehouse's own HTTP/2 engine: many streams on one connection, bodies
//! both ways under flow control to HTTP/1 backends, graceful GOAWAY on shutdown with the
//! streams in flight finished, idle connections closed.

use crate::support::{bounded, patient, TestBackend, TestProxy};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use std::time::{Duration, Instant};

fn config(backend: std::net::SocketAddr, extra_limits: &str) -> String {
    format!(
        r#"
[server]
threads = 2
grace_period = "5s"
[admin]
address = "{{admin}}"
[limits]
{extra_limits}
[listeners.http]
address = "{{http}}"
h2c = true
[routes.all]
pool = "p"
[pools.p]
backends = [{{ address = "{backend}" }}]
"#
    )
}

type Sender = hyper::client::conn::http2::SendRequest<Full<Bytes>>;

async fn connect(
    addr: std::net::SocketAddr,
) -> (Sender, tokio::task::JoinHandle<Result<(), hyper::Error>>) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    (sender, tokio::spawn(conn))
}

fn get(path: &str) -> http::Request<Full<Bytes>> {
    http::Request::get(format!("http://h2.test{path}"))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

#[tokio::test]
async fn many_streams_and_bodies_both_ways_on_one_connection() {
    let backend = TestBackend::start("h2-app").await;
    let proxy = TestProxy::start(&config(backend.addr, "")).await;
    let (sender, _conn) = connect(proxy.http).await;
    // 50 slow requests at once on one connection: they overlap (the whole takes about one
    // request's time, not fifty).
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let mut s = sender.clone();
        tasks.spawn(async move {
            let r = s.send_request(get("/delay/300")).await.unwrap();
            assert_eq!(r.status(), 200);
            r.into_body().collect().await.unwrap();
        });
    }
    bounded("50 streams", tasks.join_all()).await;
    let took = started.elapsed();
    assert!(
        took < crate::support::patient(Duration::from_secs(3)),
        "streams ran one by one: {took:?}"
    );

    // A body with a length, and one without (chunked to the backend).
    let mut s = sender.clone();
    let post = http::Request::post("http://h2.test/echo")
        .header("content-length", "11")
        .body(Full::new(Bytes::from_static(b"hello world")))
        .unwrap();
    let r = s.send_request(post).await.unwrap();
    let doc: serde_json::Value =
        serde_json::from_slice(&r.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(doc["body_length"], 11, "{doc}");
    assert_eq!(doc["version"], "HTTP/1.1");
    let big = vec![7u8; 5 * 1024 * 1024];
    let post = http::Request::post("http://h2.test/upload")
        .body(Full::new(Bytes::from(big)))
        .unwrap();
    let r = bounded("5 MiB up", s.send_request(post)).await.unwrap();
    let doc: serde_json::Value =
        serde_json::from_slice(&r.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(doc["bytes"], 5 * 1024 * 1024, "{doc}");

    // A 20 MiB download, under the client's flow control.
    let r = s
        .send_request(get("/download?size=20971520"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = bounded("20 MiB down", r.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(body.len(), 20 * 1024 * 1024);
    assert!(gatehouse::sample::pattern_matches(0, &body[..4096]));
}

#[tokio::test]
async fn shutdown_says_goaway_and_finishes_the_streams_in_flight() {
    let backend = TestBackend::start("h2-drain").await;
    let proxy = TestProxy::start(&config(backend.addr, "")).await;
    let (mut sender, conn) = connect(proxy.http).await;
    let slow = tokio::spawn({
        let mut s = sender.clone();
        async move {
            let r = s.send_request(get("/delay/500")).await.unwrap();
            (
                r.status(),
                r.into_body().collect().await.map(|b| b.to_bytes()),
            )
        }
    });
    // The request is in flight (at the backend) when the stop begins.
    crate::support::eventually("the request in flight", crate::support::WAIT, || async {
        let busy = proxy.state.registry.live().iter().any(|b| b.inflight() > 0);
        busy.then_some(())
    })
    .await;
    proxy.graceful_shutdown();
    let (status, body) = bounded("the in-flight stream", slow).await.unwrap();
    assert_eq!(status, 200);
    assert!(body.is_ok());
    // GOAWAY: the connection ends and new streams are refused.
    bounded("the connection closed", conn)
        .await
        .unwrap()
        .unwrap();
    assert!(sender.send_request(get("/")).await.is_err());
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_keepalive_timeout() {
    let backend = TestBackend::start("h2-idle").await;
    let proxy = TestProxy::start(&config(backend.addr, "keepalive_timeout = \"300ms\"")).await;
    let (mut sender, conn) = connect(proxy.http).await;
    let r = sender.send_request(get("/")).await.unwrap();
    assert_eq!(r.status(), 200);
    let idle = Instant::now();
    bounded("the idle connection closed", conn)
        .await
        .unwrap()
        .unwrap();
    let waited = idle.elapsed();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
}

/// The idle timer counts from the end of the last stream, not from when the connection opened
/// or first went idle: a client that pauses shorter than the timeout between requests keeps
/// its connection well past the timeout.
#[tokio::test]
async fn a_connection_with_short_pauses_outlives_the_keepalive_timeout() {
    let backend = TestBackend::start("h2-pauses").await;
    let proxy = TestProxy::start(&config(backend.addr, "keepalive_timeout = \"300ms\"")).await;
    let (mut sender, closed) = connect(proxy.http).await;
    let opened = Instant::now();
    let mut last_response = Instant::now();
    // Nine requests 100 ms apart: three timeouts' worth. The pauses are the client's behaviour
    // under test, not waits for an event.
    for _ in 0..9 {
        let r = sender.send_request(get("/")).await.unwrap();
        assert_eq!(r.status(), 200, "after {:?}", opened.elapsed());
        last_response = Instant::now();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bounded("the idle connection closed", closed)
        .await
        .unwrap()
        .unwrap();
    let idle = last_response.elapsed();
    assert!(
        idle >= Duration::from_millis(250),
        "closed {idle:?} after the last response"
    );
}

/// The backend's read timeout on HTTP/2 streams, on a reused backend connection: a response
/// within the timeout of its own request passes even when the connection's timer was armed by
/// an earlier request, and a slower one is answered 504 at the timeout.
#[tokio::test]
async fn the_backend_read_timeout_counts_from_each_request() {
    let backend = TestBackend::start("h2-read-timeout").await;
    let config = config(backend.addr, "").replace(
        "[pools.p]\n",
        "[pools.p]\ntimeouts = { read = \"600ms\" }\n",
    );
    let proxy = TestProxy::start(&config).await;
    let (mut sender, _conn) = connect(proxy.http).await;
    let status = |r: http::Response<hyper::body::Incoming>| r.status().as_u16();
    let first = Instant::now();
    assert_eq!(
        status(sender.send_request(get("/delay/1")).await.unwrap()),
        200
    );
    // The client's pause, then a response that comes 450 ms after its request: 150 ms past the
    // first request's deadline, 150 ms within its own.
    tokio::time::sleep(Duration::from_millis(300).saturating_sub(first.elapsed())).await;
    let r = sender.send_request(get("/delay/450")).await.unwrap();
    assert_eq!(
        status(r),
        200,
        "{:?} after the first request",
        first.elapsed()
    );
    let slow = Instant::now();
    let r = sender.send_request(get("/delay/5000")).await.unwrap();
    assert_eq!(status(r), 504);
    let waited = slow.elapsed();
    assert!(
        waited >= Duration::from_millis(550) && waited < patient(Duration::from_millis(4000)),
        "answered after {waited:?}"
    );
}
