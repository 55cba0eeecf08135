//! The `gatehouse_backend_state` and `gatehouse_backend_up` gauges, set when a backend's
//! combined state changes (never per request).

use super::key::BackendKey;
use crate::metrics::names::{self, label};

/// All combined states, for the one-hot `gatehouse_backend_state` gauge.
const STATES: [&str; 7] = [
    "up",
    "down",
    "unknown",
    "ejected",
    "draining",
    "disabled",
    "recovering",
];

/// Sets the one-hot `gatehouse_backend_state` to `state`: 1 for it, 0 for the other states
/// that already have a series (`published`, a bit per [`STATES`] entry). Returns the new set.
pub(super) fn publish_state(key: &BackendKey, published: u8, state: &str) -> u8 {
    let (pool, backend) = (key.pool.to_string(), key.address.to_string());
    let mut now = published;
    for (i, s) in STATES.into_iter().enumerate() {
        let bit = 1u8 << i;
        if s == state || published & bit != 0 {
            metrics::gauge!(names::BACKEND_STATE, label::POOL => pool.clone(), label::BACKEND => backend.clone(), label::STATE => s)
                .set(if s == state { 1.0 } else { 0.0 });
            now |= bit;
        }
    }
    // `up` is the one state in which the backend can be sent new requests now.
    metrics::gauge!(names::BACKEND_UP, label::POOL => pool, label::BACKEND => backend)
        .set(if state == "up" { 1.0 } else { 0.0 });
    now
}

/// Sets every state series the backend has (`published`) to 0: it left the config for good.
pub(super) fn unpublish_states(key: &BackendKey, published: u8) {
    let (pool, backend) = (key.pool.to_string(), key.address.to_string());
    for (i, s) in STATES.into_iter().enumerate() {
        if published & (1u8 << i) != 0 {
            metrics::gauge!(names::BACKEND_STATE, label::POOL => pool.clone(), label::BACKEND => backend.clone(), label::STATE => s)
                .set(0.0);
        }
    }
}
