//! SNI → certificate lookup for one listener: exact name, then single-label wildcard, then the
//! default (or nothing, when the operator chose to refuse unknown names).
//!
//! Lookups are two hash probes at most, whatever the number of certificates, because a
//! wildcard covers exactly one label (RFC 6125 §6.4.3): for `a.b.example.test` the only
//! wildcard that can match is `*.b.example.test`.

use super::certs::LoadedCert;
use super::live::TlsLive;
use super::ocsp::Stapled;
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::Arc;

/// What an https listener does with an SNI name that no certificate covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownSni {
    /// Serve the default certificate.
    Default,
    /// Abort the handshake.
    Reject,
}

/// One certificate as the handshake path serves it: with its OCSP staple when one is valid.
#[derive(Debug)]
pub struct Served {
    /// The certificate without a staple.
    pub certified: Arc<CertifiedKey>,
    /// Hex SHA-256 of the leaf (the key of fetched staples).
    pub fingerprint: Arc<str>,
    /// The staple from `ocsp_file`, if it validated.
    pub file_staple: Option<Stapled>,
    /// Whether fetched staples apply (`ocsp_fetch`).
    pub fetch: bool,
}

impl Served {
    /// What to send: with a current staple (file first, then fetched), else without one. An
    /// expired staple is never sent.
    pub fn pick(&self, live: &TlsLive) -> Arc<CertifiedKey> {
        if let Some(s) = self.file_staple.as_ref().filter(|s| s.current()) {
            return s.certified.clone();
        }
        if self.fetch {
            if let Some(found) = live.stapled(&self.fingerprint) {
                return found;
            }
        }
        self.certified.clone()
    }
}

/// The certificates of one listener, indexed for the handshake path.
#[derive(Debug, Default, Clone)]
pub struct CertStore {
    exact: HashMap<String, Arc<Served>>,
    wildcard: HashMap<String, Arc<Served>>,
    default: Option<Arc<Served>>,
    serve_default_for_unknown: bool,
}

impl CertStore {
    /// Indexes `certs`; the first certificate claiming a name wins that name.
    pub fn build(certs: &[Arc<LoadedCert>], default: Option<usize>, unknown: UnknownSni) -> Self {
        let mut store = CertStore {
            serve_default_for_unknown: unknown == UnknownSni::Default,
            ..CertStore::default()
        };
        let served: Vec<Arc<Served>> = certs
            .iter()
            .map(|c| {
                Arc::new(Served {
                    certified: c.certified.clone(),
                    fingerprint: Arc::from(c.fingerprint.as_str()),
                    file_staple: c.staple.clone(),
                    fetch: c.ocsp_fetch,
                })
            })
            .collect();
        for (cert, entry) in certs.iter().zip(&served) {
            for name in &cert.names {
                let table = match name.strip_prefix("*.") {
                    Some(suffix) => store.wildcard.entry(suffix.to_string()),
                    None => store.exact.entry(name.clone()),
                };
                table.or_insert_with(|| entry.clone());
            }
        }
        store.default = default.and_then(|i| served.get(i)).cloned();
        store
    }

    /// The certificate for a ClientHello's SNI (`None` = refuse the handshake).
    pub fn lookup(&self, sni: Option<&str>) -> Option<Arc<Served>> {
        let Some(name) = sni else {
            return self.default_for_unknown();
        };
        // rustls hands us the SNI already lowercased and without a trailing dot.
        if let Some(found) = self.exact.get(name) {
            return Some(found.clone());
        }
        if let Some((_, parent)) = name.split_once('.') {
            if let Some(found) = self.wildcard.get(parent) {
                return Some(found.clone());
            }
        }
        self.default_for_unknown()
    }

    fn default_for_unknown(&self) -> Option<Arc<Served>> {
        if self.serve_default_for_unknown {
            self.default.clone()
        } else {
            None
        }
    }

    /// Number of names indexed (exact + wildcard), for status output.
    pub fn name_count(&self) -> usize {
        self.exact.len() + self.wildcard.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::certs::load_pair;

    fn cert(dir: &std::path::Path, tag: &str, names: &[&str]) -> Arc<LoadedCert> {
        let key = rcgen::KeyPair::generate().unwrap();
        let c =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap()
                .self_signed(&key)
                .unwrap();
        let cp = dir.join(format!("{tag}.crt"));
        let kp = dir.join(format!("{tag}.key"));
        std::fs::write(&cp, c.pem()).unwrap();
        std::fs::write(&kp, key.serialize_pem()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&kp, std::fs::Permissions::from_mode(0o600)).unwrap();
        Arc::new(load_pair(&cp, &kp).unwrap())
    }

    #[test]
    fn most_specific_match_wins() {
        let dir = tempfile::tempdir().unwrap();
        let exact = cert(dir.path(), "exact", &["www.example.test"]);
        let wild = cert(dir.path(), "wild", &["*.example.test"]);
        let def = cert(dir.path(), "def", &["default.test"]);
        let certs = vec![wild.clone(), exact.clone(), def.clone()];
        let store = CertStore::build(&certs, Some(2), UnknownSni::Default);
        let same = |a: &Arc<Served>, b: &Arc<LoadedCert>| Arc::ptr_eq(&a.certified, &b.certified);
        assert!(same(
            &store.lookup(Some("www.example.test")).unwrap(),
            &exact
        ));
        assert!(same(
            &store.lookup(Some("api.example.test")).unwrap(),
            &wild
        ));
        // a wildcard covers one label only
        assert!(same(&store.lookup(Some("a.b.example.test")).unwrap(), &def));
        assert!(same(&store.lookup(Some("example.test")).unwrap(), &def));
        assert!(same(&store.lookup(None).unwrap(), &def));

        let strict = CertStore::build(&certs, Some(2), UnknownSni::Reject);
        assert!(strict.lookup(Some("other.test")).is_none());
        assert!(strict.lookup(None).is_none());
        assert!(strict.lookup(Some("www.example.test")).is_some());
    }
}
