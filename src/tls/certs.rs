//! Loading a `{cert, key}` pair and checking everything an operator can get wrong with it.

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// A certificate chain and key that load, match and are ordered, ready to serve.
pub struct LoadedCert {
    /// Certificate chain file.
    pub cert_path: PathBuf,
    /// Private key file.
    pub key_path: PathBuf,
    /// What rustls serves.
    pub certified: Arc<CertifiedKey>,
    /// DNS names from the leaf's SANs, lowercase; wildcards keep their `*.` prefix.
    pub names: Vec<String>,
    /// Leaf `notBefore`.
    pub not_before: SystemTime,
    /// Leaf `notAfter`.
    pub not_after: SystemTime,
    /// Hex SHA-256 of the leaf DER: identifies "the same certificate" across reloads.
    pub fingerprint: String,
    /// Leaf subject, for logs.
    pub subject: String,
    /// The ACME certificate id, when the pair comes from the ACME state directory.
    pub acme: Option<String>,
    /// Fetch and staple OCSP responses for it (`ocsp_fetch`).
    pub ocsp_fetch: bool,
    /// A validated OCSP response from `ocsp_file`, attached.
    pub staple: Option<crate::tls::ocsp::Stapled>,
}

impl fmt::Debug for LoadedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedCert")
            .field("cert_path", &self.cert_path)
            .field("names", &self.names)
            .field("not_after", &self.not_after)
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

impl LoadedCert {
    /// Seconds since the epoch at which the leaf expires (for metrics).
    pub fn not_after_unix(&self) -> u64 {
        self.not_after
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    /// Time left before expiry at `now` (zero when already expired).
    pub fn remaining(&self, now: SystemTime) -> Duration {
        self.not_after.duration_since(now).unwrap_or(Duration::ZERO)
    }
}

/// Why a certificate pair cannot be served. Each variant names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The file holds no PEM certificate.
    #[error("no PEM certificate found in {}", path.display())]
    NoCertificate {
        /// File.
        path: PathBuf,
    },
    /// The file holds no PEM private key.
    #[error("no PEM private key found in {}", path.display())]
    NoKey {
        /// File.
        path: PathBuf,
    },
    /// A certificate in the file is not valid X.509 DER.
    #[error("{}: certificate #{index} is not valid X.509: {reason}", path.display())]
    BadCertificate {
        /// File.
        path: PathBuf,
        /// Position in the file (1-based).
        index: usize,
        /// Parser message.
        reason: String,
    },
    /// The private key file is readable by every user of the machine.
    #[error("private key {} is readable by everyone (mode {mode:o}); run chmod o-rwx on it", path.display())]
    KeyWorldReadable {
        /// File.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key type is not supported by the ring provider.
    #[error("{}: unsupported private key type ({reason}); use an RSA, ECDSA P-256/P-384 or Ed25519 key", path.display())]
    UnsupportedKey {
        /// File.
        path: PathBuf,
        /// rustls message.
        reason: String,
    },
    /// The key does not belong to the leaf certificate.
    #[error("private key {} does not match certificate {}", key.display(), cert.display())]
    KeyMismatch {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
    },
    /// The chain is not leaf first, each certificate followed by its issuer.
    #[error("{}: certificate chain out of order: certificate #{index} ({subject}) was not issued by the next one ({next}); put the leaf first, then each issuer", path.display())]
    ChainOrder {
        /// File.
        path: PathBuf,
        /// 1-based position of the certificate whose issuer is wrong.
        index: usize,
        /// Its subject.
        subject: String,
        /// Subject of the certificate that follows it.
        next: String,
    },
}

/// Reads and checks a pair. `now` is only used by callers for expiry policy, not here:
/// an expired certificate still *loads*, because whether that is an error depends on whether
/// it is new (see `config::validate`).
///
/// # Errors
/// Any [`CertError`]; each names the file at fault.
pub fn load_pair(cert_path: &Path, key_path: &Path) -> Result<LoadedCert, CertError> {
    let cert_pem = read(cert_path)?;
    let key_pem = read(key_path)?;
    check_key_permissions(key_path)?;
    from_pem(cert_path, key_path, &cert_pem, &key_pem)
}

/// Checks a pair given as PEM text (the paths are only for messages): what ACME runs on an
/// issued certificate before writing it.
///
/// # Errors
/// Any [`CertError`] but `Read` and `KeyWorldReadable`.
pub fn from_pem(
    cert_path: &Path,
    key_path: &Path,
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<LoadedCert, CertError> {
    let chain = parse_cert_chain(cert_path, cert_pem)?;
    let key = parse_key(key_path, key_pem)?;
    build(cert_path, key_path, chain, key)
}

/// A private key anyone on the machine can read is refused (as OpenSSH does): the operator
/// meant something else.
pub fn check_key_permissions(path: &Path) -> Result<(), CertError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|source| CertError::Read {
            path: path.to_path_buf(),
            source,
        })?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o004 != 0 {
        return Err(CertError::KeyWorldReadable {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>, CertError> {
    std::fs::read(path).map_err(|source| CertError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Parses every certificate in a PEM file (leaf first).
///
/// # Errors
/// `NoCertificate` when none is present, `BadCertificate` for unparseable DER.
pub fn parse_cert_chain(
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let mut reader = pem;
    let mut chain = Vec::new();
    for (i, item) in rustls_pemfile::certs(&mut reader).enumerate() {
        let der = item.map_err(|e| CertError::BadCertificate {
            path: path.to_path_buf(),
            index: i + 1,
            reason: e.to_string(),
        })?;
        X509Certificate::from_der(der.as_ref()).map_err(|e| CertError::BadCertificate {
            path: path.to_path_buf(),
            index: i + 1,
            reason: e.to_string(),
        })?;
        chain.push(der);
    }
    if chain.is_empty() {
        return Err(CertError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(chain)
}

/// Parses the first private key in a PEM file.
///
/// # Errors
/// `NoKey` when the file holds no key (or only garbage).
pub fn parse_key(path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, CertError> {
    let mut reader = pem;
    match rustls_pemfile::private_key(&mut reader) {
        Ok(Some(key)) => Ok(key),
        _ => Err(CertError::NoKey {
            path: path.to_path_buf(),
        }),
    }
}

fn build(
    cert_path: &Path,
    key_path: &Path,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<LoadedCert, CertError> {
    check_chain_order(cert_path, &chain)?;
    let provider = rustls::crypto::ring::default_provider();
    let signing_key =
        provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| CertError::UnsupportedKey {
                path: key_path.to_path_buf(),
                reason: e.to_string(),
            })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(_) => {
            return Err(CertError::KeyMismatch {
                cert: cert_path.to_path_buf(),
                key: key_path.to_path_buf(),
            })
        }
    }
    let leaf_der = certified
        .cert
        .first()
        .ok_or_else(|| CertError::NoCertificate {
            path: cert_path.to_path_buf(),
        })?;
    let (_, leaf) =
        X509Certificate::from_der(leaf_der.as_ref()).map_err(|e| CertError::BadCertificate {
            path: cert_path.to_path_buf(),
            index: 1,
            reason: e.to_string(),
        })?;
    let names = san_dns_names(&leaf);
    let validity = leaf.validity();
    let not_before = unix_to_system(validity.not_before.timestamp());
    let not_after = unix_to_system(validity.not_after.timestamp());
    let fingerprint = super::sha256_hex(&[leaf_der.as_ref()]);
    let subject = leaf.subject().to_string();
    Ok(LoadedCert {
        cert_path: cert_path.to_path_buf(),
        key_path: key_path.to_path_buf(),
        certified: Arc::new(certified),
        names,
        not_before,
        not_after,
        fingerprint,
        subject,
        acme: None,
        ocsp_fetch: false,
        staple: None,
    })
}

fn check_chain_order(path: &Path, chain: &[CertificateDer<'static>]) -> Result<(), CertError> {
    let parsed: Vec<X509Certificate<'_>> = chain
        .iter()
        .filter_map(|der| X509Certificate::from_der(der.as_ref()).ok().map(|(_, c)| c))
        .collect();
    for (i, pair) in parsed.windows(2).enumerate() {
        let (child, parent) = (&pair[0], &pair[1]);
        if child.issuer().as_raw() != parent.subject().as_raw() {
            return Err(CertError::ChainOrder {
                path: path.to_path_buf(),
                index: i + 1,
                subject: child.subject().to_string(),
                next: parent.subject().to_string(),
            });
        }
    }
    Ok(())
}

fn san_dns_names(cert: &X509Certificate<'_>) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(dns) = name {
                let lower = dns.trim_end_matches('.').to_ascii_lowercase();
                if !lower.is_empty() && !names.contains(&lower) {
                    names.push(lower);
                }
            }
        }
    }
    names
}

fn unix_to_system(secs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::certs::CertError;
    use rcgen::{CertificateParams, KeyPair};

    fn write(dir: &Path, name: &str, data: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(&p, data).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p
    }

    fn self_signed(names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn loads_a_good_pair_and_reads_sans() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(&["www.example.test", "*.example.test"]);
        let c = write(dir.path(), "c.pem", &cert);
        let k = write(dir.path(), "k.pem", &key);
        let loaded = load_pair(&c, &k).unwrap();
        assert_eq!(loaded.names, vec!["www.example.test", "*.example.test"]);
        assert!(loaded.not_after > SystemTime::now());
        assert_eq!(loaded.fingerprint.len(), 64);
    }

    #[test]
    fn every_bad_file_gives_its_own_error() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(&["a.test"]);
        let (_, other_key) = self_signed(&["b.test"]);
        let c = write(dir.path(), "c.pem", &cert);
        let k = write(dir.path(), "k.pem", &key);
        let wrong_k = write(dir.path(), "wrong.pem", &other_key);
        let empty = write(dir.path(), "empty.pem", "nothing here\n");
        let missing = dir.path().join("missing.pem");

        assert!(matches!(
            load_pair(&missing, &k),
            Err(CertError::Read { .. })
        ));
        assert!(matches!(
            load_pair(&empty, &k),
            Err(CertError::NoCertificate { .. })
        ));
        assert!(matches!(
            load_pair(&c, &empty),
            Err(CertError::NoKey { .. })
        ));
        let err = load_pair(&c, &wrong_k).unwrap_err();
        assert!(matches!(err, CertError::KeyMismatch { .. }));
        assert!(
            err.to_string().contains("does not match certificate"),
            "{err}"
        );
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_pair(&c, &k).unwrap_err();
        assert!(
            matches!(err, CertError::KeyWorldReadable { mode: 0o644, .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains("readable by everyone (mode 644)"),
            "{err}"
        );
    }

    #[test]
    fn chain_out_of_order_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["leaf.test".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let k = write(dir.path(), "k.pem", &leaf_key.serialize_pem());
        let good = write(
            dir.path(),
            "good.pem",
            &format!("{}{}", leaf.pem(), ca.pem()),
        );
        let bad = write(
            dir.path(),
            "bad.pem",
            &format!("{}{}", ca.pem(), leaf.pem()),
        );
        assert!(load_pair(&good, &k).is_ok());
        // CA first: the leaf key does not match the first certificate, and the order is wrong;
        // the order check runs first and names the problem precisely.
        let err = load_pair(&bad, &k).unwrap_err();
        assert!(matches!(err, CertError::ChainOrder { .. }), "{err}");
        assert!(err.to_string().contains("out of order"));
    }
}
