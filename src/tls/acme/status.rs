//! What `/status` and the metrics say about each ACME certificate: expiry, when renewal is
//! due, the last attempt and its error, the next retry.

use crate::metrics::names;
use metrics::gauge;
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// One ACME certificate, as `/status` shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AcmeStatus {
    /// Identity (also the directory name under `certs/`).
    pub id: String,
    /// Names covered.
    pub names: Vec<String>,
    /// Listener it is configured on.
    pub listener: String,
    /// `http-01` or `tls-alpn-01`.
    pub challenge: &'static str,
    /// `valid`, `missing` (never obtained), `renewing`, `failing` (last attempt failed; the
    /// existing certificate, if any, keeps serving).
    pub state: &'static str,
    /// Expiry of the certificate on disk (seconds since the epoch).
    pub not_after_unix: Option<u64>,
    /// When renewal is due.
    pub renew_at_unix: Option<u64>,
    /// When the CA's ARI window suggested renewing (RFC 9773), if it has ARI.
    pub ari_renew_at_unix: Option<u64>,
    /// Last order attempt by this process.
    pub last_attempt_unix: Option<u64>,
    /// Last successful order by this process.
    pub last_success_unix: Option<u64>,
    /// The last attempt's error (cleared by a success).
    pub last_error: Option<String>,
    /// Consecutive failures.
    pub failures: u32,
    /// When the next attempt may run (backoff after failures).
    pub next_attempt_unix: Option<u64>,
}

impl AcmeStatus {
    /// A fresh entry.
    pub fn new(id: &str, names: &[String], listener: &str, challenge: &'static str) -> Self {
        AcmeStatus {
            id: id.to_string(),
            names: names.to_vec(),
            listener: listener.to_string(),
            challenge,
            state: "missing",
            not_after_unix: None,
            renew_at_unix: None,
            ari_renew_at_unix: None,
            last_attempt_unix: None,
            last_success_unix: None,
            last_error: None,
            failures: 0,
            next_attempt_unix: None,
        }
    }
}

/// Seconds since the epoch.
pub fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Every ACME certificate's status, by id.
#[derive(Debug, Default)]
pub struct Registry {
    certs: Mutex<BTreeMap<String, AcmeStatus>>,
}

impl Registry {
    /// All entries, by id.
    pub fn list(&self) -> Vec<AcmeStatus> {
        self.certs.lock().values().cloned().collect()
    }

    /// Keeps only the ids still configured.
    pub fn retain(&self, ids: &[String]) {
        self.certs.lock().retain(|id, _| ids.contains(id));
    }

    /// Updates (creating with `fresh` first) one entry and republishes its gauges.
    pub fn update(&self, fresh: impl FnOnce() -> AcmeStatus, f: impl FnOnce(&mut AcmeStatus)) {
        let mut certs = self.certs.lock();
        let initial = fresh();
        let entry = certs.entry(initial.id.clone()).or_insert(initial);
        f(entry);
        let label = entry.id.clone();
        if let Some(t) = entry.not_after_unix {
            gauge!(names::ACME_CERTIFICATE_EXPIRY_SECONDS, names::label::CERTIFICATE => label.clone())
                .set(t as f64);
        }
        if let Some(t) = entry.renew_at_unix {
            gauge!(names::ACME_RENEWAL_DUE_SECONDS, names::label::CERTIFICATE => label.clone())
                .set(t as f64);
        }
        if let Some(t) = entry.last_attempt_unix {
            gauge!(names::ACME_LAST_ATTEMPT_SECONDS, names::label::CERTIFICATE => label.clone())
                .set(t as f64);
        }
        gauge!(names::ACME_CERTIFICATE_FAILING, names::label::CERTIFICATE => label)
            .set(if entry.last_error.is_some() { 1.0 } else { 0.0 });
    }
}
