//! One ACME order, from new-order to the issued chain: answer each pending authorization with
//! the configured challenge, wait for the order to be ready, finalize with a CSR for a key made
//! here (ECDSA P-256, never sent anywhere), and download the chain. Published challenges are
//! withdrawn whatever the outcome. Also the ARI (RFC 9773) renewal-window lookup.

use super::challenge::Challenges;
use super::{AcmeCert, AcmeError, ChallengeKind};
use instant_acme::{
    Account, AuthorizationStatus, CertificateIdentifier, ChallengeType, Identifier, NewOrder,
    OrderStatus, RetryPolicy,
};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::{FromDer, X509Certificate};

/// How long the CA is polled for an order to become ready, then for the certificate.
const POLL: RetryPolicy = RetryPolicy::new()
    .initial_delay(Duration::from_millis(250))
    .backoff(1.5)
    .timeout(Duration::from_secs(90));

/// An issued certificate: the chain (leaf first) and its key, both PEM.
#[derive(Debug)]
pub struct Issued {
    /// Leaf, then intermediates.
    pub chain_pem: String,
    /// The private key.
    pub key_pem: String,
}

/// Withdraws what was published when the order ends, however it ends.
struct Published<'a> {
    challenges: &'a Challenges,
    http: Vec<String>,
    alpn: Vec<String>,
}

impl Drop for Published<'_> {
    fn drop(&mut self) {
        for t in &self.http {
            self.challenges.withdraw_http(t);
        }
        for n in &self.alpn {
            self.challenges.withdraw_alpn(n);
        }
    }
}

/// Orders a certificate for `cert.names`. `replaces`: the ARI identifier of the certificate
/// being renewed, when the CA supports ARI.
///
/// # Errors
/// [`AcmeError`].
pub async fn obtain(
    account: &Account,
    cert: &AcmeCert,
    challenges: &Challenges,
    replaces: Option<CertificateIdentifier<'static>>,
) -> Result<Issued, AcmeError> {
    let identifiers: Vec<Identifier> = cert.names.iter().cloned().map(Identifier::Dns).collect();
    let mut new_order = NewOrder::new(&identifiers);
    if let Some(r) = replaces {
        new_order = new_order.replaces(r);
    }
    let mut order = account.new_order(&new_order).await?;
    let kind = match cert.challenge {
        ChallengeKind::Http01 => ChallengeType::Http01,
        ChallengeKind::TlsAlpn01 => ChallengeType::TlsAlpn01,
    };
    let mut published = Published {
        challenges,
        http: Vec::new(),
        alpn: Vec::new(),
    };
    let mut authorizations = order.authorizations();
    while let Some(result) = authorizations.next().await {
        let mut authz = result?;
        match authz.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => {
                return Err(AcmeError::Order {
                    names: cert.names.join(", "),
                    reason: format!("authorization is {other:?}"),
                })
            }
        }
        let name = authz.identifier().to_string();
        let mut challenge =
            authz
                .challenge(kind.clone())
                .ok_or_else(|| AcmeError::NoChallenge {
                    kind: cert.challenge.as_str(),
                    name: name.clone(),
                })?;
        let key_authorization = challenge.key_authorization();
        match cert.challenge {
            ChallengeKind::Http01 => {
                challenges.publish_http(&challenge.token, key_authorization.as_str())?;
                published.http.push(challenge.token.clone());
            }
            ChallengeKind::TlsAlpn01 => {
                challenges.publish_alpn(&name, key_authorization.as_str())?;
                published.alpn.push(name.clone());
            }
        }
        challenge.set_ready().await?;
    }
    let status = order.poll_ready(&POLL).await?;
    if status != OrderStatus::Ready {
        let reason = order
            .state()
            .error
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_else(|| format!("order is {status:?} (a challenge failed)"));
        return Err(AcmeError::Order {
            names: cert.names.join(", "),
            reason,
        });
    }
    let certificate = |e: rcgen::Error| AcmeError::Certificate(e.to_string());
    let key = rcgen::KeyPair::generate().map_err(certificate)?;
    let mut params = rcgen::CertificateParams::new(cert.names.clone()).map_err(certificate)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params.serialize_request(&key).map_err(certificate)?;
    order.finalize_csr(csr.der()).await?;
    let chain_pem = order.poll_certificate(&POLL).await?;
    drop(published);
    Ok(Issued {
        chain_pem,
        key_pem: key.serialize_pem(),
    })
}

/// The ARI identifier of a certificate (RFC 9773 §4.1): its Authority Key Identifier's
/// `keyIdentifier` and its serial number's DER contents.
pub fn ari_identifier(leaf_der: &[u8]) -> Option<CertificateIdentifier<'static>> {
    let (_, cert) = X509Certificate::from_der(leaf_der).ok()?;
    let aki = cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki.key_identifier.as_ref().map(|k| k.0)
            }
            _ => None,
        })?;
    Some(
        CertificateIdentifier::new(
            rustls::pki_types::Der::from_slice(aki),
            rustls::pki_types::Der::from_slice(cert.raw_serial()),
        )
        .into_owned(),
    )
}

/// The CA's suggested renewal time for a certificate (a uniformly random point in its ARI
/// window, as RFC 9773 §4.2 asks) and when to ask again. `Ok(None)` when the CA has no ARI
/// (Pebble 2.4 has none: this path is written to the RFC and untested against a CA here).
///
/// # Errors
/// [`AcmeError`] from the lookup.
pub async fn ari_renewal(
    account: &Account,
    leaf_der: &[u8],
) -> Result<Option<(SystemTime, Duration)>, AcmeError> {
    let Some(id) = ari_identifier(leaf_der) else {
        return Ok(None);
    };
    match account.renewal_info(&id).await {
        Ok((info, retry_after)) => {
            let start = info.suggested_window.start.unix_timestamp();
            let end = info.suggested_window.end.unix_timestamp().max(start);
            let pick = start + fastrand::i64(0..=(end - start));
            let at = UNIX_EPOCH + Duration::from_secs(u64::try_from(pick).unwrap_or(0));
            Ok(Some((at, retry_after)))
        }
        Err(instant_acme::Error::Unsupported(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
