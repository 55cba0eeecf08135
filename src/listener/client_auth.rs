//! Client certificates on a listener: the rustls verifier that reads the listener's *current*
//! settings from the snapshot, and the per-connection facts. They sit with the listener, above
//! the runtime they read; `tls::client_auth` keeps the settings and the certificate logic,
//! which the config layer below needs.

use crate::runtime::SharedState;
use crate::tls::client_auth::{count_failure, ClientAuthMode, ClientCert};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::fmt;
use std::sync::Arc;

/// The verifier installed in a listener's rustls config: it asks for a certificate only when
/// the listener's *current* settings say so, and verifies with the current CA bundle.
pub struct ListenerVerifier {
    state: Arc<SharedState>,
    listener: usize,
    name: Arc<str>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl fmt::Debug for ListenerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenerVerifier")
            .field("listener", &self.name)
            .finish()
    }
}

impl ListenerVerifier {
    /// The verifier of bound listener `listener`.
    pub fn new(state: Arc<SharedState>, listener: usize, name: Arc<str>) -> Self {
        ListenerVerifier {
            state,
            listener,
            name,
            provider: crate::tls::provider(),
        }
    }

    fn mode(&self) -> Option<ClientAuthMode> {
        let snapshot = self.state.peek();
        snapshot
            .listeners
            .get(self.listener)
            .and_then(|l| l.client_auth.as_ref().map(|c| c.mode))
    }
}

impl ClientCertVerifier for ListenerVerifier {
    fn offer_client_auth(&self) -> bool {
        self.mode().is_some()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mode() == Some(ClientAuthMode::Required)
    }

    /// No CA names are sent: they would have to outlive the snapshot they come from, and
    /// clients with one configured certificate (curl, openssl, browsers with one identity)
    /// send it anyway. An empty list means "any CA" (RFC 8446 §4.2.4, RFC 5246 §7.4.4).
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let snapshot = self.state.peek();
        let Some(auth) = snapshot
            .listeners
            .get(self.listener)
            .and_then(|l| l.client_auth.clone())
        else {
            // Not asked for (settings changed mid-handshake): accepted, never trusted.
            return Ok(ClientCertVerified::assertion());
        };
        drop(snapshot);
        match auth.mode {
            // Judged after the handshake, so that the answer can be a clean 403.
            ClientAuthMode::Optional => Ok(ClientCertVerified::assertion()),
            ClientAuthMode::Required => {
                let result = auth
                    .verifier
                    .verify_client_cert(end_entity, intermediates, now);
                if result.is_err() {
                    count_failure(&self.name, "handshake", "invalid");
                }
                result
            }
        }
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The verified client certificate of a connection just accepted on `listener`, if any:
/// computed once per connection. Under `required` the handshake already verified it; under
/// `optional` it is verified here (and counted as `untrusted` when it does not verify).
pub fn connection_facts(
    state: &SharedState,
    listener: usize,
    listener_name: &str,
    chain: Option<&[CertificateDer<'static>]>,
) -> Option<Arc<ClientCert>> {
    let chain = chain.filter(|c| !c.is_empty())?;
    let snapshot = state.peek();
    let auth = snapshot.listeners.get(listener)?.client_auth.as_ref()?;
    if auth.mode == ClientAuthMode::Optional && !auth.verifies(chain) {
        count_failure(listener_name, "handshake", "untrusted");
        return None;
    }
    ClientCert::from_der(chain.first()?.as_ref()).map(Arc::new)
}
