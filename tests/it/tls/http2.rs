//! HTTP/2 end to end over ALPN, and cleartext h2c with prior knowledge where a listener
//! enables it (an HTTP/1.1 400 where it does not).

use super::{certs, tls_config, write_certs};
use crate::support::client::tls_get;
use crate::support::{bounded, Client, TestBackend, TestProxy};

#[tokio::test]
async fn http2_over_alpn_carries_requests_end_to_end() {
    let app = TestBackend::start("app").await;
    let c = certs();
    let proxy = TestProxy::start_with(&tls_config(&app.addr.to_string(), "", "default"), |d| {
        write_certs(&c, d)
    })
    .await;
    let r = tls_get(
        proxy.https,
        Some("www.example.test"),
        "www.example.test",
        "/echo",
        c.ca.client_config(&[b"h2", b"http/1.1"]),
    )
    .await
    .unwrap();
    assert_eq!(r.alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(r.reply.version, http::Version::HTTP_2);
    assert_eq!(r.reply.status, 200);
    assert_eq!(
        r.reply.echoed_header("host").unwrap(),
        "www.example.test",
        ":authority became Host"
    );
    assert_eq!(r.reply.echoed_header("x-forwarded-proto").unwrap(), "https");
    // ALPN restricted to http/1.1 on a listener that only offers it
    let h1_only = TestProxy::start_with(
        &tls_config(&app.addr.to_string(), r#"alpn = ["http/1.1"]"#, "default"),
        |d| write_certs(&c, d),
    )
    .await;
    let r = tls_get(
        h1_only.https,
        Some("www.example.test"),
        "www.example.test",
        "/",
        c.ca.client_config(&[b"h2", b"http/1.1"]),
    )
    .await
    .unwrap();
    assert_eq!(r.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(r.reply.version, http::Version::HTTP_11);
}

/// A listener without `h2c` answers the HTTP/2 preface with an HTTP/1.1 400 and closes: the
/// bytes are not taken for a request and nothing reaches a backend.
#[tokio::test]
async fn the_h2c_preface_is_refused_where_h2c_is_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestBackend::start("app").await;
    let proxy = TestProxy::start(&format!(
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
backends = [{{ address = "{}" }}]
"#,
        app.addr
    ))
    .await;
    let mut tcp = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    bounded("the answer and the close", tcp.read_to_end(&mut answer))
        .await
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    let c = Client::new();
    assert_eq!(
        c.get(proxy.http, "x.test", "/").await.status,
        200,
        "the listener still serves HTTP/1.1"
    );
}

#[tokio::test]
async fn cleartext_h2c_with_prior_knowledge() {
    let app = TestBackend::start("app").await;
    let admin_app = TestBackend::start("admin-app").await;
    let proxy = TestProxy::start(&format!(
        r#"
[server]
threads = 1
grace_period = "0s"
[admin]
address = "{{admin}}"
[listeners.http]
address = "{{http}}"
h2c = true
[routes.all]
pool = "p"
[routes.admin]
hosts = ["admin.h2c.test"]
pool = "admin"
[pools.p]
backends = [{{ address = "{}" }}]
[pools.admin]
backends = [{{ address = "{}" }}]
"#,
        app.addr, admin_app.addr
    ))
    .await;
    let tcp = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let resp = sender
        .send_request(
            http::Request::get("http://h2c.test/")
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), http::Version::HTTP_2);
    // HTTP/2 has no Host header: routing by host uses `:authority` (port ignored).
    for (authority, backend) in [("admin.h2c.test:8080", "admin-app"), ("h2c.test", "app")] {
        let resp = sender
            .send_request(
                http::Request::get(format!("http://{authority}/"))
                    .body(http_body_util::Empty::<bytes::Bytes>::new())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-backend"], backend, "{authority}");
    }
    // HTTP/1.1 clients still work on the same listener.
    assert_eq!(
        Client::new().get(proxy.http, "h1.test", "/").await.status,
        200
    );
}
