//! WebSocket over HTTP/2 (RFC 8441): an extended CONNECT from an HTTP/2 client becomes an
//! HTTP/1.1 upgrade to the backend and then a tunnel on the stream, beside ordinary streams
//! on the same connection, under `timeouts.tunnel` only; what may not be carried is refused
//! with an answer, not a reset or a silent drop.

use crate::support::child::ChildProxy;
use crate::support::{bounded, eventually, TestBackend, TestProxy, WAIT};
use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Request-side timeouts of 200 ms: a tunnel that obeyed them would die within a second.
fn config(backend: std::net::SocketAddr) -> String {
    format!(
        r#"
[server]
threads = 2
grace_period = "0s"
[admin]
address = "{{admin}}"
token_file = "{{dir}}/token"
[listeners.http]
address = "{{http}}"
h2c = true
[routes.ws]
hosts = ["ws.test"]
pool = "p"
[routes.plain]
hosts = ["plain.test"]
pool = "p"
upgrades = []
[routes.grpc]
hosts = ["grpc.test"]
pool = "g"
[pools.p]
timeouts = {{ read = "200ms", write = "200ms", tunnel = "1500ms" }}
backends = [{{ address = "{backend}" }}]
[pools.g]
protocol = "h2"
backends = [{{ address = "{backend}" }}]
"#
    )
}

type Sender = hyper::client::conn::http2::SendRequest<Empty<Bytes>>;

/// An HTTP/2 connection (prior knowledge) whose server settings have arrived: the client
/// only sends an extended CONNECT once the server has said it takes them.
async fn connect(addr: std::net::SocketAddr) -> Sender {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let warmup = sender
        .send_request(request(http::Method::GET, "ws.test", "/", None))
        .await
        .unwrap();
    assert_eq!(warmup.status(), 200);
    sender
}

fn request(
    method: http::Method,
    host: &str,
    path: &str,
    protocol: Option<&'static str>,
) -> http::Request<Empty<Bytes>> {
    let mut b = http::Request::builder()
        .method(method)
        .uri(format!("http://{host}{path}"))
        .header("sec-websocket-version", "13");
    if let Some(p) = protocol {
        b = b.extension(hyper::ext::Protocol::from_static(p));
    }
    b.body(Empty::new()).unwrap()
}

async fn open(
    sender: &mut Sender,
    host: &str,
) -> WebSocketStream<TokioIo<hyper::upgrade::Upgraded>> {
    let response = bounded(
        "extended CONNECT answered",
        sender.send_request(request(
            http::Method::CONNECT,
            host,
            "/ws",
            Some("websocket"),
        )),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.headers());
    assert!(response.headers().contains_key("x-request-id"));
    let upgraded = bounded("stream handed over", hyper::upgrade::on(response))
        .await
        .unwrap();
    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await
}

#[tokio::test]
async fn a_websocket_over_http2_echoes_outlives_request_timeouts_and_shares_the_connection() {
    let backend = TestBackend::start("ws").await;
    let proxy = TestProxy::start(&config(backend.addr)).await;
    let mut sender = connect(proxy.http).await;
    let mut ws = open(&mut sender, "ws.test").await;
    ws.send(Message::text("hello")).await.unwrap();
    let echoed = bounded("echo", ws.next()).await.unwrap().unwrap();
    assert_eq!(echoed, Message::text("hello"));

    // Silent for longer than every request timeout (but not the tunnel's), then both ways.
    tokio::time::sleep(Duration::from_millis(700)).await;
    ws.send(Message::binary(vec![7u8; 100_000])).await.unwrap();
    let echoed = bounded("echo after silence", ws.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(echoed, Message::binary(vec![7u8; 100_000]));

    // Ordinary streams go on beside the tunnel on the same connection.
    let plain = sender
        .send_request(request(http::Method::GET, "ws.test", "/", None))
        .await
        .unwrap();
    assert_eq!(plain.status(), 200);
    plain.into_body().collect().await.unwrap();

    // A close goes through, and the backend's answer comes back.
    ws.close(None).await.unwrap();
    let end = bounded("close acknowledged", ws.next()).await;
    assert!(matches!(end, Some(Ok(Message::Close(_))) | None), "{end:?}");
}

#[tokio::test]
async fn an_idle_websocket_over_http2_is_closed_at_the_tunnel_timeout() {
    let backend = TestBackend::start("ws").await;
    // A child process: its metrics are its own.
    let proxy = ChildProxy::start(
        &config(backend.addr)
            .replace("{dir}/token", "{dir}/admin.token")
            .replace("[pools.p]", "[pools.h2-ws-idle]")
            .replace("pool = \"p\"", "pool = \"h2-ws-idle\""),
    )
    .await;
    let mut sender = connect(proxy.http).await;
    let mut ws = open(&mut sender, "ws.test").await;
    let started = std::time::Instant::now();
    let end = bounded("the idle tunnel ends", ws.next()).await;
    assert!(
        !matches!(end, Some(Ok(Message::Text(_) | Message::Binary(_)))),
        "{end:?}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1400),
        "closed after {waited:?}"
    );
    let metrics = eventually("the idle close is counted", WAIT, || async {
        let m = proxy.metrics().await;
        m.contains(r#"gatehouse_tunnels_closed_total{pool="h2-ws-idle",reason="idle_timeout"} 1"#)
            .then_some(m)
    })
    .await;
    assert!(
        metrics.contains(r#"gatehouse_tunnels_open{pool="h2-ws-idle"} 0"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn what_cannot_be_carried_is_refused_with_an_answer() {
    let backend = TestBackend::start("ws").await;
    let proxy = TestProxy::start(&config(backend.addr)).await;
    let mut sender = connect(proxy.http).await;
    let status = |host: &'static str, protocol: Option<&'static str>| {
        let mut sender = sender.clone();
        async move {
            let method = http::Method::CONNECT;
            let path = if protocol.is_some() { "/ws" } else { "" };
            let req = if protocol.is_some() {
                request(method, host, path, protocol)
            } else {
                // A plain CONNECT names only an authority.
                http::Request::builder()
                    .method(method)
                    .uri(format!("{host}:443"))
                    .body(Empty::new())
                    .unwrap()
            };
            bounded("answer", sender.send_request(req))
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // The route does not allow WebSocket; the pool speaks only HTTP/2.
    assert_eq!(status("plain.test", Some("websocket")).await, 501);
    assert_eq!(status("grpc.test", Some("websocket")).await, 501);
    // Another extended CONNECT protocol, and a classic CONNECT.
    assert_eq!(status("ws.test", Some("webtransport")).await, 405);
    assert_eq!(status("ws.test", None).await, 405);
    // The connection is still fine.
    let ok = sender
        .send_request(request(http::Method::GET, "ws.test", "/", None))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}
