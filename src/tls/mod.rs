//! Certificate material: loading and checking PEM files, and looking certificates up by SNI.
//!
//! This module does no networking. `config::validate` calls [`certs::load_pair`] so that every
//! file problem is reported (with the config key that named the file) before anything is served;
//! the loaded certificates then travel inside the runtime snapshot, and the listener's SNI
//! resolver reads them from there, which is what makes certificate rotation a plain reload.

pub mod acme;
#[cfg(test)]
mod carried_patches;
pub mod certs;
pub mod client_auth;
pub mod live;
pub mod ocsp;
pub mod profile;
pub mod store;
#[cfg(test)]
pub(crate) mod test_pair;
pub mod upstream;

/// The one crypto provider gatehouse uses everywhere (ring, like `pingora-rustls`), so that no
/// second TLS stack is linked and rustls never has to guess a process default.
pub fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}

/// Installs the ring provider as the process default (idempotent; Pingora does the same).
pub fn install_default_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Hex SHA-256 of some bytes (fingerprints, config digests).
pub fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in parts {
        ctx.update(part);
    }
    ctx.finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
