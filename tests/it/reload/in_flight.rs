//! Requests across reloads: a slow request to a removed backend completes, a backend drained
//! in the file finishes what it serves, a long streaming response survives ten reloads.

use super::{tagged, two_pools};
use crate::support::{bounded, eventually, Client, TestBackend, TestProxy, WAIT};

#[tokio::test]
async fn a_slow_request_to_a_removed_backend_completes() {
    let old = TestBackend::start("old").await;
    let new = TestBackend::start("new").await;
    let unused = crate::support::RefusingPort::new();
    let config = |backend: &str| two_pools("blue", &[backend], &[&unused.addr.to_string()], "");
    let proxy = TestProxy::start(&config(&old.addr.to_string())).await;
    let client = Client::new();
    let http = proxy.http;
    let slow =
        tokio::spawn(async move { Client::new().get(http, "site.test", "/delay/600").await });
    eventually("the slow request is in flight", WAIT, || async {
        let s = proxy.state.load();
        (s.pools[0].backends[0].state.inflight() == 1).then_some(())
    })
    .await;
    proxy
        .rewrite_and_wait(&proxy.render(&config(&new.addr.to_string())))
        .await;
    assert_eq!(
        client.get(proxy.http, "site.test", "/").await.backend(),
        "new"
    );
    let r = bounded("slow request", slow).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.backend(), "old", "finished on the backend it started on");
}

/// `drain = true` in the file: the backend takes no new request from the next generation on,
/// and the request it is serving finishes there.
#[tokio::test]
async fn draining_a_backend_in_the_config_lets_its_requests_finish() {
    let a = TestBackend::start("a").await;
    let b = TestBackend::start("b").await;
    let unused = crate::support::RefusingPort::new();
    let (aa, ba) = (a.addr.to_string(), b.addr.to_string());
    let config = |drain_a: bool| {
        two_pools("blue", &[&aa, &ba], &[&unused.addr.to_string()], "").replace(
            &format!("{{ address = \"{aa}\" }}"),
            &format!("{{ address = \"{aa}\", drain = {drain_a} }}"),
        )
    };
    let proxy = TestProxy::start(&config(false)).await;
    let http = proxy.http;
    let client = Client::new();
    // Round robin: find the turn that lands on a with a slow request.
    let slow = loop {
        let task =
            tokio::spawn(async move { Client::new().get(http, "site.test", "/delay/600").await });
        let on_a = eventually("the slow request is in flight", WAIT, || async {
            let s = proxy.state.load();
            let inflight: Vec<u32> = s.pools[0]
                .backends
                .iter()
                .map(|x| x.state.inflight())
                .collect();
            (inflight.iter().sum::<u32>() == 1).then_some(inflight[0] == 1)
        })
        .await;
        if on_a {
            break task;
        }
        task.await.unwrap();
    };
    proxy.rewrite_and_wait(&proxy.render(&config(true))).await;
    for _ in 0..6 {
        assert_eq!(
            client.get(proxy.http, "site.test", "/").await.backend(),
            "b"
        );
    }
    let r = bounded("slow request", slow).await.unwrap();
    assert_eq!(
        (r.status, r.backend()),
        (200, "a".to_string()),
        "finished on a"
    );
}

#[tokio::test]
async fn a_long_streaming_response_survives_ten_reloads() {
    let a = TestBackend::start("streamer").await;
    let aa = a.addr.to_string();
    let unused = crate::support::RefusingPort::new();
    let config = |tag: &str| tagged(&aa, &unused, tag);
    let proxy = TestProxy::start(&config("0")).await;
    let http = proxy.http;
    // 60 chunks, 40 ms apart: about 2.4 s of streaming.
    let stream = tokio::spawn(async move {
        Client::new()
            .get(http, "site.test", "/stream/60?interval_ms=40")
            .await
    });
    for i in 1..=10 {
        proxy
            .rewrite_and_wait(&proxy.render(&config(&i.to_string())))
            .await;
    }
    assert!(
        !stream.is_finished(),
        "the stream was still open during the reloads"
    );
    let r = bounded("stream", stream).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.text().lines().count(), 60, "every chunk arrived");
    assert_eq!(
        r.header("x-tag").unwrap(),
        "0",
        "headers were decided by the snapshot it started on"
    );
}
