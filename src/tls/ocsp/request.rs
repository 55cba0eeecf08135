//! The OCSP request for one certificate (RFC 6960 §4.1), the `CertID` that identifies it, and
//! the responder URL from the certificate's Authority Information Access extension.

use super::der::{self, tag, DerError, Reader};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

/// id-sha1 (1.3.14.3.2.26): what responders expect in `CertID` (openssl's default too).
const OID_SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
/// id-sha256 (2.16.840.1.101.3.4.2.1).
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
/// id-ad-ocsp (1.3.6.1.5.5.7.48.1), as x509-parser prints it.
const AD_OCSP: &str = "1.3.6.1.5.5.7.48.1";

/// Why no request can be made for a certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The certificate or its issuer does not parse.
    #[error("certificate does not parse")]
    BadCertificate,
    /// No OCSP responder URL in the certificate.
    #[error("the certificate names no OCSP responder (Authority Information Access)")]
    NoResponder,
}

/// The `http://` OCSP responder URL in the certificate's AIA extension.
///
/// # Errors
/// [`RequestError`] when there is none.
pub fn responder_url(leaf: &[u8]) -> Result<String, RequestError> {
    let (_, cert) = X509Certificate::from_der(leaf).map_err(|_| RequestError::BadCertificate)?;
    for ext in cert.extensions() {
        if let ParsedExtension::AuthorityInfoAccess(aia) = ext.parsed_extension() {
            for desc in aia.iter() {
                if desc.access_method.to_id_string() == AD_OCSP {
                    if let GeneralName::URI(uri) = &desc.access_location {
                        return Ok(uri.to_string());
                    }
                }
            }
        }
    }
    Err(RequestError::NoResponder)
}

/// An OCSP request (no nonce: responders precompute responses, and stapled responses are
/// shared by every client) for `leaf` issued by `issuer`.
///
/// # Errors
/// [`RequestError::BadCertificate`].
pub fn build(leaf: &[u8], issuer: &[u8]) -> Result<Vec<u8>, RequestError> {
    let (_, leaf) = X509Certificate::from_der(leaf).map_err(|_| RequestError::BadCertificate)?;
    let (_, issuer) =
        X509Certificate::from_der(issuer).map_err(|_| RequestError::BadCertificate)?;
    let (name_hash, key_hash) = issuer_hashes(&issuer, &ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    let mut out = Vec::new();
    der::write_with(&mut out, tag::SEQUENCE, |req| {
        der::write_with(req, tag::SEQUENCE, |tbs| {
            der::write_with(tbs, tag::SEQUENCE, |list| {
                der::write_with(list, tag::SEQUENCE, |one| {
                    der::write_with(one, tag::SEQUENCE, |id| {
                        der::write_with(id, tag::SEQUENCE, |alg| {
                            der::write(alg, tag::OID, OID_SHA1);
                            der::write(alg, tag::NULL, &[]);
                        });
                        der::write(id, tag::OCTET_STRING, &name_hash);
                        der::write(id, tag::OCTET_STRING, &key_hash);
                        der::write(id, tag::INTEGER, leaf.raw_serial());
                    });
                });
            });
        });
    });
    Ok(out)
}

/// Hashes of the issuer's subject name and public key, as `CertID` carries them.
fn issuer_hashes(
    issuer: &X509Certificate<'_>,
    alg: &'static ring::digest::Algorithm,
) -> (Vec<u8>, Vec<u8>) {
    let name = ring::digest::digest(alg, issuer.subject().as_raw());
    let key = ring::digest::digest(alg, &issuer.public_key().subject_public_key.data);
    (name.as_ref().to_vec(), key.as_ref().to_vec())
}

/// Whether the contents of a `CertID` identify `leaf` as issued by `issuer` (SHA-1 or SHA-256
/// hashes; anything else never matches).
pub(super) fn cert_id_matches(
    cert_id: &[u8],
    leaf: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
) -> Result<bool, DerError> {
    let mut r = Reader::new(cert_id);
    let alg = r.nested(tag::SEQUENCE)?.expect(tag::OID)?.value;
    let name_hash = r.expect(tag::OCTET_STRING)?.value;
    let key_hash = r.expect(tag::OCTET_STRING)?.value;
    let serial = r.expect(tag::INTEGER)?.value;
    let digest = match alg {
        OID_SHA1 => &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        OID_SHA256 => &ring::digest::SHA256,
        _ => return Ok(false),
    };
    let (name, key) = issuer_hashes(issuer, digest);
    Ok(name == name_hash
        && key == key_hash
        && trim_serial(serial) == trim_serial(leaf.raw_serial()))
}

/// Serials compare as integers: a leading zero byte (sign padding) is not significant.
fn trim_serial(s: &[u8]) -> &[u8] {
    match s {
        [0, rest @ ..] if !rest.is_empty() => rest,
        other => other,
    }
}
