//! TLS for https listeners: gatehouse builds the rustls `ServerConfig` itself (ring provider,
//! TLS 1.2 + 1.3, AEAD suites only, per-listener ALPN, session tickets and a large resumption
//! cache) and serves certificates through an SNI resolver that reads the *current snapshot*, so
//! a certificate rotation is an ordinary reload: no restart, no re-bind, and connections already
//! open keep the certificate they were established with.
//!
//! The same resolver answers TLS-ALPN-01 challenges (a ClientHello offering only
//! `acme-tls/1`) and attaches OCSP staples; the client-certificate verifier reads the current
//! snapshot too (see [`crate::tls::client_auth`]). The protocol versions and suites come from
//! the listener's TLS profile (fixed at start), in the server's order.

use super::client_auth::ListenerVerifier;
use crate::runtime::SharedState;
use crate::tls::acme::challenge::ACME_TLS_ALPN;
use crate::tls::profile::TlsProfile;
use metrics::counter;
use rustls::server::{ClientHello, ResolvesServerCert, ServerSessionMemoryCache};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use std::fmt;
use std::sync::Arc;

/// Resumption cache entries per listener (Pingora's default is 256, too few at edge scale).
/// Each entry is a few hundred bytes; TLS 1.3 clients mostly use stateless tickets anyway.
pub const SESSION_CACHE_SIZE: usize = 20_000;

/// Picks the certificate for a ClientHello from the current snapshot.
pub struct SniResolver {
    state: Arc<SharedState>,
    listener: usize,
    listener_name: Arc<str>,
}

impl fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SniResolver")
            .field("listener", &self.listener_name)
            .finish()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if hello
            .alpn()
            .is_some_and(|mut offered| offered.any(|p| p == ACME_TLS_ALPN))
        {
            // RFC 8737: only the challenge certificate, and nothing else, for `acme-tls/1`.
            let name = hello.server_name()?.to_ascii_lowercase();
            return self.state.tls.challenges.alpn_answer(&name);
        }
        let snapshot = self.state.peek();
        let store = &snapshot.listeners.get(self.listener)?.certs;
        let found = match hello.server_name() {
            Some(name) if name.bytes().any(|b| b.is_ascii_uppercase()) => {
                store.lookup(Some(&name.to_ascii_lowercase()))
            }
            other => store.lookup(other),
        }
        .map(|served| served.pick(&self.state.tls));
        if found.is_none() {
            counter!(
                crate::metrics::names::TLS_HANDSHAKE_FAILURES_TOTAL,
                crate::metrics::names::label::LISTENER => self.listener_name.to_string(),
                crate::metrics::names::label::STAGE => "no_certificate",
            )
            .increment(1);
        }
        found
    }
}

/// Builds the rustls config of one https listener.
///
/// # Errors
/// Only if the ring provider rejects the protocol versions (a programming error).
pub fn server_config(
    state: Arc<SharedState>,
    listener: usize,
    alpn: &[Vec<u8>],
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let (listener_name, profile): (Arc<str>, TlsProfile) = state
        .bound
        .get(listener)
        .map(|b| (Arc::from(b.name.as_str()), b.tls_profile))
        .unwrap_or_else(|| (Arc::from(""), TlsProfile::default()));
    let verifier = Arc::new(ListenerVerifier::new(
        state.clone(),
        listener,
        listener_name.clone(),
    ));
    let resolver = Arc::new(SniResolver {
        state,
        listener,
        listener_name,
    });
    let mut config = ServerConfig::builder_with_provider(profile.provider())
        .with_protocol_versions(profile.versions())?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(resolver);
    // The profile's order, not the client's (testssl.sh: "has server cipher order").
    config.ignore_client_order = true;
    config.alpn_protocols = alpn.to_vec();
    // Last, so it is chosen only by a client that offers nothing else (the ACME CA's
    // validation); the resolver then serves the challenge certificate or nothing.
    config.alpn_protocols.push(ACME_TLS_ALPN.to_vec());
    config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE_SIZE);
    // Stateless resumption: tickets encrypted with rotating keys held in memory.
    config.ticketer = rustls::crypto::ring::Ticketer::new()?;
    Ok(Arc::new(config))
}
