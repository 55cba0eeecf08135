//! Allow and deny lists decide on the real client address, which a client cannot spoof with
//! `X-Forwarded-For`.

use super::proxy_config;
use crate::support::{Client, TestBackend, TestProxy};

#[tokio::test]
async fn allow_and_deny_lists_resist_forwarded_for_spoofing() {
    let app = TestBackend::start("app").await;
    let proxy = TestProxy::start(&proxy_config(
        &format!(
            r#"[routes.admin]
hosts = ["admin.test"]
allow = ["10.0.0.0/8"]
deny = ["10.9.0.0/16"]
pool = "p"
[routes.public]
pool = "p"
[pools.p]
backends = [{{ address = "{}" }}]"#,
            app.addr
        ),
        "",
        "[listeners.behind-lb]\naddress = \"{extra}\"\ntrusted_proxies = [\"127.0.0.1/32\"]",
    ))
    .await;
    let c = Client::new();
    let status = |addr, xff: Option<&'static str>| {
        let mut r = http::Request::get(format!("http://{addr}/")).header("host", "admin.test");
        if let Some(x) = xff {
            r = r.header("x-forwarded-for", x);
        }
        let c = c.clone();
        let req = r
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        async move { c.send(req).await.unwrap().status }
    };
    // The direct listener does not trust anyone: the socket address (127.0.0.1) decides.
    assert_eq!(status(proxy.http, None).await, 403);
    assert_eq!(
        status(proxy.http, Some("10.1.1.1")).await,
        403,
        "spoofed X-Forwarded-For from an untrusted peer is ignored"
    );
    // Behind a trusted balancer, the rightmost untrusted hop decides.
    assert_eq!(status(proxy.extra, Some("10.1.1.1")).await, 200);
    assert_eq!(
        status(proxy.extra, Some("10.1.1.1, 203.0.113.9")).await,
        403,
        "a client cannot prepend its way in"
    );
    assert_eq!(
        status(proxy.extra, Some("10.9.1.1")).await,
        403,
        "deny wins inside allow"
    );
    assert_eq!(
        Client::new()
            .get(proxy.http, "public.test", "/")
            .await
            .status,
        200,
        "other routes unaffected"
    );
}
