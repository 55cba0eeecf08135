use super::*;
use crate::config::model::{
    Backend, Balance, HashKey, HashSettings, PassiveSettings, Pool as PoolConfig, TimeoutSettings,
};
use crate::health::{AdminOverride, Registry};
use std::collections::HashMap;
use std::time::Duration;

fn backend(port: u16, weight: u32, backup: bool) -> Arc<Backend> {
    Arc::new(Backend {
        configured: format!("127.0.0.1:{port}"),
        host: "127.0.0.1".into(),
        address: format!("127.0.0.1:{port}").parse().unwrap(),
        weight,
        backup,
        drain: false,
        max_connections: None,
        max_queue: 0,
        queue_timeout: Duration::from_secs(1),
    })
}

fn pool(balance: Balance, backends: Vec<Arc<Backend>>) -> (Pool, Arc<Registry>) {
    pool_with(balance, None, backends)
}

fn pool_with(
    balance: Balance,
    hash: Option<HashSettings>,
    backends: Vec<Arc<Backend>>,
) -> (Pool, Arc<Registry>) {
    let registry = Arc::new(Registry::new());
    let cfg = PoolConfig {
        name: "p".into(),
        balance,
        hash,
        sticky: None,
        slow_start: None,
        max_retries: 2,
        fail_open: false,
        failback_delay: Duration::ZERO,
        timeouts: TimeoutSettings {
            connect: Duration::from_secs(1),
            read: Duration::from_secs(1),
            write: Duration::from_secs(1),
            idle: Duration::from_secs(1),
            response: None,
            tunnel: Duration::from_secs(3600),
        },
        protocol: crate::config::model::UpstreamProtocol::Http1,
        h2_streams: 100,
        tls: None,
        health_check: None,
        passive: PassiveSettings {
            connect_failures: 3,
            http_5xx: 0,
            timeouts: 0,
            cooldown: Duration::from_secs(10),
            max_cooldown: Duration::from_secs(60),
            max_ejection_percent: 50,
        },
        backends,
    };
    (Pool::build(&cfg, &registry), registry)
}

/// The config `p` was built from, backends included (the pool keeps its settings without
/// them, each backend holding its own).
fn config_of(p: &Pool) -> PoolConfig {
    PoolConfig {
        backends: p.backends.iter().map(|b| b.config.clone()).collect(),
        ..(*p.config).clone()
    }
}

/// A request in flight to backend `i`, counted as the engines count it: the backend's own
/// counter first, then the pool's (which refreshes the least-connections index).
fn start(p: &Pool, i: u32) -> Held<'_> {
    Held {
        _backend: p.backends[i as usize].state.begin_request(),
        _pool: p.begin_request(i),
    }
}

/// Both guards of a request in flight (dropped in field order, as in the engines).
struct Held<'p> {
    _backend: crate::health::InflightGuardHandle,
    _pool: PoolInflight<'p>,
}

fn counts(p: &Pool, n: usize) -> HashMap<u32, usize> {
    let mut out = HashMap::new();
    for _ in 0..n {
        *out.entry(p.select(None).unwrap()).or_default() += 1;
    }
    out
}

#[test]
fn round_robin_is_exact_and_smooth() {
    let (p, _) = pool(
        Balance::RoundRobin,
        vec![
            backend(1, 1, false),
            backend(2, 1, false),
            backend(3, 1, false),
        ],
    );
    let seq: Vec<u32> = (0..6).map(|_| p.select(None).unwrap()).collect();
    assert_eq!(seq, vec![0, 1, 2, 0, 1, 2]);
    let (p, _) = pool(
        Balance::RoundRobin,
        vec![backend(1, 1, false), backend(2, 2, false)],
    );
    assert_eq!(counts(&p, 300), HashMap::from([(0, 100), (1, 200)]));
}

#[test]
fn weighted_shares_hold_at_every_prefix() {
    let weights = [5, 3, 1];
    let (p, _) = pool(
        Balance::RoundRobin,
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| backend(i as u16 + 1, w, false))
            .collect(),
    );
    let picks: Vec<u32> = (0..900).map(|_| p.select(None).unwrap()).collect();
    for n in 1..=picks.len() {
        for (i, w) in weights.iter().enumerate() {
            let got = picks[..n].iter().filter(|&&x| x == i as u32).count() as f64;
            let ideal = n as f64 * f64::from(*w) / 9.0;
            assert!(
                (got - ideal).abs() <= 1.0,
                "after {n} requests backend {i} had {got}, ideal {ideal}"
            );
        }
    }
}

#[test]
fn dead_backends_are_skipped_and_shares_stay_exact_among_the_rest() {
    let (p, _) = pool(
        Balance::RoundRobin,
        vec![
            backend(1, 1, false),
            backend(2, 1, false),
            backend(3, 2, false),
        ],
    );
    p.backends[2].state.set_admin(AdminOverride::Disable);
    assert_eq!(counts(&p, 200), HashMap::from([(0, 100), (1, 100)]));
    p.backends[2].state.set_admin(AdminOverride::None);
    assert_eq!(
        counts(&p, 400),
        HashMap::from([(0, 100), (1, 100), (2, 200)])
    );
}

#[test]
fn active_passive_uses_the_first_healthy_primary_then_backups_in_order() {
    let (p, _) = pool(
        Balance::ActivePassive,
        vec![
            backend(1, 1, false),
            backend(2, 1, true),
            backend(3, 1, true),
        ],
    );
    assert_eq!(counts(&p, 50), HashMap::from([(0, 50)]));
    assert_eq!(p.tier(), Tier::Primary);
    p.backends[0].state.set_admin(AdminOverride::Disable);
    assert_eq!(counts(&p, 50), HashMap::from([(1, 50)]));
    assert_eq!(p.tier(), Tier::Backup);
    p.backends[1].state.set_admin(AdminOverride::Disable);
    assert_eq!(counts(&p, 50), HashMap::from([(2, 50)]));
    // failback: the primary returns, traffic returns to it
    p.backends[0].state.set_admin(AdminOverride::None);
    assert_eq!(counts(&p, 50), HashMap::from([(0, 50)]));
    p.backends[2].state.set_admin(AdminOverride::Disable);
    p.backends[0].state.set_admin(AdminOverride::Disable);
    assert_eq!(p.select(None), None, "nothing healthy: 503");
}

#[test]
fn retries_never_reuse_a_tried_backend_and_fall_to_the_next_tier() {
    let (p, _) = pool(
        Balance::ActivePassive,
        vec![backend(1, 1, false), backend(2, 1, true)],
    );
    assert_eq!(
        p.select_excluding(&[0]),
        Some(1),
        "primary failed: the backup next"
    );
    assert_eq!(p.select_excluding(&[0, 1]), None);
    let (p, _) = pool(
        Balance::RoundRobin,
        vec![
            backend(1, 1, false),
            backend(2, 1, false),
            backend(3, 1, false),
        ],
    );
    for _ in 0..10 {
        let first = p.select(None).unwrap();
        let second = p.select_excluding(&[first]).unwrap();
        assert_ne!(first, second);
        let third = p.select_excluding(&[first, second]).unwrap();
        assert!(third != first && third != second);
    }
}

#[tokio::test(start_paused = true)]
async fn passive_ejection_takes_a_backend_out_and_respects_the_cap() {
    let (p, _) = pool(
        Balance::RoundRobin,
        vec![backend(1, 1, false), backend(2, 1, false)],
    );
    for _ in 0..3 {
        p.report_connect_failure(0);
    }
    assert_eq!(counts(&p, 20), HashMap::from([(1, 20)]));
    // 50% of 2 backends = 1: the second may not be ejected while the first is out
    for _ in 0..3 {
        p.report_connect_failure(1);
    }
    assert_eq!(counts(&p, 20), HashMap::from([(1, 20)]));
    // cool-down over: back in rotation
    tokio::time::advance(Duration::from_secs(11)).await;
    assert_eq!(counts(&p, 20), HashMap::from([(0, 10), (1, 10)]));
}

#[test]
fn config_drain_gets_no_new_requests() {
    let mut b = backend(2, 1, false);
    Arc::make_mut(&mut b).drain = true;
    let (p, _) = pool(Balance::RoundRobin, vec![backend(1, 1, false), b]);
    assert_eq!(counts(&p, 10), HashMap::from([(0, 10)]));
}

fn hashing(bound: Option<f64>, default: Option<&str>, n: u16) -> Pool {
    let settings = HashSettings {
        key: HashKey::Path,
        bound,
        default: default.map(str::to_string),
    };
    let backends = (1..=n).map(|i| backend(i, 1, false)).collect();
    pool_with(Balance::Hash, Some(settings), backends).0
}

#[test]
fn hash_keeps_a_key_on_its_backend_and_avoids_unavailable_ones() {
    let p = hashing(None, None, 3);
    let first = p.select(Some(42)).unwrap();
    assert!((0..100).all(|_| p.select(Some(42)) == Some(first)));
    // Keys spread over every backend.
    let spread: std::collections::HashSet<u32> = (0..300u64)
        .filter_map(|k| p.select(Some(k * 7919)))
        .collect();
    assert_eq!(spread.len(), 3);
    p.backends[first as usize]
        .state
        .set_admin(AdminOverride::Drain);
    let moved = p.select(Some(42)).unwrap();
    assert_ne!(moved, first, "a draining backend takes no new keys");
    p.backends[first as usize]
        .state
        .set_admin(AdminOverride::None);
    assert_eq!(p.select(Some(42)), Some(first), "and gets them back after");
}

#[test]
fn hash_without_a_key_goes_round_robin_or_hashes_the_default() {
    let p = hashing(None, None, 3);
    assert_eq!(counts(&p, 30), HashMap::from([(0, 10), (1, 10), (2, 10)]));
    let p = hashing(None, Some("anonymous"), 3);
    assert_eq!(
        counts(&p, 30).len(),
        1,
        "every keyless request on one backend"
    );
}

#[test]
fn bounded_load_keeps_every_backend_under_its_bound() {
    let p = hashing(Some(1.25), None, 3);
    let mut held = Vec::new();
    for _ in 0..12 {
        let i = p.select(Some(42)).unwrap();
        let b = &p.backends[i as usize];
        held.push((b.state.begin_request(), p.begin_request(i)));
    }
    let cap = crate::runtime::balance::capacity(1.25, 11, 1, 3);
    for b in &p.backends {
        assert!(
            u64::from(b.state.inflight()) <= cap,
            "{} > {cap}",
            b.state.inflight()
        );
    }
    drop(held);
    // Unbounded, the same key would have put all twelve on one backend.
    let p = hashing(None, None, 3);
    let picks: std::collections::HashSet<u32> =
        (0..12).filter_map(|_| p.select(Some(42))).collect();
    assert_eq!(picks.len(), 1);
}

#[test]
fn of_two_picks_racing_for_a_last_place_exactly_one_keeps_it() {
    let p = hashing(Some(1.25), None, 3);
    // Both read the owner's load (0) before either counts itself: both choose it.
    let (a, b) = (p.select(Some(42)).unwrap(), p.select(Some(42)).unwrap());
    assert_eq!(a, b);
    let (first, first_before) = p.backends[a as usize].state.begin_request_counted();
    let _first_pool = p.begin_request(a);
    let (second, second_before) = p.backends[b as usize].state.begin_request_counted();
    let _second_pool = p.begin_request(b);
    // Two in flight: the owner's capacity is ceil(1.25 × 2 / 3) = 1.
    assert!(
        p.within_bound(a, first_before),
        "the first count keeps the place"
    );
    assert!(
        !p.within_bound(b, second_before),
        "the second must pick again"
    );
    drop((second, _second_pool));
    let again = p.select(Some(42)).unwrap();
    assert_ne!(
        again, a,
        "the place is taken: the next member along the table"
    );
    drop((first, _first_pool));
}

#[tokio::test(start_paused = true)]
async fn bounded_load_holds_while_a_backend_ramps() {
    let base = hashing(Some(1.25), None, 3);
    let mut config = config_of(&base);
    config.slow_start = Some(Duration::from_secs(10));
    let registry = Arc::new(Registry::new());
    let p = Pool::build(&config, &registry);
    for b in &p.backends[..2] {
        b.state.ramp.establish();
    }
    // Backend 2 has just come: it ramps from a tenth, the others count in tenths too.
    let mut held = Vec::new();
    for _ in 0..12 {
        let i = p.select(Some(42)).unwrap();
        held.push(start(&p, i));
    }
    let ramped = [10, 10, 1];
    for (b, w) in p.backends.iter().zip(ramped) {
        let cap = crate::runtime::balance::capacity(1.25, 11, w, 21);
        assert!(
            u64::from(b.state.inflight()) <= cap,
            "{}: {} > {cap}",
            b.label,
            b.state.inflight()
        );
    }
}

#[test]
fn least_connections_prefers_the_idle_backend_and_weights_count() {
    let (p, _) = pool(
        Balance::LeastConnections,
        vec![backend(1, 1, false), backend(2, 1, false)],
    );
    let busy = start(&p, 0);
    assert_eq!(counts(&p, 20), HashMap::from([(1, 20)]));
    drop(busy);
    assert_eq!(
        counts(&p, 20),
        HashMap::from([(0, 10), (1, 10)]),
        "ties rotate"
    );
    let (p, _) = pool(
        Balance::LeastConnections,
        vec![backend(1, 1, false), backend(2, 3, false)],
    );
    let mut held = Vec::new();
    for _ in 0..8 {
        let i = p.select(None).unwrap();
        held.push(start(&p, i));
    }
    assert_eq!(p.backends[0].state.inflight(), 2);
    assert_eq!(p.backends[1].state.inflight(), 6);
    drop(held);
    assert_eq!(counts(&p, 4), HashMap::from([(1, 4)]), "idle: by weight");
}

#[test]
fn least_connections_agrees_with_the_scan_as_requests_come_and_go() {
    let weights = [1u32, 3, 2, 1, 5];
    let (p, _) = pool(
        Balance::LeastConnections,
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| backend(i as u16 + 1, w, false))
            .collect(),
    );
    let members: Vec<u32> = (0..weights.len() as u32).collect();
    let mut held: Vec<Held<'_>> = Vec::new();
    fastrand::seed(3);
    for _ in 0..500 {
        if !held.is_empty() && fastrand::bool() {
            held.swap_remove(fastrand::usize(..held.len()));
            continue;
        }
        let turn = p.counter.load(Ordering::Relaxed);
        let want = balance::least_loaded(&members, &weights, turn, |i| p.load(i));
        let got = p.select(None).unwrap();
        assert_eq!(Some(got), want);
        held.push(start(&p, got));
    }
}

#[test]
fn least_connections_keeps_tiers_and_drains() {
    let (p, _) = pool(
        Balance::LeastConnections,
        vec![
            backend(1, 1, false),
            backend(2, 1, false),
            backend(3, 1, true),
        ],
    );
    let _busy: Vec<_> = (0..3).map(|_| start(&p, 1)).collect();
    assert_eq!(
        counts(&p, 6),
        HashMap::from([(0, 6)]),
        "backup idle, not used"
    );
    p.backends[0].state.set_admin(AdminOverride::Drain);
    assert_eq!(
        counts(&p, 6),
        HashMap::from([(1, 6)]),
        "the busy primary still"
    );
    p.backends[1].state.set_admin(AdminOverride::Disable);
    assert_eq!(counts(&p, 6), HashMap::from([(2, 6)]), "then the backup");
}

#[test]
fn a_rebuilt_least_connections_pool_sees_old_requests_end() {
    let (old, registry) = pool(
        Balance::LeastConnections,
        vec![backend(1, 1, false), backend(2, 1, false)],
    );
    let old = Arc::new(old);
    let old_requests: Vec<_> = (0..3).map(|_| start(&old, 0)).collect();
    let mut config = config_of(&old);
    config.max_retries = 5;
    config.backends.push(backend(3, 1, false));
    let new = Arc::new(Pool::build(&config, &registry));
    old.hand_over(&new);
    // The new pool sees the old pool's three requests on backend 0.
    assert_eq!(counts(&new, 6).get(&0), None);
    drop(old_requests);
    // They ended under the old pool: the new one counts backend 0 idle again.
    assert_eq!(counts(&new, 3).get(&0), Some(&1));
}

#[test]
fn random_two_choices_never_picks_the_busier_of_two() {
    let (p, _) = pool(
        Balance::RandomTwoChoices,
        vec![backend(1, 1, false), backend(2, 1, false)],
    );
    let _busy: Vec<_> = (0..5).map(|_| start(&p, 0)).collect();
    // With two backends a pick is backend 0 only when both draws were 0 (the second drawn
    // again once): 1/8 of picks, 1,250 of 10,000 (σ ≈ 33). 1,500 is 7.5σ away, where 1,000
    // picks against 150 (2.4σ) failed about once in a hundred runs; a pick that ignored the
    // load would send 5,000 there.
    let to_busy = (0..10_000).filter(|_| p.select(None) == Some(0)).count();
    assert!(to_busy < 1_500, "{to_busy}");
}

#[tokio::test(start_paused = true)]
async fn slow_start_share_grows_monotonically_over_the_window() {
    let (base, _) = pool(
        Balance::RoundRobin,
        vec![backend(1, 1, false), backend(2, 1, false)],
    );
    let mut config = config_of(&base);
    config.slow_start = Some(Duration::from_secs(10));
    let registry = Arc::new(Registry::new());
    let p = Pool::build(&config, &registry);
    for b in &p.backends {
        b.state.ramp.establish();
    }
    // Both there from the start: full weights at once.
    assert_eq!(counts(&p, 20), HashMap::from([(0, 10), (1, 10)]));
    p.backends[1].state.set_admin(AdminOverride::Disable);
    assert_eq!(counts(&p, 10), HashMap::from([(0, 10)]));
    p.backends[1].state.set_admin(AdminOverride::None);
    let mut last = 0.0;
    for second in 0..=11 {
        let share = f64::from(counts(&p, 1000).get(&1).copied().unwrap_or(0) as u32) / 1000.0;
        assert!(share + 0.002 >= last, "{second}s: {share} < {last}");
        if second == 0 {
            assert!(share < 0.1, "starts near zero: {share}");
        }
        last = share;
        tokio::time::advance(Duration::from_secs(1)).await;
    }
    assert!(
        (last - 0.5).abs() < 0.002,
        "full weight after the window: {last}"
    );
}
