//! Redirects to HTTPS and exact HSTS, on proxied answers and on gatehouse's own.

use super::{certs, write_certs, HOST_CERTS};
use crate::support::client::tls_get;
use crate::support::{Client, TestBackend, TestProxy};

#[tokio::test]
async fn redirects_to_https_and_sends_exact_hsts() {
    let app = TestBackend::start("app").await;
    let c = certs();
    let template = format!(
        r#"
[server]
threads = 1
grace_period = "0s"
[admin]
address = "{{admin}}"
[listeners.http]
address = "{{http}}"
redirect_https = true
[listeners.plain]
address = "{{extra}}"
[listeners.https]
address = "{{https}}"
protocol = "https"
hsts = {{ max_age = "365d", include_subdomains = true, preload = true }}
{HOST_CERTS}
[routes.all]
pool = "p"
[routes.secure-only]
hosts = ["secure.example.test"]
redirect_https = true
pool = "p"
[routes.own-hsts]
hosts = ["hsts.example.test"]
hsts = {{ max_age = "1d" }}
pool = "p"
[pools.p]
backends = [{{ address = "{app}" }}]
"#,
        app = app.addr
    );
    let proxy = TestProxy::start_with(&template, |d| write_certs(&c, d)).await;
    let client = Client::no_keepalive();
    let r = client
        .get(proxy.http, "www.example.test:8080", "/a/b?x=1&y=2")
        .await;
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location").unwrap(),
        format!(
            "https://www.example.test:{}/a/b?x=1&y=2",
            proxy.https.port()
        )
    );
    let post = http::Request::post(format!("http://{}/form", proxy.http))
        .header("host", "www.example.test")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(b"a=1")))
        .unwrap();
    let r = client.send(post).await.unwrap();
    assert_eq!(r.status, 308, "non-GET keeps method and body");
    assert_eq!(
        r.header("location").unwrap(),
        format!("https://www.example.test:{}/form", proxy.https.port())
    );
    let head = http::Request::head(format!("http://{}/h", proxy.http))
        .header("host", "www.example.test")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    assert_eq!(client.send(head).await.unwrap().status, 301);

    // Route-level redirect on a listener that otherwise serves cleartext; no HSTS over http.
    let plain = proxy
        .state
        .load()
        .config
        .listeners
        .iter()
        .find(|l| l.name == "plain")
        .unwrap()
        .address;
    let r = client.get(plain, "secure.example.test", "/p").await;
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location").unwrap(),
        format!("https://secure.example.test:{}/p", proxy.https.port())
    );
    let r = client.get(plain, "www.example.test", "/").await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("strict-transport-security").is_none(),
        "HSTS only over HTTPS"
    );
    // A route with its own HSTS, reached over cleartext: still none (and its value over TLS).
    let r = client.get(plain, "hsts.example.test", "/").await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("strict-transport-security").is_none(),
        "a route's HSTS is not sent over http"
    );
    let r = tls_get(
        proxy.https,
        Some("www.example.test"),
        "hsts.example.test",
        "/",
        c.ca.client_config(&[]),
    )
    .await
    .unwrap();
    assert_eq!(
        r.reply.header("strict-transport-security").as_deref(),
        Some("max-age=86400")
    );

    let r = tls_get(
        proxy.https,
        Some("www.example.test"),
        "www.example.test",
        "/",
        c.ca.client_config(&[]),
    )
    .await
    .unwrap();
    assert_eq!(r.reply.status, 200);
    assert_eq!(
        r.reply.header("strict-transport-security").unwrap(),
        "max-age=31536000; includeSubDomains; preload"
    );
}

/// Answers gatehouse writes itself over TLS carry HSTS like proxied ones: the matched route's
/// value if it has one, else the listener's — 404, 403, 413, 429, 502, 503 and the request
/// gate's refusals.
#[tokio::test]
async fn gatehouse_s_own_answers_over_tls_carry_hsts() {
    use crate::support::client::tls_raw;
    let app = TestBackend::start("app").await;
    let dead_port = crate::support::RefusingPort::new();
    let dead = dead_port.addr.to_string();
    let c = certs();
    let template = format!(
        r#"
[server]
threads = 1
grace_period = "0s"
[admin]
address = "{{admin}}"
[listeners.https]
address = "{{https}}"
protocol = "https"
hsts = {{ max_age = "100s" }}
{HOST_CERTS}
[routes.denied]
hosts = ["denied.example.test"]
deny = ["127.0.0.0/8"]
hsts = {{ max_age = "200s" }}
pool = "p"
[routes.limited]
hosts = ["limited.example.test"]
rate_limit = {{ requests_per_second = 0.001, burst = 1 }}
hsts = {{ max_age = "300s" }}
pool = "p"
[routes.small]
hosts = ["small.example.test"]
max_body_size = 1
hsts = {{ max_age = "400s" }}
pool = "p"
[routes.dead]
hosts = ["dead.example.test"]
hsts = {{ max_age = "500s" }}
pool = "dead"
[routes.dead-plain]
hosts = ["dead-plain.example.test"]
pool = "dead"
[routes.drained]
hosts = ["drained.example.test"]
hsts = {{ max_age = "600s" }}
pool = "drained"
[routes.ok]
hosts = ["ok.example.test"]
hsts = {{ max_age = "700s" }}
pool = "p"
[pools.p]
backends = [{{ address = "{app}" }}]
[pools.dead]
max_retries = 0
backends = [{{ address = "{dead}" }}]
[pools.drained]
backends = [{{ address = "{app}", drain = true }}]
"#,
        app = app.addr
    );
    let proxy = TestProxy::start_with(&template, |d| write_certs(&c, d)).await;
    let ask = |host: &str, extra: &str| {
        let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n");
        let config = c.ca.client_config(&[]);
        let addr = proxy.https;
        async move {
            let text = tls_raw(addr, "www.example.test", request.as_bytes(), config)
                .await
                .unwrap();
            let status: u16 = text
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("no status in {text:?}"));
            let hsts = text
                .split("\r\n\r\n")
                .next()
                .unwrap()
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("strict-transport-security")
                        .then(|| value.trim().to_string())
                });
            (status, hsts)
        }
    };
    let hsts = |secs: u32| Some(format!("max-age={secs}"));
    // A proxied answer, for reference.
    assert_eq!(ask("ok.example.test", "").await, (200, hsts(700)));
    // No route: the listener's.
    assert_eq!(ask("nowhere.example.test", "").await, (404, hsts(100)));
    // Refused by the route's rules: the route's.
    assert_eq!(ask("denied.example.test", "").await, (403, hsts(200)));
    assert_eq!(ask("limited.example.test", "").await, (200, hsts(300)));
    assert_eq!(ask("limited.example.test", "").await, (429, hsts(300)));
    assert_eq!(
        ask("small.example.test", "Content-Length: 5\r\n").await,
        (413, hsts(400))
    );
    // Error pages: the route's, else the listener's.
    assert_eq!(ask("dead.example.test", "").await, (502, hsts(500)));
    assert_eq!(ask("dead-plain.example.test", "").await, (502, hsts(100)));
    assert_eq!(ask("drained.example.test", "").await, (503, hsts(600)));
    // Refused by the request gate, before any routing: the listener's.
    assert_eq!(
        ask("ok.example.test", "Host: other.example.test\r\n").await,
        (400, hsts(100))
    );
}
