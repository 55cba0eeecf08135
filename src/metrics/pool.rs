//! Request series per pool and per backend: what every request is counted in, route or no
//! route opt-in. Handles are resolved once per pool (pools are reused across reloads while
//! their settings are unchanged) and created on first use, so a pool that has served nothing
//! exports nothing, and the request path pays atomic adds, never a registry lookup.

use super::keyed::ByValue;
use super::latency::{self, Latency};
use super::names::{self, label};
use super::tunnel::TunnelMetrics;
use super::CLASSES;
use metrics::{counter, Counter};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Pre-resolved handles for one pool.
#[derive(Debug)]
pub struct PoolMetrics {
    pool: Arc<str>,
    /// Listener names in bound order (fixed for the life of the process).
    listeners: Box<[Arc<str>]>,
    requests: Box<[[OnceLock<Counter>; 5]]>,
    duration: Arc<Latency>,
    ttfb: Arc<Latency>,
    request_bytes: OnceLock<Counter>,
    response_bytes: OnceLock<Counter>,
    refused: ByValue,
    upstream_errors: ByValue,
    retries: ByValue,
    retry_budget_exhausted: OnceLock<Counter>,
    /// Upgraded connections (WebSocket and the like) to this pool's backends.
    pub tunnels: TunnelMetrics,
}

impl PoolMetrics {
    /// Handles for `pool`, whose requests arrive on `listeners` (in bound order).
    pub fn new(pool: &Arc<str>, listeners: &[Arc<str>]) -> Self {
        PoolMetrics {
            pool: pool.clone(),
            listeners: listeners.into(),
            requests: listeners.iter().map(|_| Default::default()).collect(),
            duration: latency::series(names::REQUEST_DURATION_SECONDS, &[(label::POOL, &**pool)]),
            ttfb: latency::series(names::UPSTREAM_TTFB_SECONDS, &[(label::POOL, &**pool)]),
            request_bytes: OnceLock::new(),
            response_bytes: OnceLock::new(),
            refused: ByValue::default(),
            upstream_errors: ByValue::default(),
            retries: ByValue::default(),
            retry_budget_exhausted: OnceLock::new(),
            tunnels: TunnelMetrics::new(pool),
        }
    }

    fn pool_label(&self) -> [(&'static str, String); 1] {
        [(label::POOL, self.pool.to_string())]
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
                        names::REQUESTS_TOTAL,
                        label::LISTENER => name.to_string(),
                        label::POOL => self.pool.to_string(),
                        label::STATUS_CLASS => CLASSES[class],
                    )
                })
                .increment(1);
        }
        self.duration.record(elapsed);
        if bytes_in > 0 {
            self.request_bytes
                .get_or_init(|| counter!(names::REQUEST_BYTES_TOTAL, &self.pool_label()))
                .increment(bytes_in);
        }
        self.response_bytes
            .get_or_init(|| counter!(names::RESPONSE_BYTES_TOTAL, &self.pool_label()))
            .increment(bytes_out);
    }

    /// Records the time from sending a request upstream to its response head.
    pub fn upstream_ttfb(&self, elapsed: Duration) {
        self.ttfb.record(elapsed);
    }

    /// Counts a request refused before it reached the pool (rate limit, access rule, size).
    pub fn refused(&self, reason: &'static str) {
        self.refused.increment(reason, 1, || {
            counter!(names::REQUESTS_REFUSED_TOTAL, label::POOL => self.pool.to_string(), label::REASON => reason)
        });
    }

    /// Counts an upstream exchange that failed after connecting, by error kind.
    pub fn upstream_error(&self, kind: &'static str) {
        self.upstream_errors.increment(kind, 1, || {
            counter!(names::UPSTREAM_ERRORS_TOTAL, label::POOL => self.pool.to_string(), label::KIND => kind)
        });
    }

    /// Counts a retry, by reason.
    pub fn retry(&self, reason: &'static str) {
        self.retries.increment(reason, 1, || {
            counter!(names::UPSTREAM_RETRIES_TOTAL, label::POOL => self.pool.to_string(), label::REASON => reason)
        });
    }

    /// Counts a retry the retry budget refused.
    pub fn retry_budget_exhausted(&self) {
        self.retry_budget_exhausted
            .get_or_init(|| counter!(names::RETRY_BUDGET_EXHAUSTED_TOTAL, &self.pool_label()))
            .increment(1);
    }
}

/// Pre-resolved handles for one backend of a pool: requests by status class, connect
/// failures, timeouts, each created on first use (its gauges are written at scrape time, see
/// [`super::backends`]). The handles sit behind one pointer allocated on the backend's first
/// event: a backend that has seen no traffic costs 16 bytes here, not the ~170 of the slots.
#[derive(Debug, Default)]
pub struct BackendMetrics {
    handles: OnceLock<Box<BackendHandles>>,
}

#[derive(Debug, Default)]
struct BackendHandles {
    requests: [OnceLock<Counter>; 5],
    connect_failures: OnceLock<Counter>,
    timeouts: OnceLock<Counter>,
}

impl BackendMetrics {
    fn handles(&self) -> &BackendHandles {
        self.handles.get_or_init(Box::default)
    }

    /// Records a request whose last attempt went to this backend.
    pub fn record(&self, pool: &str, backend: &str, status: u16) {
        let class = super::status_class(status);
        self.handles().requests[class]
            .get_or_init(|| {
                counter!(
                    names::BACKEND_REQUESTS_TOTAL,
                    label::POOL => pool.to_string(),
                    label::BACKEND => backend.to_string(),
                    label::STATUS_CLASS => CLASSES[class],
                )
            })
            .increment(1);
    }

    /// Counts a failed connect to this backend.
    pub fn connect_failure(&self, pool: &str, backend: &str) {
        self.handles()
            .connect_failures
            .get_or_init(|| {
                counter!(names::UPSTREAM_CONNECT_FAILURES_TOTAL, label::POOL => pool.to_string(), label::BACKEND => backend.to_string())
            })
            .increment(1);
    }

    /// Counts a connect, read or write timeout with this backend.
    pub fn timeout(&self, pool: &str, backend: &str) {
        self.handles()
            .timeouts
            .get_or_init(|| {
                counter!(names::UPSTREAM_TIMEOUTS_TOTAL, label::POOL => pool.to_string(), label::BACKEND => backend.to_string())
            })
            .increment(1);
    }
}
