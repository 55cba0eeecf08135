//! Round robin (exact shares) and active/passive failover and failback with real processes.

use crate::support::{eventually, patient, ChildBackend, Client, TestBackend, TestProxy, WAIT};
use std::collections::HashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(pool: &str) -> String {
    format!(
        r#"
[server]
threads = 2
grace_period = "0s"
[admin]
address = "{{admin}}"
[listeners.http]
address = "{{http}}"
[routes.all]
pool = "p"
[pools.p]
{pool}
"#
    )
}

async fn tally(c: &Client, proxy: &TestProxy, n: usize) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for _ in 0..n {
        let r = c.get(proxy.http, "any.test", "/").await;
        assert_eq!(r.status, 200);
        *out.entry(r.backend()).or_default() += 1;
    }
    out
}

#[tokio::test]
async fn round_robin_shares_are_exact() {
    let a = TestBackend::start("a").await;
    let b = TestBackend::start("b").await;
    let c3 = TestBackend::start("c").await;
    let proxy = TestProxy::start(&config(&format!(
        r#"balance = "round_robin"
backends = [{{ address = "{}" }}, {{ address = "{}" }}, {{ address = "{}" }}]"#,
        a.addr, b.addr, c3.addr
    )))
    .await;
    let c = Client::new();
    let counts = tally(&c, &proxy, 300).await;
    assert_eq!(
        counts,
        HashMap::from([("a".into(), 100), ("b".into(), 100), ("c".into(), 100)])
    );
}

#[tokio::test]
async fn weighted_round_robin_shares_are_exact() {
    let a = TestBackend::start("light").await;
    let b = TestBackend::start("heavy").await;
    let proxy = TestProxy::start(&config(&format!(
        r#"balance = "round_robin"
backends = [{{ address = "{}", weight = 1 }}, {{ address = "{}", weight = 2 }}]"#,
        a.addr, b.addr
    )))
    .await;
    let c = Client::new();
    let counts = tally(&c, &proxy, 300).await;
    assert_eq!(
        counts,
        HashMap::from([("light".into(), 100), ("heavy".into(), 200)])
    );
}

/// Passive detection only (no active checks): the primary is SIGKILLed, clients see no error,
/// the backup serves; the primary comes back on its port and traffic returns to it.
#[tokio::test]
async fn active_passive_fails_over_on_sigkill_and_fails_back() {
    let mut primary = ChildBackend::spawn("primary");
    let backup = ChildBackend::spawn("backup");
    let primary_addr = primary.addr;
    let proxy = TestProxy::start(&config(&format!(
        r#"balance = "active_passive"
passive = {{ connect_failures = 2, cooldown = "200ms", max_cooldown = "200ms" }}
timeouts = {{ connect = "500ms" }}
backends = [{{ address = "{}" }}, {{ address = "{}", backup = true }}]"#,
        primary.addr, backup.addr
    )))
    .await;
    let c = Client::new();
    assert_eq!(
        tally(&c, &proxy, 20).await,
        HashMap::from([("primary".into(), 20)])
    );

    primary.kill();
    // Every request still succeeds: connect failures are retried on the backup.
    let after_kill = tally(&c, &proxy, 30).await;
    assert_eq!(after_kill, HashMap::from([("backup".into(), 30)]));

    let _primary_again = ChildBackend::spawn_on("primary", &primary_addr.to_string());
    eventually("traffic back on the restarted primary", WAIT, || async {
        let r = c.get(proxy.http, "any.test", "/").await;
        assert_eq!(r.status, 200);
        (r.backend() == "primary").then_some(())
    })
    .await;
    assert_eq!(
        tally(&c, &proxy, 10).await,
        HashMap::from([("primary".into(), 10)])
    );
}

/// How a misbehaving backend ends its keep-alive connections.
#[derive(Clone, Copy)]
enum Close {
    /// Reads the second request on a connection, then closes without answering: exactly the
    /// race a pooled upstream connection can lose.
    OnSecondRequest,
    /// Answers (as keep-alive) and closes right away, so the pooled connection is dead.
    AfterResponse,
}

async fn closes_reused_connections(
    mode: Close,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut served = 0;
                let mut pending = Vec::new();
                loop {
                    let n = match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    pending.extend_from_slice(&buf[..n]);
                    if !pending.windows(4).any(|w| w == b"\r\n\r\n") {
                        continue;
                    }
                    pending.clear();
                    if served == 1 {
                        return; // close without a response
                    }
                    served += 1;
                    let _ = s
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nx-backend: flaky\r\n\r\nok",
                        )
                        .await;
                    if matches!(mode, Close::AfterResponse) {
                        return;
                    }
                }
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn a_reused_connection_closed_by_the_backend_costs_the_client_nothing() {
    for mode in [Close::OnSecondRequest, Close::AfterResponse] {
        reused_connection_case(mode).await;
    }
}

async fn reused_connection_case(mode: Close) {
    let (addr, server) = closes_reused_connections(mode).await;
    let proxy = TestProxy::start(&config(&format!(
        r#"backends = [{{ address = "{addr}" }}]
passive = {{ connect_failures = 0 }}"#
    )))
    .await;
    let c = Client::new();
    for i in 0..20 {
        let r = c.get(proxy.http, "any.test", "/").await;
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
        assert_eq!(r.text(), "ok");
    }
    if matches!(mode, Close::OnSecondRequest) {
        let metrics = gatehouse::metrics::render();
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("gatehouse_upstream_retries_total")
                    && l.contains("reused_connection")),
            "retries on fresh connections are counted"
        );
    }
    server.abort();
}

/// The backend answering `addr`'s requests, by name.
fn name_of(backends: &[&TestBackend], label: &str) -> String {
    backends
        .iter()
        .find(|b| b.addr.to_string() == label)
        .map(|b| b.name.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn least_connections_sends_to_the_idle_backend_while_one_is_busy() {
    let a = TestBackend::start("a").await;
    let b = TestBackend::start("b").await;
    let proxy = TestProxy::start(&config(&format!(
        r#"balance = "least_connections"
backends = [{{ address = "{}" }}, {{ address = "{}" }}]"#,
        a.addr, b.addr
    )))
    .await;
    let c = Client::new();
    let slow = {
        let c = c.clone();
        let addr = proxy.http;
        tokio::spawn(async move { c.get(addr, "any.test", "/delay/3000").await })
    };
    let busy = eventually("one backend with a request in flight", WAIT, || async {
        let snapshot = proxy.state.load();
        let pool = &snapshot.pools[0];
        pool.backends
            .iter()
            .find(|b| b.state.inflight() == 1)
            .map(|b| b.label.to_string())
    })
    .await;
    let busy = name_of(&[&a, &b], &busy);
    let idle = if busy == "a" { "b" } else { "a" };
    assert_eq!(
        tally(&c, &proxy, 20).await,
        HashMap::from([(idle.to_string(), 20)])
    );
    assert_eq!(slow.await.unwrap().backend(), busy);
    // Nothing in flight: ties go round robin.
    assert_eq!(
        tally(&c, &proxy, 20).await,
        HashMap::from([("a".into(), 10), ("b".into(), 10)])
    );
}

#[tokio::test]
async fn random_two_choices_spread_evenly_and_avoid_the_busy_backend() {
    let a = TestBackend::start("a").await;
    let b = TestBackend::start("b").await;
    let c3 = TestBackend::start("c").await;
    let proxy = TestProxy::start(&config(&format!(
        r#"balance = "random_two_choices"
backends = [{{ address = "{}" }}, {{ address = "{}" }}, {{ address = "{}" }}]"#,
        a.addr, b.addr, c3.addr
    )))
    .await;
    let c = Client::new();
    // Idle backends: uniform draws. 600 requests, each backend within ±30 % of 200 (more than
    // six standard deviations).
    let counts = tally(&c, &proxy, 600).await;
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert!(
        counts.values().all(|n| (140..=260).contains(n)),
        "{counts:?}"
    );
    let status = c.get(proxy.admin, "admin", "/status").await.json();
    assert_eq!(status["pools"][0]["balance"], "random_two_choices");
    // One backend busy: it is chosen only when both draws land on it (1 in 27 here).
    let slow = {
        let c = c.clone();
        let addr = proxy.http;
        tokio::spawn(async move { c.get(addr, "any.test", "/delay/3000").await })
    };
    let busy = eventually("one backend with a request in flight", WAIT, || async {
        let snapshot = proxy.state.load();
        snapshot.pools[0]
            .backends
            .iter()
            .find(|b| b.state.inflight() == 1)
            .map(|b| b.label.to_string())
    })
    .await;
    let busy = name_of(&[&a, &b, &c3], &busy);
    let counts = tally(&c, &proxy, 90).await;
    assert!(counts.get(&busy).copied().unwrap_or(0) <= 12, "{counts:?}");
    slow.await.unwrap();
}

/// A backend back from a drain ramps up over `slow_start`: its share of each batch of
/// requests grows (never falls by more than a request's worth of rounding) to its full half.
#[tokio::test]
async fn slow_start_ramps_a_returning_backend() {
    let a = TestBackend::start("a").await;
    let b = TestBackend::start("b").await;
    let pool = |drain: bool| {
        config(&format!(
            r#"slow_start = "2s"
backends = [{{ address = "{}" }}, {{ address = "{}", drain = {drain} }}]"#,
            a.addr, b.addr
        ))
    };
    let proxy = TestProxy::start(&pool(true)).await;
    let c = Client::new();
    assert_eq!(
        tally(&c, &proxy, 10).await,
        HashMap::from([("a".into(), 10)])
    );
    proxy.rewrite_and_wait(&proxy.render(&pool(false))).await;
    // Batches back to back (each takes real time) until b has its half, bounded by WAIT.
    let deadline = tokio::time::Instant::now() + patient(WAIT);
    let mut shares = Vec::new();
    loop {
        let n = tally(&c, &proxy, 20).await.get("b").copied().unwrap_or(0);
        shares.push(n);
        if n == 10 && shares.len() > 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never reached its share: {shares:?}"
        );
    }
    assert!(shares[0] <= 5, "starts low: {shares:?}");
    // A batch never falls by more than one below the one before (rounding: 20 × share is
    // rarely whole), also when it straddles a step of the ramp: round robin keeps its phase
    // when the schedule is rebuilt (runtime::phase).
    for pair in shares.windows(2) {
        assert!(pair[1] + 1 >= pair[0], "monotone: {shares:?}");
    }
    let third = shares.len().div_ceil(3);
    let mean = |s: &[usize]| s.iter().sum::<usize>() as f64 / s.len().max(1) as f64;
    assert!(
        mean(&shares[..third]) < mean(&shares[shares.len() - third..]),
        "grows over the window: {shares:?}"
    );
}
