//! Hardening: malformed requests, misbehaving backends, slow clients, caps, access rules,
//! PROXY protocol, TLS resumption, privilege dropping. Raw sockets throughout: what matters is
//! the exact bytes each side sees.

use crate::support::raw::{send, Behaviour, RawBackend};
use crate::support::{eventually, Client, TestBackend, TestProxy, WAIT};
use std::time::{Duration, Instant};

fn proxy_config(routes_and_pools: &str, limits: &str, listeners: &str) -> String {
    format!(
        r#"
[server]
threads = 2
grace_period = "0s"
[admin]
address = "{{admin}}"
[limits]
{limits}
[listeners.http]
address = "{{http}}"
{listeners}
{routes_and_pools}
"#
    )
}

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test]
async fn malformed_requests_get_the_right_status_and_never_reach_a_backend() {
    let main = RawBackend::start(Behaviour::Ok).await;
    let admin = RawBackend::start(Behaviour::Ok).await;
    let proxy = TestProxy::start(&proxy_config(
        &format!(
            r#"[routes.public]
pool = "main"
[routes.admin]
path_prefix = "/admin"
pool = "admin"
[routes.small]
hosts = ["small.test"]
max_body_size = 10
pool = "main"
[pools.main]
backends = [{{ address = "{}" }}]
[pools.admin]
backends = [{{ address = "{}" }}]"#,
            main.addr, admin.addr
        ),
        "max_request_line = 1024\nmax_header_bytes = 4096\nmax_headers = 50",
        "",
    ))
    .await;
    let big_header = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "b".repeat(5000)
    );
    let many_headers = format!(
        "GET / HTTP/1.1\r\nHost: a\r\n{}\r\n",
        (0..60).map(|i| format!("X-{i}: v\r\n")).collect::<String>()
    );
    let long_line = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(2000));
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("duplicate Content-Length", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc".to_vec(), 400),
        ("conflicting Content-Length", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd".to_vec(), 400),
        ("Content-Length list", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc".to_vec(), 400),
        ("Content-Length with Transfer-Encoding", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n".to_vec(), 400),
        ("Transfer-Encoding twice", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(), 400),
        ("Transfer-Encoding identity, chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n".to_vec(), 400),
        ("Transfer-Encoding xchunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n".to_vec(), 400),
        ("Transfer-Encoding folded", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n".to_vec(), 400),
        ("invalid chunk size", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n".to_vec(), 400),
        ("chunk size overflow", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nabc\r\n0\r\n\r\n".to_vec(), 400),
        ("chunk data without CRLF", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX0\r\n\r\n".to_vec(), 400),
        ("bare LF", b"GET / HTTP/1.1\nHost: a\n\n".to_vec(), 400),
        ("bare CR", b"GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n".to_vec(), 400),
        ("NUL in a header", b"GET / HTTP/1.1\r\nHost: a\r\nX: b\x00c\r\n\r\n".to_vec(), 400),
        ("control character in a header", b"GET / HTTP/1.1\r\nHost: a\r\nX: b\x01c\r\n\r\n".to_vec(), 400),
        ("NUL in the path", b"GET /a\x00b HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), 400),
        ("space before colon", b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 0\r\n\r\n".to_vec(), 400),
        ("obsolete line folding", b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n".to_vec(), 400),
        ("invalid method", b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), 400),
        ("CONNECT", b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n".to_vec(), 405),
        ("absolute-form host disagrees with Host", b"GET http://evil.test/ HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), 400),
        ("missing Host (HTTP/1.1)", b"GET / HTTP/1.1\r\n\r\n".to_vec(), 400),
        ("missing Host (HTTP/1.0)", b"GET / HTTP/1.0\r\n\r\n".to_vec(), 400),
        ("two Host headers", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(), 400),
        ("invalid Host", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n".to_vec(), 400),
        ("request line too long", long_line.into_bytes(), 414),
        ("header section too large", big_header.into_bytes(), 431),
        ("too many header fields", many_headers.into_bytes(), 431),
        ("body over max_body_size", b"POST / HTTP/1.1\r\nHost: small.test\r\nContent-Length: 11\r\n\r\nhello world".to_vec(), 413),
        ("chunked body over max_body_size", b"POST / HTTP/1.1\r\nHost: small.test\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n".to_vec(), 413),
        ("invalid percent-encoding", b"GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), 400),
        ("dot segments above the root", b"GET /a/../../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), 400),
        ("HTTP/2.0 request line", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n".to_vec(), 505),
        ("PROXY header on a plain listener", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), 400),
    ];
    let mut report = Vec::new();
    for (name, raw, expected) in &cases {
        let before = (main.bytes_received(), admin.bytes_received());
        let r = send(proxy.http, raw, 2 * SECOND).await;
        assert_eq!(r.status, *expected, "{name}: {}", r.head);
        assert!(r.header("server").is_none(), "{name}: no banner");
        if *expected != 413 {
            assert_eq!(
                r.header("connection").as_deref(),
                Some("close"),
                "{name}: framing in doubt, connection closed"
            );
        }
        assert_eq!(
            (main.bytes_received(), admin.bytes_received()),
            before,
            "{name}: a backend saw bytes:\n{}",
            main.received()
        );
        report.push(format!("{name} -> {}", r.status));
    }
    eprintln!("MEASURE malformed inputs:\n  {}", report.join("\n  "));
    // Dot segments are resolved before routing, and the backend gets what the route matched.
    for (path, expect) in [
        ("/public/../admin/x", "GET /admin/x "),
        ("/public/%2e%2e/admin/y", "GET /admin/y "),
    ] {
        let r = send(
            proxy.http,
            format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(),
            2 * SECOND,
        )
        .await;
        assert_eq!(r.status, 200, "{path}");
        assert!(
            admin.received().contains(expect),
            "{path} routed as /admin: {}",
            admin.received()
        );
    }
    // Legitimate edge cases pass untouched.
    for ok in [
        &b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Tab:\tvalue\r\n\r\n",
        b"get / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET http://a/abs HTTP/1.1\r\nHost: a\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        assert_eq!(
            send(proxy.http, ok, 2 * SECOND).await.status,
            200,
            "{}",
            String::from_utf8_lossy(ok)
        );
    }
}

#[tokio::test]
async fn misbehaving_backends_get_clean_answers() {
    let behaviours = [
        ("reset-before", Behaviour::ResetBeforeResponse),
        ("garbage", Behaviour::Garbage),
        ("huge-headers", Behaviour::HugeHeaders),
        ("reset-mid-body", Behaviour::ResetMidBody),
        ("stall", Behaviour::Stall),
        ("short-body", Behaviour::ShortBody),
        ("trickle", Behaviour::Trickle),
        ("long-body", Behaviour::LongBody),
    ];
    let mut backends = Vec::new();
    let mut config = String::new();
    for (name, b) in behaviours {
        let backend = RawBackend::start(b).await;
        config.push_str(&format!(
            "[routes.mb-{name}]\nhosts = [\"{name}.test\"]\npool = \"mb-{name}\"\n[pools.mb-{name}]\ntimeouts = {{ read = \"300ms\", response = \"1s\" }}\npassive = {{ connect_failures = 0 }}\nbackends = [{{ address = \"{}\" }}]\n",
            backend.addr
        ));
        backends.push(backend);
    }
    let proxy = TestProxy::start(&proxy_config(&config, "", "")).await;
    let get = |host: &str| format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
    for (host, status) in [
        ("reset-before.test", 502),
        ("garbage.test", 502),
        ("huge-headers.test", 502),
    ] {
        let started = Instant::now();
        let r = send(proxy.http, get(host).as_bytes(), 5 * SECOND).await;
        assert_eq!(r.status, status, "{host}: {}", r.head);
        assert!(r.body.len() < 200, "{host}: small error page");
        assert!(
            started.elapsed() < crate::support::patient(3 * SECOND),
            "{host}: no hang"
        );
    }
    // Headers already sent: the client sees the stream aborted, bounded in time.
    for host in [
        "reset-mid-body.test",
        "stall.test",
        "short-body.test",
        "trickle.test",
    ] {
        let started = Instant::now();
        let r = send(proxy.http, get(host).as_bytes(), 5 * SECOND).await;
        assert_eq!(r.status, 200, "{host}");
        let promised: usize = r.header("content-length").unwrap().parse().unwrap();
        assert!(
            r.body.len() < promised,
            "{host}: truncated, not padded ({} of {promised})",
            r.body.len()
        );
        assert!(
            started.elapsed() < crate::support::patient(3 * SECOND),
            "{host}: the connection was closed, not left hanging"
        );
    }
    // More bytes than the Content-Length: the client gets exactly what was promised, and the
    // surplus never becomes the head of the next response.
    for _ in 0..3 {
        let r = send(proxy.http, get("long-body.test").as_bytes(), 5 * SECOND).await;
        assert_eq!(r.status, 200, "{}", r.head);
        assert_eq!(r.body, b"0123456789");
    }
    let m = gatehouse::metrics::render();
    assert!(
        m.lines()
            .any(|l| l.starts_with("gatehouse_upstream_timeouts_total")
                && l.contains("pool=\"mb-trickle\"")),
        "the endless body is counted as a timeout"
    );
    for pool in ["mb-garbage", "mb-huge-headers", "mb-reset-before"] {
        assert!(
            m.lines()
                .any(|l| l.starts_with("gatehouse_upstream_errors_total")
                    && l.contains(&format!("pool=\"{pool}\""))),
            "{pool} counted"
        );
    }
    assert!(m
        .lines()
        .any(|l| l.starts_with("gatehouse_upstream_timeouts_total")
            && l.contains("pool=\"mb-stall\"")));
}

use crate::support::raise_nofile;

async fn latencies(proxy: &TestProxy, n: usize) -> Vec<Duration> {
    let c = Client::no_keepalive();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        assert_eq!(c.get(proxy.http, "legit.test", "/").await.status, 200);
        out.push(t.elapsed());
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_cut_while_others_are_served() {
    raise_nofile();
    let app = TestBackend::start("app").await;
    let proxy = TestProxy::start(&proxy_config(
        &format!(
            "[routes.all]\npool = \"p\"\n[pools.p]\nbackends = [{{ address = \"{}\" }}]",
            app.addr
        ),
        "header_timeout = \"1s\"",
        "",
    ))
    .await;
    let baseline = latencies(&proxy, 100).await;
    const SLOW: usize = 1000;
    let http = proxy.http;
    let attack: Vec<_> = (0..SLOW)
        .map(|i| {
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let started = Instant::now();
                let Ok(mut s) = tokio::net::TcpStream::connect(http).await else { return None };
                let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: slow\r\nX-Slow: ").await;
                let mut buf = [0u8; 512];
                // One byte every 200 ms, forever; stop when the proxy closes.
                loop {
                    tokio::select! {
                        r = s.read(&mut buf) => {
                            let text = match r { Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(), Err(_) => String::new() };
                            return Some((started.elapsed(), text));
                        }
                        _ = tokio::time::sleep(Duration::from_millis(200 + (i % 50) as u64)) => {
                            if s.write_all(b"x").await.is_err() {
                                return Some((started.elapsed(), String::new()));
                            }
                        }
                    }
                }
            })
        })
        .collect();
    let under_attack = latencies(&proxy, 100).await;
    let mut cut = Vec::new();
    for t in attack {
        if let Ok(Ok(Some(r))) = tokio::time::timeout(crate::support::patient(WAIT), t).await {
            cut.push(r);
        }
    }
    assert!(
        cut.len() >= SLOW * 9 / 10,
        "most slow connections were opened and cut: {}",
        cut.len()
    );
    for (elapsed, text) in &cut {
        assert!(
            *elapsed >= Duration::from_millis(900)
                && *elapsed < crate::support::patient(4 * SECOND),
            "cut at the 1 s deadline, not before or long after: {elapsed:?}"
        );
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 408"),
            "{text}"
        );
    }
    let p99 = |v: &[Duration]| v[v.len() * 99 / 100 - 1];
    eprintln!(
        "MEASURE slowloris: {} trickling connections; legit p50/p99 without attack {:?}/{:?}, with attack {:?}/{:?}",
        cut.len(),
        baseline[49],
        p99(&baseline),
        under_attack[49],
        p99(&under_attack)
    );
    assert!(
        p99(&under_attack) < crate::support::patient(Duration::from_millis(500)),
        "legitimate requests stay fast: {:?}",
        p99(&under_attack)
    );
}

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

#[tokio::test]
async fn allow_and_deny_lists_resist_forwarded_for_spoofing() {
    let app = TestBackend::start("app").await;
    let proxy = TestProxy::start(&proxy_config(
        &format!(
            r#"[routes.admin]
hosts = ["admin.test"]
allow = ["10.0.0.0/8"]
deny = ["10.9.0.0/16"]
pool = "p"
[routes.public]
pool = "p"
[pools.p]
backends = [{{ address = "{}" }}]"#,
            app.addr
        ),
        "",
        "[listeners.behind-lb]\naddress = \"{extra}\"\ntrusted_proxies = [\"127.0.0.1/32\"]",
    ))
    .await;
    let c = Client::new();
    let status = |addr, xff: Option<&'static str>| {
        let mut r = http::Request::get(format!("http://{addr}/")).header("host", "admin.test");
        if let Some(x) = xff {
            r = r.header("x-forwarded-for", x);
        }
        let c = c.clone();
        let req = r
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        async move { c.send(req).await.unwrap().status }
    };
    // The direct listener does not trust anyone: the socket address (127.0.0.1) decides.
    assert_eq!(status(proxy.http, None).await, 403);
    assert_eq!(
        status(proxy.http, Some("10.1.1.1")).await,
        403,
        "spoofed X-Forwarded-For from an untrusted peer is ignored"
    );
    // Behind a trusted balancer, the rightmost untrusted hop decides.
    assert_eq!(status(proxy.extra, Some("10.1.1.1")).await, 200);
    assert_eq!(
        status(proxy.extra, Some("10.1.1.1, 203.0.113.9")).await,
        403,
        "a client cannot prepend its way in"
    );
    assert_eq!(
        status(proxy.extra, Some("10.9.1.1")).await,
        403,
        "deny wins inside allow"
    );
    assert_eq!(
        Client::new()
            .get(proxy.http, "public.test", "/")
            .await
            .status,
        200,
        "other routes unaffected"
    );
}

#[tokio::test]
async fn proxy_protocol_v1_and_v2_on_enabled_listeners_only() {
    let app = TestBackend::start("echo").await;
    let proxy = TestProxy::start(&proxy_config(
        &format!(
            "[routes.all]\npool = \"p\"\n[pools.p]\nbackends = [{{ address = \"{}\" }}]",
            app.addr
        ),
        "handshake_timeout = \"500ms\"",
        "[listeners.lb]\naddress = \"{extra}\"\nproxy_protocol = true\ntrusted_proxies = [\"127.0.0.1\"]\n\
         [listeners.other-lb]\naddress = \"{https}\"\nproxy_protocol = true\ntrusted_proxies = [\"10.0.0.0/8\"]",
    ))
    .await;
    let request = b"GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    let v1 = [
        &b"PROXY TCP4 198.51.100.7 203.0.113.1 56324 443\r\n"[..],
        request,
    ]
    .concat();
    let r = send(proxy.extra, &v1, 2 * SECOND).await;
    assert_eq!(r.status, 200);
    let echo: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let xff = echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0] == "x-forwarded-for")
        .unwrap()[1]
        .clone();
    assert_eq!(
        xff, "198.51.100.7",
        "the client address comes from the PROXY header"
    );

    let mut v2 = gatehouse::listener::proxy_protocol::V2_SIGNATURE.to_vec();
    v2.extend([
        0x21, 0x11, 0x00, 12, 192, 0, 2, 9, 203, 0, 113, 1, 0xDC, 0x04, 0x01, 0xBB,
    ]);
    v2.extend_from_slice(request);
    let r = send(proxy.extra, &v2, 2 * SECOND).await;
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("192.0.2.9"));

    // Missing header on an enabled listener: refused (closed, nothing forwarded).
    let r = send(proxy.extra, request, 2 * SECOND).await;
    assert_eq!(r.status, 0, "no PROXY header: connection closed");
    // A PROXY header on a listener without it enabled: a malformed request.
    assert_eq!(send(proxy.http, &v1, 2 * SECOND).await.status, 400);
    // A PROXY header from a peer that is not one of the listener's trusted proxies: refused,
    // and counted (the harness's own readiness probe was counted already).
    let refused = || async {
        let m = Client::new().get(proxy.admin, "admin", "/metrics").await;
        String::from_utf8_lossy(&m.body)
            .lines()
            .find_map(|l| {
                l.strip_prefix(
                    "gatehouse_connections_rejected_total{listener=\"other-lb\",reason=\"proxy_protocol\"} ",
                )
                .and_then(|v| v.parse::<u64>().ok())
            })
            .unwrap_or(0)
    };
    let before = refused().await;
    let r = send(proxy.https, &v1, 2 * SECOND).await;
    assert_eq!(r.status, 0, "untrusted PROXY sender: connection closed");
    assert_eq!(refused().await, before + 1, "the refusal is counted");
}

#[tokio::test]
async fn slow_request_bodies_are_cut() {
    let app = TestBackend::start("app").await;
    let proxy = TestProxy::start(&proxy_config(
        &format!(
            "[routes.all]\npool = \"p\"\n[pools.p]\nbackends = [{{ address = \"{}\" }}]",
            app.addr
        ),
        "body_timeout = \"300ms\"\nmin_body_rate = 1000",
        "",
    ))
    .await;
    use tokio::io::AsyncWriteExt;
    // A body that stops: 408 at the body timeout.
    let started = Instant::now();
    let r = send(
        proxy.http,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789",
        5 * SECOND,
    )
    .await;
    assert_eq!(r.status, 408, "{}", r.head);
    assert!(started.elapsed() < crate::support::patient(3 * SECOND));
    // A body that trickles under min_body_rate (40 B/s < 1000 B/s): 408 once the 5 s grace
    // period is over.
    let s = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    wr.write_all(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let trickle = async move {
        loop {
            if wr.write_all(b"0123456789").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    let answer = async {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 1024];
        let n = rd.read(&mut buf).await.unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let text = tokio::select! {
        t = answer => t,
        _ = trickle => String::new(),
        _ = tokio::time::sleep(Duration::from_secs(10)) => panic!("never cut"),
    };
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        started.elapsed() > Duration::from_secs(5),
        "the grace period is honoured"
    );
    assert!(
        started.elapsed() < crate::support::patient(Duration::from_secs(9)),
        "cut soon after it"
    );
}

#[tokio::test]
async fn tls_sessions_resume() {
    use crate::support::tlsutil::TestCa;
    let app = TestBackend::start("app").await;
    let ca = TestCa::new("resume CA");
    let leaf = ca.leaf(&["www.example.test"]);
    let proxy = TestProxy::start_with(
        &format!(
            r#"
[server]
threads = 1
grace_period = "0s"
[admin]
address = "{{admin}}"
[listeners.https]
address = "{{https}}"
protocol = "https"
certificates = [{{ cert = "www.crt", key = "www.key" }}]
[routes.all]
pool = "p"
[pools.p]
backends = [{{ address = "{}" }}]
"#,
            app.addr
        ),
        |d| {
            leaf.write(d, "www");
        },
    )
    .await;
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let config = ca.client_config_version(version);
        let mut kinds = Vec::new();
        for _ in 0..2 {
            let tcp = tokio::net::TcpStream::connect(proxy.https).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("www.example.test").unwrap();
            let mut tls = tokio_rustls::TlsConnector::from(config.clone())
                .connect(name, tcp)
                .await
                .unwrap();
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            tls.write_all(b"GET / HTTP/1.1\r\nHost: www.example.test\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut out = Vec::new();
            let _ = tls.read_to_end(&mut out).await;
            assert!(out.starts_with(b"HTTP/1.1 200"));
            kinds.push(tls.get_ref().1.handshake_kind());
        }
        assert_eq!(
            kinds[1],
            Some(rustls::HandshakeKind::Resumed),
            "{version:?}: second connection resumed ({kinds:?})"
        );
    }
}

/// `Uid:`/`Gid:` lines of `/proc/<pid>/status` (real, effective, saved, filesystem).
fn proc_ids(pid: u32, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// A config that runs as `nobody` once root is no longer needed.
fn as_nobody(backend: std::net::SocketAddr, tag: &str) -> String {
    format!(
        r#"
[server]
threads = 1
grace_period = "0s"
user = "nobody"
[reload]
watch = false
[admin]
address = "{{admin}}"
[listeners.http]
address = "{{http}}"
[routes.site]
pool = "p"
response_headers = {{ set = {{ "x-tag" = "{tag}" }} }}
[pools.p]
backends = [{{ address = "{backend}" }}]
"#
    )
}

/// Like /etc/gatehouse: the config is readable by the unprivileged user, so reloads work.
fn readable_by_nobody(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test]
async fn started_as_root_it_serves_and_reloads_as_the_configured_user() {
    use crate::support::child::ChildProxy;
    crate::ops::require!(
        nix::unistd::Uid::effective().is_root(),
        "dropping privileges needs the test to run as root"
    );
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let a = TestBackend::start("a").await;
    let proxy = ChildProxy::start_with(&as_nobody(a.addr, "v1"), readable_by_nobody).await;
    let pid = proxy.child.id();
    let uid = vec![nobody.uid.as_raw().to_string(); 4].join(" ");
    let gid = vec![nobody.gid.as_raw().to_string(); 4].join(" ");
    // The admin API answered (start_with waited for it) only after the drop.
    assert_eq!(proc_ids(pid, "Uid:"), uid);
    assert_eq!(proc_ids(pid, "Gid:"), gid);
    assert_eq!(proc_ids(pid, "Groups:"), nobody.gid.as_raw().to_string());
    assert!(proxy.log_text().contains("dropped root privileges"));

    let client = Client::new();
    let r = client.get(proxy.http, "site.test", "/").await;
    assert_eq!((r.status, r.header("x-tag").as_deref()), (200, Some("v1")));
    proxy.write_config(&as_nobody(a.addr, "v2"));
    proxy.signal(nix::sys::signal::Signal::SIGHUP);
    eventually("reload as nobody", WAIT, || async {
        (proxy.generation().await == 2).then_some(())
    })
    .await;
    let r = client.get(proxy.http, "site.test", "/").await;
    assert_eq!((r.status, r.header("x-tag").as_deref()), (200, Some("v2")));
}

/// Requests sent the moment the listeners accept — while the process is still root, which a
/// debug-build hook keeps it for 1.5 s after readiness — are answered only once the process
/// runs as `nobody`, on the proxy listener and on the admin listener alike. (The uid is read
/// when each answer arrives: a drop cannot be undone, so `nobody` then means the answer came
/// after it.)
#[tokio::test]
async fn started_as_root_nothing_is_answered_before_the_privilege_drop() {
    use crate::support::child::ChildProxy;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    crate::ops::require!(
        nix::unistd::Uid::effective().is_root(),
        "dropping privileges needs the test to run as root"
    );
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let nobody_ids = vec![nobody.uid.as_raw().to_string(); 4].join(" ");
    let a = TestBackend::start("a").await;
    let proxy = ChildProxy::spawn(
        &as_nobody(a.addr, "v1"),
        readable_by_nobody,
        &[("GATEHOUSE_TEST_PRIVILEGE_DROP_DELAY_MS", "1500")],
    );
    let pid = proxy.child.id();
    let connect = |addr: std::net::SocketAddr| {
        eventually("the listener accepts", WAIT, move || async move {
            tokio::net::TcpStream::connect(addr).await.ok()
        })
    };
    let mut site = connect(proxy.http).await;
    let mut admin = connect(proxy.admin).await;
    site.write_all(b"GET / HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    admin
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(
        proc_ids(pid, "Uid:"),
        "0 0 0 0",
        "the requests must be sent while gatehouse is still root"
    );
    for (what, stream) in [("proxy", &mut site), ("admin", &mut admin)] {
        let mut answer = Vec::new();
        crate::support::bounded(what, stream.read_to_end(&mut answer))
            .await
            .unwrap();
        let uid_when_answered = proc_ids(pid, "Uid:");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "{what}: {answer}");
        assert_eq!(
            uid_when_answered,
            nobody_ids,
            "{what} answered before privileges were dropped:\n{}",
            proxy.log_text()
        );
    }
    assert!(proxy.log_text().contains("dropped root privileges"));
}

/// Started as root with a drop pending, a process that does not become ready exits non-zero
/// instead of running on as root (a debug-build hook makes the readiness check fail).
#[tokio::test]
async fn started_as_root_it_exits_if_it_never_becomes_ready() {
    use crate::support::child::ChildProxy;
    crate::ops::require!(
        nix::unistd::Uid::effective().is_root(),
        "dropping privileges needs the test to run as root"
    );
    let a = TestBackend::start("a").await;
    let mut proxy = ChildProxy::spawn(
        &as_nobody(a.addr, "v1"),
        readable_by_nobody,
        &[("GATEHOUSE_TEST_FAIL_READINESS", "1")],
    );
    let deadline = tokio::time::Instant::now() + crate::support::patient(WAIT);
    let status = loop {
        if let Some(status) = proxy.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still running after {WAIT:?}:\n{}",
            proxy.log_text()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let log = proxy.log_text();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("gatehouse did not become ready"), "{log}");
    assert!(
        log.contains("refusing to keep running as root") && !log.contains("dropped root"),
        "{log}"
    );
}

fn h2c_proxy_config(backend: std::net::SocketAddr) -> String {
    proxy_config(
        &format!(
            "[routes.all]\npool = \"p\"\n[pools.p]\nbackends = [{{ address = \"{backend}\" }}]"
        ),
        "[limits.http2]\nmax_concurrent_streams = 7\nmax_header_list_size = 4096\nmax_pending_reset_streams = 5",
        "h2c = true",
    )
}

#[tokio::test]
async fn http2_limits_are_announced_and_floods_are_cut() {
    use crate::support::h2raw::*;
    use tokio::io::AsyncWriteExt;
    let backend = RawBackend::start(Behaviour::Ok).await;
    let proxy = TestProxy::start(&h2c_proxy_config(backend.addr)).await;

    // The SETTINGS the server sends carry the configured limits.
    let mut c = connect(proxy.http).await;
    let server_settings = loop {
        let f = read_frame(&mut c, 2 * SECOND)
            .await
            .expect("server SETTINGS");
        if f.kind == SETTINGS && f.flags & ACK == 0 {
            break f.settings();
        }
    };
    assert!(
        server_settings.contains(&(SETTINGS_MAX_CONCURRENT_STREAMS, 7))
            && server_settings.contains(&(SETTINGS_MAX_HEADER_LIST_SIZE, 4096)),
        "{server_settings:?}"
    );
    // ...and are enforced: an eighth open stream is refused.
    for i in 0..8u32 {
        let open = frame(HEADERS, END_HEADERS, 2 * i + 1, &get_block("a.test"));
        c.write_all(&open).await.unwrap();
    }
    let refused = loop {
        let f = read_frame(&mut c, 2 * SECOND).await.expect("a refusal");
        if f.kind == RST_STREAM {
            break (
                f.stream,
                u32::from_be_bytes(f.payload[..4].try_into().unwrap()),
            );
        }
    };
    assert_eq!(refused, (15, REFUSED_STREAM));

    eventually("the seven admitted streams forwarded", WAIT, || async {
        (backend.received().matches("GET / ").count() == 7).then_some(())
    })
    .await;
    drop(c);

    // Rapid reset (CVE-2023-44487): open and cancel streams as fast as the socket takes them.
    let forwarded_before = 7;
    let mut c = connect(proxy.http).await;
    let mut burst = Vec::new();
    for i in 0..5000u32 {
        let id = 2 * i + 1;
        burst.extend(frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            id,
            &get_block("a.test"),
        ));
        burst.extend(rst(id, CANCEL));
    }
    let _ = c.write_all(&burst).await; // the server may hang up before it is all written
    let goaway = goaway_code(&mut c).await;
    let forwarded = backend.received().matches("GET / ").count() - forwarded_before;
    assert_eq!(goaway, Some(ENHANCE_YOUR_CALM), "rapid reset");
    assert!(
        forwarded < 50,
        "{forwarded} of 5000 cancelled requests forwarded"
    );
    eprintln!(
        "MEASURE rapid reset: GOAWAY after 5000 reset streams written, {forwarded} forwarded"
    );

    // CONTINUATION flood: one header block that never ends.
    let mut c = connect(proxy.http).await;
    c.write_all(&frame(HEADERS, 0, 1, &get_block("a.test")))
        .await
        .unwrap();
    let mut sent = 0usize; // bytes of header block
    let mut chunk = Vec::new();
    for i in 0..100 {
        chunk.extend(field(&format!("x-flood-{i}"), "y"));
    }
    let cont = frame(CONTINUATION, 0, 1, &chunk);
    let cut = loop {
        match tokio::time::timeout(SECOND, c.write_all(&cont)).await {
            Ok(Ok(())) => sent += cont.len(),
            other => break format!("{other:?}"),
        }
        if sent > 16 << 20 {
            break "never cut".to_string();
        }
    };
    // `sent` includes what the kernel buffered on both sides of loopback after the cut.
    assert!(
        sent < 16 << 20,
        "{sent} bytes of one header block accepted ({cut})"
    );
    assert_eq!(
        goaway_code(&mut c).await,
        Some(ENHANCE_YOUR_CALM),
        "CONTINUATION flood"
    );
    eprintln!("MEASURE CONTINUATION flood: GOAWAY; {sent} bytes written before the write failed");

    // The server shrugged both off: fresh clients, h2 and HTTP/1, are served.
    let mut c = connect(proxy.http).await;
    let get = frame(HEADERS, END_HEADERS | END_STREAM, 1, &get_block("a.test"));
    c.write_all(&get).await.unwrap();
    let status = loop {
        let f = read_frame(&mut c, 2 * SECOND).await.expect("a response");
        if f.kind == HEADERS && f.stream == 1 {
            break f.payload[0];
        }
    };
    assert_eq!(status, 0x88, "HPACK static :status 200");
    let r = Client::new().get(proxy.http, "a.test", "/").await;
    assert_eq!(r.status, 200);
}

/// Reads until a GOAWAY (its error code) or the end of the connection (`None`).
async fn goaway_code(c: &mut tokio::net::TcpStream) -> Option<u32> {
    while let Some(f) = crate::support::h2raw::read_frame(c, 2 * SECOND).await {
        if f.kind == crate::support::h2raw::GOAWAY {
            return f.error_code();
        }
    }
    None
}

/// An idle kept-alive connection is closed after `keepalive_timeout`, not before, and a busy
/// one is not.
#[tokio::test]
async fn idle_keepalive_connections_are_closed_at_the_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestBackend::start("app").await;
    let proxy = TestProxy::start(&proxy_config(
        &format!(
            "[routes.all]\npool = \"p\"\n[pools.p]\nbackends = [{{ address = \"{}\" }}]",
            app.addr
        ),
        "keepalive_timeout = \"1s\"",
        "",
    ))
    .await;
    let mut s = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    let request = b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut buf = vec![0u8; 4096];
    // Three requests 400 ms apart: each wait is shorter than the timeout, so all are served.
    for _ in 0..3 {
        s.write_all(request).await.unwrap();
        let n = s.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "served while busy");
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    // Then idle: the proxy closes the connection about 1 s after the last response.
    let idle_since = Instant::now() - Duration::from_millis(400);
    let n = tokio::time::timeout(crate::support::patient(5 * SECOND), s.read(&mut buf))
        .await
        .expect("closed within the bound")
        .unwrap_or(0);
    let idle = idle_since.elapsed();
    assert_eq!(n, 0, "closed without a response");
    assert!(
        idle >= Duration::from_millis(900)
            && idle < crate::support::patient(Duration::from_secs(4)),
        "closed after {idle:?} of idleness"
    );
}
