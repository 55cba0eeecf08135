//! Client certificates on listeners (required: TLS alert; optional: per-route 403), the
//! verified subject/SANs/fingerprint reaching the backend over HTTP/1 and HTTP/2 with spoofed
//! copies removed, and TLS profiles (a suite outside `modern` fails, the server's order wins).

use crate::support::tlsutil::{TestCa, TestCert};
use crate::support::{Reply, TestBackend, TestProxy};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::Arc;

fn client_config(
    ca: &TestCa,
    client: Option<&TestCert>,
    alpn: &[&[u8]],
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(ca.cert.der.clone()))
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(gatehouse::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match client {
        None => builder.with_no_client_auth(),
        Some(c) => builder
            .with_client_auth_cert(
                vec![rustls::pki_types::CertificateDer::from(c.der.clone())],
                rustls_pemfile::private_key(&mut c.key_pem.as_bytes())
                    .unwrap()
                    .unwrap(),
            )
            .unwrap(),
    };
    config.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
    Arc::new(config)
}

/// One GET over TLS with extra headers, HTTP/2 when ALPN picks it.
async fn get(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Reply, String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::try_from("www.example.test").unwrap();
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let mut req = http::Request::get(if h2 {
        format!("https://www.example.test{path}")
    } else {
        path.to_string()
    });
    if !h2 {
        req = req.header("host", "www.example.test");
    }
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let req = req.body(Full::new(Bytes::new())).unwrap();
    let io = TokioIo::new(tls);
    let resp = if h2 {
        let (mut s, c) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(c);
        s.send_request(req).await.map_err(|e| e.to_string())?
    } else {
        let (mut s, c) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(c);
        s.send_request(req).await.map_err(|e| e.to_string())?
    };
    let (p, b) = resp.into_parts();
    let body = b.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Reply {
        status: p.status.as_u16(),
        headers: p.headers,
        body,
        version: p.version,
    })
}

fn config(backend: &str, listener_extra: &str, routes: &str) -> String {
    format!(
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
client_ca = "clients-ca.pem"
{listener_extra}
{routes}
[pools.p]
backends = [{{ address = "{backend}" }}]
"#
    )
}

struct Pki {
    server_ca: TestCa,
    clients: TestCa,
    alice: TestCert,
    mallory: TestCert,
}

fn pki() -> Pki {
    let server_ca = TestCa::new("server CA");
    let clients = TestCa::new("clients CA");
    let other = TestCa::new("another CA");
    Pki {
        alice: clients.leaf(&["alice.example.test"]),
        mallory: other.leaf(&["alice.example.test"]),
        server_ca,
        clients,
    }
}

fn prepare(p: &Pki, dir: &std::path::Path) {
    p.server_ca.leaf(&["www.example.test"]).write(dir, "www");
    std::fs::write(dir.join("clients-ca.pem"), &p.clients.cert.cert_pem).unwrap();
}

#[tokio::test]
async fn required_client_certificates_pass_or_get_an_alert_and_spoofed_headers_are_removed() {
    let app = TestBackend::start("app").await;
    let p = pki();
    let proxy = TestProxy::start_with(
        &config(
            &app.addr.to_string(),
            "client_auth = \"required\"",
            "[routes.all]\npool = \"p\"",
        ),
        |d| prepare(&p, d),
    )
    .await;
    let spoof = [
        ("x-client-cert-subject", "CN=root"),
        ("X-Client-Cert-Fingerprint", "00"),
    ];
    for alpn in [&b"http/1.1"[..], b"h2"] {
        let r = get(
            proxy.https,
            client_config(&p.server_ca, Some(&p.alice), &[alpn]),
            "/echo",
            &spoof,
        )
        .await
        .unwrap();
        assert_eq!(r.status, 200);
        let subject = r.echoed_header("x-client-cert-subject").unwrap();
        assert_eq!(subject, "CN=alice.example.test", "over {alpn:?}");
        assert_eq!(
            r.echoed_header("x-client-cert-san").unwrap(),
            "DNS:alice.example.test"
        );
        let fp = gatehouse::tls::sha256_hex(&[&p.alice.der]);
        assert_eq!(r.echoed_header("x-client-cert-fingerprint").unwrap(), fp);
    }
    for (who, cert) in [("no certificate", None), ("another CA", Some(&p.mallory))] {
        let r = get(
            proxy.https,
            client_config(&p.server_ca, cert, &[b"http/1.1"]),
            "/echo",
            &[],
        )
        .await;
        assert!(r.is_err(), "{who}: refused by a TLS alert, got {r:?}");
    }
    let m = gatehouse::metrics::render();
    assert!(
        m.lines()
            .any(|l| l.starts_with("gatehouse_client_auth_failures_total")
                && l.contains("reason=\"invalid\"")),
        "{m}"
    );
}

#[tokio::test]
async fn optional_client_certificates_are_narrowed_per_route_with_a_clean_403() {
    let app = TestBackend::start("app").await;
    let p = pki();
    let routes = "[routes.admin]\npool = \"p\"\npath_prefix = \"/admin\"\nstrip_prefix = true\nclient_auth = \"required\"\n[routes.all]\npool = \"p\"";
    let listener =
        "client_auth = \"optional\"\nclient_cert_headers = { subject = \"x-ssl-subject\" }";
    let proxy = TestProxy::start_with(&config(&app.addr.to_string(), listener, routes), |d| {
        prepare(&p, d)
    })
    .await;
    let spoof = [("x-ssl-subject", "CN=root")];
    for alpn in [&b"http/1.1"[..], b"h2"] {
        for (who, cert) in [("no certificate", None), ("another CA", Some(&p.mallory))] {
            let c = client_config(&p.server_ca, cert, &[alpn]);
            let open = get(proxy.https, c.clone(), "/echo", &spoof).await.unwrap();
            assert_eq!(open.status, 200, "{who}");
            assert_eq!(
                open.echoed_header("x-ssl-subject"),
                None,
                "{who}: spoofed header removed"
            );
            let admin = get(proxy.https, c, "/admin/echo", &[]).await.unwrap();
            assert_eq!(admin.status, 403, "{who} over {alpn:?}");
        }
        let c = client_config(&p.server_ca, Some(&p.alice), &[alpn]);
        let admin = get(proxy.https, c, "/admin/echo", &spoof).await.unwrap();
        assert_eq!(admin.status, 200);
        assert_eq!(
            admin.echoed_header("x-ssl-subject").unwrap(),
            "CN=alice.example.test"
        );
    }
    let m = gatehouse::metrics::render();
    assert!(
        m.lines()
            .any(|l| l.starts_with("gatehouse_client_auth_failures_total")
                && l.contains("stage=\"request\"")),
        "{m}"
    );
    assert!(
        m.lines()
            .any(|l| l.starts_with("gatehouse_client_auth_failures_total")
                && l.contains("reason=\"untrusted\"")),
        "{m}"
    );
}

/// The negotiated version and suite of a handshake, or the error.
async fn handshake(
    addr: SocketAddr,
    config: rustls::ClientConfig,
) -> Result<(rustls::ProtocolVersion, rustls::CipherSuite), String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::try_from("www.example.test").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let c = tls.get_ref().1;
    Ok((
        c.protocol_version().unwrap(),
        c.negotiated_cipher_suite().unwrap().suite(),
    ))
}

fn client_with(
    ca: &TestCa,
    suites: Vec<rustls::SupportedCipherSuite>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(ca.cert.der.clone()))
        .unwrap();
    let provider = rustls::crypto::CryptoProvider {
        cipher_suites: suites,
        ..rustls::crypto::ring::default_provider()
    };
    rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

#[tokio::test]
async fn tls_profiles_modern_refuses_tls12_and_the_server_order_wins() {
    use rustls::crypto::ring::cipher_suite as cs;
    let app = TestBackend::start("app").await;
    let ca = TestCa::new("server CA");
    let template = format!(
        r#"
[admin]
address = "{{admin}}"
[listeners.modern]
address = "{{https}}"
protocol = "https"
tls_profile = "modern"
certificates = [{{ cert = "www.crt", key = "www.key" }}]
[listeners.intermediate]
address = "{{extra}}"
protocol = "https"
certificates = [{{ cert = "www.crt", key = "www.key" }}]
[routes.all]
pool = "p"
[pools.p]
backends = [{{ address = "{}" }}]
"#,
        app.addr
    );
    let proxy = TestProxy::start_with(&template, |d| {
        ca.leaf(&["www.example.test"]).write(d, "www");
    })
    .await;
    let tls12 = vec![
        cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ];
    let tls13 = vec![
        cs::TLS13_CHACHA20_POLY1305_SHA256,
        cs::TLS13_AES_128_GCM_SHA256,
    ];
    // A TLS 1.2 suite is outside `modern`: refused. TLS 1.3: accepted.
    let r = handshake(
        proxy.https,
        client_with(&ca, tls12.clone(), &[&rustls::version::TLS12]),
    )
    .await;
    assert!(r.is_err(), "modern must refuse TLS 1.2: {r:?}");
    let (v, _) = handshake(
        proxy.https,
        client_with(&ca, tls13.clone(), &[&rustls::version::TLS13]),
    )
    .await
    .unwrap();
    assert_eq!(v, rustls::ProtocolVersion::TLSv1_3);
    // `intermediate` (the default) takes TLS 1.2, and picks by its own order, not the
    // client's (which puts ChaCha20 first).
    let (v, suite) = handshake(
        proxy.extra,
        client_with(&ca, tls12, &[&rustls::version::TLS12]),
    )
    .await
    .unwrap();
    assert_eq!(v, rustls::ProtocolVersion::TLSv1_2);
    assert_eq!(
        suite,
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    );
    let (_, suite) = handshake(
        proxy.extra,
        client_with(&ca, tls13, &[&rustls::version::TLS13]),
    )
    .await
    .unwrap();
    assert_eq!(suite, rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
}
