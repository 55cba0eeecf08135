//! `/status` reports pools, backends and checks; admin drain/disable/enable need the token and
//! survive a reload.

use super::{config, tally};
use crate::support::{eventually, Client, TestBackend, TestProxy, WAIT};
use std::collections::HashMap;

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
