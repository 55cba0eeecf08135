//! Forwarding headers, request ids, header rules and prefix stripping.

use super::base;
use crate::support::{Client, TestBackend, TestProxy};

#[tokio::test]
async fn forwarding_headers_request_ids_rules_and_strip_prefix() {
    let app = TestBackend::start("app").await;
    let proxy = TestProxy::start(&base(&format!(
        r#"
[routes.app]
hosts = ["www.example.test"]
path_prefix = "/app"
strip_prefix = true
pool = "p"
[routes.app.request_headers]
set = {{ "X-Env" = "test" }}
add = {{ "X-Tag" = "gatehouse" }}
remove = ["X-Secret"]
[routes.app.response_headers]
set = {{ "X-Frame-Options" = "DENY" }}
add = {{ "Vary" = "X-Env" }}
remove = ["Content-Type"]
[pools.p]
backends = [{{ address = "{a}" }}]
"#,
        a = app.addr
    )))
    .await;
    let c = Client::new();
    let req = http::Request::get(format!("http://{}/app/echo?x=1", proxy.http))
        .header("host", "www.example.test:8080")
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-secret", "hunter2")
        .header("x-tag", "client")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let r = c.send(req).await.unwrap();
    assert_eq!(r.status, 200);
    let echo = r.json();
    assert_eq!(echo["uri"], "/echo?x=1", "prefix stripped, query kept");
    assert_eq!(
        r.echoed_header("x-forwarded-for").unwrap(),
        "203.0.113.9, 127.0.0.1"
    );
    assert_eq!(r.echoed_header("x-forwarded-proto").unwrap(), "http");
    assert_eq!(
        r.echoed_header("x-forwarded-host").unwrap(),
        "www.example.test:8080"
    );
    assert_eq!(
        r.echoed_header("host").unwrap(),
        "www.example.test:8080",
        "Host is preserved"
    );
    assert_eq!(r.echoed_header("x-env").unwrap(), "test");
    assert_eq!(r.echoed_headers("x-tag"), vec!["client", "gatehouse"]);
    assert!(r.echoed_header("x-secret").is_none());
    let id = r.header("x-request-id").unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        r.echoed_header("x-request-id").unwrap(),
        id,
        "backend and client see the same id"
    );
    assert_eq!(r.header("x-frame-options").unwrap(), "DENY");
    assert_eq!(r.header("vary").as_deref(), Some("X-Env"), "response add");
    assert!(
        r.header("content-type").is_none(),
        "response remove of a header the backend sent"
    );

    // A valid incoming id is kept; an invalid one is replaced.
    for (incoming, kept) in [("req-abc.123", true), ("bad id with spaces", false)] {
        let req = http::Request::get(format!("http://{}/app/echo", proxy.http))
            .header("host", "www.example.test")
            .header("x-request-id", incoming)
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        let r = c.send(req).await.unwrap();
        let seen = r.echoed_header("x-request-id").unwrap();
        assert_eq!(seen == incoming, kept, "{incoming} -> {seen}");
        assert_eq!(r.header("x-request-id").unwrap(), seen);
    }
}
