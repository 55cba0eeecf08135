//! Request series of one listener that no pool owns: requests that matched no route, and
//! requests refused before routing. Resolved on first use, once per snapshot.

use super::keyed::ByValue;
use super::names::{self, label};
use metrics::{counter, Counter};
use std::sync::{Arc, OnceLock};

/// Pre-resolved handles for one listener.
#[derive(Debug)]
pub struct ListenerMetrics {
    listener: Arc<str>,
    unrouted: OnceLock<Counter>,
    bad_requests: ByValue,
}

impl ListenerMetrics {
    /// Handles for the listener named `listener`, none resolved yet.
    pub fn new(listener: &Arc<str>) -> Self {
        ListenerMetrics {
            listener: listener.clone(),
            unrouted: OnceLock::new(),
            bad_requests: ByValue::default(),
        }
    }

    /// A request matched no route (answered 404).
    pub fn unrouted(&self) {
        self.unrouted
            .get_or_init(|| {
                counter!(names::UNROUTED_REQUESTS_TOTAL, label::LISTENER => self.listener.to_string())
            })
            .increment(1);
    }

    /// A request was refused before routing with `status` (malformed, too large, too slow).
    pub fn bad_request(&self, status: &'static str) {
        self.bad_requests.increment(status, 1, || {
            counter!(names::BAD_REQUESTS_TOTAL, label::LISTENER => self.listener.to_string(), label::STATUS => status)
        });
    }
}
