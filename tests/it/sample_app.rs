//! The sample app's long-lived and streaming endpoints and its gRPC service, talked to directly
//! (no proxy): the proxy tests rely on these behaving exactly as documented.

use crate::support::tlsutil::{server_config, TestCa};
use crate::support::{bounded, fault, ChildBackend, Client, TestBackend, TestGrpcBackend};
use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use gatehouse::sample::grpc::{
    CountRequest, EchoClient, EchoRequest, HealthCheckRequest, HealthClient, ServingStatus,
};
use gatehouse::sample::{pattern_byte, pattern_matches, SampleOptions};
use http_body_util::{BodyExt as _, Full};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

const MIB: u64 = 1024 * 1024;

async fn next_message<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> Message
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    bounded("next WebSocket message", ws.next())
        .await
        .expect("stream ended")
        .expect("WebSocket error")
}

#[tokio::test]
async fn websocket_echoes_pushes_and_says_hello() {
    let backend = TestBackend::start("ws-a").await;
    let tcp = TcpStream::connect(backend.addr).await.unwrap();
    let (mut ws, resp) = bounded(
        "WebSocket handshake",
        tokio_tungstenite::client_async(backend.ws_url("/ws?hello=welcome%21"), tcp),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 101);
    assert_eq!(resp.headers()["x-backend"], "ws-a");

    assert_eq!(next_message(&mut ws).await, Message::text("welcome!"));
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(next_message(&mut ws).await, Message::text("hello"));
    ws.send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .unwrap();
    assert_eq!(
        next_message(&mut ws).await,
        Message::binary(vec![0u8, 1, 2, 255])
    );
    ws.send(Message::Ping(Bytes::from_static(b"p")))
        .await
        .unwrap();
    assert_eq!(
        next_message(&mut ws).await,
        Message::Pong(Bytes::from_static(b"p"))
    );

    // The server speaks first after an idle period; the command itself is not echoed.
    let sent = Instant::now();
    ws.send(Message::text("push:300:later")).await.unwrap();
    assert_eq!(next_message(&mut ws).await, Message::text("later"));
    assert!(sent.elapsed() >= Duration::from_millis(300));

    ws.send(Message::Close(None)).await.unwrap();
    assert!(matches!(next_message(&mut ws).await, Message::Close(_)));
    assert!(bounded("end after close", ws.next()).await.is_none());
}

#[tokio::test]
async fn websocket_handshake_is_checked() {
    let backend = TestBackend::start("ws-b").await;
    let request = |extra: &str| {
        format!(
            "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{extra}\r\n"
        )
    };
    let (_s, ok) = upgrade_request(
        backend.addr,
        &request("Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
    )
    .await;
    assert!(ok.starts_with("http/1.1 101"), "{ok}");
    assert!(
        ok.contains("\r\nsec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=\r\n"),
        "{ok}"
    );
    let no_key = raw_send(backend.addr, &request("Sec-WebSocket-Version: 13\r\n")).await;
    assert_eq!(no_key.status, 400);
    let old_version = raw_send(
        backend.addr,
        &request("Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
    )
    .await;
    assert_eq!(old_version.status, 426);
    assert_eq!(
        old_version.header("sec-websocket-version").as_deref(),
        Some("13")
    );
}

/// One request on a new connection; the answer must have a Content-Length (or end the
/// connection).
async fn raw_send(addr: SocketAddr, text: &str) -> crate::support::raw::RawResponse {
    crate::support::raw::send(addr, text.as_bytes(), crate::support::WAIT).await
}

/// Sends a request head and reads the response head (the connection stays open).
async fn upgrade_request(addr: SocketAddr, head: &str) -> (TcpStream, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    bounded("response head", async {
        while !got.ends_with(b"\r\n\r\n") {
            let b = s
                .read_u8()
                .await
                .expect("connection closed before the head");
            got.push(b);
        }
    })
    .await;
    (s, String::from_utf8(got).unwrap().to_ascii_lowercase())
}

#[tokio::test]
async fn upgrade_echo_keeps_half_close() {
    let backend = TestBackend::start("up-a").await;
    let (mut s, head) = upgrade_request(
        backend.addr,
        "GET /upgrade/echo HTTP/1.1\r\nHost: x\r\nUpgrade: Foo/2\r\nConnection: Upgrade\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("\r\nupgrade: foo/2\r\n"), "{head}");
    assert!(head.contains("\r\nconnection: upgrade\r\n"), "{head}");
    assert!(head.contains("\r\nx-backend: up-a\r\n"), "{head}");

    s.write_all(b"hello").await.unwrap();
    let mut buf = [0u8; 5];
    bounded("echo", s.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"hello");

    // Half-close: the tail still comes back, then EOF.
    s.write_all(b" world").await.unwrap();
    s.shutdown().await.unwrap();
    let mut rest = Vec::new();
    bounded("echo tail and EOF", s.read_to_end(&mut rest))
        .await
        .unwrap();
    assert_eq!(rest, b" world");
}

#[tokio::test]
async fn upgrade_refusals_and_bad_variants() {
    let backend = TestBackend::start("up-b").await;
    let send = |head: &'static str| raw_send(backend.addr, head);
    let h2c = send(
        "GET /upgrade/echo HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
    )
    .await;
    assert_eq!(h2c.status, 400);
    let none = send("GET /upgrade/echo HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(none.status, 426);

    let (mut s, head) = upgrade_request(
        backend.addr,
        "GET /upgrade/bad?mode=no-upgrade-header HTTP/1.1\r\nHost: x\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(!head.contains("\r\nupgrade:"), "{head}");
    // Behind the broken head the connection is a raw echo, so a proxy that tunnels anyway shows.
    s.write_all(b"x").await.unwrap();
    assert_eq!(bounded("echo after 101", s.read_u8()).await.unwrap(), b'x');

    let ignored = send("GET /upgrade/bad?mode=ignore HTTP/1.1\r\nHost: x\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n").await;
    assert_eq!(ignored.status, 200);
    assert_eq!(ignored.body, b"upgrade ignored\n");
}

/// A streaming GET: the response head, and the body to read frame by frame.
async fn get_streaming(addr: SocketAddr, path: &str) -> http::Response<hyper::body::Incoming> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get(path)
        .header(http::header::HOST, "sample")
        .body(Full::new(Bytes::new()))
        .unwrap();
    bounded("response head", sender.send_request(req))
        .await
        .unwrap()
}

#[tokio::test]
async fn sse_first_event_arrives_before_the_stream_ends() {
    let backend = TestBackend::start("sse-a").await;
    // 3 events 5 s apart: the stream lasts 10 s, the first event must come at once.
    let resp = get_streaming(backend.addr, "/sse?n=3&interval=5000").await;
    assert_eq!(resp.status(), 200);
    let h = resp.headers();
    assert_eq!(h["content-type"], "text/event-stream");
    assert_eq!(h["cache-control"], "no-cache");
    assert_eq!(h["transfer-encoding"], "chunked");
    assert!(h.get("content-length").is_none());
    let mut body = resp.into_body();
    let first = tokio::time::timeout(
        crate::support::patient(Duration::from_secs(3)),
        body.frame(),
    )
    .await
    .expect("first event within 3 s")
    .unwrap()
    .unwrap()
    .into_data()
    .unwrap();
    assert_eq!(first, "id: 0\ndata: sse-a event 0\n\n");

    // n=0: endless, events keep coming.
    let resp = get_streaming(backend.addr, "/sse?n=0&interval=10").await;
    let mut body = resp.into_body();
    let mut text = String::new();
    bounded("five events", async {
        while !text.contains("id: 4\n") {
            let frame = body.frame().await.unwrap().unwrap();
            text.push_str(std::str::from_utf8(frame.data_ref().unwrap()).unwrap());
        }
    })
    .await;
    assert!(text.starts_with("id: 0\ndata: sse-a event 0\n\nid: 1\n"));
}

/// Reads a download to the end, checking the pattern as it goes; returns the byte count.
async fn read_pattern(resp: http::Response<hyper::body::Incoming>) -> u64 {
    let mut body = resp.into_body();
    let mut offset = 0u64;
    bounded("download", async {
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                assert!(pattern_matches(offset, &data), "pattern at {offset}");
                offset += data.len() as u64;
            }
        }
    })
    .await;
    offset
}

#[tokio::test]
async fn download_streams_the_pattern() {
    let backend = TestBackend::start("dl-a").await;
    let resp = get_streaming(backend.addr, "/download?size=5242880").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-length"], "5242880");
    assert_eq!(read_pattern(resp).await, 5 * MIB);

    let resp = get_streaming(
        backend.addr,
        "/download?size=5242887&chunk=100000&chunked=1",
    )
    .await;
    assert_eq!(resp.headers()["transfer-encoding"], "chunked");
    assert!(resp.headers().get("content-length").is_none());
    assert_eq!(read_pattern(resp).await, 5 * MIB + 7);

    let bad = Client::new()
        .get(backend.addr, "x", "/download?size=lots")
        .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn upload_counts_and_verifies() {
    let backend = TestBackend::start("up-c").await;
    let data: Bytes = (0..5 * MIB).map(pattern_byte).collect::<Vec<_>>().into();
    let post = |path: &str, body: Bytes| {
        let req = http::Request::post(backend.url(path))
            .body(Full::new(body))
            .unwrap();
        async move { Client::new().send(req).await.unwrap() }
    };
    let plain = post("/upload", data.clone()).await;
    assert_eq!(plain.status, 200);
    assert_eq!(
        plain.json(),
        serde_json::json!({"backend": "up-c", "bytes": 5 * MIB})
    );
    let verified = post("/upload?verify=pattern", data.clone()).await.json();
    assert_eq!(verified["pattern_ok"], true);
    let shifted = post("/upload?verify=pattern", data.slice(1..)).await.json();
    assert_eq!(shifted["bytes"], 5 * MIB - 1);
    assert_eq!(shifted["pattern_ok"], false);
}

#[tokio::test]
async fn grpc_unary_streaming_health_and_failures_over_h2c() {
    let grpc = TestGrpcBackend::start("g-a").await;
    let mut echo = EchoClient::new(grpc.channel().await);

    let reply = bounded(
        "Say",
        echo.say(EchoRequest {
            message: "hi".into(),
        }),
    )
    .await
    .unwrap();
    assert_eq!(reply.metadata().get("x-backend").unwrap(), "g-a");
    let reply = reply.into_inner();
    assert_eq!(
        (reply.message.as_str(), reply.backend.as_str()),
        ("hi", "g-a")
    );

    let failed = bounded(
        "Say fail",
        echo.say(EchoRequest {
            message: "fail:5".into(),
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(failed.code(), tonic::Code::NotFound);

    let mut stream = bounded(
        "Count",
        echo.count(CountRequest {
            n: 4,
            interval_ms: 10,
        }),
    )
    .await
    .unwrap()
    .into_inner();
    let mut seen = Vec::new();
    while let Some(reply) = bounded("Count reply", stream.message()).await.unwrap() {
        assert_eq!(reply.backend, "g-a");
        seen.push(reply.i);
    }
    assert_eq!(seen, [0, 1, 2, 3]);

    let mut health = HealthClient::new(grpc.channel().await);
    for service in ["", "gatehouse.sample.v1.Echo"] {
        let status = bounded(
            "Check",
            health.check(HealthCheckRequest {
                service: service.into(),
            }),
        )
        .await
        .unwrap()
        .into_inner()
        .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
}

#[tokio::test]
async fn grpc_health_follows_the_http_fault_switch() {
    let options = SampleOptions::named("g-b");
    let http = TestBackend::start_with(options.clone()).await;
    let grpc = TestGrpcBackend::start_with(options).await;
    let mut health = HealthClient::new(grpc.channel().await);
    let mut watch = bounded(
        "Watch",
        health.watch(HealthCheckRequest {
            service: String::new(),
        }),
    )
    .await
    .unwrap()
    .into_inner();
    let status = bounded("first status", watch.message())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.status, ServingStatus::Serving as i32);

    fault(http.addr, "healthz=fail").await;
    let status = bounded("status change", watch.message())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.status, ServingStatus::NotServing as i32);

    fault(http.addr, "healthz=ok&work=refuse").await;
    let status = bounded("status back", watch.message())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.status, ServingStatus::Serving as i32);
    let mut echo = EchoClient::new(grpc.channel().await);
    let refused = bounded(
        "Say refused",
        echo.say(EchoRequest {
            message: "x".into(),
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable);
}

#[tokio::test]
async fn grpc_over_tls() {
    gatehouse::tls::install_default_provider();
    let ca = TestCa::new("grpc test CA");
    let leaf = ca.leaf(&["localhost"]);
    let grpc = TestGrpcBackend::start_tls("g-tls", server_config(&leaf, None)).await;
    let channel = grpc.tls_channel(ca.client_config(&[]), "localhost").await;
    let mut echo = EchoClient::new(channel.clone());
    let reply = bounded(
        "Say over TLS",
        echo.say(EchoRequest {
            message: "sec".into(),
        }),
    )
    .await
    .unwrap()
    .into_inner();
    assert_eq!(reply.backend, "g-tls");
    let mut stream = bounded(
        "Count over TLS",
        echo.count(CountRequest {
            n: 2,
            interval_ms: 0,
        }),
    )
    .await
    .unwrap()
    .into_inner();
    assert_eq!(
        bounded("reply", stream.message()).await.unwrap().unwrap().i,
        0
    );
    assert_eq!(
        bounded("reply", stream.message()).await.unwrap().unwrap().i,
        1
    );
    assert!(bounded("end", stream.message()).await.unwrap().is_none());
    let failed = bounded(
        "Say fail over TLS",
        echo.say(EchoRequest {
            message: "fail:7".into(),
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(failed.code(), tonic::Code::PermissionDenied);
    let status = bounded(
        "Check over TLS",
        HealthClient::new(channel).check(HealthCheckRequest {
            service: String::new(),
        }),
    )
    .await
    .unwrap()
    .into_inner()
    .status;
    assert_eq!(status, ServingStatus::Serving as i32);
}

#[tokio::test]
async fn sample_app_binary_serves_grpc_too() {
    let child = ChildBackend::spawn_with_grpc("child-g");
    let grpc_addr = child.grpc_addr.unwrap();
    let mut echo = EchoClient::new(crate::support::backend::grpc_channel(grpc_addr).await);
    let reply = bounded(
        "Say",
        echo.say(EchoRequest {
            message: "c".into(),
        }),
    )
    .await
    .unwrap()
    .into_inner();
    assert_eq!(reply.backend, "child-g");
    let page = Client::new().get(child.addr, "x", "/").await;
    assert_eq!(page.backend(), "child-g");
}
