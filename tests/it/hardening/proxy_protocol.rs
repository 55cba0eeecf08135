//! PROXY protocol v1 and v2: accepted only on listeners that enable it and only from their
//! trusted proxies.

use super::{proxy_config, SECOND};
use crate::support::raw::send;
use crate::support::{Client, TestBackend, TestProxy};

#[tokio::test]
async fn proxy_protocol_v1_and_v2_on_enabled_listeners_only() {
    let app = TestBackend::start("echo").await;
    let proxy = TestProxy::start(&proxy_config(
        &format!(
            "[routes.all]\npool = \"p\"\n[pools.p]\nbackends = [{{ address = \"{}\" }}]",
            app.addr
        ),
        "handshake_timeout = \"500ms\"",
        "[listeners.lb]\naddress = \"{extra}\"\nproxy_protocol = true\ntrusted_proxies = [\"127.0.0.1\"]\n\
         [listeners.other-lb]\naddress = \"{https}\"\nproxy_protocol = true\ntrusted_proxies = [\"10.0.0.0/8\"]",
    ))
    .await;
    let request = b"GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    let v1 = [
        &b"PROXY TCP4 198.51.100.7 203.0.113.1 56324 443\r\n"[..],
        request,
    ]
    .concat();
    let r = send(proxy.extra, &v1, 2 * SECOND).await;
    assert_eq!(r.status, 200);
    let echo: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let xff = echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0] == "x-forwarded-for")
        .unwrap()[1]
        .clone();
    assert_eq!(
        xff, "198.51.100.7",
        "the client address comes from the PROXY header"
    );

    let mut v2 = gatehouse::listener::proxy_protocol::V2_SIGNATURE.to_vec();
    v2.extend([
        0x21, 0x11, 0x00, 12, 192, 0, 2, 9, 203, 0, 113, 1, 0xDC, 0x04, 0x01, 0xBB,
    ]);
    v2.extend_from_slice(request);
    let r = send(proxy.extra, &v2, 2 * SECOND).await;
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("192.0.2.9"));

    // Missing header on an enabled listener: refused (closed, nothing forwarded).
    let r = send(proxy.extra, request, 2 * SECOND).await;
    assert_eq!(r.status, 0, "no PROXY header: connection closed");
    // A PROXY header on a listener without it enabled: a malformed request.
    assert_eq!(send(proxy.http, &v1, 2 * SECOND).await.status, 400);
    // A PROXY header from a peer that is not one of the listener's trusted proxies: refused,
    // and counted (the harness's own readiness probe was counted already).
    let refused = || async {
        let m = Client::new().get(proxy.admin, "admin", "/metrics").await;
        String::from_utf8_lossy(&m.body)
            .lines()
            .find_map(|l| {
                l.strip_prefix(
                    "gatehouse_connections_rejected_total{listener=\"other-lb\",reason=\"proxy_protocol\"} ",
                )
                .and_then(|v| v.parse::<u64>().ok())
            })
            .unwrap_or(0)
    };
    let before = refused().await;
    let r = send(proxy.https, &v1, 2 * SECOND).await;
    assert_eq!(r.status, 0, "untrusted PROXY sender: connection closed");
    assert_eq!(refused().await, before + 1, "the refusal is counted");
}
