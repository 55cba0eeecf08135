//! Reloads under load: fifty of them fail no request and never mix snapshots; an invalid
//! file mid-load is refused and the old configuration keeps serving.

use super::two_pools;
use crate::support::load::{assert_no_failures, Load};
use crate::support::{bounded, eventually, Client, TestBackend, TestProxy, WAIT};
use std::collections::HashSet;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_reloads_under_load_fail_no_request_and_never_mix_snapshots() {
    let blue = [
        TestBackend::start("blue-1").await,
        TestBackend::start("blue-2").await,
    ];
    let green = [
        TestBackend::start("green-1").await,
        TestBackend::start("green-2").await,
    ];
    let ba = [blue[0].addr.to_string(), blue[1].addr.to_string()];
    let ga = [green[0].addr.to_string(), green[1].addr.to_string()];
    let configs = [
        two_pools("blue", &[&ba[0], &ba[1]], &[&ga[0], &ga[1]], ""),
        two_pools("green", &[&ba[0], &ba[1]], &[&ga[0], &ga[1]], ""),
    ];
    let proxy = TestProxy::start(&configs[0]).await;
    let first = proxy.generation();
    let state = proxy.state.clone();
    let load = Load::start(
        proxy.http,
        "site.test",
        "/",
        4,
        Some(Arc::new(move || state.load().generation)),
    );
    for i in 1..=50 {
        let g = proxy.rewrite_and_wait(&proxy.render(&configs[i % 2])).await;
        assert_eq!(g, first + i as u64, "one generation per reload");
    }
    let samples = load.finish().await;
    assert_eq!(proxy.generation(), first + 50, "exactly 50 new generations");
    assert!(
        samples.len() >= 100,
        "the load was real: {} requests",
        samples.len()
    );
    assert_no_failures(&samples, "reloads under load");
    // Generation g (odd offset from the first) routes to green, even to blue. A response must
    // come from the pool of a generation that was live while its request was in flight.
    let pool_of = |g: u64| {
        if (g - first).is_multiple_of(2) {
            "blue"
        } else {
            "green"
        }
    };
    let mut seen = HashSet::new();
    for s in &samples {
        let valid: HashSet<&str> = (s.gen_before..=s.gen_after).map(pool_of).collect();
        let pool = s.backend.split('-').next().unwrap();
        assert!(
            valid.contains(pool),
            "{s:?} answered by {pool}, valid: {valid:?}"
        );
        seen.insert(pool.to_string());
    }
    assert_eq!(seen.len(), 2, "both pools answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_file_mid_load_is_refused_and_the_old_config_keeps_serving() {
    let a = TestBackend::start("a").await;
    let b = TestBackend::start("b").await;
    let (aa, ba) = (a.addr.to_string(), b.addr.to_string());
    let good = two_pools("blue", &[&aa], &[&ba], "");
    let proxy = TestProxy::start(&good).await;
    let generation = proxy.generation();
    let mut reports = proxy.reloader.subscribe_reports();
    let load = Load::start(proxy.http, "site.test", "/", 4, None);
    eventually("some load before the bad write", WAIT, || async {
        (load.count() > 50).then_some(())
    })
    .await;
    proxy.write_config(
        &proxy
            .render(&good)
            .replace("pool = \"blue\"", "pool = \"purple\""),
    );
    let report = bounded(
        "the refused reload is reported",
        reports.wait_for(|r| r.as_ref().is_some_and(|r| r.result == "error")),
    )
    .await
    .unwrap()
    .clone()
    .unwrap();
    assert!(
        report.errors.iter().any(|e| e
            .contains("routes.site.pool: unknown pool \"purple\" (known: blue, green) at line 12")),
        "{report:?}"
    );
    let n = load.count();
    eventually("load continues after the refused reload", WAIT, || async {
        (load.count() > n + 50).then_some(())
    })
    .await;
    let samples = load.finish().await;
    assert_no_failures(&samples, "invalid file mid-load");
    assert_eq!(proxy.generation(), generation, "old config still serving");
    assert!(
        samples.iter().all(|s| s.backend == "a"),
        "still routed by the old config"
    );
    let status = Client::new()
        .get(proxy.admin, "admin", "/status")
        .await
        .json();
    assert_eq!(status["last_reload"]["result"], "error");
    let took = status["last_reload"]["duration_ms"].as_f64().unwrap();
    let bound = crate::support::patient(std::time::Duration::from_secs(10));
    assert!(
        took > 0.0 && took < bound.as_secs_f64() * 1000.0,
        "{status}"
    );
}
