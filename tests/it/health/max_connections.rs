//! A backend's `max_connections`: requests queue, then are refused, and a queued request gives
//! up at its queue timeout.

use super::config;
use crate::support::{bounded, eventually, Client, TestBackend, TestProxy, WAIT};
use std::time::Duration;

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
