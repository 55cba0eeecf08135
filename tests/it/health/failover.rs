//! Active-passive failover and failback (SIGKILL of the primary, under load), and `fail_open`.

use super::{config, next_transition};
use crate::support::load::{assert_no_failures, Load};
use crate::support::{eventually, fault, ChildBackend, Client, TestBackend, TestProxy, WAIT};
use std::time::SystemTime;

/// SIGKILL the primary under load with 100 ms checks: the backup serves with no failed
/// request; the primary restarted gets traffic back only once it passed `rise` checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_passive_failover_and_failback_with_active_checks() {
    let mut primary = ChildBackend::spawn("primary");
    let backup = ChildBackend::spawn("backup");
    let primary_addr = primary.addr;
    let proxy = TestProxy::start(&config(&format!(
        r#"balance = "active_passive"
health_check = {{ type = "http", path = "/healthz", interval = "100ms", timeout = "100ms", rise = 2, fall = 2 }}
backends = [{{ address = "{}" }}, {{ address = "{}", backup = true }}]"#,
        primary.addr, backup.addr
    )))
    .await;
    let mut events = proxy.state.registry.subscribe();
    let c = Client::new();
    eventually("primary serving", WAIT, || async {
        (c.get(proxy.http, "x.test", "/").await.backend() == "primary").then_some(())
    })
    .await;
    let load = Load::start(proxy.http, "x.test", "/", 2, None);
    eventually("load on the primary", WAIT, || async {
        (load.count() > 50).then_some(())
    })
    .await;
    let killed_at = SystemTime::now();
    primary.kill();
    next_transition(&mut events, primary_addr, "down").await;
    let _restarted = ChildBackend::spawn_on("primary", &primary_addr.to_string());
    let up = next_transition(&mut events, primary_addr, "up").await;
    assert!(
        up.reason.starts_with("2 consecutive successful checks"),
        "{}",
        up.reason
    );
    eventually("traffic back on the primary", WAIT, || async {
        (c.get(proxy.http, "x.test", "/").await.backend() == "primary").then_some(())
    })
    .await;
    let samples = load.finish().await;
    assert_no_failures(&samples, "failover and failback");
    let first_backup = samples
        .iter()
        .filter(|s| s.backend == "backup" && s.done_at >= killed_at)
        .map(|s| s.done_at)
        .min()
        .expect("the backup served during the outage");
    let to_backup = first_backup.duration_since(killed_at).unwrap_or_default();
    eprintln!("MEASURE failover: first response from the backup {to_backup:?} after SIGKILL of the primary (100 ms checks), 0 failed of {} requests", samples.len());
    // Failback only after rise: no response from the restarted primary completed before it
    // passed its rise checks (a request sent just before may be routed just after; fine).
    let after_kill: Vec<_> = samples
        .iter()
        .filter(|s| s.sent_at > killed_at && s.backend == "primary")
        .collect();
    assert!(
        !after_kill.is_empty(),
        "traffic returned to the primary under load"
    );
    assert!(
        after_kill.iter().all(|s| s.done_at >= up.at),
        "the primary took traffic before passing rise checks"
    );
}

#[tokio::test]
async fn fail_open_both_ways() {
    let a = TestBackend::start("a").await;
    let b = TestBackend::start("b").await;
    fault(a.addr, "healthz=fail").await;
    fault(b.addr, "healthz=fail").await;
    let pool = |fail_open: bool| {
        config(&format!(
            r#"fail_open = {fail_open}
health_check = {{ type = "http", path = "/healthz", interval = "30ms", fall = 1 }}
backends = [{{ address = "{}" }}, {{ address = "{}" }}]"#,
            a.addr, b.addr
        ))
    };
    let closed = TestProxy::start(&pool(false)).await;
    let open = TestProxy::start(&pool(true)).await;
    let c = Client::new();
    for proxy in [&closed, &open] {
        eventually("both down", WAIT, || async {
            proxy.state.load().pools[0]
                .backends
                .iter()
                .all(|b| b.state.view().state == "down")
                .then_some(())
        })
        .await;
    }
    assert_eq!(
        c.get(closed.http, "x.test", "/").await.status,
        503,
        "fail_open = false: 503"
    );
    let r = c.get(open.http, "x.test", "/").await;
    assert_eq!(r.status, 200, "fail_open = true: tried anyway");
    assert!(["a", "b"].contains(&r.backend().as_str()));
    let status = c.get(open.admin, "admin", "/status").await.json();
    assert_eq!(status["pools"][0]["serving_tier"], "fail_open");
}
