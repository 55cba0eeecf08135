//! What a backend costs in memory, pinned: a snapshot over 1,000 backends (pools of 10, as
//! `benches/load/footprint.py` builds them) is measured with the counting allocator, and the
//! heap bytes and allocations it holds per backend must stay under a bound. Measured when the
//! bound was set: ~655 bytes and 8 allocations per backend (the pool's own share included);
//! before the peer was built on demand, the config shared instead of copied and the gauges
//! written at scrape time, ~2,740 bytes and 36 allocations.

use crate::memory::counting::measure;
use crate::runtime::Snapshot;
use std::sync::Arc;

/// Backends measured (pools of 10).
const BACKENDS: usize = 1000;
/// Heap bytes per backend allowed: the measurement plus ~25 % headroom.
const MAX_BYTES: i64 = 820;
/// Allocations per backend allowed (its address strings, label, state; the pool's share).
const MAX_ALLOCATIONS: u64 = 11;

/// The bench's layout: 10 routes over pools of 10 backends, no health checks, no TLS.
pub(super) fn config(backends: usize) -> String {
    let mut out = String::from("[listeners.http]\naddress = \"127.0.0.1:8080\"\n");
    let pools = backends.div_ceil(10);
    for i in 0..10 {
        out += &format!(
            "[routes.r{i}]\nhosts = [\"h{i}.test\"]\npool = \"p{}\"\n",
            i % pools
        );
    }
    for p in 0..pools {
        let addresses: Vec<String> = (p * 10..(p * 10 + 10).min(backends))
            .map(|k| format!("{{ address = \"127.0.0.1:{}\" }}", 20000 + k))
            .collect();
        out += &format!("[pools.p{p}]\nbackends = [{}]\n", addresses.join(", "));
    }
    out
}

#[test]
fn a_backend_costs_at_most_its_bound_in_heap() {
    let validated = crate::config::validate::validate_text(&config(BACKENDS)).expect("valid");
    let config = Arc::new(validated.config);
    // The exporter gatehouse runs with: a series created per backend would be counted.
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        let registry = Arc::new(crate::health::Registry::new());
        let (snapshot, counts) = measure(|| {
            let snapshot = Snapshot::build(config, 1, &["http".into()], None, &registry);
            // The first request to each pool computes its schedule.
            for pool in &snapshot.pools {
                assert!(pool.has_candidates());
            }
            snapshot
        });
        let backends: usize = snapshot.pools.iter().map(|p| p.backends.len()).sum();
        assert_eq!(backends, BACKENDS);
        let n = BACKENDS as i64;
        let bytes = counts.live_bytes / n;
        let allocations = counts.allocations / BACKENDS as u64;
        eprintln!("per backend: {bytes} bytes, {allocations} allocations");
        assert!(
            bytes <= MAX_BYTES,
            "a backend now holds {bytes} bytes (bound {MAX_BYTES})"
        );
        assert!(
            allocations <= MAX_ALLOCATIONS,
            "a backend now makes {allocations} allocations (bound {MAX_ALLOCATIONS})"
        );
        // No backend or tier series is held in the recorder: they are written at scrape time.
        let held = handle.render();
        for family in ["gatehouse_backend", "gatehouse_pool_serving_tier"] {
            assert!(
                !held.contains(family),
                "building the snapshot created a {family} series"
            );
        }
        let mut scraped = String::new();
        super::gauges::render(&snapshot.pools, &mut scraped);
        let up = scraped
            .lines()
            .filter(|l| l.starts_with("gatehouse_backend_up{") && l.ends_with(" 1"))
            .count();
        assert_eq!(up, BACKENDS, "every backend is up at the scrape");
        let primary = scraped
            .lines()
            .filter(|l| {
                l.starts_with("gatehouse_pool_serving_tier{") && l.contains("\"primary\"} 1")
            })
            .count();
        assert_eq!(
            primary,
            BACKENDS / 10,
            "every pool serves from its primaries"
        );
    });
}

#[test]
fn the_measurement_sees_a_backend_growing() {
    // The bound means something only if the counting sees held bytes: a leaked 1 KiB per
    // backend must show as 1 KiB per backend.
    let (held, counts) = measure(|| (0..BACKENDS).map(|_| vec![0u8; 1024]).collect::<Vec<_>>());
    assert_eq!(held.len(), BACKENDS);
    assert!(counts.live_bytes / BACKENDS as i64 >= 1024);
    assert!(counts.allocations >= BACKENDS as u64);
}

#[test]
fn the_backends_are_held_once_and_a_reload_compares_them_all() {
    let validated = crate::config::validate::validate_text(&config(20)).expect("valid");
    let registry = Arc::new(crate::health::Registry::new());
    let first = &validated.config.pools[0];
    let pool = super::Pool::build(first, &registry);
    assert!(
        pool.config.backends.is_empty(),
        "a second copy of the backends"
    );
    assert!(pool.same_config(first));
    let mut other = first.clone();
    other.max_retries += 1;
    assert!(!pool.same_config(&other), "a setting differs");
    let mut other = first.clone();
    std::sync::Arc::make_mut(&mut other.backends[1]).weight = 5;
    assert!(!pool.same_config(&other), "a backend's settings differ");
    let mut other = first.clone();
    other.backends.pop();
    assert!(!pool.same_config(&other), "a backend is gone");
    let mut other = first.clone();
    other
        .backends
        .push(validated.config.pools[1].backends[0].clone());
    assert!(!pool.same_config(&other), "a backend is new");
}
