//! Reloading: one transaction, used by every trigger (file watch, SIGHUP, `gatehouse reload`
//! through the admin API, tests).
//!
//! read → (unchanged content? stop) → validate → build a new snapshot, reusing unchanged pools →
//! swap → report. Any failure leaves the current snapshot serving untouched, logs one line that
//! names the file, key and line, and is counted (`result="error"`). Settings bound at startup
//! (listener addresses, TLS on/off, ALPN, threads, admin address…) are not applied: they are
//! compared with what the process applied at start and reported as needing a restart for as
//! long as they differ; everything else is live.

pub mod diff;
pub mod loader;
pub mod relevant;
pub mod signal;
pub mod watch;

use crate::config::resolve::{Resolve, SystemResolver};
use crate::config::{self, ConfigError, Issue};
use crate::metrics::names;
use crate::runtime::{SharedState, Snapshot};
use diff::Changes;
use metrics::{counter, gauge};
use parking_lot::Mutex;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// What started a reload (for logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The config file or a file it names changed.
    FileWatch,
    /// SIGHUP.
    Signal,
    /// `POST /reload` on the admin listener (`gatehouse reload`).
    Admin,
    /// Called directly (tests, startup).
    Api,
    /// An ACME certificate was obtained or renewed (here or by the other node of a pair).
    Acme,
}

/// A successful reload.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadOutcome {
    /// The generation now serving.
    pub generation: u64,
    /// False when the files were unchanged (nothing was rebuilt).
    pub applied: bool,
    /// What changed.
    pub changes: Changes,
    /// Cold settings of the served config that this process does not run with: they need
    /// `gatehouse upgrade` (or a restart). Reported by every reload until applied, not only by
    /// the one that brought them in.
    pub restart_required: Vec<String>,
    /// Warnings from validation (expiring certificates, …).
    pub warnings: Vec<String>,
    /// Time spent, file read to snapshot serving.
    pub duration_ms: f64,
}

/// A refused reload; the previous config keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file is unreadable or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Another reload failed to finish (a panic in a previous attempt).
    #[error("reload machinery unavailable: {0}")]
    Internal(String),
}

impl ReloadError {
    /// Every problem, one per line.
    pub fn issues(&self) -> Vec<String> {
        match self {
            ReloadError::Config(e) => e.issues(),
            ReloadError::Internal(e) => vec![e.clone()],
        }
    }
}

/// One reload attempt, for `/status` and for anyone awaiting a reload.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadReport {
    /// Attempts so far (increases by one per attempt, whatever the result).
    pub attempt: u64,
    /// What started it.
    pub trigger: Trigger,
    /// `ok`, `unchanged` or `error`.
    pub result: &'static str,
    /// Generation serving after the attempt.
    pub generation: u64,
    /// Problems, when refused.
    pub errors: Vec<String>,
    /// Cold settings waiting for `gatehouse upgrade` after the attempt (whatever its result).
    pub restart_required: Vec<String>,
    /// When (seconds since the epoch).
    pub at_unix: f64,
    /// Time the attempt took, file read to the new snapshot serving (or to the refusal).
    pub duration_ms: f64,
}

/// Owns the reload transaction for one config file. Every attempt runs on the config loader
/// thread ([`loader`]), so that the memory of the snapshots it replaces goes back to the OS.
pub struct Reloader {
    core: Arc<Core>,
    loader: loader::Loader,
}

/// The reloader's state, shared with the jobs it hands to the loader thread (reached through
/// [`Reloader`]).
pub struct Core {
    path: PathBuf,
    state: Arc<SharedState>,
    resolver: Arc<dyn Resolve>,
    serial: Mutex<()>,
    reports: tokio::sync::watch::Sender<Option<ReloadReport>>,
    /// The last attempt that published a generation: no-op and refused attempts, which replace
    /// the last report, must not hide what the last real change was.
    last_applied: Mutex<Option<ReloadReport>>,
    watching: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("path", &self.core.path)
            .finish()
    }
}

impl std::ops::Deref for Reloader {
    type Target = Core;

    fn deref(&self) -> &Core {
        &self.core
    }
}

impl Reloader {
    /// A reloader for `path` publishing into `state`.
    pub fn new(path: PathBuf, state: Arc<SharedState>) -> Self {
        Self::with_resolver(path, state, Arc::new(SystemResolver))
    }

    /// Same, with a custom name resolver (tests).
    pub fn with_resolver(
        path: PathBuf,
        state: Arc<SharedState>,
        resolver: Arc<dyn Resolve>,
    ) -> Self {
        Self::with_loader(path, state, resolver, loader::Loader::start())
    }

    /// Same, loading on `loader` (the one that built the first snapshot).
    pub fn with_loader(
        path: PathBuf,
        state: Arc<SharedState>,
        resolver: Arc<dyn Resolve>,
        loader: loader::Loader,
    ) -> Self {
        Reloader {
            core: Arc::new(Core {
                path,
                state,
                resolver,
                serial: Mutex::new(()),
                reports: tokio::sync::watch::channel(None).0,
                last_applied: Mutex::new(None),
                watching: tokio::sync::watch::channel(false).0,
            }),
            loader,
        }
    }

    /// Runs the transaction on the config loader thread and waits for it; the snapshot it
    /// replaces is dropped there once no request holds it, and the memory freed goes back to
    /// the OS before this returns (when no request holds the old snapshot). Blocking (file
    /// I/O, DNS): call it from a blocking context (`spawn_blocking`) in async code.
    ///
    /// # Errors
    /// [`ReloadError`] with every problem; the current snapshot keeps serving.
    pub fn reload(&self, trigger: Trigger) -> Result<ReloadOutcome, ReloadError> {
        let core = self.core.clone();
        self.loader
            .run(move |retired| core.reload_serially(trigger, retired))
            .map_err(|lost| ReloadError::Internal(lost.to_string()))?
    }

    /// Reads and validates the config file as a reload would, without applying it (the reload
    /// preview, `POST /reload?dry_run=1`), on the loader thread like a reload. Blocking, like
    /// [`Self::reload`].
    ///
    /// # Errors
    /// [`ReloadError`] with every problem.
    pub fn validate_file(&self) -> Result<config::validate::Validated, ReloadError> {
        let core = self.core.clone();
        self.loader
            .run(move |_| core.validate_here())
            .map_err(|lost| ReloadError::Internal(lost.to_string()))?
    }
}

impl Core {
    /// Becomes true once file watching is in place (after start-up, the window in which an
    /// edit could go unnoticed is closed).
    pub fn subscribe_watching(&self) -> tokio::sync::watch::Receiver<bool> {
        self.watching.subscribe()
    }

    pub(crate) fn set_watching(&self) {
        self.watching.send_replace(true);
    }

    /// The last attempt's report.
    pub fn last_report(&self) -> Option<ReloadReport> {
        self.reports.borrow().clone()
    }

    /// The report of the last attempt that published a new generation.
    pub fn last_applied_report(&self) -> Option<ReloadReport> {
        self.last_applied.lock().clone()
    }

    /// Reports of attempts as they happen.
    pub fn subscribe_reports(&self) -> tokio::sync::watch::Receiver<Option<ReloadReport>> {
        self.reports.subscribe()
    }

    fn report(
        &self,
        trigger: Trigger,
        started: Instant,
        result: &Result<ReloadOutcome, ReloadError>,
    ) {
        let generation = self.state.load().generation;
        let (label, errors, restart_required) = match result {
            Ok(o) if o.applied => ("ok", Vec::new(), o.restart_required.clone()),
            Ok(o) => ("unchanged", Vec::new(), o.restart_required.clone()),
            // The served config is unchanged, and so is what it still waits for.
            Err(e) => ("error", e.issues(), self.state.pending_restart()),
        };
        let duration_ms = match result {
            Ok(o) => o.duration_ms,
            Err(_) => ms(started),
        };
        let mut report = None;
        self.reports.send_modify(|r| {
            let attempt = r.as_ref().map_or(1, |p| p.attempt + 1);
            report = Some(ReloadReport {
                attempt,
                trigger,
                result: label,
                generation,
                errors,
                restart_required,
                at_unix: SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64()),
                duration_ms,
            });
            r.clone_from(&report);
        });
        if label == "ok" {
            *self.last_applied.lock() = report;
        }
    }

    /// The config file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The shared state reloads publish into.
    pub fn state(&self) -> &Arc<SharedState> {
        &self.state
    }

    fn reload_serially(
        &self,
        trigger: Trigger,
        retired: &mut loader::Retired,
    ) -> Result<ReloadOutcome, ReloadError> {
        let _one_at_a_time = self.serial.lock();
        let started = Instant::now();
        let current = self.state.load();
        let result = self.attempt(&current, trigger, started, retired);
        let serving = current.generation;
        drop(current);
        // The replaced snapshot (unless a request still holds it) and the load's scratch are
        // free: return them to the OS before reporting, so that whoever awaits the report (a
        // benchmark reading RSS, `gatehouse reload`) sees the memory returned.
        retired.release();
        self.report(trigger, started, &result);
        match &result {
            Ok(outcome) if outcome.applied => {
                counter!(names::CONFIG_RELOADS_TOTAL, names::label::RESULT => "ok").increment(1);
                tracing::info!(
                    ?trigger,
                    generation = outcome.generation,
                    duration_ms = outcome.duration_ms,
                    changes = %outcome.changes.summary(),
                    "config reloaded from {}",
                    self.path.display()
                );
                for w in &outcome.warnings {
                    tracing::warn!("{}: {w}", self.path.display());
                }
                if !outcome.restart_required.is_empty() {
                    tracing::warn!(
                        "{}: changes that need `gatehouse upgrade` to take effect: {}",
                        self.path.display(),
                        outcome.restart_required.join("; ")
                    );
                }
            }
            Ok(_) => {
                counter!(names::CONFIG_RELOADS_TOTAL, names::label::RESULT => "unchanged")
                    .increment(1);
                tracing::debug!(?trigger, "config files unchanged; nothing to reload");
            }
            Err(err) => {
                counter!(names::CONFIG_RELOADS_TOTAL, names::label::RESULT => "error").increment(1);
                tracing::error!(
                    ?trigger,
                    "config reload refused, still serving generation {}: {}: {}",
                    serving,
                    self.path.display(),
                    err.issues().join("; ")
                );
            }
        }
        result
    }

    fn validate_here(&self) -> Result<config::validate::Validated, ReloadError> {
        let current = self.state.load();
        let text = std::fs::read_to_string(&self.path).map_err(|source| ConfigError::Read {
            path: self.path.clone(),
            source,
        })?;
        let in_service = current.certificate_fingerprints();
        let ctx = config::Context {
            resolver: self.resolver.as_ref(),
            now: SystemTime::now(),
            in_service: Some(&in_service),
        };
        Ok(config::validate::validate(&self.path, &text, &ctx)?)
    }

    fn attempt(
        &self,
        current: &Arc<Snapshot>,
        trigger: Trigger,
        started: Instant,
        retired: &mut loader::Retired,
    ) -> Result<ReloadOutcome, ReloadError> {
        let unchanged = |restart_required: Vec<String>| ReloadOutcome {
            generation: current.generation,
            applied: false,
            changes: Changes::default(),
            restart_required,
            warnings: Vec::new(),
            duration_ms: ms(started),
        };
        let text = std::fs::read_to_string(&self.path).map_err(|source| ConfigError::Read {
            path: self.path.clone(),
            source,
        })?;
        // File events are often noise (editors touch files, directories churn): skip the work
        // when no byte changed. Explicit triggers always re-validate, which also re-resolves
        // backend names.
        if trigger == Trigger::FileWatch
            && content_digest(&text, &current.config.dependent_files) == current.config.digest
        {
            return Ok(unchanged(self.state.pending_restart()));
        }
        let in_service = current.certificate_fingerprints();
        let ctx = config::Context {
            resolver: self.resolver.as_ref(),
            now: SystemTime::now(),
            in_service: Some(&in_service),
        };
        let validated = config::validate::validate(&self.path, &text, &ctx)?;
        let changes = Changes::between(&current.config, &validated.config);
        let restart_required =
            diff::restart_required(&self.state.bound, &self.state.applied, &validated.config);
        if validated.config.digest == current.config.digest && changes.is_empty() {
            return Ok(unchanged(restart_required));
        }
        let generation = current.generation + 1;
        let mut config = validated.config;
        config.settle(Some(&current.config));
        let config = Arc::new(config);
        let bound: Vec<String> = self.state.bound.iter().map(|b| b.name.clone()).collect();
        let next = Snapshot::build(
            config,
            generation,
            &bound,
            Some(current),
            &self.state.registry,
        );
        publish_gauges(&next, Some(current), !restart_required.is_empty());
        retired.push(self.state.publish(next));
        Ok(ReloadOutcome {
            generation,
            applied: true,
            changes,
            restart_required,
            warnings: validated.warnings.iter().map(Issue::to_string).collect(),
            duration_ms: ms(started),
        })
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// The same digest `validate` computes, from the current files, without validating.
fn content_digest(text: &str, files: &[PathBuf]) -> String {
    let contents: Vec<Vec<u8>> = files
        .iter()
        .map(|p| std::fs::read(p).unwrap_or_default())
        .collect();
    let mut parts: Vec<&[u8]> = vec![text.as_bytes()];
    for (p, c) in files.iter().zip(&contents) {
        parts.push(p.as_os_str().as_encoded_bytes());
        parts.push(c);
    }
    crate::tls::sha256_hex(&parts)
}

/// Gauges describing the config being served (generation, hash, certificate expiry).
pub fn publish_gauges(snapshot: &Snapshot, previous: Option<&Snapshot>, restart_required: bool) {
    gauge!(names::CONFIG_GENERATION).set(snapshot.generation as f64);
    let hash = &snapshot.config.digest[..16];
    // One info series at 1: the one of the config serving now.
    if let Some(old) = previous.map(|p| &p.config.digest[..16]) {
        if old != hash {
            gauge!(names::CONFIG_INFO, names::label::HASH => old.to_string()).set(0.0);
        }
    }
    gauge!(names::CONFIG_INFO, names::label::HASH => hash.to_string()).set(1.0);
    gauge!(names::CONFIG_LAST_RELOAD_SUCCESS_SECONDS).set(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
    );
    gauge!(names::CONFIG_RESTART_REQUIRED).set(if restart_required { 1.0 } else { 0.0 });
    for l in &snapshot.config.listeners {
        for c in &l.certificates {
            gauge!(
                names::CERTIFICATE_EXPIRY_SECONDS,
                names::label::LISTENER => l.name.clone(),
                names::label::CERTIFICATE => c.cert_path.display().to_string(),
            )
            .set(c.not_after_unix() as f64);
        }
    }
}
