use super::*;
use crate::config::model::{
    Backend, Balance, PassiveSettings, Pool as PoolConfig, TimeoutSettings,
};
use crate::health::{AdminOverride, Registry};
use std::collections::HashMap;
use std::time::Duration;

fn backend(port: u16, weight: u32, backup: bool) -> Backend {
    Backend {
        configured: format!("127.0.0.1:{port}"),
        host: "127.0.0.1".into(),
        address: format!("127.0.0.1:{port}").parse().unwrap(),
        weight,
        backup,
        drain: false,
        max_connections: None,
        max_queue: 0,
        queue_timeout: Duration::from_secs(1),
    }
}

fn pool(balance: Balance, backends: Vec<Backend>) -> (Pool, Arc<Registry>) {
    let registry = Arc::new(Registry::new());
    let cfg = PoolConfig {
        name: "p".into(),
        balance,
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

fn counts(p: &Pool, n: usize) -> HashMap<u32, usize> {
    let mut out = HashMap::new();
    for _ in 0..n {
        *out.entry(p.select().unwrap()).or_default() += 1;
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
    let seq: Vec<u32> = (0..6).map(|_| p.select().unwrap()).collect();
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
    let picks: Vec<u32> = (0..900).map(|_| p.select().unwrap()).collect();
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
    assert_eq!(p.select(), None, "nothing healthy: 503");
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
        let first = p.select().unwrap();
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
    b.drain = true;
    let (p, _) = pool(Balance::RoundRobin, vec![backend(1, 1, false), b]);
    assert_eq!(counts(&p, 10), HashMap::from([(0, 10)]));
}
