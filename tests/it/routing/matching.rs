//! Route matching: by host then longest path prefix; method, header, query, exact, regex and
//! client matches; no route is a small 404 without internals.

use super::base;
use crate::support::{Client, TestBackend, TestProxy};

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
