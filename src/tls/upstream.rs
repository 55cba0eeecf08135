//! Material for TLS towards backends: a CA bundle to verify them and a client certificate
//! for backends that require mTLS, loaded once per config generation.

use super::certs::{parse_cert_chain, parse_key, CertError};
use pingora::utils::tls::{CertKey, WrappedX509};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// Loaded backend-TLS files, in the types Pingora's connector takes.
pub struct UpstreamTlsMaterial {
    /// CA certificates to verify backends against (`None` = system roots).
    pub ca: Option<Arc<[WrappedX509]>>,
    /// Client certificate and key presented to backends.
    pub client: Option<Arc<CertKey>>,
    /// Hex SHA-256 of the files' contents, so reloads can tell whether anything changed.
    pub digest: String,
    /// The same material as a rustls client config (verifying), for active health checks.
    pub client_config: Arc<rustls::ClientConfig>,
    /// A non-verifying variant, for pools with `tls_verify = false`.
    pub client_config_no_verify: Arc<rustls::ClientConfig>,
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
    let client_config = build_client_config(ca.as_deref(), client.as_deref(), true)?;
    let client_config_no_verify = build_client_config(ca.as_deref(), client.as_deref(), false)?;
    Ok(UpstreamTlsMaterial {
        ca,
        client,
        digest: super::sha256_hex(&parts),
        client_config,
        client_config_no_verify,
    })
}

fn build_client_config(
    ca: Option<&[WrappedX509]>,
    client: Option<&CertKey>,
    verify: bool,
) -> Result<Arc<rustls::ClientConfig>, CertError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(certs) => {
            for c in certs {
                let _ = roots.add(rustls::pki_types::CertificateDer::from(
                    c.borrow_raw_cert().clone(),
                ));
            }
        }
        None => {
            for c in rustls_native_certs::load_native_certs().unwrap_or_default() {
                let _ = roots.add(c);
            }
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(super::provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| CertError::UnsupportedKey {
            path: Default::default(),
            reason: e.to_string(),
        })?;
    let builder = if verify {
        builder.with_root_certificates(roots)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(super::provider())))
    };
    let config = match client {
        Some(ck) => {
            let mut chain = vec![rustls::pki_types::CertificateDer::from(
                ck.leaf().borrow_raw_cert().clone(),
            )];
            chain.extend(
                ck.intermediates()
                    .into_iter()
                    .map(|c| rustls::pki_types::CertificateDer::from(c.borrow_raw_cert().clone())),
            );
            let key =
                rustls::pki_types::PrivateKeyDer::try_from(ck.key().clone()).map_err(|e| {
                    CertError::UnsupportedKey {
                        path: Default::default(),
                        reason: e.to_string(),
                    }
                })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| CertError::UnsupportedKey {
                    path: Default::default(),
                    reason: e.to_string(),
                })?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// Accepts any server certificate: only for pools that explicitly set `tls_verify = false`.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
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
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, CertError> {
    std::fs::read(path).map_err(|source| CertError::Read {
        path: path.to_path_buf(),
        source,
    })
}
