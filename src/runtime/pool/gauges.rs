//! The pools' gauges at a scrape: each backend's published state and in-flight count, read
//! from its shared state, and each pool's serving tier, written by [`crate::metrics::scraped`].

use super::Pool;
use crate::metrics::scraped::{self, BackendGauges};
use std::sync::Arc;

/// Appends the backend gauge families for every backend of `pools`, and the pools' serving
/// tiers, to `out` (a `/metrics` body); nothing when metrics are disabled. Call after
/// refreshing the backends' timed states (`BackendState::refresh`), so that an ejection that
/// has ended shows as ended.
pub fn render_backend_gauges(pools: &[Arc<Pool>], out: &mut String) {
    if crate::metrics::handle().is_none() {
        return;
    }
    render(pools, out);
}

/// [`render_backend_gauges`] whether or not a recorder is installed (tests).
pub(super) fn render(pools: &[Arc<Pool>], out: &mut String) {
    scraped::render_tiers(out, |f| {
        for pool in pools {
            f(&pool.name, pool.tier().as_str());
        }
    });
    scraped::render(out, |f| {
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
