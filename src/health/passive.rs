//! The passive half of a backend's state: consecutive connect failures, 5xx answers and
//! timeouts counted as traffic reports them, and ejection with a growing cool-down.

use super::backend::BackendState;
use crate::config::model::PassiveSettings;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::time::Instant;

impl BackendState {
    /// A connect to this backend failed. Returns true when the threshold is reached and the
    /// caller should try to eject (the pool decides, because of `max_ejection_percent`).
    pub fn record_connect_failure(&self, settings: &PassiveSettings) -> bool {
        self.count_attempt(true);
        bump(&self.connect_failures, settings.connect_failures)
    }

    /// A response with a 5xx status came back. See [`Self::record_connect_failure`].
    pub fn record_5xx(&self, settings: &PassiveSettings) -> bool {
        self.count_attempt(true);
        bump(&self.http_5xx, settings.http_5xx)
    }

    /// An upstream timeout happened. See [`Self::record_connect_failure`].
    pub fn record_timeout(&self, settings: &PassiveSettings) -> bool {
        self.count_attempt(true);
        bump(&self.timeouts, settings.timeouts)
    }

    /// A request completed without a backend fault: consecutive counters start over.
    pub fn record_success(&self) {
        self.count_attempt(false);
        for counter in [&self.connect_failures, &self.http_5xx, &self.timeouts] {
            // Read first: on the hot path the counters are almost always zero already, and a
            // load does not dirty the cache line the way a store would.
            if counter.load(Ordering::Relaxed) != 0 {
                counter.store(0, Ordering::Relaxed);
            }
        }
    }

    pub(super) fn count_attempt(&self, fault: bool) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        if fault {
            self.faults.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(super) fn reset_passive_counters(&self) {
        for counter in [&self.connect_failures, &self.http_5xx, &self.timeouts] {
            counter.store(0, Ordering::Relaxed);
        }
    }

    /// True while an ejection is in force at `now`.
    pub fn is_ejected(&self, now: Instant) -> bool {
        self.inner.lock().ejected_until.is_some_and(|u| now < u)
    }

    /// Ejects for `cooldown · 2^(previous ejections)`, capped at `max_cooldown`. The count of
    /// previous ejections decays: after a quiet `max_cooldown` the backend starts fresh.
    pub fn eject(&self, now: Instant, settings: &PassiveSettings, reason: &str) -> Duration {
        let mut inner = self.inner.lock();
        if inner
            .last_ejection_end
            .is_some_and(|end| now.duration_since(end) >= settings.max_cooldown)
        {
            inner.ejections = 0;
        }
        let factor = 1u32
            .checked_shl(inner.ejections.min(20))
            .unwrap_or(u32::MAX);
        let length = settings
            .cooldown
            .checked_mul(factor)
            .unwrap_or(settings.max_cooldown)
            .min(settings.max_cooldown);
        inner.ejections = inner.ejections.saturating_add(1);
        inner.ejected_until = Some(now + length);
        self.reset_passive_counters();
        self.transition(&mut inner, &format!("{reason}; ejected for {length:?}"));
        length
    }
}

/// Increments a consecutive-failure counter; true when it reaches a non-zero threshold.
fn bump(counter: &AtomicU32, threshold: u32) -> bool {
    let n = counter.fetch_add(1, Ordering::Relaxed).saturating_add(1);
    threshold > 0 && n >= threshold
}
