//! OCSP stapling: a response from a file next to the certificate (`ocsp_file`) or fetched from
//! the certificate's responder and kept fresh (`ocsp_fetch`, [`fetch`]).
//!
//! A response is stapled only after [`validate`] accepted it: a successful basic response,
//! signed by the certificate's issuer (or by a responder the issuer delegated to with the
//! OCSP-signing EKU), about *this* certificate (issuer name and key hashes and serial), status
//! `good`, and current (`thisUpdate` ≤ now < `nextUpdate`). The handshake path checks
//! `nextUpdate` again on every use, so a response that expires while in service stops being
//! stapled at that second even if no fresher one could be fetched: the certificate is then
//! served without a staple.

pub mod der;
pub mod fetch;
pub mod request;

use der::{tag, DerError, Reader};
use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use x509_parser::prelude::{FromDer, X509Certificate};

/// id-pkix-ocsp-basic (1.3.6.1.5.5.7.48.1.1).
const OID_OCSP_BASIC: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];

/// How long a response without `nextUpdate` ("newer information is always available") is
/// stapled: a week after its `thisUpdate`, like the longest validity CAs use.
const NO_NEXT_UPDATE_LIFETIME: Duration = Duration::from_secs(7 * 86_400);

/// Why a response is not stapled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OcspError {
    /// Not DER we understand.
    #[error(transparent)]
    Malformed(#[from] DerError),
    /// The responder refused (`malformedRequest`, `tryLater`, …).
    #[error("responder answered with status {0} instead of successful (0)")]
    NotSuccessful(u8),
    /// Not an `id-pkix-ocsp-basic` response.
    #[error("not a basic OCSP response")]
    NotBasic,
    /// The response is about other certificates.
    #[error("the response is not about this certificate (issuer or serial differ)")]
    Mismatch,
    /// The certificate is revoked.
    #[error("the certificate is REVOKED")]
    Revoked,
    /// The responder does not know the certificate.
    #[error("the responder does not know the certificate (status unknown)")]
    Unknown,
    /// `thisUpdate` is in the future.
    #[error("the response is not valid yet")]
    NotYetValid,
    /// `nextUpdate` has passed.
    #[error("the response has expired")]
    Expired,
    /// The signature does not verify, or the signer is not the issuer or its delegate.
    #[error("bad signature or signer: {0}")]
    Signature(&'static str),
    /// No issuer certificate to check against (the chain file holds only the leaf).
    #[error("the certificate's issuer is not in its chain file; OCSP needs it")]
    NoIssuer,
}

/// A validated response, ready to staple until `expires`.
#[derive(Debug, Clone)]
pub struct Staple {
    /// The DER response, as sent in the handshake.
    pub der: Arc<[u8]>,
    /// `thisUpdate`.
    pub this_update: SystemTime,
    /// `nextUpdate` (or [`NO_NEXT_UPDATE_LIFETIME`] after `thisUpdate`).
    pub expires: SystemTime,
}

impl Staple {
    /// Whether it may be stapled at `now`.
    pub fn valid_at(&self, now: SystemTime) -> bool {
        self.this_update <= now + CLOCK_SKEW && now < self.expires
    }

    /// `expires` in seconds since the epoch (for the handshake-time check and metrics).
    pub fn expires_unix(&self) -> u64 {
        self.expires
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// A certificate with its staple attached, and until when that staple may be used.
#[derive(Debug, Clone)]
pub struct Stapled {
    /// The certificate as served with the staple.
    pub certified: Arc<CertifiedKey>,
    /// Seconds since the epoch at which the staple expires.
    pub expires_unix: u64,
}

impl Stapled {
    /// `base` with `staple` attached.
    pub fn new(base: &CertifiedKey, staple: &Staple) -> Self {
        let mut certified = base.clone();
        certified.ocsp = Some(staple.der.to_vec());
        Stapled {
            certified: Arc::new(certified),
            expires_unix: staple.expires_unix(),
        }
    }

    /// Whether the staple may still be used (one clock read, on the handshake path).
    pub fn current(&self) -> bool {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .is_ok_and(|now| now.as_secs() < self.expires_unix)
    }
}

/// Responders' and our clocks differ a little: a `thisUpdate` this far ahead is accepted.
const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// The issuer of `chain[0]`: the next certificate in the chain file.
pub fn issuer_of<'c>(chain: &'c [CertificateDer<'static>]) -> Result<&'c [u8], OcspError> {
    chain.get(1).map(|c| c.as_ref()).ok_or(OcspError::NoIssuer)
}

/// Checks `response` for the certificate `leaf` issued by `issuer` (both DER) at `now`.
///
/// # Errors
/// [`OcspError`]: why it must not be stapled.
pub fn validate(
    response: &[u8],
    leaf: &[u8],
    issuer: &[u8],
    now: SystemTime,
) -> Result<Staple, OcspError> {
    let mut outer = Reader::new(response).nested(tag::SEQUENCE)?;
    let status = outer.expect(tag::ENUMERATED)?;
    match status.value {
        [0] => {}
        [s] => return Err(OcspError::NotSuccessful(*s)),
        _ => return Err(DerError("bad response status").into()),
    }
    let mut bytes = outer.nested(tag::context(0))?.nested(tag::SEQUENCE)?;
    if bytes.expect(tag::OID)?.value != OID_OCSP_BASIC {
        return Err(OcspError::NotBasic);
    }
    let basic = bytes.expect(tag::OCTET_STRING)?.value;
    let mut basic = Reader::new(basic).nested(tag::SEQUENCE)?;
    let tbs = basic.expect(tag::SEQUENCE)?;
    let sig_alg = basic.nested(tag::SEQUENCE)?.expect(tag::OID)?.value;
    let signature = bit_string(basic.expect(tag::BIT_STRING)?.value)?;
    let mut certs = Vec::new();
    if let Some(c) = basic.optional(tag::context(0))? {
        let mut list = Reader::new(c.value).nested(tag::SEQUENCE)?;
        while !list.is_empty() {
            certs.push(list.expect(tag::SEQUENCE)?.raw);
        }
    }
    let (_, issuer_cert) =
        X509Certificate::from_der(issuer).map_err(|_| DerError("issuer certificate"))?;
    let (_, leaf_cert) = X509Certificate::from_der(leaf).map_err(|_| DerError("certificate"))?;

    // The signer: the issuer itself, or a certificate in the response that the issuer signed
    // for OCSP signing (RFC 6960 §4.2.2.2).
    let issuer_key = issuer_cert.public_key();
    let signed_by_issuer = verify(sig_alg, issuer_key, tbs.raw, signature).is_ok();
    if !signed_by_issuer {
        let delegated = certs.iter().any(|der| {
            delegate(der, &issuer_cert)
                .is_some_and(|d| verify(sig_alg, d.public_key(), tbs.raw, signature).is_ok())
        });
        if !delegated {
            return Err(OcspError::Signature(
                "not signed by the issuer or a delegated OCSP responder",
            ));
        }
    }

    let mut data = Reader::new(tbs.value);
    data.optional(tag::context(0))?; // version
    data.any()?; // responderID
    data.expect(tag::GENERALIZED_TIME)?; // producedAt
    let mut responses = data.nested(tag::SEQUENCE)?;
    while !responses.is_empty() {
        let mut single = responses.nested(tag::SEQUENCE)?;
        let cert_id = single.expect(tag::SEQUENCE)?;
        if !request::cert_id_matches(cert_id.value, &leaf_cert, &issuer_cert)? {
            continue;
        }
        let status = single.any()?;
        match status.tag {
            t if t == tag::context_primitive(0) => {}
            t if t == tag::context(1) => return Err(OcspError::Revoked),
            _ => return Err(OcspError::Unknown),
        }
        let this_update = der::generalized_time(single.expect(tag::GENERALIZED_TIME)?.value)?;
        let next_update = match single.optional(tag::context(0))? {
            Some(n) => Some(der::generalized_time(
                Reader::new(n.value).expect(tag::GENERALIZED_TIME)?.value,
            )?),
            None => None,
        };
        let staple = Staple {
            der: Arc::from(response),
            this_update,
            expires: next_update.unwrap_or(this_update + NO_NEXT_UPDATE_LIFETIME),
        };
        if this_update > now + CLOCK_SKEW {
            return Err(OcspError::NotYetValid);
        }
        if now >= staple.expires {
            return Err(OcspError::Expired);
        }
        return Ok(staple);
    }
    Err(OcspError::Mismatch)
}

/// A delegated responder certificate: issued (and signed) by the issuer, with the
/// OCSP-signing EKU. Returns it parsed when acceptable.
fn delegate<'d>(der: &'d [u8], issuer_cert: &X509Certificate<'_>) -> Option<X509Certificate<'d>> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    if cert.issuer().as_raw() != issuer_cert.subject().as_raw() {
        return None;
    }
    let eku = cert.extended_key_usage().ok()??;
    if !eku.value.ocsp_signing {
        return None;
    }
    // The delegate's own signature, by the issuer.
    let mut outer = Reader::new(der).nested(tag::SEQUENCE).ok()?;
    let tbs = outer.expect(tag::SEQUENCE).ok()?;
    let alg = outer
        .nested(tag::SEQUENCE)
        .ok()?
        .expect(tag::OID)
        .ok()?
        .value;
    let sig = bit_string(outer.expect(tag::BIT_STRING).ok()?.value).ok()?;
    verify(alg, issuer_cert.public_key(), tbs.raw, sig).ok()?;
    Some(cert)
}

fn bit_string(value: &[u8]) -> Result<&[u8], DerError> {
    match value.split_first() {
        Some((0, bits)) => Ok(bits),
        _ => Err(DerError("bit string with unused bits")),
    }
}

/// Verifies `signature` over `message` with the key in `spki`, for signature algorithm `alg`
/// (the OID's contents).
fn verify(
    alg: &[u8],
    spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>,
    message: &[u8],
    signature: &[u8],
) -> Result<(), &'static str> {
    use ring::signature as s;
    // 1.2.840.113549.1.1.{11,12,13}: sha{256,384,512}WithRSAEncryption.
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    // 1.2.840.10045.4.3.{2,3}: ecdsa-with-SHA{256,384}.
    const ECDSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03];
    // 1.3.101.112: Ed25519.
    const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
    let key = spki.subject_public_key.data.as_ref();
    let candidates: &[&dyn s::VerificationAlgorithm] = match alg {
        a if a.len() == RSA.len() + 1 && a.starts_with(RSA) => match a[RSA.len()] {
            11 => &[&s::RSA_PKCS1_2048_8192_SHA256],
            12 => &[&s::RSA_PKCS1_2048_8192_SHA384],
            13 => &[&s::RSA_PKCS1_2048_8192_SHA512],
            _ => return Err("unsupported RSA signature algorithm"),
        },
        a if a.len() == ECDSA.len() + 1 && a.starts_with(ECDSA) => match a[ECDSA.len()] {
            2 => &[&s::ECDSA_P256_SHA256_ASN1, &s::ECDSA_P384_SHA256_ASN1],
            3 => &[&s::ECDSA_P384_SHA384_ASN1, &s::ECDSA_P256_SHA384_ASN1],
            _ => return Err("unsupported ECDSA signature algorithm"),
        },
        ED25519 => &[&s::ED25519],
        _ => return Err("unsupported signature algorithm"),
    };
    if candidates.iter().any(|alg| {
        s::UnparsedPublicKey::new(*alg, key)
            .verify(message, signature)
            .is_ok()
    }) {
        Ok(())
    } else {
        Err("signature does not verify")
    }
}
