//! The ACME challenges this process answers, and those another node of the pair published in
//! the shared state directory.
//!
//! HTTP-01 (RFC 8555 §8.3): `GET /.well-known/acme-challenge/<token>` on a cleartext listener is
//! answered with the key authorization, before routing and before any HTTPS redirect.
//! TLS-ALPN-01 (RFC 8737): a ClientHello offering `acme-tls/1` for a name with a pending
//! challenge gets a self-signed certificate carrying the `acmeIdentifier` extension; the
//! connection is closed after the handshake.
//!
//! The CA connects to whichever node holds the floating address, which need not be the one that
//! ordered: so challenges are written to the state directory as well, and a lookup that misses
//! in memory reads the file (only for challenge requests, which are rare).

use super::store::{safe_token, write_atomic, StateDir};
use parking_lot::RwLock;
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The ALPN protocol id of TLS-ALPN-01.
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";
/// Where HTTP-01 tokens are requested.
pub const HTTP_PREFIX: &str = "/.well-known/acme-challenge/";

/// Why a challenge cannot be published.
#[derive(Debug, thiserror::Error)]
pub enum ChallengeError {
    /// The challenge certificate could not be made.
    #[error("cannot make the TLS-ALPN-01 certificate: {0}")]
    Certificate(String),
    /// The shared copy could not be written.
    #[error("cannot write the challenge to the state directory: {0}")]
    Io(#[from] std::io::Error),
    /// The CA sent a token that is not base64url.
    #[error("the CA sent an unusable token")]
    Token,
}

/// Pending challenges, in memory and (for the other node) on disk.
#[derive(Debug, Default)]
pub struct Challenges {
    http: RwLock<HashMap<String, String>>,
    alpn: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    shared: RwLock<Option<StateDir>>,
    /// Whether anything may answer: lets requests skip the maps when ACME is not configured.
    active: AtomicBool,
}

impl Challenges {
    /// Where the shared copies live (`None`: ACME not configured).
    pub fn set_shared(&self, dir: Option<StateDir>) {
        self.active.store(dir.is_some(), Ordering::Relaxed);
        *self.shared.write() = dir;
    }

    /// Whether ACME is configured at all (one relaxed load).
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// The key authorization for an HTTP-01 token.
    pub fn http_answer(&self, token: &str) -> Option<String> {
        if !self.active() || !safe_token(token) {
            return None;
        }
        if let Some(found) = self.http.read().get(token) {
            return Some(found.clone());
        }
        let path = self.shared.read().as_ref()?.http_token(token)?;
        std::fs::read_to_string(path).ok()
    }

    /// The TLS-ALPN-01 certificate for `name`.
    pub fn alpn_answer(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        if !self.active() {
            return None;
        }
        if let Some(found) = self.alpn.read().get(name) {
            return Some(found.clone());
        }
        let path = self.shared.read().as_ref()?.alpn_cert(name)?;
        let pem = std::fs::read(path).ok()?;
        certified_from_pem(&pem).map(Arc::new)
    }

    /// Starts answering an HTTP-01 challenge.
    ///
    /// # Errors
    /// [`ChallengeError`].
    pub fn publish_http(&self, token: &str, key_authorization: &str) -> Result<(), ChallengeError> {
        if !safe_token(token) {
            return Err(ChallengeError::Token);
        }
        self.http
            .write()
            .insert(token.to_string(), key_authorization.to_string());
        if let Some(path) = self
            .shared
            .read()
            .as_ref()
            .and_then(|s| s.http_token(token))
        {
            write_atomic(&path, key_authorization.as_bytes(), 0o644)?;
        }
        Ok(())
    }

    /// Starts answering a TLS-ALPN-01 challenge for `name`.
    ///
    /// # Errors
    /// [`ChallengeError`].
    pub fn publish_alpn(&self, name: &str, key_authorization: &str) -> Result<(), ChallengeError> {
        let (certified, pem) = alpn_certificate(name, key_authorization)?;
        self.alpn
            .write()
            .insert(name.to_string(), Arc::new(certified));
        if let Some(path) = self.shared.read().as_ref().and_then(|s| s.alpn_cert(name)) {
            write_atomic(&path, pem.as_bytes(), 0o600)?;
        }
        Ok(())
    }

    /// Stops answering an HTTP-01 token (memory and shared copy).
    pub fn withdraw_http(&self, token: &str) {
        self.http.write().remove(token);
        if let Some(path) = self
            .shared
            .read()
            .as_ref()
            .and_then(|s| s.http_token(token))
        {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Stops answering TLS-ALPN-01 for `name`.
    pub fn withdraw_alpn(&self, name: &str) {
        self.alpn.write().remove(name);
        if let Some(path) = self.shared.read().as_ref().and_then(|s| s.alpn_cert(name)) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The RFC 8737 certificate: self-signed for `name`, with the critical `acmeIdentifier`
/// extension holding SHA-256 of the key authorization. Returns it ready to serve and as PEM
/// (certificate then key) for the shared copy.
///
/// # Errors
/// [`ChallengeError::Certificate`].
pub fn alpn_certificate(
    name: &str,
    key_authorization: &str,
) -> Result<(CertifiedKey, String), ChallengeError> {
    let fail = |e: rcgen::Error| ChallengeError::Certificate(e.to_string());
    let digest = ring::digest::digest(&ring::digest::SHA256, key_authorization.as_bytes());
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).map_err(fail)?;
    params
        .custom_extensions
        .push(rcgen::CustomExtension::new_acme_identifier(digest.as_ref()));
    let key = rcgen::KeyPair::generate().map_err(fail)?;
    let cert = params.self_signed(&key).map_err(fail)?;
    let pem = format!("{}{}", cert.pem(), key.serialize_pem());
    let certified = certified_from_pem(pem.as_bytes())
        .ok_or_else(|| ChallengeError::Certificate("generated key not usable".into()))?;
    Ok((certified, pem))
}

fn certified_from_pem(pem: &[u8]) -> Option<CertifiedKey> {
    let chain: Vec<_> = rustls_pemfile::certs(&mut &pem[..]).flatten().collect();
    let key = rustls_pemfile::private_key(&mut &pem[..]).ok()??;
    let signer = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(key)
        .ok()?;
    (!chain.is_empty()).then(|| CertifiedKey::new(chain, signer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_from_memory_then_from_the_shared_directory() {
        let dir = tempfile::tempdir().unwrap();
        let ordering = Challenges::default();
        let other = Challenges::default();
        assert!(ordering.http_answer("tok").is_none(), "inactive");
        ordering.set_shared(Some(StateDir::new(dir.path())));
        other.set_shared(Some(StateDir::new(dir.path())));
        ordering.publish_http("tok_1", "tok_1.thumb").unwrap();
        assert_eq!(other.http_answer("tok_1").as_deref(), Some("tok_1.thumb"));
        assert!(other.http_answer("../lock").is_none());
        ordering
            .publish_alpn("www.example.test", "tok_2.thumb")
            .unwrap();
        let cert = other.alpn_answer("www.example.test").unwrap();
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.cert[0].as_ref()).unwrap();
        let ext = parsed
            .extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.1.31")
            .unwrap();
        assert!(ext.critical);
        ordering.withdraw_http("tok_1");
        ordering.withdraw_alpn("www.example.test");
        assert!(other.http_answer("tok_1").is_none());
        assert!(other.alpn_answer("www.example.test").is_none());
    }
}
