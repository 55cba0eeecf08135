//! Passive ejection: on 5xx and timeouts, bounded by `max_ejection_percent`; clients hanging
//! up mid-request are not the backend's fault.

use super::config;
use crate::support::child::ChildProxy;
use crate::support::{eventually, fault, Client, TestBackend, TestProxy, WAIT};

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
