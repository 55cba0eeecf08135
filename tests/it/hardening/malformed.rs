//! Malformed requests, smuggling vectors among them (duplicate or conflicting framing,
//! bad chunking, stray CR/LF), get the right status and never reach a backend; dot segments
//! are resolved before routing; legitimate edge cases pass untouched.

use super::{proxy_config, SECOND};
use crate::support::raw::{send, Behaviour, RawBackend};
use crate::support::TestProxy;

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
