//! "No allocation per request for metrics", measured: the counting global allocator
//! ([`crate::memory::counting`]; it counts on the measuring thread only) around the metrics a request
//! records, with handles resolved by a recorder that allocates on every registration, so a
//! handle resolved per event or a label value built per event would both be counted.

use super::*;
use crate::forward::tunnel;
use crate::health::Registry;
use crate::metrics::names::{self, label};
use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Allocations made by `f` on this thread (the shared counting allocator).
fn allocations(f: impl FnOnce()) -> u64 {
    crate::memory::counting::measure(f).1.allocations
}

/// A recorder whose handles are plain atomics, and which counts registrations: every
/// `counter!`/`gauge!`/`histogram!` reaching it allocates (a new handle) and is counted.
#[derive(Default)]
struct Atomics {
    registrations: AtomicUsize,
}

struct Sum(AtomicU64);

impl HistogramFn for Sum {
    fn record(&self, _value: f64) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl Recorder for Atomics {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        self.registrations.fetch_add(1, Ordering::Relaxed);
        Counter::from_arc(std::sync::Arc::new(AtomicU64::new(0)))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        self.registrations.fetch_add(1, Ordering::Relaxed);
        Gauge::from_arc(std::sync::Arc::new(AtomicU64::new(0)))
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        self.registrations.fetch_add(1, Ordering::Relaxed);
        Histogram::from_arc(std::sync::Arc::new(Sum(AtomicU64::new(0))))
    }
}

const CONFIG: &str = r#"
[listeners.http]
address = "127.0.0.1:8080"
[routes.api]
pool = "web"
metrics = true
[pools.web]
backends = [{ address = "127.0.0.1:9001" }]
"#;

/// Everything a request can record once it is over, or on its way: the account stage, and
/// the events counted as they happen (retries, connect failures, timeouts, refusals, 404s,
/// refused heads, a tunnel).
fn one_request(snapshot: &Snapshot, ok: &Outcome, failed: &Outcome) {
    let elapsed = Duration::from_micros(250);
    record_metrics(snapshot, 0, ok, elapsed);
    record_metrics(snapshot, 0, failed, elapsed);
    let Some((route, pool)) = snapshot.route(0) else {
        return;
    };
    let backend = &pool.backends[0];
    route.refused(pool, "rate_limited");
    pool.metrics.retry("connect_failure");
    pool.metrics.retry_budget_exhausted();
    backend.metrics.connect_failure(&pool.name, &backend.label);
    backend.metrics.timeout(&pool.name, &backend.label);
    snapshot.listeners[0].metrics.unrouted();
    snapshot.listeners[0].metrics.bad_request("400");
    let open = OpenTunnel::begin(pool);
    open.end(&tunnel::Outcome {
        to_upstream: 10,
        to_client: 20,
        end: tunnel::End::Closed,
    });
}

#[test]
fn recording_a_request_does_not_allocate() {
    let validated = crate::config::validate::validate_text(CONFIG).expect("valid config");
    let registry = std::sync::Arc::new(Registry::new());
    let recorder = Atomics::default();
    metrics::with_local_recorder(&recorder, || {
        let snapshot = Snapshot::build(
            std::sync::Arc::new(validated.config),
            1,
            &["http".to_string()],
            None,
            &registry,
        );
        let ok = Outcome {
            status: 200,
            upstream_status: Some(200),
            upstream_ttfb: Some(Duration::from_micros(100)),
            bytes_in: 10,
            bytes_out: 1000,
            route: Some(0),
            backend: Some(0),
            ..Outcome::default()
        };
        let failed = Outcome {
            status: 502,
            error: Some("ConnectionClosed"),
            upstream_error: true,
            ..ok
        };
        // The first request resolves each handle (a series appears on first use).
        one_request(&snapshot, &ok, &failed);
        let resolved = recorder.registrations.load(Ordering::Relaxed);
        assert!(resolved >= 20, "only {resolved} handles resolved");
        let n = allocations(|| {
            for _ in 0..1000 {
                one_request(&snapshot, &ok, &failed);
            }
        });
        assert_eq!(n, 0, "allocations in 1000 requests' metrics");
        assert_eq!(
            recorder.registrations.load(Ordering::Relaxed),
            resolved,
            "a handle was resolved again after the first request"
        );
        // The measurement sees what it must refuse: a label value built per event.
        let per_event = allocations(|| {
            metrics::counter!(names::REQUESTS_TOTAL, label::POOL => String::from("web"))
                .increment(1);
        });
        assert!(per_event > 0, "the counting allocator missed an allocation");
    });
}

/// The same requests through the real exporter. Its histograms stored samples in blocks that
/// grew until a scrape drained them (an allocation per ~64 samples); the latency histograms
/// are gatehouse's own now, so nothing allocates.
#[test]
fn with_the_prometheus_exporter_recording_allocates_nothing() {
    let validated = crate::config::validate::validate_text(CONFIG).expect("valid config");
    let registry = std::sync::Arc::new(Registry::new());
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        let snapshot = Snapshot::build(
            std::sync::Arc::new(validated.config),
            1,
            &["http".to_string()],
            None,
            &registry,
        );
        let ok = Outcome {
            status: 200,
            upstream_status: Some(200),
            upstream_ttfb: Some(Duration::from_micros(100)),
            route: Some(0),
            backend: Some(0),
            ..Outcome::default()
        };
        let elapsed = Duration::from_micros(250);
        record_metrics(&snapshot, 0, &ok, elapsed);
        let requests = 10_000u64;
        let n = allocations(|| {
            for _ in 0..requests {
                record_metrics(&snapshot, 0, &ok, elapsed);
            }
        });
        eprintln!("prometheus exporter: {n} allocations in {requests} requests' metrics");
        assert_eq!(n, 0, "allocations in {requests} requests");
        let text = handle.render();
        assert!(
            text.contains(
                r#"gatehouse_requests_total{listener="http",pool="web",status_class="2xx"} 10001"#
            ),
            "{text}"
        );
    });
}
