//! Health state of backends a reload does not change is kept, not re-learnt.

use crate::support::{eventually, Client, TestBackend, TestProxy, WAIT};

#[tokio::test]
async fn health_state_of_unchanged_backends_survives_a_reload() {
    let up = TestBackend::start("up").await;
    let down = TestBackend::start("down").await;
    let extra = TestBackend::start("extra").await;
    let c = Client::new();
    assert_eq!(
        c.get(down.addr, "x", "/fault?healthz=fail").await.status,
        404,
        "GET is not the fault API"
    );
    let fault = |addr, q: &'static str| {
        let req = http::Request::post(format!("http://{addr}/fault?{q}"))
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        let c = c.clone();
        async move { c.send(req).await.unwrap() }
    };
    fault(down.addr, "healthz=fail").await;
    // One probe per backend at start (interval 1h, no jitter): `down` is down for good unless
    // someone probes it again.
    let config = |backends: &str| {
        format!(
            r#"
[server]
threads = 1
grace_period = "0s"
[reload]
debounce = "10ms"
[admin]
address = "{{admin}}"
[listeners.http]
address = "{{http}}"
[routes.site]
pool = "p"
[pools.p]
health_check = {{ type = "http", path = "/healthz", interval = "1h", jitter = 0.0, rise = 1, fall = 1 }}
backends = [{backends}]
"#
        )
    };
    let two = format!(
        r#"{{ address = "{}" }}, {{ address = "{}" }}"#,
        up.addr, down.addr
    );
    let three = format!(r#"{two}, {{ address = "{}" }}"#, extra.addr);
    let proxy = TestProxy::start(&config(&two)).await;
    eventually("the failing backend is down", WAIT, || async {
        let s = proxy.state.load();
        (s.pools[0].backends[1].state.view().state == "down").then_some(())
    })
    .await;
    fault(down.addr, "healthz=ok").await; // it would pass now, but nobody asks
    proxy.rewrite_and_wait(&proxy.render(&config(&three))).await;
    for _ in 0..60 {
        let r = c.get(proxy.http, "site.test", "/").await;
        assert_eq!(r.status, 200);
        assert_ne!(
            r.backend(),
            "down",
            "a backend known to be down stays out after the reload"
        );
    }
    let s = proxy.state.load();
    assert_eq!(s.pools[0].backends[1].state.view().state, "down");
    assert!(
        s.pools[0].backends[1].state.view().last_check.is_some(),
        "state carried over, not reset"
    );
}
