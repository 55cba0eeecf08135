//! TLS profiles: Mozilla's server-side TLS recommendations, as far as rustls goes.
//!
//! rustls has no TLS 1.0/1.1, no CBC, no RSA key exchange and no DHE, so Mozilla's "old"
//! profile cannot be offered and every suite rustls has is an ECDHE AEAD suite that
//! "intermediate" lists. What the profiles decide is therefore the protocol versions and the
//! *order* of the suites, which the server enforces (`ignore_client_order`): testssl.sh flags a
//! server that lets the client choose.

use rustls::crypto::{ring, CryptoProvider, SupportedKxGroup};
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};
use std::sync::Arc;

/// A listener's TLS profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsProfile {
    /// TLS 1.3 only (Mozilla "modern": clients from 2019 on: Firefox 63, Chrome 70, …).
    Modern,
    /// TLS 1.2 and 1.3 with ECDHE AEAD suites only (Mozilla "intermediate", the default).
    #[default]
    Intermediate,
}

impl TlsProfile {
    /// The name used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsProfile::Modern => "modern",
            TlsProfile::Intermediate => "intermediate",
        }
    }

    /// Protocol versions offered, newest first.
    pub fn versions(self) -> &'static [&'static SupportedProtocolVersion] {
        static MODERN: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        static INTERMEDIATE: [&SupportedProtocolVersion; 2] =
            [&rustls::version::TLS13, &rustls::version::TLS12];
        match self {
            TlsProfile::Modern => &MODERN,
            TlsProfile::Intermediate => &INTERMEDIATE,
        }
    }

    /// Cipher suites in the server's order of preference (Mozilla's order: AES-128-GCM, then
    /// AES-256-GCM, then ChaCha20-Poly1305; ECDSA before RSA within TLS 1.2).
    pub fn cipher_suites(self) -> Vec<SupportedCipherSuite> {
        use ring::cipher_suite as cs;
        let tls13 = [
            cs::TLS13_AES_128_GCM_SHA256,
            cs::TLS13_AES_256_GCM_SHA384,
            cs::TLS13_CHACHA20_POLY1305_SHA256,
        ];
        let tls12 = [
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ];
        match self {
            TlsProfile::Modern => tls13.to_vec(),
            TlsProfile::Intermediate => tls13.into_iter().chain(tls12).collect(),
        }
    }

    /// Key exchange groups in order (Mozilla: X25519, P-256, P-384).
    pub fn kx_groups(self) -> Vec<&'static dyn SupportedKxGroup> {
        vec![
            ring::kx_group::X25519,
            ring::kx_group::SECP256R1,
            ring::kx_group::SECP384R1,
        ]
    }

    /// The ring provider restricted to this profile.
    pub fn provider(self) -> Arc<CryptoProvider> {
        Arc::new(CryptoProvider {
            cipher_suites: self.cipher_suites(),
            kx_groups: self.kx_groups(),
            ..ring::default_provider()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modern_is_tls13_only_and_intermediate_adds_ecdhe_aead_tls12() {
        let modern = TlsProfile::Modern.cipher_suites();
        assert!(modern
            .iter()
            .all(|s| s.version() == &rustls::version::TLS13));
        let intermediate = TlsProfile::Intermediate.cipher_suites();
        assert_eq!(intermediate.len(), 9);
        assert_eq!(
            intermediate[3].suite(),
            rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        );
        assert_eq!(TlsProfile::default(), TlsProfile::Intermediate);
    }
}
