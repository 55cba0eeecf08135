//! Passive health: a pool's backends are ejected after consecutive failures seen on real
//! traffic, within the pool-wide cap (`max_ejection_percent`) that needs a view of them all.

use super::{Pool, PoolBackend};
use tokio::time::Instant;

impl Pool {
    /// Records a failed connect; ejects the backend if its threshold is reached and the pool's
    /// `max_ejection_percent` allows (at least one backend may always be ejected).
    pub fn report_connect_failure(&self, index: u32) {
        let Some(b) = self.backends.get(index as usize) else {
            return;
        };
        if b.state.record_connect_failure(&self.config.passive) {
            self.try_eject(b, "consecutive connect failures");
        }
    }

    /// Records an upstream timeout (see [`Self::report_connect_failure`]).
    pub fn report_timeout(&self, index: u32) {
        let Some(b) = self.backends.get(index as usize) else {
            return;
        };
        if b.state.record_timeout(&self.config.passive) {
            self.try_eject(b, "consecutive timeouts");
        }
    }

    /// Records a response: 5xx count towards ejection, anything else resets the counters.
    pub fn report_response(&self, index: u32, status: u16) {
        let Some(b) = self.backends.get(index as usize) else {
            return;
        };
        if status >= 500 {
            if b.state.record_5xx(&self.config.passive) {
                self.try_eject(b, "consecutive 5xx responses");
            }
        } else {
            b.state.record_success();
        }
    }

    fn try_eject(&self, backend: &PoolBackend, reason: &str) {
        let now = Instant::now();
        let ejected = self
            .backends
            .iter()
            .filter(|b| b.state.is_ejected(now))
            .count();
        let cap =
            (self.backends.len() * self.config.passive.max_ejection_percent as usize / 100).max(1);
        if backend.state.is_ejected(now) {
            return;
        }
        if ejected >= cap {
            tracing::warn!(pool = %self.name, backend = %backend.label, ejected, cap, "not ejecting: max_ejection_percent reached");
            return;
        }
        backend.state.eject(now, &self.config.passive, reason);
        crate::metrics::record_ejection(&self.name, &backend.label);
    }
}
