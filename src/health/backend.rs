//! The state machine of one backend.
//!
//! Active checks move `Status` (unknown → up on the first success; up → down after `fall`
//! failures; down → up after `rise` successes). Passive observations eject the backend for a
//! cool-down that doubles on each repeated ejection, capped. Admin overrides (drain, disable)
//! sit on top. Eligibility combines all three; time-based parts (ejection end, failback delay)
//! are evaluated lazily against `now`, and the earliest future change is reported so callers can
//! cache a decision until then.

use super::key::{BackendKey, Transition};
use super::limiter::Limiter;
use super::status::{
    label_of, AdminOverride, Availability, CheckRecord, Status, StatusView, UnavailableReason,
};
use crate::config::model::{HealthCheckSettings, StartState};
use crate::metrics::scraped::seen_with;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::broadcast;
use tokio::time::Instant;

#[derive(Debug)]
pub(super) struct Inner {
    status: Status,
    successes: u32,
    /// Passing checks since start (never reset).
    checks_passed: u64,
    failures: u32,
    since: SystemTime,
    /// Boxed: only checked backends have one, and inline it was 40 bytes of every backend.
    last_check: Option<Box<CheckRecord>>,
    pub(super) ejected_until: Option<Instant>,
    pub(super) ejections: u32,
    pub(super) last_ejection_end: Option<Instant>,
    /// When active checks last brought it back up; cleared once `failback_delay` is over.
    recovered_at: Option<Instant>,
    admin: AdminOverride,
    /// The pool's `failback_delay` (set by [`BackendState::configure`]).
    failback_delay: Duration,
    /// `drain = true` in the config (set by [`BackendState::configure`]).
    config_drain: bool,
    /// The combined state last published (log, gauges, broadcast), so that a change that
    /// happens by the passing of time is noticed and published once.
    shown: &'static str,
    /// The combined states it has been in (a bit per [`crate::metrics::scraped::STATES`]
    /// entry): each has a `gatehouse_backend_state` series, written at scrape time.
    states_seen: u8,
}

/// Everything gatehouse knows about one backend, shared by all snapshots that contain it.
#[derive(Debug)]
pub struct BackendState {
    /// Identity.
    pub key: BackendKey,
    pub(super) inner: Mutex<Inner>,
    pub(super) connect_failures: AtomicU32,
    pub(super) http_5xx: AtomicU32,
    pub(super) timeouts: AtomicU32,
    inflight: AtomicU32,
    /// Attempts that got an answer or failed, and of those the faults (5xx, timeout, failed
    /// connect): the error ratio a rollout's verify window watches.
    pub(super) attempts: AtomicU64,
    pub(super) faults: AtomicU64,
    /// Open tunnels (WebSocket and other upgrades): not in `inflight`, and reported apart
    /// by a rollout's drain, which does not wait for them.
    tunnels: AtomicU32,
    /// Concurrency limit and queue (`max_connections`).
    pub limiter: Limiter,
    /// Since when it serves (slow start), kept across reloads.
    pub ramp: crate::runtime::balance::slow_start::Ramp,
    epoch: Arc<AtomicU64>,
    events: broadcast::Sender<Transition>,
}

impl BackendState {
    pub(super) fn new(
        key: BackendKey,
        start: Status,
        epoch: Arc<AtomicU64>,
        events: broadcast::Sender<Transition>,
    ) -> Self {
        BackendState {
            key,
            inner: Mutex::new(Inner {
                status: start,
                successes: 0,
                checks_passed: 0,
                failures: 0,
                since: SystemTime::now(),
                last_check: None,
                ejected_until: None,
                ejections: 0,
                last_ejection_end: None,
                recovered_at: None,
                admin: AdminOverride::None,
                failback_delay: Duration::ZERO,
                config_drain: false,
                shown: label_of(start),
                states_seen: seen_with(0, label_of(start)),
            }),
            connect_failures: AtomicU32::new(0),
            http_5xx: AtomicU32::new(0),
            timeouts: AtomicU32::new(0),
            inflight: AtomicU32::new(0),
            attempts: AtomicU64::new(0),
            faults: AtomicU64::new(0),
            tunnels: AtomicU32::new(0),
            limiter: Limiter::default(),
            ramp: Default::default(),
            epoch,
            events,
        }
    }

    /// The initial active status for a check configuration (`None` = no active checks).
    pub fn start_status(check: Option<&HealthCheckSettings>) -> Status {
        match check.map(|c| c.start) {
            None | Some(StartState::Up) => Status::Up,
            Some(StartState::Unknown) => Status::Unknown,
            Some(StartState::Down) => Status::Down,
        }
    }

    /// Applies the settings of the pool (re)built around this backend: its `failback_delay`
    /// and the backend's own `drain`. They live here, not only in the pool, so the published
    /// state (`/status`, `gatehouse_backend_state`, `gatehouse_backend_up`) says `recovering`
    /// or `draining` exactly when the backend gets no new requests for those reasons.
    pub fn configure(&self, failback_delay: Duration, config_drain: bool) {
        let mut inner = self.inner.lock();
        if inner.failback_delay == failback_delay && inner.config_drain == config_drain {
            return;
        }
        inner.failback_delay = failback_delay;
        inner.config_drain = config_drain;
        let now = Instant::now();
        self.expire(&mut inner, now);
        if self.label(&inner, now) != inner.shown {
            self.transition(&mut inner, "configuration changed");
        }
    }

    /// Whether the backend can take a request at `now`, and when that may next change by
    /// itself (end of an ejection or of the failback delay).
    pub fn availability(&self, now: Instant) -> (Availability, Option<Instant>) {
        let mut inner = self.inner.lock();
        self.expire(&mut inner, now);
        let failback_delay = inner.failback_delay;
        match inner.admin {
            AdminOverride::Disable => {
                return (Availability::Unavailable(UnavailableReason::Disabled), None)
            }
            AdminOverride::Drain => {
                return (Availability::Unavailable(UnavailableReason::Draining), None)
            }
            AdminOverride::None => {}
        }
        if let Some(until) = inner.ejected_until {
            return (
                Availability::Unavailable(UnavailableReason::Ejected),
                Some(until),
            );
        }
        match inner.status {
            Status::Down => (Availability::Unavailable(UnavailableReason::Down), None),
            Status::Unknown => (Availability::Unknown, None),
            Status::Up => match inner.recovered_at {
                Some(at) if !failback_delay.is_zero() && now < at + failback_delay => (
                    Availability::Unavailable(UnavailableReason::Recovering),
                    Some(at + failback_delay),
                ),
                _ => (Availability::Healthy, None),
            },
        }
    }

    /// Ends an ejection whose cool-down is over, and a failback delay that has run out (each
    /// logged and published once, when first observed).
    fn expire(&self, inner: &mut Inner, now: Instant) {
        if let Some(until) = inner.ejected_until {
            if now >= until {
                inner.ejected_until = None;
                inner.last_ejection_end = Some(now);
                self.transition(inner, "cool-down over");
            }
        }
        if let Some(at) = inner.recovered_at {
            if now >= at + inner.failback_delay {
                inner.recovered_at = None;
                if self.label(inner, now) != inner.shown {
                    self.transition(inner, "failback delay over");
                }
            }
        }
    }

    /// When the state will next change by itself (an ejection or a failback delay ending), so
    /// a caller can [`Self::refresh`] then and the change is published on time, traffic or not.
    pub fn next_change(&self) -> Option<Instant> {
        let inner = self.inner.lock();
        let recovery_end = inner.recovered_at.map(|at| at + inner.failback_delay);
        match (inner.ejected_until, recovery_end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Applies the changes that happen by the passing of time (see [`Self::next_change`]).
    pub fn refresh(&self) {
        let mut inner = self.inner.lock();
        self.expire(&mut inner, Instant::now());
    }

    /// Feeds one active check result through rise/fall. A passing check also ends a passive
    /// ejection early (Envoy's default): the backend is reachable again.
    pub fn record_check(
        &self,
        ok: bool,
        latency: Duration,
        detail: String,
        settings: &HealthCheckSettings,
    ) {
        let now = Instant::now();
        let mut inner = self.inner.lock();
        self.expire(&mut inner, now);
        let record = CheckRecord {
            ok,
            latency_ms: latency.as_secs_f64() * 1000.0,
            detail: detail.clone(),
            at_unix: unix_now(),
        };
        match &mut inner.last_check {
            Some(last) => **last = record,
            slot @ None => *slot = Some(Box::new(record)),
        }
        let before = inner.status;
        let reason = if ok {
            inner.successes = inner.successes.saturating_add(1);
            inner.checks_passed += 1;
            inner.failures = 0;
            let promote = match before {
                Status::Unknown => true,
                Status::Down => inner.successes >= settings.rise,
                Status::Up => false,
            };
            if promote {
                inner.status = Status::Up;
                if before == Status::Down {
                    inner.recovered_at = Some(now);
                }
            }
            if inner.ejected_until.take().is_some() {
                inner.last_ejection_end = Some(now);
                self.reset_passive_counters();
            }
            if promote {
                format!(
                    "{} consecutive successful checks ({detail})",
                    inner.successes
                )
            } else {
                format!("active check passed ({detail})")
            }
        } else {
            inner.failures = inner.failures.saturating_add(1);
            inner.successes = 0;
            let demote = match before {
                Status::Unknown => true,
                Status::Up => inner.failures >= settings.fall,
                Status::Down => false,
            };
            if demote {
                inner.status = Status::Down;
                inner.recovered_at = None;
            }
            format!("{} consecutive failed checks ({detail})", inner.failures)
        };
        if inner.status != before || inner.shown != self.label(&inner, now) {
            self.transition(&mut inner, &reason);
        }
    }

    /// Counts an open tunnel until the guard drops.
    pub fn begin_tunnel(self: &Arc<Self>) -> TunnelGuard {
        self.tunnels.fetch_add(1, Ordering::Relaxed);
        TunnelGuard(self.clone())
    }

    /// Open tunnels.
    pub fn tunnels(&self) -> u32 {
        self.tunnels.load(Ordering::Relaxed)
    }

    /// Attempts and faults since start (monotonic; a rollout compares two readings).
    pub fn traffic(&self) -> (u64, u64) {
        (
            self.attempts.load(Ordering::Relaxed),
            self.faults.load(Ordering::Relaxed),
        )
    }

    /// Consecutive passing active checks now, and passing checks since start: a rollout waits
    /// for `rise` passes after its deploy step, all of them consecutive.
    pub fn check_passes(&self) -> (u32, u64) {
        let inner = self.inner.lock();
        (inner.successes, inner.checks_passed)
    }

    /// Sets or clears the admin override.
    pub fn set_admin(&self, value: AdminOverride) {
        let mut inner = self.inner.lock();
        if inner.admin != value {
            inner.admin = value;
            self.transition(&mut inner, "admin request");
        }
    }

    /// Current admin override.
    pub fn admin(&self) -> AdminOverride {
        self.inner.lock().admin
    }

    /// Active-check status.
    pub fn status(&self) -> Status {
        self.inner.lock().status
    }

    /// Restores state handed over by a predecessor process (upgrade), and publishes it.
    pub fn restore(&self, status: Status, admin: AdminOverride) {
        let mut inner = self.inner.lock();
        inner.status = status;
        inner.admin = admin;
        self.transition(&mut inner, "taken over from the previous process");
    }

    /// Its combined state as last published, and the states it has been in (bits of
    /// [`crate::metrics::scraped::STATES`]): what its gauges show at a scrape (call
    /// [`Self::refresh`] first so that a state ended by time is not shown).
    pub fn shown(&self) -> (&'static str, u8) {
        let inner = self.inner.lock();
        (inner.shown, inner.states_seen)
    }

    /// Counts a request in flight until the guard drops.
    pub fn begin_request(self: &Arc<Self>) -> InflightGuard {
        self.begin_request_counted().0
    }

    /// [`Self::begin_request`], with the count before this request: requests counted at
    /// the same time each see a different one, which decides who took a last place.
    pub fn begin_request_counted(self: &Arc<Self>) -> (InflightGuard, u32) {
        let before = self.inflight.fetch_add(1, Ordering::Relaxed);
        (InflightGuard(self.clone()), before)
    }

    /// Requests in flight now.
    pub fn inflight(&self) -> u32 {
        self.inflight.load(Ordering::Relaxed)
    }

    /// View for `/status`.
    pub fn view(&self) -> StatusView {
        let now = Instant::now();
        let mut inner = self.inner.lock();
        self.expire(&mut inner, now);
        StatusView {
            state: self.label(&inner, now),
            check_status: inner.status,
            since_unix: inner
                .since
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            last_check: inner.last_check.as_deref().cloned(),
            ejected_for_secs: inner
                .ejected_until
                .map(|u| u.saturating_duration_since(now).as_secs_f64()),
            ejections: inner.ejections,
            admin: inner.admin,
            inflight: self.inflight(),
            queued: self.limiter.queued(),
        }
    }

    /// The combined state. `up` exactly when the backend can be sent new requests now
    /// (healthy, not ejected, drained, disabled or waiting out the failback delay).
    fn label(&self, inner: &Inner, now: Instant) -> &'static str {
        match inner.admin {
            AdminOverride::Disable => return "disabled",
            AdminOverride::Drain => return "draining",
            AdminOverride::None => {}
        }
        if inner.config_drain {
            return "draining";
        }
        // Failing active checks is the stronger, longer-lasting fact: show it over an ejection.
        if inner.status != Status::Down && inner.ejected_until.is_some_and(|u| now < u) {
            return "ejected";
        }
        if inner.status == Status::Up
            && inner
                .recovered_at
                .is_some_and(|at| now < at + inner.failback_delay)
        {
            return "recovering";
        }
        label_of(inner.status)
    }

    /// Something changed: eligibility may have moved (epoch), and if the combined state
    /// differs from the one last published, it is logged, published and broadcast.
    pub(super) fn transition(&self, inner: &mut Inner, reason: &str) {
        inner.since = SystemTime::now();
        let to = self.label(inner, Instant::now());
        self.epoch.fetch_add(1, Ordering::Release);
        let from = inner.shown;
        if from == to {
            return;
        }
        inner.shown = to;
        tracing::info!(
            pool = %self.key.pool,
            backend = %self.key.address,
            from,
            to,
            reason,
            "backend state changed"
        );
        inner.states_seen = seen_with(inner.states_seen, to);
        let _ = self.events.send(Transition {
            key: self.key.clone(),
            from,
            to,
            reason: reason.to_string(),
            at: inner.since,
        });
    }
}

/// An open tunnel to a backend, counted while this lives.
#[derive(Debug)]
pub struct TunnelGuard(Arc<BackendState>);

impl Drop for TunnelGuard {
    fn drop(&mut self) {
        self.0.tunnels.fetch_sub(1, Ordering::Relaxed);
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Decrements the in-flight count when dropped (however the request ends).
#[derive(Debug)]
pub struct InflightGuard(Arc<BackendState>);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
