//! Misbehaving backends (resets, garbage, huge headers, stalls, short, trickling or long
//! bodies): the client gets a clean, bounded answer and the failure is counted.

use super::{proxy_config, SECOND};
use crate::support::raw::{send, Behaviour, RawBackend};
use crate::support::TestProxy;
use std::time::Instant;

#[tokio::test]
async fn misbehaving_backends_get_clean_answers() {
    let behaviours = [
        ("reset-before", Behaviour::ResetBeforeResponse),
        ("garbage", Behaviour::Garbage),
        ("huge-headers", Behaviour::HugeHeaders),
        ("reset-mid-body", Behaviour::ResetMidBody),
        ("stall", Behaviour::Stall),
        ("short-body", Behaviour::ShortBody),
        ("trickle", Behaviour::Trickle),
        ("long-body", Behaviour::LongBody),
    ];
    let mut backends = Vec::new();
    let mut config = String::new();
    for (name, b) in behaviours {
        let backend = RawBackend::start(b).await;
        config.push_str(&format!(
            "[routes.mb-{name}]\nhosts = [\"{name}.test\"]\npool = \"mb-{name}\"\n[pools.mb-{name}]\ntimeouts = {{ read = \"300ms\", response = \"1s\" }}\npassive = {{ connect_failures = 0 }}\nbackends = [{{ address = \"{}\" }}]\n",
            backend.addr
        ));
        backends.push(backend);
    }
    let proxy = TestProxy::start(&proxy_config(&config, "", "")).await;
    let get = |host: &str| format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
    for (host, status) in [
        ("reset-before.test", 502),
        ("garbage.test", 502),
        ("huge-headers.test", 502),
    ] {
        let started = Instant::now();
        let r = send(proxy.http, get(host).as_bytes(), 5 * SECOND).await;
        assert_eq!(r.status, status, "{host}: {}", r.head);
        assert!(r.body.len() < 200, "{host}: small error page");
        assert!(
            started.elapsed() < crate::support::patient(3 * SECOND),
            "{host}: no hang"
        );
    }
    // Headers already sent: the client sees the stream aborted, bounded in time.
    for host in [
        "reset-mid-body.test",
        "stall.test",
        "short-body.test",
        "trickle.test",
    ] {
        let started = Instant::now();
        let r = send(proxy.http, get(host).as_bytes(), 5 * SECOND).await;
        assert_eq!(r.status, 200, "{host}");
        let promised: usize = r.header("content-length").unwrap().parse().unwrap();
        assert!(
            r.body.len() < promised,
            "{host}: truncated, not padded ({} of {promised})",
            r.body.len()
        );
        assert!(
            started.elapsed() < crate::support::patient(3 * SECOND),
            "{host}: the connection was closed, not left hanging"
        );
    }
    // More bytes than the Content-Length: the client gets exactly what was promised, and the
    // surplus never becomes the head of the next response.
    for _ in 0..3 {
        let r = send(proxy.http, get("long-body.test").as_bytes(), 5 * SECOND).await;
        assert_eq!(r.status, 200, "{}", r.head);
        assert_eq!(r.body, b"0123456789");
    }
    let m = gatehouse::metrics::render();
    assert!(
        m.lines()
            .any(|l| l.starts_with("gatehouse_upstream_timeouts_total")
                && l.contains("pool=\"mb-trickle\"")),
        "the endless body is counted as a timeout"
    );
    for pool in ["mb-garbage", "mb-huge-headers", "mb-reset-before"] {
        assert!(
            m.lines()
                .any(|l| l.starts_with("gatehouse_upstream_errors_total")
                    && l.contains(&format!("pool=\"{pool}\""))),
            "{pool} counted"
        );
    }
    assert!(m
        .lines()
        .any(|l| l.starts_with("gatehouse_upstream_timeouts_total")
            && l.contains("pool=\"mb-stall\"")));
}
