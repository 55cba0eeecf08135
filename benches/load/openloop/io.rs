//! Where the generator connects and how: plain TCP or TLS (ALPN `h2` or `http/1.1`).

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A connection, plain or TLS, behind one type so that each protocol loop is written once.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The server under load, from the URL on the command line.
pub(crate) struct Target {
    /// `host:port`, what TCP connects to and HTTP/1.1's `Host`.
    pub(crate) authority: String,
    /// The whole URL, HTTP/2's `:scheme`, `:authority` and `:path`.
    pub(crate) uri: http::Uri,
    /// The path and query, HTTP/1.1's request target.
    pub(crate) path: String,
    /// `None` for `http://`.
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
}

impl Target {
    /// Parses `http://host:port/path` or `https://…`; `h2` picks the ALPN offered over TLS.
    pub(crate) fn parse(url: &str, h2: bool) -> Result<Self, String> {
        let uri: http::Uri = url.parse().map_err(|e| format!("bad URL {url:?}: {e}"))?;
        let secure = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(format!("only http:// and https:// URLs, not {url:?}")),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("no host in {url:?}"))?;
        let port = authority
            .port_u16()
            .unwrap_or(if secure { 443 } else { 80 });
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let tls = if secure {
            let name = ServerName::try_from(host.to_string())
                .map_err(|e| format!("bad server name {host:?}: {e}"))?;
            Some((tls_connector(h2)?, name))
        } else {
            None
        };
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        Ok(Self {
            authority: format!("{}:{port}", authority.host()),
            uri,
            path,
            tls,
        })
    }

    /// Opens one connection (TCP, no Nagle, then the TLS handshake if `https://`).
    pub(crate) async fn connect(&self) -> Option<Box<dyn Io>> {
        let tcp = TcpStream::connect(&self.authority).await.ok()?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => Some(Box::new(tcp)),
            Some((connector, name)) => {
                let tls = connector.connect(name.clone(), tcp).await.ok()?;
                Some(Box::new(tls))
            }
        }
    }
}

fn tls_connector(h2: bool) -> Result<tokio_rustls::TlsConnector, String> {
    let provider = gatehouse::tls::provider();
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![if h2 {
        b"h2".to_vec()
    } else {
        b"http/1.1".to_vec()
    }];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// Accepts any server certificate (the kit's is self-signed and made per run) but still checks
/// the handshake signatures, so the server pays for a real handshake.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
