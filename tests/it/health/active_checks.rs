//! Active checks: a failing backend leaves after `fall` checks and returns after `rise`; a new
//! backend gets no traffic before its first check passes; check kinds, options, and probes
//! that do not delay each other.

use super::{config, next_transition, tally};
use crate::support::{eventually, fault, Client, TestBackend, TestProxy, WAIT};
use std::collections::HashMap;
use std::time::Duration;

#[tokio::test]
async fn a_failing_backend_leaves_after_fall_checks_and_returns_after_rise() {
    let a = TestBackend::start("a").await;
    let b = TestBackend::start("b").await;
    let proxy = TestProxy::start(&config(&format!(
        r#"health_check = {{ type = "http", path = "/healthz", interval = "30ms", timeout = "500ms", rise = 2, fall = 3, expect_status = ["200"] }}
backends = [{{ address = "{}" }}, {{ address = "{}" }}]"#,
        a.addr, b.addr
    )))
    .await;
    let mut events = proxy.state.registry.subscribe();
    let c = Client::new();
    eventually("both up", WAIT, || async {
        (tally(&c, &proxy, 4).await == HashMap::from([("200 a".into(), 2), ("200 b".into(), 2)]))
            .then_some(())
    })
    .await;
    fault(b.addr, "healthz=fail").await;
    let down = next_transition(&mut events, b.addr, "down").await;
    assert_eq!(down.from, "up");
    assert_eq!(down.reason, "3 consecutive failed checks (status 503)");
    assert_eq!(
        tally(&c, &proxy, 20).await,
        HashMap::from([("200 a".into(), 20)])
    );
    fault(b.addr, "healthz=ok").await;
    let up = next_transition(&mut events, b.addr, "up").await;
    assert_eq!(up.reason, "2 consecutive successful checks (status 200)");
    assert_eq!(
        tally(&c, &proxy, 20).await,
        HashMap::from([("200 a".into(), 10), ("200 b".into(), 10)])
    );
}

#[tokio::test]
async fn a_new_backend_gets_no_traffic_before_its_first_check_passes() {
    let a = TestBackend::start("a").await;
    let newcomer = TestBackend::start("new").await;
    fault(newcomer.addr, "healthz=hold").await;
    let pool = |backends: &str| {
        config(&format!(
            r#"health_check = {{ type = "http", path = "/healthz", interval = "50ms", timeout = "5s", jitter = 0.0 }}
backends = [{backends}]"#
        ))
    };
    let one = format!(r#"{{ address = "{}" }}"#, a.addr);
    let two = format!(r#"{one}, {{ address = "{}" }}"#, newcomer.addr);
    let proxy = TestProxy::start(&pool(&one)).await;
    let c = Client::new();
    eventually("a up", WAIT, || async {
        (c.get(proxy.http, "x.test", "/").await.status == 200).then_some(())
    })
    .await;
    let mut events = proxy.state.registry.subscribe();
    proxy.rewrite_and_wait(&proxy.render(&pool(&two))).await;
    // The first probe of the newcomer is held open: it stays unknown and gets nothing.
    assert_eq!(
        proxy.state.load().pools[0].backends[1].state.view().state,
        "unknown"
    );
    assert_eq!(
        tally(&c, &proxy, 30).await,
        HashMap::from([("200 a".into(), 30)])
    );
    fault(newcomer.addr, "healthz=ok").await;
    next_transition(&mut events, newcomer.addr, "up").await;
    assert_eq!(
        tally(&c, &proxy, 20).await,
        HashMap::from([("200 a".into(), 10), ("200 new".into(), 10)])
    );
}

/// Check kinds and options, in one proxy: an HTTP check's method, Host and expected body; a
/// TCP check; `start = "up"` and `start = "down"`; and a probe that hangs until its timeout
/// never delays the checks of the pool's other backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_kinds_options_and_independent_probes() {
    use crate::support::RefusingPort;
    let live = TestBackend::start("live").await;
    let held = TestBackend::start("held").await;
    let failing = TestBackend::start("failing").await;
    let refusing = RefusingPort::new();
    fault(held.addr, "healthz=hold").await;
    fault(failing.addr, "healthz=fail").await;
    let pool = |name: &str, check: &str, backends: &[String]| {
        let list: Vec<String> = backends
            .iter()
            .map(|a| format!("{{ address = \"{a}\" }}"))
            .collect();
        format!(
            "[routes.{name}]\nhosts = [\"{name}.test\"]\npool = \"{name}\"\n[pools.{name}]\nhealth_check = {{ {check} }}\nbackends = [{}]\n",
            list.join(", ")
        )
    };
    let (l, h, f, r) = (
        live.addr.to_string(),
        held.addr.to_string(),
        failing.addr.to_string(),
        refusing.addr.to_string(),
    );
    let fast = "interval = \"30ms\", timeout = \"3s\", rise = 1, fall = 2";
    let pools = [
        pool(
            "probe",
            &format!("type = \"http\", method = \"POST\", path = \"/echo\", host = \"health.internal\", expect_body = \"health.internal\", {fast}"),
            std::slice::from_ref(&l),
        ),
        pool(
            "body",
            &format!("type = \"http\", path = \"/echo\", expect_body = \"never-in-the-body\", {fast}"),
            std::slice::from_ref(&l),
        ),
        pool("tcp", &format!("type = \"tcp\", {fast}"), &[l.clone(), r.clone()]),
        pool(
            "slow",
            &format!("type = \"http\", path = \"/healthz\", {fast}"),
            &[h.clone(), f.clone()],
        ),
        pool(
            "startup",
            "type = \"tcp\", interval = \"1h\", start = \"up\"",
            std::slice::from_ref(&r),
        ),
        pool(
            "startdown",
            "type = \"tcp\", interval = \"1h\", start = \"down\"",
            std::slice::from_ref(&l),
        ),
    ]
    .concat();
    let template = format!(
        "[server]\nthreads = 2\ngrace_period = \"0s\"\n[admin]\naddress = \"{{admin}}\"\n[listeners.http]\naddress = \"{{http}}\"\n{pools}"
    );
    let proxy = TestProxy::start(&template).await;
    let view = |pool: &str, address: &str| {
        let s = proxy.state.load();
        let p = s.pools.iter().find(|p| &*p.name == pool).unwrap();
        p.backends
            .iter()
            .find(|b| b.config.address.to_string() == address)
            .unwrap()
            .state
            .view()
    };
    let state_of = |pool: &'static str, address: String, want: &'static str| {
        let view = &view;
        async move {
            eventually(&format!("{pool}/{address} {want}"), WAIT, || async {
                let v = view(pool, &address);
                (v.state == want).then_some(v)
            })
            .await
        }
    };
    // The held probe of `slow` is still waiting for its 3 s timeout when its neighbour has
    // already failed twice (2 × 30 ms) and gone down.
    let started = std::time::Instant::now();
    state_of("slow", f.clone(), "down").await;
    assert!(
        started.elapsed() < crate::support::patient(Duration::from_millis(2500)),
        "a held probe delayed another backend's checks: {:?}",
        started.elapsed()
    );
    assert_eq!(
        view("slow", &h).state,
        "unknown",
        "the held probe has not answered yet"
    );
    // Method, Host and body: the echo of the check request contains the configured Host.
    state_of("probe", l.clone(), "up").await;
    let v = state_of("body", l.clone(), "down").await;
    assert!(
        v.last_check
            .as_ref()
            .is_some_and(|c| c.detail.contains("body lacks \"never-in-the-body\"")),
        "{v:?}"
    );
    // TCP: connect only.
    state_of("tcp", l.clone(), "up").await;
    state_of("tcp", r.clone(), "down").await;
    // Start states, before any check has run (1 h interval, first check after the jitter).
    assert_eq!(view("startdown", &l).state, "down");
    let c = Client::new();
    assert_eq!(c.get(proxy.http, "startdown.test", "/").await.status, 503);
    assert_eq!(view("startup", &r).state, "up");
    assert_eq!(
        c.get(proxy.http, "startup.test", "/").await.status,
        502,
        "start = \"up\" sends traffic before any check"
    );
    fault(held.addr, "healthz=ok").await;
}
