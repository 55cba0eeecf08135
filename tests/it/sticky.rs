//! Sticky sessions by an inserted cookie, over the wire: the cookie pins a client to its
//! backend across requests, protocols and reloads, moves (and is rewritten) when that backend
//! leaves, carries the configured attributes (`Secure` on TLS) and never shows an address.

use crate::support::tlsutil::TestCa;
use crate::support::{bounded, client::tls_get, Client, TestBackend, TestGrpcBackend, TestProxy};
use bytes::Bytes;
use http_body_util::Full;
use std::net::SocketAddr;

fn config(backends: &[&TestBackend], drained: Option<usize>, extra: &str) -> String {
    let addrs: Vec<SocketAddr> = backends.iter().map(|b| b.addr).collect();
    config_of(&addrs, drained, extra)
}

fn config_of(backends: &[SocketAddr], drained: Option<usize>, extra: &str) -> String {
    let list: Vec<String> = backends
        .iter()
        .enumerate()
        .map(|(i, addr)| format!("{{ address = \"{addr}\", drain = {} }}", drained == Some(i)))
        .collect();
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
{extra}
[routes.all]
pool = "p"
[pools.p]
sticky = {{ cookie = "srv", max_age = "1h" }}
backends = [{}]
"#,
        list.join(", ")
    )
}

async fn get(c: &Client, proxy: SocketAddr, cookie: Option<&str>) -> (String, Option<String>) {
    let mut req = http::Request::get(format!("http://{proxy}/")).header("host", "any.test");
    if let Some(cookie) = cookie {
        req = req.header("cookie", format!("theme=dark; {cookie}"));
    }
    let r = c
        .send(req.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    (r.backend(), r.header("set-cookie"))
}

/// `srv=<id>` from a `Set-Cookie` value.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn the_cookie_pins_a_client_moves_when_its_backend_leaves_and_survives_reloads() {
    let backends = [
        TestBackend::start("a").await,
        TestBackend::start("b").await,
        TestBackend::start("c").await,
    ];
    let refs: Vec<&TestBackend> = backends.iter().collect();
    let proxy = TestProxy::start(&config(&refs, None, "")).await;
    let c = Client::new();
    let (first, set) = get(&c, proxy.http, None).await;
    let set = set.expect("a first request gets the cookie");
    assert!(
        set.ends_with("; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax"),
        "{set}"
    );
    for b in &backends {
        let port = b.addr.port().to_string();
        assert!(!set.contains(&port) && !set.contains("127.0.0.1"), "{set}");
    }
    let cookie = pair(&set);
    // Round robin would rotate; the cookie holds the backend, and is not set again.
    for _ in 0..12 {
        assert_eq!(
            get(&c, proxy.http, Some(&cookie)).await,
            (first.clone(), None)
        );
    }
    // HTTP/2 honours the same cookie.
    let tcp = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    let (mut h2, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    for _ in 0..6 {
        let req = http::Request::get("http://any.test/")
            .header("cookie", cookie.as_str())
            .body(Full::new(Bytes::new()))
            .unwrap();
        let r = bounded("h2 request", h2.send_request(req)).await.unwrap();
        assert_eq!(r.headers()["x-backend"], first.as_str());
        assert!(r.headers().get("set-cookie").is_none());
    }
    // A reload that rebuilds the pool keeps the cookie's meaning.
    let text = config(&refs, None, "").replace("[pools.p]", "[pools.p]\nmax_retries = 3");
    proxy.rewrite_and_wait(&proxy.render(&text)).await;
    assert_eq!(
        get(&c, proxy.http, Some(&cookie)).await,
        (first.clone(), None)
    );
    // Its backend drains: the request is rebalanced and the cookie rewritten.
    let index = backends.iter().position(|b| b.name == first).unwrap();
    proxy
        .rewrite_and_wait(&proxy.render(&config(&refs, Some(index), "")))
        .await;
    let (moved, set) = get(&c, proxy.http, Some(&cookie)).await;
    assert_ne!(moved, first);
    let rewritten = pair(&set.expect("the cookie is rewritten"));
    assert_ne!(rewritten, cookie);
    for _ in 0..6 {
        assert_eq!(
            get(&c, proxy.http, Some(&rewritten)).await,
            (moved.clone(), None)
        );
    }
    // A forged or stale value is ignored: balanced as usual, cookie set.
    let (_, set) = get(&c, proxy.http, Some("srv=0123456789abcdef")).await;
    assert!(set.is_some());
}

#[tokio::test]
async fn the_cookie_is_secure_on_tls() {
    let app = TestBackend::start("app").await;
    let ca = TestCa::new("sticky CA");
    let leaf = ca.leaf(&["www.example.test"]);
    let https = r#"[listeners.https]
address = "{https}"
protocol = "https"
certificates = [{ cert = "www.crt", key = "www.key" }]"#;
    let proxy = TestProxy::start_with(&config(&[&app], None, https), |d| {
        leaf.write(d, "www");
    })
    .await;
    let reply = tls_get(
        proxy.https,
        Some("www.example.test"),
        "www.example.test",
        "/",
        ca.client_config(&[b"http/1.1"]),
    )
    .await
    .unwrap()
    .reply;
    let set = reply.header("set-cookie").unwrap();
    assert!(set.ends_with("; HttpOnly; SameSite=Lax; Secure"), "{set}");
    let (_, plain) = get(&Client::new(), proxy.http, None).await;
    assert!(!plain.unwrap().contains("Secure"));
}

/// The cookie toward a pool of HTTP/2 backends (`protocol = "h2"`): inserted into the answers
/// they send, to HTTP/1.1 and HTTP/2 clients alike, honoured by both, never an address.
#[tokio::test]
async fn the_cookie_works_toward_http2_backends_for_both_client_protocols() {
    let backends = [
        TestGrpcBackend::start("a").await,
        TestGrpcBackend::start("b").await,
        TestGrpcBackend::start("c").await,
    ];
    let addrs: Vec<SocketAddr> = backends.iter().map(|b| b.addr).collect();
    let text = config_of(&addrs, None, "").replace("[pools.p]", "[pools.p]\nprotocol = \"h2\"");
    let proxy = TestProxy::start(&text).await;
    let no_address = |set: &str| {
        for a in &addrs {
            let port = a.port().to_string();
            assert!(!set.contains(&port) && !set.contains("127.0.0.1"), "{set}");
        }
    };
    let c = Client::new();
    // Without the cookie, requests rotate over the backends.
    let mut seen = std::collections::HashSet::new();
    for _ in 0..3 {
        seen.insert(get(&c, proxy.http, None).await.0);
    }
    assert_eq!(seen.len(), 3, "{seen:?}");

    // HTTP/1.1 client: the answer from the h2 backend carries the cookie, which then pins.
    let (first, set) = get(&c, proxy.http, None).await;
    let set = set.expect("an HTTP/1.1 client gets the cookie from an h2 backend's answer");
    assert!(
        set.ends_with("; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax"),
        "{set}"
    );
    no_address(&set);
    let cookie = pair(&set);
    for _ in 0..6 {
        assert_eq!(
            get(&c, proxy.http, Some(&cookie)).await,
            (first.clone(), None)
        );
    }

    // HTTP/2 client: the same, on one connection.
    let tcp = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    let (mut h2, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let mut send = |cookie: Option<String>| {
        let mut req = http::Request::get("http://any.test/");
        if let Some(cookie) = cookie {
            req = req.header("cookie", cookie);
        }
        let req = req.body(Full::new(Bytes::new())).unwrap();
        let sent = h2.send_request(req);
        async move {
            let r = bounded("h2 request", sent).await.unwrap();
            assert_eq!(r.status(), 200);
            let header = |name: &str| {
                r.headers()
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_string())
            };
            (header("x-backend").unwrap(), header("set-cookie"))
        }
    };
    let (h2_first, h2_set) = send(None).await;
    let h2_set = h2_set.expect("an HTTP/2 client gets the cookie from an h2 backend's answer");
    assert!(h2_set.contains("; HttpOnly; SameSite=Lax"), "{h2_set}");
    no_address(&h2_set);
    let h2_cookie = pair(&h2_set);
    for _ in 0..6 {
        assert_eq!(
            send(Some(h2_cookie.clone())).await,
            (h2_first.clone(), None)
        );
    }
    // The HTTP/1.1 client's cookie means the same backend over HTTP/2.
    assert_eq!(send(Some(cookie.clone())).await, (first.clone(), None));
}
