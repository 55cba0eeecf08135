//! Health and failover series: a backend waiting out its failback delay is `recovering`, not
//! `up`; active-passive pools report their failovers.

use super::{base, value};
use crate::support::child::ChildProxy;
use crate::support::{eventually, fault, Client, TestBackend, WAIT};

/// A primary that passed its checks again but waits out `failback_delay` takes no traffic:
/// `/status`, `gatehouse_backend_state` and `gatehouse_backend_up` say `recovering` / 0 until
/// the delay ends, then `up` / 1 as traffic returns.
#[tokio::test]
async fn a_backend_waiting_out_its_failback_delay_is_recovering_not_up() {
    let primary = TestBackend::start("primary").await;
    let backup = TestBackend::start("backup").await;
    let proxy = ChildProxy::start(&base(
        &format!(
            r#"[routes.r]
pool = "fb-pool"
[pools.fb-pool]
balance = "active_passive"
failback_delay = "3s"
health_check = {{ type = "http", path = "/healthz", interval = "50ms", fall = 1, rise = 1 }}
backends = [{{ address = "{}" }}, {{ address = "{}", backup = true }}]"#,
            primary.addr, backup.addr
        ),
        "",
    ))
    .await;
    let p = primary.addr.to_string();
    let state = || async {
        let status = proxy.status().await?;
        status["pools"][0]["backends"]
            .as_array()?
            .iter()
            .find(|b| b["address"] == p.as_str())
            .and_then(|b| b["state"].as_str().map(str::to_string))
    };
    let up_series = format!(r#"gatehouse_backend_up{{pool="fb-pool",backend="{p}"}}"#);
    let state_series =
        |s: &str| format!(r#"gatehouse_backend_state{{pool="fb-pool",backend="{p}",state="{s}"}}"#);
    let c = Client::new();
    eventually("primary up", WAIT, || async {
        (state().await.as_deref() == Some("up")).then_some(())
    })
    .await;
    assert_eq!(value(&proxy.metrics().await, &up_series), Some(1.0));

    fault(primary.addr, "healthz=fail").await;
    eventually("primary down", WAIT, || async {
        (state().await.as_deref() == Some("down")).then_some(())
    })
    .await;
    fault(primary.addr, "healthz=ok").await;
    eventually("primary recovering", WAIT, || async {
        (state().await.as_deref() == Some("recovering")).then_some(())
    })
    .await;
    let m = proxy.metrics().await;
    assert_eq!(value(&m, &up_series), Some(0.0), "no new requests now");
    assert_eq!(value(&m, &state_series("recovering")), Some(1.0));
    assert_eq!(value(&m, &state_series("up")), Some(0.0));
    assert_eq!(c.get(proxy.http, "x", "/").await.backend(), "backup");

    eventually("primary up again", WAIT, || async {
        (state().await.as_deref() == Some("up")).then_some(())
    })
    .await;
    let m = proxy.metrics().await;
    assert_eq!(value(&m, &up_series), Some(1.0));
    assert_eq!(value(&m, &state_series("recovering")), Some(0.0));
    assert_eq!(c.get(proxy.http, "x", "/").await.backend(), "primary");
}

#[tokio::test]
async fn failover_metrics_for_active_passive_pools() {
    let primary = TestBackend::start("primary").await;
    let backup = TestBackend::start("backup").await;
    let proxy = ChildProxy::start(&base(
        &format!(
            r#"[routes.ap]
pool = "ap-pool"
[pools.ap-pool]
balance = "active_passive"
health_check = {{ type = "http", path = "/healthz", interval = "50ms", fall = 1, rise = 1 }}
backends = [{{ address = "{}" }}, {{ address = "{}", backup = true }}]"#,
            primary.addr, backup.addr
        ),
        "",
    ))
    .await;
    let c = Client::new();
    eventually("primary serving", WAIT, || async {
        (c.get(proxy.http, "x", "/").await.backend() == "primary").then_some(())
    })
    .await;
    let tier = |t: &str| format!(r#"gatehouse_pool_serving_tier{{pool="ap-pool",tier="{t}"}}"#);
    eventually("primary tier reported", WAIT, || async {
        (value(&proxy.metrics().await, &tier("primary")) == Some(1.0)).then_some(())
    })
    .await;
    fault(primary.addr, "healthz=fail").await;
    eventually("on the backup", WAIT, || async {
        (c.get(proxy.http, "x", "/").await.backend() == "backup").then_some(())
    })
    .await;
    let m = eventually("backup tier reported", WAIT, || async {
        let m = proxy.metrics().await;
        (value(&m, &tier("backup")) == Some(1.0) && value(&m, &tier("primary")) == Some(0.0))
            .then_some(m)
    })
    .await;
    assert_eq!(
        value(
            &m,
            r#"gatehouse_pool_failovers_total{pool="ap-pool",direction="failover"}"#
        ),
        Some(1.0),
        "{}",
        proxy.log_text()
    );
    fault(primary.addr, "healthz=ok").await;
    eventually("back on the primary", WAIT, || async {
        (c.get(proxy.http, "x", "/").await.backend() == "primary").then_some(())
    })
    .await;
    assert_eq!(
        value(
            &proxy.metrics().await,
            r#"gatehouse_pool_failovers_total{pool="ap-pool",direction="failback"}"#
        ),
        Some(1.0)
    );
}
