//! Active health checks, run as a Pingora background service.
//!
//! Each backend of a pool with a `health_check` gets its own task probing on its own interval
//! (with jitter), so a slow backend never delays the checks of the others (unlike Pingora's
//! pass-based `HealthRegistry`). Results feed the backend's state in the health registry.
//! When a reload changes the snapshot, tasks are started, kept or stopped by comparing
//! (backend identity, check settings): an unchanged backend keeps its task and its state.

mod grpc;
pub mod probe;

use crate::config::model::{Backend, HealthCheckSettings, Pool, UpstreamProtocol};
use crate::health::{BackendKey, BackendState};
use crate::metrics::names;
use crate::runtime::SharedState;
use metrics::{counter, histogram};
use pingora::connectors::TransportConnector;
use probe::Target;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// What a probe task depends on: when any of it changes on reload, the task is replaced. The
/// connection settings are those the backend's traffic peer is built from. Held as the shared
/// configs themselves (two pointers per checked backend, not copies of the settings).
struct Spec {
    pool: Arc<Pool>,
    backend: Arc<Backend>,
}

impl PartialEq for Spec {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (&*self.pool, &*other.pool);
        a.health_check == b.health_check
            && self.backend.host == other.backend.host
            && a.tls == b.tls
            && a.protocol == b.protocol
            && a.timeouts == b.timeouts
    }
}

struct Running {
    spec: Spec,
    task: JoinHandle<()>,
}

/// Keeps one probe task per checked backend until `shutdown` flips.
pub async fn run(state: Arc<SharedState>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut generations = state.subscribe();
    let mut running: HashMap<BackendKey, Running> = HashMap::new();
    // The engine's own connector: probes connect as traffic does.
    let transport = crate::tls::upstream::transport_connector();
    loop {
        reconcile(&state, &transport, &mut running);
        tokio::select! {
            _ = shutdown.changed() => break,
            changed = generations.changed() => if changed.is_err() { break },
        }
    }
    for (_, r) in running {
        r.task.abort();
    }
}

fn reconcile(
    state: &Arc<SharedState>,
    transport: &Arc<TransportConnector>,
    running: &mut HashMap<BackendKey, Running>,
) {
    let snapshot = state.load();
    let mut wanted: HashMap<BackendKey, (Spec, Target, Arc<BackendState>)> = HashMap::new();
    for pool in &snapshot.pools {
        if pool.config.health_check.is_none() {
            continue;
        }
        for b in &pool.backends {
            let spec = Spec {
                pool: pool.config.clone(),
                backend: b.config.clone(),
            };
            let target = Target {
                pool: pool.config.clone(),
                backend: b.config.clone(),
                h2: pool.config.protocol == UpstreamProtocol::H2,
            };
            wanted.insert(b.state.key.clone(), (spec, target, b.state.clone()));
        }
    }
    running.retain(|key, r| {
        let keep = wanted.get(key).is_some_and(|(spec, _, _)| *spec == r.spec);
        if !keep {
            r.task.abort();
        }
        keep
    });
    for (key, (spec, target, backend)) in wanted {
        if running.contains_key(&key) {
            continue;
        }
        let Some(settings) = spec.pool.health_check.clone() else {
            continue;
        };
        let task = tokio::spawn(probe_loop(settings, target, backend, transport.clone()));
        running.insert(key, Running { spec, task });
    }
}

/// Interval with jitter: uniformly within ± `jitter`/2 of the interval (HAProxy's
/// `spread-checks` meaning, as documented for `health_check.jitter`), so the checks of many
/// backends drift apart instead of firing in lockstep.
fn jittered(interval: Duration, jitter: f64) -> Duration {
    spread(interval, jitter, fastrand::f64())
}

/// [`jittered`] for a given uniform sample `u` in [0, 1).
fn spread(interval: Duration, jitter: f64, u: f64) -> Duration {
    let factor = 1.0 + jitter * (u - 0.5);
    interval.mul_f64(factor.max(0.0))
}

/// Delay before a backend's first check: within the first `jitter`/2 of an interval, so a new
/// backend (out of rotation until it passes) is checked soon, yet a pool's backends added by
/// one reload are not all probed at the same instant.
fn first_delay(interval: Duration, jitter: f64, u: f64) -> Duration {
    interval.mul_f64(jitter * u * 0.5)
}

async fn probe_loop(
    settings: HealthCheckSettings,
    target: Target,
    backend: Arc<BackendState>,
    transport: Arc<TransportConnector>,
) {
    let pool = backend.key.pool.to_string();
    // Per pool, not per backend: a histogram per backend is ~20 series each, and the backend
    // that fails shows in its own state series.
    let latency =
        histogram!(names::HEALTH_CHECK_DURATION_SECONDS, names::label::POOL => pool.clone());
    let passed = counter!(names::HEALTH_CHECKS_TOTAL, names::label::POOL => pool.clone(), names::label::RESULT => "ok");
    let failed = counter!(names::HEALTH_CHECKS_TOTAL, names::label::POOL => pool, names::label::RESULT => "error");
    tokio::time::sleep(first_delay(
        settings.interval,
        settings.jitter,
        fastrand::f64(),
    ))
    .await;
    loop {
        let started = Instant::now();
        let result = match tokio::time::timeout(
            settings.timeout,
            probe::probe(&settings.kind, &target, &transport),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(format!("timed out after {:?}", settings.timeout)),
        };
        let elapsed = started.elapsed();
        latency.record(elapsed.as_secs_f64());
        let ok = result.is_ok();
        if ok {
            passed.increment(1);
        } else {
            failed.increment(1);
        }
        let detail = result.unwrap_or_else(|e| e);
        backend.record_check(ok, elapsed, detail, &settings);
        let next_check = tokio::time::Instant::now()
            + jittered(settings.interval, settings.jitter).saturating_sub(elapsed);
        // A failback delay (or an ejection) ending before the next check is published when it
        // ends, not one interval late: `gatehouse_backend_up` must say when traffic returns.
        while let Some(at) = backend.next_change().filter(|at| *at < next_check) {
            tokio::time::sleep_until(at).await;
            backend.refresh();
        }
        tokio::time::sleep_until(next_check).await;
    }
}

#[cfg(test)]
mod tests {
    use super::{first_delay, jittered, spread};
    use std::time::Duration;

    #[test]
    fn jitter_spreads_over_plus_minus_half_the_fraction() {
        let second = Duration::from_secs(1);
        // The documented meaning: jitter = 0.2 → each wait within 0.9 s … 1.1 s, both ends
        // reachable; the first check within the first 0.1 s.
        assert_eq!(spread(second, 0.2, 0.0), Duration::from_millis(900));
        assert_eq!(spread(second, 0.2, 0.5), second);
        assert!(spread(second, 0.2, 0.999_999) > Duration::from_millis(1099));
        assert_eq!(spread(second, 1.0, 0.0), Duration::from_millis(500));
        assert_eq!(first_delay(second, 0.2, 0.0), Duration::ZERO);
        assert!(first_delay(second, 0.2, 0.999_999) > Duration::from_millis(99));
        assert!(first_delay(second, 0.2, 0.999_999) < Duration::from_millis(100));
    }

    #[test]
    fn jitter_stays_within_bounds() {
        for _ in 0..1000 {
            let d = jittered(Duration::from_millis(1000), 0.2);
            assert!(
                d >= Duration::from_millis(900) && d <= Duration::from_millis(1100),
                "{d:?}"
            );
        }
        assert_eq!(
            jittered(Duration::from_millis(100), 0.0),
            Duration::from_millis(100)
        );
    }
}
