//! Client certificates (mTLS) on https listeners.
//!
//! A listener with `client_auth` asks every client for a certificate that chains to its CA
//! bundle (and is not on its CRLs). `required`: a client without one, or with one that does not
//! verify, gets a TLS alert. `optional`: the handshake always completes; the certificate is
//! verified once, right after the handshake, and a route with `client_auth = "required"`
//! answers 403 to connections without a verified one.
//!
//! The verifier is hot like the certificates: [`ListenerVerifier`] reads the listener's CA
//! bundle from the *current snapshot*, so a new CA file or CRL is a plain reload. The verified
//! certificate's subject, SANs and fingerprint are computed once per connection
//! ([`ClientCert`]) and written to the backend in configurable headers; client-sent copies of
//! those headers are always dropped.

use crate::metrics::names;
use http::HeaderName;
use metrics::counter;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// What a listener does when a client has no valid certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMode {
    /// Refuse the handshake (TLS alert).
    Required,
    /// Complete the handshake; routes that require a client certificate answer 403.
    Optional,
}

/// A listener's client-certificate settings, with the CA bundle and CRLs loaded.
pub struct ClientAuth {
    /// Required or optional.
    pub mode: ClientAuthMode,
    /// The CA bundle file.
    pub ca_path: PathBuf,
    /// The CRL file, if any.
    pub crl_path: Option<PathBuf>,
    /// Verifies chains against the bundle (always allowing "no certificate": the mode decides).
    pub(crate) verifier: Arc<dyn ClientCertVerifier>,
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAuth")
            .field("mode", &self.mode)
            .field("ca_path", &self.ca_path)
            .field("crl_path", &self.crl_path)
            .finish()
    }
}

/// Why a CA bundle or CRL file cannot be used. Each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ClientAuthError {
    /// Unreadable file.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// No usable CA certificate in the bundle.
    #[error("{}: no CA certificate found (expected PEM \"BEGIN CERTIFICATE\" blocks)", path.display())]
    NoCa {
        /// File.
        path: PathBuf,
    },
    /// No CRL in the CRL file.
    #[error("{}: no CRL found (expected PEM \"BEGIN X509 CRL\" blocks)", path.display())]
    NoCrl {
        /// File.
        path: PathBuf,
    },
    /// rustls refused the bundle or the CRLs.
    #[error("{}: {reason}", path.display())]
    Invalid {
        /// File.
        path: PathBuf,
        /// rustls message.
        reason: String,
    },
}

impl ClientAuth {
    /// Loads the CA bundle and optional CRLs.
    ///
    /// # Errors
    /// [`ClientAuthError`] naming the file at fault.
    pub fn load(
        mode: ClientAuthMode,
        ca_path: &Path,
        crl_path: Option<&Path>,
    ) -> Result<Self, ClientAuthError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| ClientAuthError::Read {
                path: p.to_path_buf(),
                source,
            })
        };
        let pem = read(ca_path)?;
        let mut roots = rustls::RootCertStore::empty();
        for der in rustls_pemfile::certs(&mut pem.as_slice()).flatten() {
            roots.add(der).map_err(|e| ClientAuthError::Invalid {
                path: ca_path.to_path_buf(),
                reason: e.to_string(),
            })?;
        }
        if roots.is_empty() {
            return Err(ClientAuthError::NoCa {
                path: ca_path.to_path_buf(),
            });
        }
        let mut crls: Vec<CertificateRevocationListDer<'static>> = Vec::new();
        if let Some(p) = crl_path {
            let pem = read(p)?;
            crls.extend(rustls_pemfile::crls(&mut pem.as_slice()).flatten());
            if crls.is_empty() {
                return Err(ClientAuthError::NoCrl {
                    path: p.to_path_buf(),
                });
            }
        }
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), super::provider())
                .with_crls(crls)
                // Revocation is judged for the client's own certificate, against the CRLs the
                // operator supplied; a chain whose issuer has no CRL here is not refused for it.
                .only_check_end_entity_revocation()
                .allow_unknown_revocation_status()
                .allow_unauthenticated()
                .build()
                .map_err(|e| ClientAuthError::Invalid {
                    path: crl_path.unwrap_or(ca_path).to_path_buf(),
                    reason: e.to_string(),
                })?;
        Ok(ClientAuth {
            mode,
            ca_path: ca_path.to_path_buf(),
            crl_path: crl_path.map(Path::to_path_buf),
            verifier,
        })
    }

    /// Whether `chain` (leaf first) verifies against this listener's CAs and CRLs now.
    pub fn verifies(&self, chain: &[CertificateDer<'_>]) -> bool {
        let Some((leaf, intermediates)) = chain.split_first() else {
            return false;
        };
        self.verifier
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .is_ok()
    }
}

/// The header names that carry a verified client certificate to the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertHeaders {
    /// Subject DN.
    pub subject: HeaderName,
    /// Subject alternative names.
    pub san: HeaderName,
    /// Hex SHA-256 of the certificate (DER).
    pub fingerprint: HeaderName,
}

impl Default for CertHeaders {
    fn default() -> Self {
        CertHeaders {
            subject: HeaderName::from_static("x-client-cert-subject"),
            san: HeaderName::from_static("x-client-cert-san"),
            fingerprint: HeaderName::from_static("x-client-cert-fingerprint"),
        }
    }
}

impl CertHeaders {
    /// The three names.
    pub fn names(&self) -> [&HeaderName; 3] {
        [&self.subject, &self.san, &self.fingerprint]
    }
}

/// The facts of a verified client certificate, computed once per connection, already in
/// header-value form (visible ASCII only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// Subject DN, e.g. `CN=alice, O=Example`.
    pub subject: String,
    /// SANs, e.g. `DNS:alice.example.test,email:alice@example.test`.
    pub san: String,
    /// Lowercase hex SHA-256 of the DER certificate.
    pub fingerprint: String,
}

impl ClientCert {
    /// Reads the facts from a DER certificate (`None` if it does not parse).
    pub fn from_der(der: &[u8]) -> Option<Self> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let mut sans: Vec<String> = Vec::new();
        if let Ok(Some(ext)) = cert.subject_alternative_name() {
            for name in &ext.value.general_names {
                match name {
                    GeneralName::DNSName(d) => sans.push(format!("DNS:{d}")),
                    GeneralName::URI(u) => sans.push(format!("URI:{u}")),
                    GeneralName::RFC822Name(e) => sans.push(format!("email:{e}")),
                    GeneralName::IPAddress(ip) => {
                        if let Some(addr) = ip_text(ip) {
                            sans.push(format!("IP:{addr}"));
                        }
                    }
                    _ => {}
                }
            }
        }
        Some(ClientCert {
            subject: header_safe(&cert.subject().to_string()),
            san: header_safe(&sans.join(",")),
            fingerprint: super::sha256_hex(&[der]),
        })
    }
}

fn ip_text(raw: &[u8]) -> Option<String> {
    match raw.len() {
        4 => <[u8; 4]>::try_from(raw)
            .ok()
            .map(|o| std::net::Ipv4Addr::from(o).to_string()),
        16 => <[u8; 16]>::try_from(raw)
            .ok()
            .map(|o| std::net::Ipv6Addr::from(o).to_string()),
        _ => None,
    }
}

/// Certificates may hold any UTF-8 (or worse); headers may not. Anything outside visible
/// ASCII and space becomes `?`, so a certificate can never inject a header line.
fn header_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// The header fields to send to the backend for a connection's verified certificate, when the
/// listener it came in on verifies client certificates.
pub fn forwarded<'a>(
    headers: Option<&'a CertHeaders>,
    cert: Option<&'a ClientCert>,
) -> Option<[(&'a HeaderName, &'a str); 3]> {
    let (h, c) = (headers?, cert?);
    Some([
        (&h.subject, c.subject.as_str()),
        (&h.san, c.san.as_str()),
        (&h.fingerprint, c.fingerprint.as_str()),
    ])
}

/// Whether `name` is one of the client-certificate headers only gatehouse may send.
pub fn is_stripped(strip: &[HeaderName], name: &[u8]) -> bool {
    strip
        .iter()
        .any(|n| n.as_str().as_bytes().eq_ignore_ascii_case(name))
}

/// Counts a client-certificate failure (`stage`: `handshake` or `request`; `reason`:
/// `missing`, `invalid` or `untrusted`).
pub fn count_failure(listener: &str, stage: &'static str, reason: &'static str) {
    counter!(names::CLIENT_AUTH_FAILURES_TOTAL, names::label::LISTENER => listener.to_string(), names::label::STAGE => stage, names::label::REASON => reason)
        .increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_are_header_safe() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["alice.example.test".to_string()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "alice\r\nx-evil: 1");
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress("192.0.2.1".parse().unwrap()));
        let cert = params.self_signed(&key).unwrap();
        let facts = ClientCert::from_der(cert.der()).unwrap();
        assert!(
            facts.subject.starts_with("CN=alice??x-evil: 1"),
            "{}",
            facts.subject
        );
        assert_eq!(facts.san, "DNS:alice.example.test,IP:192.0.2.1");
        assert_eq!(facts.fingerprint.len(), 64);
    }
}
