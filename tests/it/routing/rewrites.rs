//! Path rewrites, redirects and fixed responses.

use super::base;
use crate::support::{Client, TestBackend, TestProxy};

/// Path rewrite with captures, host rewrite, redirect rules with captures and the query, a
/// fixed response; each with a request it does not apply to. HTTP/1.1 and HTTP/2.
#[tokio::test]
async fn rewrites_redirects_and_fixed_responses() {
    let app = TestBackend::start("app").await;
    let proxy = TestProxy::start(&base(&format!(
        r#"h2c = true
[routes.plain]
pool = "app"
[routes.v1]
path_regex = "^/v1/(?P<rest>.*)$"
path_rewrite = "/echo/v2/${{rest}}"
host_rewrite = "backend.internal:8080"
pool = "app"
[routes.old]
path_regex = "^/old/([a-z]+)$"
redirect = {{ to = "https://new.example.test/new/${{1}}/", status = 308 }}
pool = "app"
[routes.canonical]
hosts = ["example.test"]
path_regex = "^(.*)$"
redirect = {{ to = "https://www.example.test$1" }}
pool = "app"
[routes.maintenance]
path_prefix = "/shop"
respond = {{ status = 503, body = "<h1>Back soon</h1>", content_type = "text/html" }}
pool = "app"
[pools.app]
backends = [{{ address = "{}" }}]
"#,
        app.addr
    )))
    .await;
    let c = Client::new();
    // Path and host rewrite: the backend sees /echo/v2/items/7 and Host backend.internal.
    let r = c.get(proxy.http, "any.test", "/v1/items/7?x=1").await;
    assert_eq!(r.json()["path"], "/echo/v2/items/7");
    assert_eq!(r.json()["uri"], "/echo/v2/items/7?x=1");
    assert_eq!(
        r.echoed_header("host").as_deref(),
        Some("backend.internal:8080")
    );
    assert_eq!(
        r.echoed_header("x-forwarded-host").as_deref(),
        Some("any.test")
    );
    let r = c.get(proxy.http, "any.test", "/echo/v1/x").await;
    assert_eq!(r.json()["path"], "/echo/v1/x", "no rewrite elsewhere");
    assert_eq!(r.echoed_header("host").as_deref(), Some("any.test"));
    // Redirect with captures, query kept.
    let r = c.get(proxy.http, "any.test", "/old/page?a=1").await;
    assert_eq!(r.status, 308);
    assert_eq!(
        r.header("location").as_deref(),
        Some("https://new.example.test/new/page/?a=1")
    );
    assert_eq!(
        c.get(proxy.http, "any.test", "/old/page/x").await.status,
        404
    );
    // Canonical host.
    let r = c.get(proxy.http, "example.test", "/a/b").await;
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location").as_deref(),
        Some("https://www.example.test/a/b")
    );
    // Fixed response.
    let r = c.get(proxy.http, "any.test", "/shop/cart").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.text(), "<h1>Back soon</h1>");
    assert_eq!(r.header("content-type").as_deref(), Some("text/html"));
    assert_eq!(r.headers.get_all("content-type").iter().count(), 1);
    assert_eq!(c.get(proxy.http, "any.test", "/shopping").await.status, 404);
    // The HTTP/2 engine applies the same actions.
    let tcp = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    let (mut h2, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let mut send = |uri: &str| {
        let req = http::Request::get(uri)
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        h2.send_request(req)
    };
    let r = crate::support::bounded("h2", send("http://any.test/old/page"))
        .await
        .unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(
        r.headers()["location"],
        "https://new.example.test/new/page/"
    );
    let r = crate::support::bounded("h2", send("http://any.test/shop"))
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["content-type"], "text/html");
    let r = crate::support::bounded("h2", send("http://any.test/v1/z"))
        .await
        .unwrap();
    let body = http_body_util::BodyExt::collect(r.into_body())
        .await
        .unwrap()
        .to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["path"], "/echo/v2/z");
}
