//! Material for TLS towards backends: a CA bundle to verify them and a client certificate
//! for backends that require mTLS, loaded once per config generation, in the types Pingora's
//! connector takes; and that connector itself ([`transport_connector`]), which both traffic
//! and active health checks open backend connections with, so backend TLS is expressed once.

use super::certs::{parse_cert_chain, parse_key, CertError};
use pingora::connectors::{ConnectorOptions, TransportConnector};
use pingora::utils::tls::{CertKey, WrappedX509};
use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// Loaded backend-TLS files, in the types Pingora's connector takes.
pub struct UpstreamTlsMaterial {
    /// CA certificates to verify backends against (`None` = system roots).
    pub ca: Option<Arc<[WrappedX509]>>,
    /// Client certificate and key presented to backends.
    pub client: Option<Arc<CertKey>>,
    /// Hex SHA-256 of the files' contents, so reloads can tell whether anything changed.
    pub digest: String,
}

/// The connector every backend connection is opened with — by the forwarding engines and by
/// active health checks alike: one instance per process, so probes and traffic share it, not
/// just its code. Each peer carries its own TLS settings (SNI, verification, CA, client
/// certificate, ALPN, timeouts); the connector adds none of its own, and keeps no connections
/// (gatehouse pools them itself, see `forward::upstream`). Built on first use: it loads the
/// system's root certificates, the default trust for pools without `tls_ca_file`.
pub fn transport_connector() -> Arc<TransportConnector> {
    static SHARED: OnceLock<Arc<TransportConnector>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let mut options = ConnectorOptions::new(0);
            options.keepalive_pool_size = 0;
            Arc::new(TransportConnector::new(Some(options)))
        })
        .clone()
}

impl fmt::Debug for UpstreamTlsMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamTlsMaterial")
            .field("ca_certs", &self.ca.as_ref().map(|c| c.len()))
            .field("client_cert", &self.client.is_some())
            .field("digest", &self.digest)
            .finish()
    }
}

/// Loads the optional CA bundle and optional client pair.
///
/// # Errors
/// A [`CertError`] naming the file at fault.
pub fn load(
    ca_file: Option<&Path>,
    client: Option<(&Path, &Path)>,
) -> Result<UpstreamTlsMaterial, CertError> {
    let mut hashed: Vec<Vec<u8>> = Vec::new();
    let ca = match ca_file {
        Some(path) => {
            let pem = read(path)?;
            let chain = parse_cert_chain(path, &pem)?;
            hashed.push(pem);
            let wrapped: Vec<WrappedX509> = chain
                .into_iter()
                .map(|der| WrappedX509::new(der.as_ref().to_vec(), pingora::utils::tls::parse_x509))
                .collect();
            Some(Arc::from(wrapped.into_boxed_slice()))
        }
        None => None,
    };
    let client = match client {
        Some((cert_path, key_path)) => {
            // Load through the server-side checks too, so a mismatched pair is caught here.
            let loaded = super::certs::load_pair(cert_path, key_path)?;
            let cert_pem = read(cert_path)?;
            let key_pem = read(key_path)?;
            super::certs::check_key_permissions(key_path)?;
            let key = parse_key(key_path, &key_pem)?;
            hashed.push(cert_pem);
            hashed.push(key_pem);
            let chain: Vec<Vec<u8>> = loaded
                .certified
                .cert
                .iter()
                .map(|c| c.as_ref().to_vec())
                .collect();
            Some(Arc::new(CertKey::new(chain, key.secret_der().to_vec())))
        }
        None => None,
    };
    let parts: Vec<&[u8]> = hashed.iter().map(|v| v.as_slice()).collect();
    Ok(UpstreamTlsMaterial {
        ca,
        client,
        digest: super::sha256_hex(&parts),
    })
}

fn read(path: &Path) -> Result<Vec<u8>, CertError> {
    std::fs::read(path).map_err(|source| CertError::Read {
        path: path.to_path_buf(),
        source,
    })
}
