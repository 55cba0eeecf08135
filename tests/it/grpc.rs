//! gRPC and HTTP/2 backends: pools with `protocol = "h2"` reached over TLS (ALPN) and cleartext
//! (prior knowledge) by HTTP/2 clients (tonic) and HTTP/1.1 clients; trailers arrive; gatehouse's
//! own answers to gRPC requests are gRPC-shaped; the standard gRPC health check.

use crate::support::backend::{grpc_channel, grpc_tls_channel};
use crate::support::tlsutil::{server_config, TestCa};
use crate::support::{
    bounded, eventually, fault, RefusingPort, TestBackend, TestGrpcBackend, TestProxy, WAIT,
};
use gatehouse::sample::grpc::{CountRequest, EchoClient, EchoRequest};
use gatehouse::sample::SampleOptions;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// A proxy with an h2c cleartext listener, a TLS listener (ALPN h2) and one route to `pool`.
fn config(pool: &str) -> String {
    format!(
        r#"
[server]
threads = 2
grace_period = "0s"
[admin]
address = "{{admin}}"
[listeners.http]
address = "{{http}}"
h2c = true
[listeners.https]
address = "{{https}}"
protocol = "https"
alpn = ["h2", "http/1.1"]
certificates = [{{ cert = "{{dir}}/proxy.crt", key = "{{dir}}/proxy.key", default = true }}]
[routes.all]
pool = "p"
[pools.p]
{pool}
"#
    )
}

/// The TLS listener's certificate, for tests that only use the cleartext listener.
fn write_proxy_cert(dir: &std::path::Path) {
    TestCa::new("unused").leaf(&["x"]).write(dir, "proxy");
}

async fn unary_and_streaming(channel: tonic::transport::Channel, backend: &str) {
    let mut echo = EchoClient::new(channel);
    let reply = bounded(
        "Say",
        echo.say(EchoRequest {
            message: "through gatehouse".into(),
        }),
    )
    .await
    .unwrap();
    assert!(reply.metadata().contains_key("x-request-id"));
    let reply = reply.into_inner();
    assert_eq!(
        (reply.message.as_str(), reply.backend.as_str()),
        ("through gatehouse", backend)
    );
    let failed = bounded(
        "Say fail",
        echo.say(EchoRequest {
            message: "fail:9".into(),
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(
        failed.code(),
        tonic::Code::FailedPrecondition,
        "grpc-status trailers reach the client: {failed:?}"
    );
    let mut stream = bounded(
        "Count",
        echo.count(CountRequest {
            n: 5,
            interval_ms: 20,
        }),
    )
    .await
    .unwrap()
    .into_inner();
    let mut seen = Vec::new();
    while let Some(reply) = bounded("Count reply", stream.message()).await.unwrap() {
        seen.push(reply.i);
    }
    assert_eq!(seen, [0, 1, 2, 3, 4]);
}

#[tokio::test]
async fn grpc_over_h2c_and_tls_to_h2c_and_tls_backends() {
    gatehouse::tls::install_default_provider();
    let ca = TestCa::new("grpc CA");
    let proxy_cert = ca.leaf(&["grpc.example.test"]);
    let backend_cert = ca.leaf(&["localhost"]);
    let plain = TestGrpcBackend::start("g-plain").await;
    let secure = TestGrpcBackend::start_tls("g-tls", server_config(&backend_cert, None)).await;
    let write = |d: &std::path::Path| {
        proxy_cert.write(d, "proxy");
        std::fs::write(d.join("ca.pem"), &ca.cert.cert_pem).unwrap();
    };
    for (pool, name) in [
        (
            format!(
                r#"protocol = "h2"
backends = [{{ address = "{}" }}]"#,
                plain.addr
            ),
            "g-plain",
        ),
        (
            format!(
                r#"protocol = "h2"
tls = true
tls_sni = "localhost"
tls_ca_file = "ca.pem"
backends = [{{ address = "{}" }}]"#,
                secure.addr
            ),
            "g-tls",
        ),
    ] {
        let proxy = TestProxy::start_with(&config(&pool), write).await;
        // HTTP/2 with prior knowledge on the cleartext listener.
        unary_and_streaming(grpc_channel(proxy.http).await, name).await;
        // HTTP/2 over TLS (ALPN).
        let channel =
            grpc_tls_channel(proxy.https, ca.client_config(&[]), "grpc.example.test").await;
        unary_and_streaming(channel, name).await;
    }
}

#[tokio::test]
async fn grpc_calls_get_grpc_shaped_answers_when_no_backend_is_up() {
    let nothing = RefusingPort::new();
    let proxy = TestProxy::start_with(
        &config(&format!(
            r#"protocol = "h2"
max_retries = 0
backends = [{{ address = "{}" }}]"#,
            nothing.addr
        )),
        write_proxy_cert,
    )
    .await;
    let mut echo = EchoClient::new(grpc_channel(proxy.http).await);
    let status = bounded(
        "Say",
        echo.say(EchoRequest {
            message: "anyone?".into(),
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");

    // The same over HTTP/1.1: HTTP 200, grpc-status 14.
    let mut s = TcpStream::connect(proxy.http).await.unwrap();
    s.write_all(b"POST /gatehouse.sample.v1.Echo/Say HTTP/1.1\r\nHost: g.test\r\nContent-Type: application/grpc\r\nContent-Length: 5\r\n\r\n\0\0\0\0\0")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = bounded("answer", s.read(&mut buf)).await.unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("grpc-status: 14"), "{head}");
    assert!(head.contains("content-type: application/grpc"), "{head}");
}

#[tokio::test]
async fn http1_clients_reach_h2_backends_and_get_trailers_as_chunked_trailers() {
    let app = TestBackend::start("h2-app").await;
    let grpc = TestGrpcBackend::start("h2-grpc").await;
    let proxy = TestProxy::start_with(
        &config(&format!(
            r#"protocol = "h2"
backends = [{{ address = "{}" }}]"#,
            app.addr
        ))
        .replace(
            "[routes.all]",
            &format!(
                r#"[routes.grpc]
path_prefix = "/gatehouse.sample.v1.Echo"
pool = "g"
[pools.g]
protocol = "h2"
backends = [{{ address = "{}" }}]
[routes.all]"#,
                grpc.addr
            ),
        ),
        write_proxy_cert,
    )
    .await;
    // A plain HTTP/1.1 request over an HTTP/2 connection to the sample app.
    let mut s = TcpStream::connect(proxy.http).await.unwrap();
    s.write_all(b"GET /echo HTTP/1.1\r\nHost: h2.test\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("\"body_length\"") {
        let n = bounded("echo", s.read(&mut buf)).await.unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"version\":\"HTTP/2.0\""), "{text}");
    assert!(text.contains("\"te\",\"trailers\""), "{text}");

    // A unary gRPC call written by hand over HTTP/1.1: the answer's grpc-status arrives as a
    // chunked trailer.
    let message = [0x0a, 2, b'h', b'i']; // EchoRequest { message: "hi" }
    let mut frame = vec![0u8, 0, 0, 0, message.len() as u8];
    frame.extend_from_slice(&message);
    let mut s = TcpStream::connect(proxy.http).await.unwrap();
    s.write_all(
        format!(
            "POST /gatehouse.sample.v1.Echo/Say HTTP/1.1\r\nHost: g.test\r\nContent-Type: application/grpc\r\nTE: trailers\r\nContent-Length: {}\r\n\r\n",
            frame.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    s.write_all(&frame).await.unwrap();
    let mut got = Vec::new();
    while !got.ends_with(b"\r\n\r\n") || !String::from_utf8_lossy(&got).contains("grpc-status") {
        let n = bounded("gRPC over HTTP/1.1", s.read(&mut buf))
            .await
            .unwrap();
        assert!(n > 0, "{}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
    assert!(text.contains("transfer-encoding: chunked"), "{text}");
    assert!(text.contains("\r\n0\r\ngrpc-status: 0\r\n"), "{text}");
}

#[tokio::test]
async fn grpc_health_checks_take_a_not_serving_backend_out() {
    let options = SampleOptions::named("checked");
    let http = TestBackend::start_with(options.clone()).await;
    let grpc = TestGrpcBackend::start_with(options).await;
    let other = TestGrpcBackend::start("spare").await;
    let proxy = TestProxy::start_with(
        &config(&format!(
            r#"protocol = "h2"
health_check = {{ type = "grpc", interval = "100ms", timeout = "1s", rise = 1, fall = 1 }}
backends = [{{ address = "{}" }}, {{ address = "{}" }}]"#,
            grpc.addr, other.addr
        )),
        write_proxy_cert,
    )
    .await;
    let state = |addr: std::net::SocketAddr| {
        let proxy = &proxy;
        async move {
            proxy
                .state
                .registry
                .live()
                .into_iter()
                .find(|s| s.key.address == addr)
                .map(|s| s.view().state.to_string())
        }
    };
    eventually("both up", WAIT, || async {
        (state(grpc.addr).await.as_deref() == Some("up")
            && state(other.addr).await.as_deref() == Some("up"))
        .then_some(())
    })
    .await;
    fault(http.addr, "healthz=fail").await;
    eventually("NOT_SERVING takes it out", WAIT, || async {
        (state(grpc.addr).await.as_deref() == Some("down")).then_some(())
    })
    .await;
    let mut echo = EchoClient::new(grpc_channel(proxy.http).await);
    for _ in 0..4 {
        let reply = bounded(
            "Say",
            echo.say(EchoRequest {
                message: "x".into(),
            }),
        )
        .await
        .unwrap()
        .into_inner();
        assert_eq!(reply.backend, "spare");
    }
    fault(http.addr, "healthz=ok").await;
    eventually("SERVING brings it back", WAIT, || async {
        (state(grpc.addr).await.as_deref() == Some("up")).then_some(())
    })
    .await;
}
