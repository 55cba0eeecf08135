//! A TLS connection over loopback for the library's tests: rustls on the client side,
//! Pingora's TLS stream (as the listeners make it) on the server side.

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::sync::Arc;

/// What rustls keeps for reading records (`prepare_read` sizes it to 4 KiB), which an idle
/// connection gives back (vendor/rustls/PATCHES.md).
pub(crate) const RECORD_BUFFER: i64 = 4096;

/// A server config for `idle.test` and a client config that trusts it.
pub(crate) fn configs() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["idle.test".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let der: CertificateDer<'static> = cert.der().clone();
    let server = rustls::ServerConfig::builder_with_provider(super::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![der.clone()],
            PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(super::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

/// The name the certificate is for.
pub(crate) fn idle_test() -> ServerName<'static> {
    ServerName::try_from("idle.test").unwrap()
}

/// A client and a server stream, handshake done, over a loopback TCP connection.
pub(crate) async fn connected() -> (
    tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    pingora::protocols::tls::TlsStream<pingora::protocols::l4::stream::Stream>,
) {
    let (server_config, client_config) = configs();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connector = tokio_rustls::TlsConnector::from(client_config);
    let acceptor = pingora::listeners::tls::Acceptor::from_server_config(server_config);
    tokio::join!(
        async {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            connector.connect(idle_test(), tcp).await.unwrap()
        },
        async {
            let (tcp, _) = listener.accept().await.unwrap();
            let l4 = pingora::protocols::l4::stream::Stream::from(tcp);
            acceptor.tls_handshake(l4).await.unwrap()
        }
    )
}
