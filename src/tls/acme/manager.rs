//! The ACME control-plane task: one loop over every ACME certificate the current config names.
//!
//! Each pass, per certificate (by identity, so reloads keep its schedule):
//! 1. read the files in the state directory; if they differ from what is served (this node or
//!    the other one wrote them), reload so they are served;
//! 2. if the certificate is missing, or renewal is due (a third of its life left, or
//!    `renew_before`, or the CA's ARI window), and no backoff is running: take the state lock
//!    (another holder: try again shortly, it is ordering), re-read the files (the other node may
//!    just have renewed), order, write the files atomically, reload.
//!
//! Failures never touch what is served: they are logged, counted, shown in `/status`, and
//! retried after `retry_initial`, doubling up to `retry_max`. The loop sleeps until the next
//! renewal or retry is due, `check_interval` at most, or until the config changes.

use super::lock::StateLock;
use super::status::{unix, AcmeStatus};
use super::store::StateDir;
use super::{account, order, AcmeCert, AcmeError, AcmeSettings};
use crate::metrics::names;
use crate::reload::{Reloader, Trigger};
use crate::runtime::SharedState;
use metrics::counter;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;
use x509_parser::prelude::{FromDer, X509Certificate};

/// One order may take this long (challenges, polling, download) before it counts as failed.
const ORDER_TIMEOUT: Duration = Duration::from_secs(180);

/// A certificate as found in the state directory.
struct OnDisk {
    fingerprint: String,
    not_before: SystemTime,
    not_after: SystemTime,
    leaf: Vec<u8>,
}

fn on_disk(dir: &StateDir, id: &str) -> Option<OnDisk> {
    let (pem, _) = dir.read_pair(id)?;
    let leaf = rustls_pemfile::certs(&mut pem.as_slice()).next()?.ok()?;
    let (_, cert) = X509Certificate::from_der(leaf.as_ref()).ok()?;
    let time = |t: i64| SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(t).unwrap_or(0));
    Some(OnDisk {
        fingerprint: crate::tls::sha256_hex(&[leaf.as_ref()]),
        not_before: time(cert.validity().not_before.timestamp()),
        not_after: time(cert.validity().not_after.timestamp()),
        leaf: leaf.to_vec(),
    })
}

/// When a certificate is due for renewal: `renew_before` ahead of expiry, else when a third of
/// its life is left (Let's Encrypt's advice: day 60 of 90).
pub fn renew_at(
    not_before: SystemTime,
    not_after: SystemTime,
    renew_before: Option<Duration>,
) -> SystemTime {
    let margin = renew_before
        .unwrap_or_else(|| not_after.duration_since(not_before).unwrap_or_default() / 3);
    not_after
        .checked_sub(margin)
        .map_or(not_before, |t| t.max(not_before))
}

/// The wait after `failures` consecutive failures.
pub fn backoff(settings: &AcmeSettings, failures: u32) -> Duration {
    settings
        .retry_initial
        .saturating_mul(1u32 << failures.saturating_sub(1).min(20))
        .min(settings.retry_max)
}

#[derive(Default)]
struct Schedule {
    next_attempt: Option<Instant>,
    failures: u32,
    /// ARI: suggested renewal time, and when to ask again.
    ari: Option<SystemTime>,
    ari_next: Option<Instant>,
}

enum Outcome {
    Ordered,
    RenewedElsewhere,
    Busy,
}

/// The manager's state between passes.
pub struct Manager {
    state: Arc<SharedState>,
    reloader: Arc<Reloader>,
    schedules: HashMap<String, Schedule>,
    account: Option<(String, instant_acme::Account)>,
}

impl Manager {
    /// A manager publishing through `reloader`.
    pub fn new(state: Arc<SharedState>, reloader: Arc<Reloader>) -> Self {
        Manager {
            state,
            reloader,
            schedules: HashMap::new(),
            account: None,
        }
    }

    /// Runs until shutdown.
    pub async fn run(mut self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut generations = self.state.subscribe();
        loop {
            let wake = self.pass().await;
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                changed = generations.changed() => if changed.is_err() { return },
                _ = shutdown.changed() => return,
            }
        }
    }

    /// One pass over every certificate; returns when the next pass is due.
    async fn pass(&mut self) -> Instant {
        let snapshot = self.state.load();
        let tls = self.state.tls.clone();
        let Some(settings) = snapshot.config.acme.clone() else {
            tls.challenges.set_shared(None);
            tls.acme.retain(&[]);
            return Instant::now() + Duration::from_secs(3600);
        };
        let dir = StateDir::new(&settings.state_dir);
        tls.challenges.set_shared(Some(dir.clone()));
        let mut certs: Vec<AcmeCert> = Vec::new();
        for c in snapshot.config.listeners.iter().flat_map(|l| l.acme.iter()) {
            if !certs.iter().any(|o| o.id == c.id) {
                certs.push(c.clone());
            }
        }
        let served: HashMap<String, String> = snapshot
            .config
            .listeners
            .iter()
            .flat_map(|l| l.certificates.iter())
            .filter_map(|c| c.acme.clone().map(|id| (id, c.fingerprint.clone())))
            .collect();
        drop(snapshot);
        let ids: Vec<String> = certs.iter().map(|c| c.id.clone()).collect();
        tls.acme.retain(&ids);
        self.schedules.retain(|id, _| ids.contains(id));

        let mut wake = Instant::now() + settings.check_interval;
        let mut reload = false;
        for cert in &certs {
            let fresh = || {
                AcmeStatus::new(
                    &cert.id,
                    &cert.names,
                    &cert.listener,
                    cert.challenge.as_str(),
                )
            };
            let disk = on_disk(&dir, &cert.id);
            if disk.as_ref().map(|d| &d.fingerprint) != served.get(&cert.id) && disk.is_some() {
                reload = true;
            }
            self.check_ari(&settings, &dir, cert, disk.as_ref()).await;
            let sched = self.schedules.entry(cert.id.clone()).or_default();
            let now = SystemTime::now();
            let due_at = disk.as_ref().map(|d| {
                let at = renew_at(d.not_before, d.not_after, settings.renew_before);
                sched.ari.map_or(at, |ari| ari.min(at))
            });
            tls.acme.update(fresh, |s| {
                s.not_after_unix = disk.as_ref().map(|d| unix(d.not_after));
                s.renew_at_unix = due_at.map(unix);
                s.ari_renew_at_unix = sched.ari.map(unix);
                if s.last_error.is_none() {
                    s.state = match due_at {
                        None => "missing",
                        Some(at) if now >= at => "renewing",
                        Some(_) => "valid",
                    };
                }
            });
            if let Some(at) = due_at.filter(|at| now < *at) {
                let until = at.duration_since(now).unwrap_or_default();
                wake = wake.min(Instant::now() + until);
                continue;
            }
            if let Some(next) = sched.next_attempt.filter(|n| *n > Instant::now()) {
                wake = wake.min(next);
                continue;
            }
            let attempted_at = SystemTime::now();
            tls.acme.update(fresh, |s| {
                s.last_attempt_unix = Some(unix(attempted_at));
                s.state = "renewing";
            });
            let result = self.attempt(&settings, &dir, cert, disk.as_ref()).await;
            let sched = self.schedules.entry(cert.id.clone()).or_default();
            match result {
                Ok(Outcome::Busy) => {
                    // Another process holds the lock: it is ordering; look again soon.
                    let soon = Instant::now() + settings.retry_initial.min(settings.check_interval);
                    sched.next_attempt = Some(soon);
                    wake = wake.min(soon);
                }
                Ok(outcome) => {
                    reload = true;
                    sched.failures = 0;
                    sched.next_attempt = None;
                    sched.ari = None;
                    let ordered = matches!(outcome, Outcome::Ordered);
                    if ordered {
                        counter!(names::ACME_ORDERS_TOTAL, names::label::CERTIFICATE => cert.id.clone(), names::label::RESULT => "ok").increment(1);
                        tracing::info!(certificate = %cert.id, names = %cert.names.join(","), "ACME certificate obtained");
                    }
                    tls.acme.update(fresh, |s| {
                        if ordered {
                            s.last_success_unix = Some(unix(SystemTime::now()));
                        }
                        s.last_error = None;
                        s.failures = 0;
                        s.next_attempt_unix = None;
                        s.state = "valid";
                    });
                }
                Err(e) => {
                    sched.failures += 1;
                    let wait = backoff(&settings, sched.failures);
                    let next = Instant::now() + wait;
                    sched.next_attempt = Some(next);
                    wake = wake.min(next);
                    counter!(names::ACME_ORDERS_TOTAL, names::label::CERTIFICATE => cert.id.clone(), names::label::RESULT => "error").increment(1);
                    tracing::warn!(certificate = %cert.id, error = %e, retry_in = ?wait, failures = sched.failures, "ACME order failed; the current certificate (if any) keeps serving");
                    let failures = sched.failures;
                    tls.acme.update(fresh, |s| {
                        s.last_error = Some(e.to_string());
                        s.failures = failures;
                        s.next_attempt_unix = Some(unix(SystemTime::now() + wait));
                        s.state = "failing";
                    });
                    // A broken account or directory is rebuilt on the next attempt.
                    self.account = None;
                }
            }
        }
        if reload {
            let reloader = self.reloader.clone();
            match tokio::task::spawn_blocking(move || reloader.reload(Trigger::Acme)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "new ACME certificate written, but the config reload failed; it will be served by the next successful reload")
                }
                Err(e) => tracing::error!(error = %e, "reload task failed"),
            }
        }
        wake.max(Instant::now() + Duration::from_millis(100))
    }

    async fn account(
        &mut self,
        settings: &AcmeSettings,
        dir: &StateDir,
        create: bool,
    ) -> Result<Option<instant_acme::Account>, AcmeError> {
        if let Some((directory, account)) = &self.account {
            if *directory == settings.directory {
                return Ok(Some(account.clone()));
            }
        }
        let account = if create {
            Some(account::load_or_create(settings, dir).await?)
        } else {
            account::load(settings, dir).await?
        };
        if let Some(a) = &account {
            self.account = Some((settings.directory.clone(), a.clone()));
        }
        Ok(account)
    }

    /// Asks the CA for its renewal window (ARI), at most as often as it says.
    async fn check_ari(
        &mut self,
        settings: &AcmeSettings,
        dir: &StateDir,
        cert: &AcmeCert,
        disk: Option<&OnDisk>,
    ) {
        let Some(disk) = disk else { return };
        let due = self
            .schedules
            .get(&cert.id)
            .and_then(|s| s.ari_next)
            .is_none_or(|n| n <= Instant::now());
        if !due {
            return;
        }
        let ask_again = match self.account(settings, dir, false).await {
            Ok(Some(account)) => match order::ari_renewal(&account, &disk.leaf).await {
                Ok(Some((at, retry))) => {
                    self.schedules.entry(cert.id.clone()).or_default().ari = Some(at);
                    retry.clamp(Duration::from_secs(60), Duration::from_secs(86_400))
                }
                Ok(None) => settings.check_interval.max(Duration::from_secs(3600)),
                Err(e) => {
                    tracing::debug!(certificate = %cert.id, error = %e, "ARI lookup failed");
                    settings.check_interval
                }
            },
            Ok(None) | Err(_) => settings.check_interval,
        };
        self.schedules.entry(cert.id.clone()).or_default().ari_next =
            Some(Instant::now() + ask_again);
    }

    async fn attempt(
        &mut self,
        settings: &AcmeSettings,
        dir: &StateDir,
        cert: &AcmeCert,
        before: Option<&OnDisk>,
    ) -> Result<Outcome, AcmeError> {
        let Some(_lock) = StateLock::try_acquire(&dir.lock())? else {
            return Ok(Outcome::Busy);
        };
        // With the lock held, look again: the other node may have renewed while we waited.
        if let Some(now) = on_disk(dir, &cert.id) {
            let changed = before.is_none_or(|b| b.fingerprint != now.fingerprint);
            let fresh =
                SystemTime::now() < renew_at(now.not_before, now.not_after, settings.renew_before);
            if changed && fresh {
                return Ok(Outcome::RenewedElsewhere);
            }
        }
        let account = self
            .account(settings, dir, true)
            .await?
            .ok_or_else(|| AcmeError::Certificate("no account".into()))?;
        let replaces = before
            .filter(|_| {
                self.schedules
                    .get(&cert.id)
                    .is_some_and(|s| s.ari.is_some())
            })
            .and_then(|b| order::ari_identifier(&b.leaf));
        let challenges = &self.state.tls.challenges;
        let issued = tokio::time::timeout(
            ORDER_TIMEOUT,
            order::obtain(&account, cert, challenges, replaces),
        )
        .await
        .map_err(|_| AcmeError::Timeout(ORDER_TIMEOUT))??;
        // Never write what would not load.
        crate::tls::certs::from_pem(
            &dir.cert(&cert.id),
            &dir.key(&cert.id),
            issued.chain_pem.as_bytes(),
            issued.key_pem.as_bytes(),
        )
        .map_err(|e| AcmeError::Certificate(e.to_string()))?;
        dir.write_pair(
            &cert.id,
            issued.chain_pem.as_bytes(),
            issued.key_pem.as_bytes(),
        )?;
        Ok(Outcome::Ordered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renews_with_a_third_left_or_renew_before() {
        let nb = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let na = nb + Duration::from_secs(90 * 86_400);
        assert_eq!(
            renew_at(nb, na, None),
            nb + Duration::from_secs(60 * 86_400)
        );
        assert_eq!(
            renew_at(nb, na, Some(Duration::from_secs(10 * 86_400))),
            nb + Duration::from_secs(80 * 86_400)
        );
        assert_eq!(
            renew_at(nb, na, Some(Duration::from_secs(1000 * 86_400))),
            nb
        );
    }
}
