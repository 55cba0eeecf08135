//! TLS sessions resume (TLS 1.3 tickets and TLS 1.2) on the second connection.

use crate::support::{TestBackend, TestProxy};

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
