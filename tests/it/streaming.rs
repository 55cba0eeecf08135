//! Long-lived and streaming traffic through the proxy: WebSocket and other upgrades become
//! tunnels that only `timeouts.tunnel` closes; bad upgrades get HTTP answers; server-sent
//! events flow as they are produced; bodies stream with bounded memory.

use crate::support::child::ChildProxy;
use crate::support::{bounded, eventually, Client, TestBackend, TestProxy, WAIT};
use futures_util::{SinkExt as _, StreamExt as _};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Every request-side timeout short (200 ms), so a tunnel that still obeyed any of them would
/// be cut within a second of silence.
fn config(pool: &str, backend: std::net::SocketAddr, extra_pool: &str) -> String {
    format!(
        r#"
[server]
threads = 2
grace_period = "0s"
[admin]
address = "{{admin}}"
token_file = "{{dir}}/token"
[limits]
body_timeout = "200ms"
min_body_rate = 100000
body_rate_grace = "200ms"
[listeners.http]
address = "{{http}}"
[routes.all]
pool = "{pool}"
[pools.{pool}]
timeouts = {{ read = "200ms", write = "200ms"{extra_pool} }}
backends = [{{ address = "{backend}" }}]
"#
    )
}

async fn websocket(
    addr: std::net::SocketAddr,
    path: &str,
) -> (WebSocketStream<TcpStream>, http::Response<Option<Vec<u8>>>) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    bounded(
        "WebSocket handshake through the proxy",
        tokio_tungstenite::client_async(format!("ws://ws.test{path}"), tcp),
    )
    .await
    .unwrap()
}

async fn next(ws: &mut WebSocketStream<TcpStream>) -> Message {
    bounded("next WebSocket message", ws.next())
        .await
        .expect("the tunnel ended")
        .expect("WebSocket protocol error (HTTP bytes in the tunnel?)")
}

#[tokio::test]
async fn a_websocket_outlives_every_request_timeout_in_both_directions() {
    let backend = TestBackend::start("ws").await;
    let proxy = TestProxy::start(&config("ws", backend.addr, "")).await;
    let (mut ws, resp) = websocket(proxy.http, "/ws?hello=hi").await;
    assert_eq!(resp.status(), 101);
    assert_eq!(resp.headers()["x-backend"], "ws");
    assert!(resp.headers().contains_key("x-request-id"));
    assert_eq!(next(&mut ws).await, Message::text("hi"));

    // Client speaks first, after idling past body_timeout, the rate window and `read`.
    tokio::time::sleep(Duration::from_secs(1)).await;
    ws.send(Message::text("after a quiet second"))
        .await
        .unwrap();
    assert_eq!(next(&mut ws).await, Message::text("after a quiet second"));

    // Backend speaks first, after a second of silence in both directions.
    ws.send(Message::text("push:1000:from the backend"))
        .await
        .unwrap();
    let asked = Instant::now();
    assert_eq!(next(&mut ws).await, Message::text("from the backend"));
    assert!(asked.elapsed() >= Duration::from_millis(1000));

    // Big messages both ways.
    let big = vec![7u8; 1024 * 1024];
    ws.send(Message::binary(big.clone())).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::binary(big));

    ws.send(Message::Close(None)).await.unwrap();
    assert!(matches!(next(&mut ws).await, Message::Close(_)));
}

#[tokio::test]
async fn an_idle_tunnel_is_closed_after_timeouts_tunnel_and_counted() {
    let backend = TestBackend::start("idle").await;
    let proxy = ChildProxy::start(
        &config("tunnel-idle", backend.addr, r#", tunnel = "400ms""#)
            // The child writes its token as `admin.token`.
            .replace("{dir}/token", "{dir}/admin.token")
            .replace(
                "[limits]",
                "[access_log]\npath = \"{dir}/access.log\"\n[limits]",
            ),
    )
    .await;
    let (mut ws, _) = websocket(proxy.http, "/ws").await;
    // Traffic keeps it open past the timeout...
    for i in 0..4 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        ws.send(Message::text(format!("{i}"))).await.unwrap();
        assert_eq!(next(&mut ws).await, Message::text(format!("{i}")));
    }
    // ...silence closes it.
    let quiet = Instant::now();
    let end = bounded("the idle tunnel closed", ws.next()).await;
    let waited = quiet.elapsed();
    assert!(
        !matches!(end, Some(Ok(Message::Text(_) | Message::Binary(_)))),
        "no data after the close: {end:?}"
    );
    assert!(
        waited >= Duration::from_millis(350)
            && waited < crate::support::patient(Duration::from_secs(5)),
        "{waited:?}"
    );
    let metrics = eventually("tunnel metrics", WAIT, || async {
        let m = proxy.metrics().await;
        m.contains(r#"gatehouse_tunnels_closed_total{pool="tunnel-idle",reason="idle_timeout"} 1"#)
            .then_some(m)
    })
    .await;
    assert!(
        metrics.contains(r#"gatehouse_tunnels_total{pool="tunnel-idle"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"gatehouse_tunnels_open{pool="tunnel-idle"} 0"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"gatehouse_tunnel_bytes_total{pool="tunnel-idle",direction="to_upstream"}"#
        ),
        "{metrics}"
    );
    // One access-log line for the tunnel, written when it closed.
    let log_path = proxy.dir.path().join("access.log");
    let line: serde_json::Value = eventually("the tunnel's access-log line", WAIT, || async {
        let text = std::fs::read_to_string(&log_path).ok()?;
        let line = text.lines().find(|l| l.contains("\"url.path\":\"/ws\""))?;
        serde_json::from_str(line).ok()
    })
    .await;
    assert_eq!(line["http.response.status_code"], 101, "{line}");
    assert_eq!(line["gatehouse.error"], "idle_timeout", "{line}");
    assert_eq!(line["gatehouse.pool"], "tunnel-idle", "{line}");
    assert!(
        line["http.request.body.bytes"].as_u64().unwrap() > 0,
        "{line}"
    );
    assert!(
        line["http.response.body.bytes"].as_u64().unwrap() > 0,
        "{line}"
    );
    let nanos = line["event.duration"].as_u64().unwrap();
    assert!(nanos >= 1_000_000_000, "lasted the whole tunnel: {line}");
}

#[tokio::test]
async fn reloads_and_drains_leave_open_tunnels_working() {
    let backend = TestBackend::start("kept").await;
    let other = TestBackend::start("other").await;
    let template = config("kept", backend.addr, "");
    let proxy = TestProxy::start(&template).await;
    let (mut ws, _) = websocket(proxy.http, "/ws").await;
    ws.send(Message::text("before")).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::text("before"));

    // Drain the backend, then reload to a config where the pool has another backend.
    let c = Client::new();
    let drain = http::Request::post(format!(
        "http://{}/backends/kept/{}/drain",
        proxy.admin, backend.addr
    ))
    .header("authorization", "Bearer s3cret")
    .body(http_body_util::Full::new(bytes::Bytes::new()))
    .unwrap();
    assert_eq!(c.send(drain).await.unwrap().status, 200);
    let moved = template.replace(
        &format!(r#"backends = [{{ address = "{}" }}]"#, backend.addr),
        &format!(r#"backends = [{{ address = "{}" }}]"#, other.addr),
    );
    proxy.rewrite_and_wait(&proxy.render(&moved)).await;
    assert_eq!(c.get(proxy.http, "ws.test", "/").await.backend(), "other");

    ws.send(Message::text("after")).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::text("after"));
    ws.send(Message::text("push:300:still here")).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::text("still here"));
}

/// Sends a raw upgrade request and returns the stream and the response head.
async fn raw_upgrade(addr: std::net::SocketAddr, path: &str, token: &str) -> (TcpStream, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: up.test\r\nConnection: Upgrade\r\nUpgrade: {token}\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = bounded("response head", s.read(&mut byte)).await.unwrap();
        assert!(
            n > 0,
            "closed before the head ended: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    (s, String::from_utf8(head).unwrap())
}

#[tokio::test]
async fn any_allowed_upgrade_tunnels_and_a_half_close_is_passed_on() {
    let backend = TestBackend::start("raw").await;
    let proxy = TestProxy::start(&config("raw", backend.addr, "").replace(
        "pool = \"raw\"\n",
        "pool = \"raw\"\nupgrades = [\"websocket\", \"x-raw\"]\n",
    ))
    .await;
    let (mut s, head) = raw_upgrade(proxy.http, "/upgrade/echo", "x-raw/1").await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("upgrade: x-raw/1"),
        "{head}"
    );
    s.write_all(b"first ").await.unwrap();
    s.write_all(b"second").await.unwrap();
    // The client is done sending: the backend sees EOF, finishes its echo and closes.
    s.shutdown().await.unwrap();
    let mut echoed = Vec::new();
    bounded("echo until EOF", s.read_to_end(&mut echoed))
        .await
        .unwrap();
    assert_eq!(echoed, b"first second");

    // A protocol the route does not allow is not passed on: the backend refuses the
    // request as a plain one (426: no Upgrade).
    let (_, head) = raw_upgrade(proxy.http, "/upgrade/echo", "not-allowed").await;
    assert!(head.starts_with("HTTP/1.1 426 "), "{head}");
}

#[tokio::test]
async fn bad_upgrades_get_http_answers() {
    let backend = TestBackend::start("bad").await;
    let proxy = TestProxy::start(&config("bad", backend.addr, "")).await;
    // 101 without an Upgrade header: not a switch the client asked for.
    let (mut s, head) = raw_upgrade(
        proxy.http,
        "/upgrade/bad?mode=no-upgrade-header",
        "websocket",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 502 "), "{head}");
    let mut rest = Vec::new();
    let _ = bounded("connection closed", s.read_to_end(&mut rest)).await;

    // An upgrade the backend ignores: a normal response, and the connection goes on.
    let (mut s, head) = raw_upgrade(proxy.http, "/upgrade/bad?mode=ignore", "websocket").await;
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_string)
        })
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.unwrap();
    assert_eq!(body, b"upgrade ignored\n");
    s.write_all(b"GET /echo HTTP/1.1\r\nHost: up.test\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 12];
    bounded("second response", s.read_exact(&mut buf))
        .await
        .unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");

    // h2c is never tunnelled: the backend gets a plain request without Upgrade.
    let c = Client::new();
    let req = http::Request::get(proxy.url("/echo"))
        .header("host", "up.test")
        .header("connection", "Upgrade, HTTP2-Settings")
        .header("upgrade", "h2c")
        .header("http2-settings", "AAMAAABkAAQAoAAAAAIAAAAA")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let r = c.send(req).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.echoed_header("upgrade"), None);
    assert_eq!(r.echoed_header("http2-settings"), None);
}

#[tokio::test]
async fn server_sent_events_arrive_as_they_are_sent() {
    let backend = TestBackend::start("sse").await;
    // `read` (500 ms) bounds each wait between events, not the whole stream (5 × 300 ms).
    let proxy = TestProxy::start(
        &config("sse", backend.addr, "").replace(r#"read = "200ms""#, r#"read = "500ms""#),
    )
    .await;
    let mut s = TcpStream::connect(proxy.http).await.unwrap();
    s.write_all(b"GET /sse?n=5&interval=300 HTTP/1.1\r\nHost: sse.test\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let mut first_event = None;
    let mut buf = [0u8; 4096];
    loop {
        let n = bounded("SSE bytes", s.read(&mut buf)).await.unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if first_event.is_none() && text.contains("data: sse event 0") {
            first_event = Some(started.elapsed());
        }
        if text.ends_with("0\r\n\r\n") {
            break;
        }
    }
    let total = started.elapsed();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text
        .to_ascii_lowercase()
        .contains("content-type: text/event-stream"));
    for i in 0..5 {
        assert!(text.contains(&format!("data: sse event {i}")), "{text}");
    }
    let first_event = first_event.unwrap();
    assert!(
        first_event < crate::support::patient(Duration::from_millis(250)),
        "the first event waited for later ones: {first_event:?}"
    );
    assert!(total >= Duration::from_millis(1200), "{total:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_upgrade_lets_open_tunnels_run_until_the_grace_period_ends() {
    let backend = TestBackend::start("upgrading").await;
    let mut proxy = ChildProxy::start(
        &config("up", backend.addr, "")
            .replace(r#"grace_period = "0s""#, r#"grace_period = "2s""#)
            .replace("{dir}/token", "admin.token")
            .replace("[limits]", "[reload]\nwatch = false\n[limits]"),
    )
    .await;
    let (mut ws, _) = websocket(proxy.http, "/ws").await;
    ws.send(Message::text("before")).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::text("before"));
    let upgraded_at = Instant::now();
    proxy.upgrade().await;
    // The old process still carries the tunnel...
    ws.send(Message::text("during")).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::text("during"));
    // ...while new connections reach the successor.
    let (mut fresh, _) = websocket(proxy.http, "/ws").await;
    fresh.send(Message::text("new")).await.unwrap();
    assert_eq!(next(&mut fresh).await, Message::text("new"));
    // At the end of the grace period the old process stops, and the tunnel with it.
    let end = bounded("the old tunnel ends", async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(_) | Message::Binary(_))) => continue,
                other => return other,
            }
        }
    })
    .await;
    assert!(!matches!(end, Some(Ok(Message::Text(_)))), "{end:?}");
    assert!(
        upgraded_at.elapsed() >= Duration::from_millis(1500),
        "the tunnel lasted until the grace period: {:?}",
        upgraded_at.elapsed()
    );
    fresh.send(Message::text("still")).await.unwrap();
    assert_eq!(next(&mut fresh).await, Message::text("still"));
}

#[tokio::test]
async fn an_upgrade_header_on_an_http2_request_is_not_forwarded() {
    use crate::support::h2raw::{self, field, frame, get_block, read_frame};
    use crate::support::raw::{Behaviour, RawBackend};
    let backend = RawBackend::start(Behaviour::Ok).await;
    let proxy = TestProxy::start(
        &config("h2up", backend.addr, "")
            .replace("address = \"{http}\"", "address = \"{http}\"\nh2c = true"),
    )
    .await;
    let mut s = h2raw::connect(proxy.http).await;
    let mut block = get_block("up.test");
    block.extend(field("upgrade", "websocket"));
    block.extend(field("connection", "upgrade"));
    // HEADERS, END_STREAM | END_HEADERS, stream 1.
    s.write_all(&frame(0x1, 0x5, 1, &block)).await.unwrap();
    let mut answered = None;
    while let Some(f) = read_frame(&mut s, Duration::from_secs(2)).await {
        if f.stream == 1 && (f.kind == 0x1 || f.kind == 0x3) {
            answered = Some(f.kind);
            break;
        }
    }
    assert!(answered.is_some(), "the stream got an answer or a reset");
    let received = backend.received().to_ascii_lowercase();
    assert!(!received.contains("upgrade"), "{received}");
}
