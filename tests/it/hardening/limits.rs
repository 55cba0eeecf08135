//! Admission limits: connection caps (per IP and per listener) and the per-route rate limit.

use super::proxy_config;
use crate::support::{eventually, Client, TestBackend, TestProxy, WAIT};

#[tokio::test]
async fn per_ip_connection_cap() {
    for (limit, reason) in [
        ("max_connections_per_ip = 3", "max_connections_per_ip"),
        ("max_connections = 3", "max_connections"),
    ] {
        connection_cap_case(limit, reason).await;
    }
}

/// Three kept-alive connections (each served once, so certainly counted) fill the cap; a
/// fourth is closed without a response and counted; closing one frees a slot.
async fn connection_cap_case(limit: &str, reason: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestBackend::start("app").await;
    let proxy = TestProxy::start(&proxy_config(
        &format!(
            "[routes.all]\npool = \"p\"\n[pools.p]\nbackends = [{{ address = \"{}\" }}]",
            app.addr
        ),
        &format!("{limit}\nheader_timeout = \"10s\""),
        "[listeners.capped]\naddress = \"{extra}\"",
    ))
    .await;
    let rejected = || {
        gatehouse::metrics::render()
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!(
                    "gatehouse_connections_rejected_total{{listener=\"capped\",reason=\"{reason}\"}} "
                ))
                .and_then(|v| v.parse::<u64>().ok())
            })
            .unwrap_or(0)
    };
    let before = rejected();
    let mut idle = Vec::new();
    for _ in 0..3 {
        let mut s = tokio::net::TcpStream::connect(proxy.extra).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(crate::support::patient(WAIT), s.read(&mut buf))
            .await
            .expect("served")
            .unwrap();
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "{limit}: served while under the cap"
        );
        idle.push(s);
    }
    let mut fourth = tokio::net::TcpStream::connect(proxy.extra).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(crate::support::patient(WAIT), fourth.read(&mut buf))
        .await
        .expect("closed promptly")
        .unwrap_or(0);
    assert_eq!(n, 0, "{limit}: over the cap, closed without a response");
    assert_eq!(rejected(), before + 1, "{limit}: the refusal is counted");
    drop(idle.pop());
    let r = eventually("a slot is free again", WAIT, || async {
        Client::no_keepalive()
            .try_get(proxy.extra, "a", "/")
            .await
            .ok()
            .filter(|r| r.status == 200)
    })
    .await;
    assert_eq!(r.backend(), "app");
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let app = TestBackend::start("app").await;
    let proxy = TestProxy::start(&proxy_config(
        &format!(
            "[routes.limited]\npool = \"p\"\nrate_limit = {{ requests_per_second = 1, burst = 2 }}\n[pools.p]\nbackends = [{{ address = \"{}\" }}]",
            app.addr
        ),
        "",
        "trusted_proxies = [\"127.0.0.1\"]",
    ))
    .await;
    let c = Client::new();
    let req = |xff: &str| {
        http::Request::get(format!("http://{}/", proxy.http))
            .header("host", "a")
            .header("x-forwarded-for", xff)
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap()
    };
    assert_eq!(c.send(req("198.51.100.1")).await.unwrap().status, 200);
    assert_eq!(c.send(req("198.51.100.1")).await.unwrap().status, 200);
    let r = c.send(req("198.51.100.1")).await.unwrap();
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    assert_eq!(
        c.send(req("198.51.100.2")).await.unwrap().status,
        200,
        "another client has its own bucket"
    );
    eventually("a token refills", WAIT, || async {
        (c.send(req("198.51.100.1")).await.unwrap().status == 200).then_some(())
    })
    .await;
}
