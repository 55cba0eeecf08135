//! TLS state that lives outside the snapshot because it changes on its own schedule, not with
//! the config: fetched OCSP staples (by certificate fingerprint, so a reload that keeps a
//! certificate keeps its staple), pending ACME challenges and the ACME status. One per process,
//! held by [`crate::runtime::SharedState`].

use super::acme::challenge::Challenges;
use super::acme::status::Registry;
use super::ocsp::Stapled;
use arc_swap::ArcSwap;
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::Arc;

/// See the module docs.
#[derive(Debug, Default)]
pub struct TlsLive {
    /// Fetched staples, by certificate fingerprint (copy-on-write: written rarely, read on
    /// every handshake of a certificate that has one).
    staples: ArcSwap<HashMap<Arc<str>, Stapled>>,
    /// Pending ACME challenges.
    pub challenges: Challenges,
    /// ACME certificates' status.
    pub acme: Registry,
}

impl TlsLive {
    /// The certificate with fingerprint `fingerprint` with its fetched staple, if one is
    /// current.
    pub fn stapled(&self, fingerprint: &str) -> Option<Arc<CertifiedKey>> {
        let staples = self.staples.load();
        if staples.is_empty() {
            return None;
        }
        staples
            .get(fingerprint)
            .filter(|s| s.current())
            .map(|s| s.certified.clone())
    }

    /// Attaches (or replaces) a fetched staple.
    pub fn set_staple(&self, fingerprint: Arc<str>, stapled: Stapled) {
        self.staples.rcu(|old| {
            let mut next = HashMap::clone(old);
            next.insert(fingerprint.clone(), stapled.clone());
            next
        });
    }

    /// Drops a certificate's staple.
    pub fn remove_staple(&self, fingerprint: &str) {
        self.staples.rcu(|old| {
            let mut next = HashMap::clone(old);
            next.remove(fingerprint);
            next
        });
    }

    /// Keeps only the staples of certificates for which `keep` is true.
    pub fn retain_staples(&self, keep: impl Fn(&str) -> bool) {
        if self.staples.load().keys().all(|k| keep(k)) {
            return;
        }
        self.staples.rcu(|old| {
            let mut next = HashMap::clone(old);
            next.retain(|k, _| keep(k));
            next
        });
    }

    /// Whether any fetched staple exists (tests, status).
    pub fn staple_count(&self) -> usize {
        self.staples.load().len()
    }
}
