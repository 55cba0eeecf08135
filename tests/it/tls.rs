//! TLS termination: versions, SNI, ALPN/h2, redirect, HSTS, live rotation, bad files, backend
//! TLS and mTLS. Certificates are made with rcgen at test time.

use crate::support::client::tls_get;
use crate::support::tlsutil::{
    insecure_client_config, server_config, unsupported_key_pem, TestCa, TestCert,
};
use crate::support::{bounded, eventually, Client, TestBackend, TestProxy, WAIT};
use gatehouse::reload::Trigger;
use std::path::Path;

const HOST_CERTS: &str = r#"certificates = [
  { cert = "www.crt", key = "www.key" },
  { cert = "wild.crt", key = "wild.key" },
  { cert = "default.crt", key = "default.key", default = true },
]"#;

fn tls_config(backend: &str, listener_extra: &str, unknown_sni: &str) -> String {
    format!(
        r#"
[server]
threads = 1
grace_period = "0s"
[reload]
debounce = "20ms"
[admin]
address = "{{admin}}"
[listeners.http]
address = "{{http}}"
[listeners.https]
address = "{{https}}"
protocol = "https"
unknown_sni = "{unknown_sni}"
{HOST_CERTS}
{listener_extra}
[routes.all]
pool = "p"
[pools.p]
backends = [{{ address = "{backend}" }}]
"#
    )
}

struct Certs {
    ca: TestCa,
    www: TestCert,
    wild: TestCert,
    default: TestCert,
}

fn certs() -> Certs {
    let ca = TestCa::new("gatehouse test CA");
    let www = ca.leaf(&["www.example.test"]);
    let wild = ca.leaf(&["*.example.test"]);
    let default = ca.leaf(&["default.test"]);
    Certs {
        ca,
        www,
        wild,
        default,
    }
}

fn write_certs(c: &Certs, dir: &Path) {
    c.www.write(dir, "www");
    c.wild.write(dir, "wild");
    c.default.write(dir, "default");
}

#[tokio::test]
async fn serves_tls13_and_tls12() {
    let app = TestBackend::start("app").await;
    let c = certs();
    let proxy = TestProxy::start_with(&tls_config(&app.addr.to_string(), "", "default"), |d| {
        write_certs(&c, d)
    })
    .await;
    for (version, expected) in [
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
    ] {
        let r = tls_get(
            proxy.https,
            Some("www.example.test"),
            "www.example.test",
            "/",
            c.ca.client_config_version(version),
        )
        .await
        .unwrap();
        assert_eq!(r.protocol, Some(expected));
        assert_eq!(r.reply.status, 200);
        assert_eq!(r.reply.backend(), "app");
    }
    let metrics = gatehouse::metrics::render();
    for v in ["TLSv1.2", "TLSv1.3"] {
        assert!(
            metrics.contains(&format!("version=\"{v}\"")),
            "handshake counter for {v}"
        );
    }
}

#[tokio::test]
async fn sni_picks_the_most_specific_certificate() {
    let app = TestBackend::start("app").await;
    let c = certs();
    let proxy = TestProxy::start_with(&tls_config(&app.addr.to_string(), "", "default"), |d| {
        write_certs(&c, d)
    })
    .await;
    let insecure = insecure_client_config(&[]);
    for (sni, expected) in [
        ("www.example.test", &c.www),
        ("api.example.test", &c.wild),
        ("deep.api.example.test", &c.default),
        ("other.test", &c.default),
    ] {
        let r = tls_get(proxy.https, Some(sni), sni, "/", insecure.clone())
            .await
            .unwrap();
        assert!(r.peer_cert == expected.der, "wrong certificate for {sni}");
    }
    // Verified end to end with the CA for the two names the certificates cover.
    for sni in ["www.example.test", "shop.example.test"] {
        let r = tls_get(proxy.https, Some(sni), sni, "/", c.ca.client_config(&[]))
            .await
            .unwrap();
        assert_eq!(r.reply.status, 200);
    }
}

#[tokio::test]
async fn clients_without_sni_get_the_default_or_are_refused() {
    let app = TestBackend::start("app").await;
    let c = certs();
    let serving = TestProxy::start_with(&tls_config(&app.addr.to_string(), "", "default"), |d| {
        write_certs(&c, d)
    })
    .await;
    let r = tls_get(
        serving.https,
        None,
        "default.test",
        "/",
        insecure_client_config(&[]),
    )
    .await
    .unwrap();
    assert!(r.peer_cert == c.default.der);
    assert_eq!(r.reply.status, 200);

    let strict = TestProxy::start_with(&tls_config(&app.addr.to_string(), "", "reject"), |d| {
        write_certs(&c, d)
    })
    .await;
    let err = tls_get(strict.https, None, "x", "/", insecure_client_config(&[]))
        .await
        .err()
        .expect("no-SNI refused");
    assert!(err.contains("TLS handshake"), "{err}");
    let err = tls_get(
        strict.https,
        Some("unknown.test"),
        "x",
        "/",
        insecure_client_config(&[]),
    )
    .await
    .err()
    .expect("unknown SNI refused");
    assert!(err.contains("TLS handshake"), "{err}");
    // Known names still work on the strict listener.
    let r = tls_get(
        strict.https,
        Some("www.example.test"),
        "www.example.test",
        "/",
        c.ca.client_config(&[]),
    )
    .await
    .unwrap();
    assert_eq!(r.reply.status, 200);
}

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

#[tokio::test]
async fn a_certificate_replaced_on_disk_is_served_to_new_connections_while_old_ones_keep_working() {
    let app = TestBackend::start("app").await;
    let c = certs();
    let proxy = TestProxy::start_with(&tls_config(&app.addr.to_string(), "", "default"), |d| {
        write_certs(&c, d)
    })
    .await;

    // An existing keep-alive connection, established with the old certificate.
    let tcp = tokio::net::TcpStream::connect(proxy.https).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("www.example.test").unwrap();
    let tls = tokio_rustls::TlsConnector::from(c.ca.client_config(&[]))
        .connect(name, tcp)
        .await
        .unwrap();
    assert!(tls.get_ref().1.peer_certificates().unwrap()[0].as_ref() == c.www.der.as_slice());
    let (mut old, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let get = || {
        http::Request::get("/")
            .header("host", "www.example.test")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap()
    };
    assert_eq!(old.send_request(get()).await.unwrap().status(), 200);

    // Rotate: write the new pair next to the old and rename over it (how tools deploy certs).
    let rotated = c.ca.leaf(&["www.example.test"]);
    let mut generations = proxy.state.subscribe();
    let before = *generations.borrow();
    let dir = proxy.dir.path();
    rotated.write(dir, "www-new");
    std::fs::rename(dir.join("www-new.key"), dir.join("www.key")).unwrap();
    std::fs::rename(dir.join("www-new.crt"), dir.join("www.crt")).unwrap();
    bounded(
        "reload after the certificate changed on disk",
        generations.wait_for(|g| *g > before),
    )
    .await
    .unwrap();

    let r = tls_get(
        proxy.https,
        Some("www.example.test"),
        "www.example.test",
        "/",
        c.ca.client_config(&[]),
    )
    .await
    .unwrap();
    assert!(
        r.peer_cert == rotated.der,
        "new connections get the new certificate"
    );
    assert_eq!(
        old.send_request(get()).await.unwrap().status(),
        200,
        "the old connection keeps working"
    );
}

#[tokio::test]
async fn bad_certificate_files_are_refused_and_the_old_certificate_keeps_serving() {
    let app = TestBackend::start("app").await;
    let c = certs();
    let proxy = TestProxy::start_with(&tls_config(&app.addr.to_string(), "", "default"), |d| {
        write_certs(&c, d)
    })
    .await;
    let dir = proxy.dir.path().to_path_buf();
    let good_crt = std::fs::read(dir.join("www.crt")).unwrap();
    let good_key = std::fs::read(dir.join("www.key")).unwrap();
    let other = c.ca.leaf(&["www.example.test"]);
    let expired =
        c.ca.leaf_valid(&["www.example.test"], (2020, 1, 1), (2021, 1, 1));
    let wrong_order = format!("{}{}", c.ca.cert.cert_pem, other.cert_pem);
    type Case<'a> = (&'a str, Option<Vec<u8>>, Option<Vec<u8>>, &'a str);
    let cases: Vec<Case<'_>> = vec![
        ("missing file", None, Some(good_key.clone()), "cannot read"),
        (
            "no certificate",
            Some(b"not a certificate\n".to_vec()),
            Some(good_key.clone()),
            "no PEM certificate found",
        ),
        (
            "key mismatch",
            Some(other.cert_pem.clone().into_bytes()),
            Some(good_key.clone()),
            "does not match certificate",
        ),
        (
            "unsupported key",
            Some(good_crt.clone()),
            Some(unsupported_key_pem().into_bytes()),
            "unsupported private key type",
        ),
        (
            "chain out of order",
            Some(wrong_order.into_bytes()),
            Some(other.key_pem.clone().into_bytes()),
            "chain out of order",
        ),
        (
            "expired",
            Some(expired.cert_pem.clone().into_bytes()),
            Some(expired.key_pem.clone().into_bytes()),
            "refusing to add an expired certificate",
        ),
    ];
    for (what, crt, key, message) in cases {
        match &crt {
            Some(bytes) => std::fs::write(dir.join("www.crt"), bytes).unwrap(),
            None => std::fs::remove_file(dir.join("www.crt")).unwrap(),
        }
        if let Some(k) = &key {
            std::fs::write(dir.join("www.key"), k).unwrap();
        }
        let generation = proxy.generation();
        let r = proxy.reloader.clone();
        let err = tokio::task::spawn_blocking(move || r.reload(Trigger::Api))
            .await
            .unwrap()
            .err();
        let err = err.unwrap_or_else(|| panic!("{what}: reload should be refused"));
        let text = err.issues().join("\n");
        assert!(text.contains(message), "{what}: {text}");
        let key_path = if matches!(what, "unsupported key") {
            "certificates[0].key"
        } else {
            "certificates[0]."
        };
        assert!(
            text.contains(&format!("listeners.https.{key_path}")),
            "{what}: error names the config key: {text}"
        );
        assert_eq!(proxy.generation(), generation, "{what}: old config kept");
        let r = tls_get(
            proxy.https,
            Some("www.example.test"),
            "www.example.test",
            "/",
            c.ca.client_config(&[]),
        )
        .await
        .unwrap();
        assert!(
            r.peer_cert == c.www.der,
            "{what}: old certificate still served"
        );
        // restore for the next case
        std::fs::write(dir.join("www.crt"), &good_crt).unwrap();
        std::fs::write(dir.join("www.key"), &good_key).unwrap();
    }
}

fn backend_tls_config(backend: &str, pool_tls: &str) -> String {
    format!(
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
tls = true
tls_sni = "backend.internal"
{pool_tls}
passive = {{ connect_failures = 0 }}
backends = [{{ address = "{backend}" }}]
"#
    )
}

#[tokio::test]
async fn backend_tls_is_verified_against_the_configured_ca() {
    let backend_ca = TestCa::new("backend CA");
    let rogue_ca = TestCa::new("rogue CA");
    let leaf = backend_ca.leaf(&["backend.internal"]);
    let app = TestBackend::start_tls("secure-app", server_config(&leaf, None)).await;
    let write_cas = |d: &Path| {
        std::fs::write(d.join("backend-ca.pem"), &backend_ca.cert.cert_pem).unwrap();
        std::fs::write(d.join("rogue-ca.pem"), &rogue_ca.cert.cert_pem).unwrap();
    };
    let trusted = TestProxy::start_with(
        &backend_tls_config(&app.addr.to_string(), r#"tls_ca_file = "backend-ca.pem""#),
        write_cas,
    )
    .await;
    let r = Client::new().get(trusted.http, "x.test", "/echo").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.backend(), "secure-app");

    let untrusted = TestProxy::start_with(
        &backend_tls_config(&app.addr.to_string(), r#"tls_ca_file = "rogue-ca.pem""#),
        write_cas,
    )
    .await;
    let r = Client::new().get(untrusted.http, "x.test", "/").await;
    assert_eq!(
        r.status, 502,
        "a backend that fails verification is an upstream error"
    );
    // No CA file: the system roots, which do not include this private CA.
    let system_roots = TestProxy::start(&backend_tls_config(&app.addr.to_string(), "")).await;
    let r = Client::new().get(system_roots.http, "x.test", "/").await;
    assert_eq!(r.status, 502, "a private CA is not trusted by default");

    // Active checks of a TLS pool speak TLS, verified like requests: up with the right CA,
    // down with the wrong one.
    let with_checks = |ca: &str| {
        backend_tls_config(
            &app.addr.to_string(),
            &format!(
                "tls_ca_file = \"{ca}\"\nhealth_check = {{ type = \"http\", path = \"/healthz\", interval = \"30ms\", rise = 1, fall = 1 }}"
            ),
        )
    };
    for (ca, want) in [("backend-ca.pem", "up"), ("rogue-ca.pem", "down")] {
        let proxy = TestProxy::start_with(&with_checks(ca), write_cas).await;
        let v = eventually(&format!("checked over TLS with {ca}"), WAIT, || async {
            let v = proxy.state.load().pools[0].backends[0].state.view();
            (v.state == want).then_some(v)
        })
        .await;
        if want == "down" {
            assert!(v.last_check.as_ref().is_some_and(|c| !c.ok), "{v:?}");
        }
    }
}

#[tokio::test]
async fn mtls_to_a_backend_that_requires_it() {
    let backend_ca = TestCa::new("backend CA");
    let client_ca = TestCa::new("client CA");
    let leaf = backend_ca.leaf(&["backend.internal"]);
    let client_cert = client_ca.leaf(&["gatehouse.client"]);
    let app = TestBackend::start_tls("mtls-app", server_config(&leaf, Some(&client_ca))).await;
    let prepare = |d: &Path| {
        std::fs::write(d.join("backend-ca.pem"), &backend_ca.cert.cert_pem).unwrap();
        client_cert.write(d, "client");
    };
    let with_cert = TestProxy::start_with(
        &backend_tls_config(
            &app.addr.to_string(),
            r#"tls_ca_file = "backend-ca.pem"
tls_client_cert = "client.crt"
tls_client_key = "client.key""#,
        ),
        prepare,
    )
    .await;
    let r = Client::new().get(with_cert.http, "x.test", "/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.backend(), "mtls-app");

    let without = TestProxy::start_with(
        &backend_tls_config(&app.addr.to_string(), r#"tls_ca_file = "backend-ca.pem""#),
        prepare,
    )
    .await;
    let r = Client::new().get(without.http, "x.test", "/").await;
    assert_eq!(
        r.status, 502,
        "the backend refuses a client without a certificate"
    );
}
