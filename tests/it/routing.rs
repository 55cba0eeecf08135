//! Host and path routing, forwarding headers, request ids, header rules, prefix stripping.

use crate::support::{Client, TestBackend, TestProxy};

fn base(extra: &str) -> String {
    format!(
        r#"
[server]
threads = 1
grace_period = "0s"
[admin]
address = "{{admin}}"
[listeners.http]
address = "{{http}}"
{extra}
"#
    )
}

#[tokio::test]
async fn routes_by_host_then_longest_path_prefix() {
    let www = TestBackend::start("www").await;
    let admin = TestBackend::start("admin").await;
    let api = TestBackend::start("api").await;
    let default = TestBackend::start("default").await;
    let proxy = TestProxy::start(&base(&format!(
        r#"
[routes.www]
hosts = ["www.example.test"]
pool = "www"
[routes.www-admin]
hosts = ["www.example.test"]
path_prefix = "/admin"
pool = "admin"
[routes.admin]
hosts = ["admin.example.test"]
pool = "admin"
[routes.api]
hosts = ["*.api.test"]
path_prefix = "/v1"
pool = "api"
[routes.default]
pool = "default"
[pools.www]
backends = [{{ address = "{www}" }}]
[pools.admin]
backends = [{{ address = "{admin}" }}]
[pools.api]
backends = [{{ address = "{api}" }}]
[pools.default]
backends = [{{ address = "{default}" }}]
"#,
        www = www.addr,
        admin = admin.addr,
        api = api.addr,
        default = default.addr
    )))
    .await;
    let c = Client::new();
    let cases = [
        ("www.example.test", "/", "www"),
        ("WWW.Example.Test:8080", "/page", "www"),
        ("www.example.test", "/admin", "admin"),
        ("www.example.test", "/admin/users?id=1", "admin"),
        ("www.example.test", "/administrator", "www"),
        ("admin.example.test", "/anything", "admin"),
        ("eu.api.test", "/v1/items", "api"),
        ("eu.api.test", "/v2/items", "default"),
        ("other.test", "/", "default"),
        ("127.0.0.1", "/", "default"),
    ];
    for (host, path, expected) in cases {
        let r = c.get(proxy.http, host, path).await;
        assert_eq!(r.backend(), expected, "{host}{path}");
    }
}

#[tokio::test]
async fn no_route_is_a_small_404_without_internals() {
    let a = TestBackend::start("a").await;
    let proxy = TestProxy::start(&base(&format!(
        r#"
[routes.only]
hosts = ["only.test"]
pool = "p"
[pools.p]
backends = [{{ address = "{a}" }}]
"#,
        a = a.addr
    )))
    .await;
    let c = Client::new();
    let r = c.get(proxy.http, "elsewhere.test", "/").await;
    assert_eq!(r.status, 404);
    let body = r.text();
    assert!(body.starts_with("404 Not Found"), "{body}");
    assert!(body.len() < 120, "{body}");
    let id = r.header("x-request-id").expect("request id on errors");
    assert!(body.contains(&id));
    assert!(
        !body.contains("127.0.0.1") && !body.to_lowercase().contains("pingora"),
        "{body}"
    );
    // The connection stays usable after a 404.
    assert_eq!(c.get(proxy.http, "only.test", "/").await.status, 200);
}

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

/// Method, path and query, headers, expected backend.
type Case = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
);

/// Every match beyond host and prefix, each with a request that matches it and one that does
/// not (and so falls through to the plain route), over HTTP/1.1 and HTTP/2.
#[tokio::test]
async fn method_header_query_exact_regex_and_client_matches() {
    let names = [
        "plain", "post", "beta", "curl", "debug", "v2", "exact", "regex", "local", "office",
    ];
    let mut backends = Vec::new();
    for n in names {
        backends.push(TestBackend::start(n).await);
    }
    let mut text = String::from(
        r#"
[routes.plain]
pool = "plain"
[routes.post]
path_prefix = "/m"
methods = ["POST", "put"]
pool = "post"
[routes.beta]
path_prefix = "/h"
match_headers = [{ name = "X-Env", value = "beta" }]
pool = "beta"
[routes.curl]
path_prefix = "/h"
match_headers = [{ name = "user-agent", regex = "^curl/[0-9]" }]
pool = "curl"
[routes.debug]
path_prefix = "/h"
match_headers = [{ name = "x-debug" }]
pool = "debug"
[routes.v2]
path_prefix = "/q"
match_query = [{ name = "v", value = "2" }]
pool = "v2"
[routes.exact]
path_exact = "/e"
pool = "exact"
[routes.regex]
path_regex = "^/users/[0-9]+/?$"
pool = "regex"
[routes.local]
path_prefix = "/c"
match_client = ["127.0.0.0/8"]
pool = "local"
[routes.office]
path_prefix = "/o"
match_client = ["10.0.0.0/8"]
pool = "office"
"#,
    );
    for (n, b) in names.iter().zip(&backends) {
        text.push_str(&format!(
            "[pools.{n}]\nbackends = [{{ address = \"{}\" }}]\n",
            b.addr
        ));
    }
    let proxy = TestProxy::start(&base(&format!("h2c = true\n{text}"))).await;
    let c = Client::new();
    let send = |method: &str, path: &str, headers: &[(&str, &str)]| {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", proxy.http))
            .header("host", "any.test");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        let c = c.clone();
        async move { c.send(req).await.unwrap().backend() }
    };
    let cases: [Case; 16] = [
        ("POST", "/m", &[], "post"),
        ("PUT", "/m/x", &[], "post"),
        ("GET", "/m", &[], "plain"),
        ("GET", "/h", &[("x-env", "beta")], "beta"),
        ("GET", "/h", &[("x-env", "prod")], "plain"),
        ("GET", "/h", &[("user-agent", "curl/8.5")], "curl"),
        ("GET", "/h", &[("user-agent", "Mozilla/5.0")], "plain"),
        ("GET", "/h", &[("x-debug", "1")], "debug"),
        ("GET", "/q?a=1&v=2", &[], "v2"),
        ("GET", "/q?v=3", &[], "plain"),
        ("GET", "/e", &[], "exact"),
        ("GET", "/e/x", &[], "plain"),
        ("GET", "/users/42", &[], "regex"),
        ("GET", "/users/me", &[], "plain"),
        ("GET", "/c", &[], "local"),
        ("GET", "/o", &[], "plain"),
    ];
    for (method, path, headers, want) in cases {
        assert_eq!(
            send(method, path, headers).await,
            want,
            "{method} {path} {headers:?}"
        );
    }
    // The HTTP/2 engine routes by the same rules.
    let tcp = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    let (mut h2, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    for (method, path, headers, want) in cases {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("http://any.test{path}"));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        let r = crate::support::bounded("h2", h2.send_request(req))
            .await
            .unwrap();
        assert_eq!(
            r.headers()["x-backend"],
            want,
            "h2 {method} {path} {headers:?}"
        );
    }
    // /status shows each route's rules.
    let status = c.get(proxy.admin, "admin", "/status").await.json();
    let routes = status["routes"].as_array().unwrap();
    let regex = routes.iter().find(|r| r["name"] == "regex").unwrap();
    assert_eq!(regex["matches"], "path_regex \"^/users/[0-9]+/?$\"");
    let curl = routes.iter().find(|r| r["name"] == "curl").unwrap();
    assert_eq!(
        curl["matches"],
        "path_prefix \"/h\"; header user-agent~\"^curl/[0-9]\""
    );
}

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

/// A route's timeouts and retries override its pool's: a short read timeout cuts a slow
/// response on that route only; `max_retries = 0` gives up on a dead backend where the pool's
/// default retries on the live one.
#[tokio::test]
async fn per_route_timeouts_and_retries_override_the_pool() {
    let app = TestBackend::start("app").await;
    let dead = crate::support::RefusingPort::new();
    let proxy = TestProxy::start(&base(&format!(
        r#"h2c = true
[routes.slow-ok]
pool = "app"
[routes.impatient]
path_prefix = "/delay"
timeouts = {{ read = "200ms" }}
pool = "app"
[routes.flaky]
hosts = ["flaky.test"]
pool = "flaky"
[routes.no-retry]
hosts = ["flaky.test"]
path_prefix = "/once"
max_retries = 0
pool = "flaky"
[pools.app]
timeouts = {{ read = "5s" }}
backends = [{{ address = "{app}" }}]
[pools.flaky]
passive = {{ connect_failures = 0 }}
backends = [{{ address = "{dead}" }}, {{ address = "{app}" }}]
"#,
        app = app.addr,
        dead = dead.addr
    )))
    .await;
    let c = Client::new();
    assert_eq!(
        c.get(proxy.http, "any.test", "/delay/1000").await.status,
        504
    );
    let r = c.get(proxy.http, "any.test", "/status/200").await;
    assert_eq!(r.status, 200, "other paths keep the pool's timeout");
    // Round robin alternates dead and live: with retries every request succeeds...
    for _ in 0..4 {
        assert_eq!(c.get(proxy.http, "flaky.test", "/").await.status, 200);
    }
    // ...without, the ones that land on the dead backend fail.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(c.get(proxy.http, "flaky.test", "/once").await.status);
    }
    assert!(statuses.contains(&502), "{statuses:?}");
    assert!(
        statuses.contains(&404),
        "the live backend answers /once: {statuses:?}"
    );
}
