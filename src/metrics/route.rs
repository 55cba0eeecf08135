//! Per-route series, only for routes with `metrics = true`: a route without the opt-in adds no
//! series at all (its requests are counted in its pool's), so an edge with 100,000 host routes
//! exports what a handful of pools would.

use super::keyed::ByValue;
use super::latency::{self, Latency};
use super::names::{self, label};
use super::CLASSES;
use metrics::{counter, Counter};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Pre-resolved handles for one opted-in route, so recording a request costs a few atomic
/// adds. Request counters are created on first use (a status class never seen has no series).
#[derive(Debug)]
pub struct RouteMetrics {
    route: Arc<str>,
    pool: Arc<str>,
    requests: Box<[[OnceLock<Counter>; 5]]>,
    listeners: Box<[Arc<str>]>,
    duration: Arc<Latency>,
    request_bytes: Counter,
    response_bytes: Counter,
    refused: ByValue,
}

impl RouteMetrics {
    /// Handles for a route served by `pool` on `listeners` (in bound order).
    pub fn new(route: &Arc<str>, pool: &Arc<str>, listeners: &[Arc<str>]) -> Self {
        let labels = [
            (label::ROUTE, route.to_string()),
            (label::POOL, pool.to_string()),
        ];
        RouteMetrics {
            route: route.clone(),
            pool: pool.clone(),
            requests: listeners.iter().map(|_| Default::default()).collect(),
            listeners: listeners.into(),
            duration: latency::series(
                names::ROUTE_REQUEST_DURATION_SECONDS,
                &[(label::ROUTE, &**route), (label::POOL, &**pool)],
            ),
            request_bytes: counter!(names::ROUTE_REQUEST_BYTES_TOTAL, &labels),
            response_bytes: counter!(names::ROUTE_RESPONSE_BYTES_TOTAL, &labels),
            refused: ByValue::default(),
        }
    }

    /// Records one completed request.
    pub fn record(
        &self,
        listener: usize,
        status: u16,
        elapsed: Duration,
        bytes_in: u64,
        bytes_out: u64,
    ) {
        let class = super::status_class(status);
        if let (Some(slots), Some(name)) =
            (self.requests.get(listener), self.listeners.get(listener))
        {
            slots[class]
                .get_or_init(|| {
                    counter!(
                        names::ROUTE_REQUESTS_TOTAL,
                        label::LISTENER => name.to_string(),
                        label::ROUTE => self.route.to_string(),
                        label::POOL => self.pool.to_string(),
                        label::STATUS_CLASS => CLASSES[class],
                    )
                })
                .increment(1);
        }
        self.duration.record(elapsed);
        if bytes_in > 0 {
            self.request_bytes.increment(bytes_in);
        }
        self.response_bytes.increment(bytes_out);
    }

    /// Counts a request the route refused (rate limit, access rule, body size).
    pub fn refused(&self, reason: &'static str) {
        self.refused.increment(reason, 1, || {
            counter!(names::ROUTE_REQUESTS_REFUSED_TOTAL, label::ROUTE => self.route.to_string(), label::REASON => reason)
        });
    }
}
