//! Active checks (rise/fall, unknown start), passive ejection, failover/failback timing with
//! SIGKILL, fail_open, /status, admin overrides, max_connections and queue.

use crate::support::child::ChildProxy;
use crate::support::load::{assert_no_failures, Load};
use crate::support::{
    bounded, eventually, fault, ChildBackend, Client, TestBackend, TestProxy, WAIT,
};
use gatehouse::health::Transition;
use std::collections::HashMap;
use std::time::{Duration, SystemTime};
use tokio::sync::broadcast;

fn config(pool: &str) -> String {
    format!(
        r#"
[server]
threads = 2
grace_period = "0s"
[reload]
debounce = "10ms"
[admin]
address = "{{admin}}"
token_file = "{{dir}}/token"
[listeners.http]
address = "{{http}}"
[routes.all]
pool = "p"
[pools.p]
{pool}
"#
    )
}

async fn next_transition(
    events: &mut broadcast::Receiver<Transition>,
    backend: std::net::SocketAddr,
    to: &str,
) -> Transition {
    bounded(&format!("{backend} -> {to}"), async {
        loop {
            match events.recv().await {
                Ok(t) if t.key.address == backend && t.to == to => return t,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
}

async fn tally(c: &Client, proxy: &TestProxy, n: usize) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for _ in 0..n {
        let r = c.get(proxy.http, "x.test", "/").await;
        *out.entry(format!("{} {}", r.status, r.backend()))
            .or_default() += 1;
    }
    out
}

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
async fn passive_ejection_respects_max_ejection_percent() {
    let alive = TestBackend::start("alive").await;
    let dead_ports: Vec<_> = (0..3)
        .map(|_| crate::support::RefusingPort::new())
        .collect();
    let dead: Vec<String> = dead_ports.iter().map(|p| p.addr.to_string()).collect();
    let proxy = TestProxy::start(&config(&format!(
        r#"passive = {{ connect_failures = 1, cooldown = "1h", max_cooldown = "1h", max_ejection_percent = 50 }}
backends = [{{ address = "{}" }}, {{ address = "{}" }}, {{ address = "{}" }}, {{ address = "{}" }}]"#,
        alive.addr, dead[0], dead[1], dead[2]
    )))
    .await;
    let c = Client::new();
    for _ in 0..30 {
        let r = c.get(proxy.http, "x.test", "/").await;
        assert_eq!(r.status, 200, "retries cover the dead backends");
        assert_eq!(r.backend(), "alive");
    }
    let status = c.get(proxy.admin, "admin", "/status").await.json();
    let states: Vec<&str> = status["pools"][0]["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states.iter().filter(|s| **s == "ejected").count(),
        2,
        "50% of 4: {states:?}"
    );
    assert_eq!(states[0], "up");
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

#[tokio::test]
async fn status_reports_pools_backends_and_checks() {
    let a = TestBackend::start("a").await;
    let b = TestBackend::start("b").await;
    let proxy = TestProxy::start(&config(&format!(
        r#"balance = "active_passive"
health_check = {{ type = "http", path = "/healthz", interval = "30ms" }}
backends = [{{ address = "{}", max_connections = 10 }}, {{ address = "{}", backup = true }}]"#,
        a.addr, b.addr
    )))
    .await;
    let c = Client::new();
    eventually("a checked", WAIT, || async {
        let s = c.get(proxy.admin, "admin", "/status").await.json();
        (s["pools"][0]["backends"][0]["last_check"]["ok"] == true).then_some(())
    })
    .await;
    let http = proxy.http;
    let slow = tokio::spawn(async move { Client::new().get(http, "x.test", "/delay/1500").await });
    let status = eventually("one request in flight", WAIT, || async {
        let s = c.get(proxy.admin, "admin", "/status").await.json();
        (s["pools"][0]["backends"][0]["inflight"] == 1).then_some(s)
    })
    .await;
    assert_eq!(status["generation"], 1);
    assert_eq!(status["pid"], std::process::id());
    let pool = &status["pools"][0];
    assert_eq!(pool["name"], "p");
    assert_eq!(pool["balance"], "active_passive");
    assert_eq!(pool["serving_tier"], "primary");
    let b0 = &pool["backends"][0];
    assert_eq!(b0["address"], a.addr.to_string());
    assert_eq!(b0["state"], "up");
    assert_eq!(b0["check_status"], "up");
    assert_eq!(b0["backup"], false);
    assert_eq!(b0["max_connections"], 10);
    assert_eq!(b0["admin"], "none");
    assert_eq!(b0["last_check"]["detail"], "status 200");
    assert!(b0["last_check"]["latency_ms"].as_f64().unwrap() >= 0.0);
    assert!(b0["since_unix"].as_f64().unwrap() > 1.7e9);
    assert_eq!(pool["backends"][1]["backup"], true);
    assert_eq!(slow.await.unwrap().status, 200);
    let health = c.get(proxy.admin, "admin", "/healthz").await;
    assert_eq!((health.status, health.text()), (200, "ok\n".to_string()));
}

#[tokio::test]
async fn admin_drain_disable_enable_need_the_token_and_survive_a_reload() {
    let a = TestBackend::start("a").await;
    let b = TestBackend::start("b").await;
    let template = config(&format!(
        r#"backends = [{{ address = "{}" }}, {{ address = "{}" }}]"#,
        a.addr, b.addr
    ));
    let proxy = TestProxy::start(&template).await;
    let c = Client::new();
    let post = |path: String, token: Option<&str>| {
        let mut req = http::Request::post(format!("http://{}{path}", proxy.admin));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let c = c.clone();
        let req = req
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        async move { c.send(req).await.unwrap() }
    };
    let drain_b = format!("/backends/p/{}/drain", b.addr);
    assert_eq!(post(drain_b.clone(), None).await.status, 401);
    assert_eq!(post(drain_b.clone(), Some("wrong")).await.status, 401);
    assert_eq!(
        tally(&c, &proxy, 10).await,
        HashMap::from([("200 a".into(), 5), ("200 b".into(), 5)]),
        "nothing changed"
    );
    let r = post(drain_b.clone(), Some("s3cret")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        tally(&c, &proxy, 10).await,
        HashMap::from([("200 a".into(), 10)])
    );
    // A reload (any: here a changed route header) keeps the override.
    proxy
        .rewrite_and_wait(&proxy.render(&template.replace(
            "pool = \"p\"",
            "pool = \"p\"\nresponse_headers = { set = { \"x-r\" = \"1\" } }",
        )))
        .await;
    assert_eq!(
        tally(&c, &proxy, 10).await,
        HashMap::from([("200 a".into(), 10)]),
        "drain survives the reload"
    );
    let status = c.get(proxy.admin, "admin", "/status").await.json();
    assert_eq!(status["pools"][0]["backends"][1]["state"], "draining");
    assert_eq!(status["pools"][0]["backends"][1]["admin"], "drain");
    assert_eq!(
        post(format!("/backends/p/{}/disable", a.addr), Some("s3cret"))
            .await
            .status,
        200
    );
    assert_eq!(
        c.get(proxy.http, "x.test", "/").await.status,
        503,
        "everything out by hand"
    );
    assert_eq!(
        post(format!("/backends/p/{}/enable", a.addr), Some("s3cret"))
            .await
            .status,
        200
    );
    assert_eq!(
        post(format!("/backends/p/{}/enable", b.addr), Some("s3cret"))
            .await
            .status,
        200
    );
    assert_eq!(
        tally(&c, &proxy, 10).await,
        HashMap::from([("200 a".into(), 5), ("200 b".into(), 5)])
    );
    assert_eq!(
        post("/backends/p/10.9.9.9:1/drain".into(), Some("s3cret"))
            .await
            .status,
        404
    );

    // Without a token file, state-changing calls are refused outright; reads stay open.
    let open = TestProxy::start(&template.replace("token_file = \"{dir}/token\"", "")).await;
    let r = Client::new()
        .send(
            http::Request::post(format!("http://{}{drain_b}", open.admin))
                .header("authorization", "Bearer anything")
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(
        Client::new()
            .get(open.admin, "admin", "/status")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn max_connections_queue_then_refuse() {
    let slow = TestBackend::start("slow").await;
    let proxy = TestProxy::start(&config(&format!(
        r#"backends = [{{ address = "{}", max_connections = 1, max_queue = 1, queue_timeout = "5s" }}]"#,
        slow.addr
    )))
    .await;
    let http = proxy.http;
    let first = tokio::spawn(async move { Client::new().get(http, "x.test", "/delay/500").await });
    eventually("first holds the only slot", WAIT, || async {
        (proxy.state.load().pools[0].backends[0].state.inflight() == 1).then_some(())
    })
    .await;
    let second = tokio::spawn(async move { Client::new().get(http, "x.test", "/delay/10").await });
    let status = eventually("second queued", WAIT, || async {
        let s = Client::new()
            .get(proxy.admin, "admin", "/status")
            .await
            .json();
        (s["pools"][0]["backends"][0]["queued"] == 1).then_some(s)
    })
    .await;
    assert_eq!(status["pools"][0]["backends"][0]["queued"], 1);
    let third = Client::new().get(http, "x.test", "/delay/10").await;
    assert_eq!(third.status, 503, "queue full: refused at once");
    assert_eq!(bounded("first", first).await.unwrap().status, 200);
    assert_eq!(
        bounded("second", second).await.unwrap().status,
        200,
        "the queued request is served when the slot frees"
    );

    // A queued request gives up at its queue timeout.
    let proxy = TestProxy::start(&config(&format!(
        r#"backends = [{{ address = "{}", max_connections = 1, max_queue = 5, queue_timeout = "100ms" }}]"#,
        slow.addr
    )))
    .await;
    let http = proxy.http;
    let hog = tokio::spawn(async move { Client::new().get(http, "x.test", "/delay/800").await });
    eventually("slot taken", WAIT, || async {
        (proxy.state.load().pools[0].backends[0].state.inflight() == 1).then_some(())
    })
    .await;
    let waited = std::time::Instant::now();
    assert_eq!(
        Client::new().get(http, "x.test", "/delay/1").await.status,
        503
    );
    assert!(
        waited.elapsed() < crate::support::patient(Duration::from_millis(700)),
        "gave up at the queue timeout, not when the slot freed"
    );
    assert_eq!(hog.await.unwrap().status, 200);
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

/// Consecutive 5xx responses and upstream timeouts eject a backend (each with its own
/// threshold); the client still gets the 5xx or 504 that caused it, and later requests go to
/// the healthy backend.
#[tokio::test]
async fn passive_ejection_on_5xx_and_on_timeouts() {
    let good = TestBackend::start("good").await;
    let bad = TestBackend::start("bad").await;
    fault(bad.addr, "work=refuse").await;
    let proxy = TestProxy::start(&config(&format!(
        r#"timeouts = {{ read = "200ms" }}
passive = {{ connect_failures = 0, http_5xx = 2, timeouts = 2, cooldown = "1h", max_cooldown = "1h", max_ejection_percent = 100 }}
backends = [{{ address = "{}" }}, {{ address = "{}" }}]"#,
        good.addr, bad.addr
    )))
    .await;
    let c = Client::new();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(c.get(proxy.http, "x.test", "/").await.status);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 503).count(),
        2,
        "{statuses:?}"
    );
    let state = |addr: std::net::SocketAddr| {
        let s = proxy.state.load();
        s.pools[0]
            .backends
            .iter()
            .find(|b| b.config.address == addr)
            .unwrap()
            .state
            .view()
    };
    assert_eq!(state(bad.addr).state, "ejected");
    for _ in 0..10 {
        let r = c.get(proxy.http, "x.test", "/").await;
        assert_eq!((r.status, r.backend()), (200, "good".to_string()));
    }
    // Timeouts: a request that outlasts the 200 ms read timeout is a 504; two in a row eject
    // (max_ejection_percent = 100 lets the last backend go too).
    assert_eq!(c.get(proxy.http, "x.test", "/delay/1000").await.status, 504);
    assert_eq!(
        state(good.addr).state,
        "up",
        "one timeout is below the threshold"
    );
    assert_eq!(c.get(proxy.http, "x.test", "/delay/1000").await.status, 504);
    assert_eq!(state(good.addr).state, "ejected");
}

/// Clients that hang up while the backend is still working say nothing about the backend: a
/// load generator closing its connections at the end of a run must not eject a healthy backend
/// (it did — Pingora reports the client's close through the same hook as a backend's). The real
/// binary, for its access log: each hang-up's line proves the request reached the backend.
#[tokio::test]
async fn clients_hanging_up_mid_request_do_not_eject_the_backend() {
    let backend = TestBackend::start("patient").await;
    let proxy = ChildProxy::start(&format!(
        r#"{}[access_log]
path = "{{dir}}/access.log"
"#,
        // The child writes its token as `admin.token`.
        config(&format!(
            r#"passive = {{ connect_failures = 1, http_5xx = 1, timeouts = 1, cooldown = "1h", max_cooldown = "1h", max_ejection_percent = 100 }}
backends = [{{ address = "{}" }}]"#,
            backend.addr
        ))
        .replace("{dir}/token", "{dir}/admin.token")
    ))
    .await;
    for _ in 0..3 {
        let mut s = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(
            &mut s,
            b"GET /delay/5000 HTTP/1.1\r\nHost: x.test\r\n\r\n",
        )
        .await
        .unwrap();
        drop(s);
    }
    let log_path = proxy.dir.path().join("access.log");
    let lines: Vec<serde_json::Value> = eventually("3 access-log lines", WAIT, || async {
        let text = std::fs::read_to_string(&log_path).ok()?;
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (lines.len() == 3).then_some(lines)
    })
    .await;
    for line in &lines {
        assert_eq!(
            line["http.response.status_code"], 0,
            "nobody to answer: {line}"
        );
        assert_eq!(line["gatehouse.error"], "ConnectionClosed", "{line}");
        assert_eq!(
            line["gatehouse.upstream.address"],
            backend.addr.to_string(),
            "the request reached the backend before the client left: {line}"
        );
    }
    let log = proxy.log_text();
    assert!(
        !log.contains("Fail to proxy"),
        "a client hanging up is routine, not an ERROR line:\n{log}"
    );
    let status = proxy.status().await.expect("status");
    assert_eq!(status["pools"][0]["backends"][0]["state"], "up", "{status}");
    let r = Client::new().get(proxy.http, "x.test", "/").await;
    assert_eq!((r.status, r.backend()), (200, "patient".to_string()));
}
