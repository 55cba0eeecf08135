//! The pools' backend gauges at a scrape: each backend's published state and in-flight count,
//! read from its shared state and written by [`crate::metrics::backends`].

use super::Pool;
use crate::metrics::backends::{self, BackendGauges};
use std::sync::Arc;

/// Appends the backend gauge families for every backend of `pools` to `out` (a `/metrics`
/// body); nothing when metrics are disabled. Call after refreshing the backends' timed states
/// (`BackendState::refresh`), so that an ejection that has ended shows as ended.
pub fn render_backend_gauges(pools: &[Arc<Pool>], out: &mut String) {
    if crate::metrics::handle().is_none() {
        return;
    }
    render(pools, out);
}

/// [`render_backend_gauges`] whether or not a recorder is installed (tests).
pub(super) fn render(pools: &[Arc<Pool>], out: &mut String) {
    backends::render(out, |f| {
        for pool in pools {
            for b in &pool.backends {
                let (state, states_seen) = b.state.shown();
                f(&BackendGauges {
                    pool: &pool.name,
                    backend: &b.label,
                    state,
                    states_seen,
                    in_flight: b.state.inflight(),
                });
            }
        }
    });
}
