//! 503 / 502 / 504: the right status, a small body, nothing internal leaked.

use crate::support::{Client, TestBackend, TestProxy};

fn config(pool: &str) -> String {
    format!(
        r#"
[server]
threads = 1
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

fn assert_clean_error(r: &crate::support::Reply, status: u16) {
    assert_eq!(r.status, status, "{}", r.text());
    let body = r.text();
    assert!(body.starts_with(&status.to_string()), "{body}");
    assert!(body.len() < 120, "{body}");
    for leak in [
        "127.0.0.1",
        "pingora",
        "Peer",
        "backend",
        "Connection refused",
    ] {
        assert!(!body.contains(leak), "error body leaks {leak:?}: {body}");
    }
    assert!(r.header("x-request-id").is_some());
    assert!(r.header("server").is_none(), "no server banner by default");
}

#[tokio::test]
async fn every_backend_unavailable_is_503() {
    let a = TestBackend::start("a").await;
    let proxy = TestProxy::start(&config(&format!(
        r#"backends = [{{ address = "{}", drain = true }}]"#,
        a.addr
    )))
    .await;
    let r = Client::new().get(proxy.http, "x.test", "/").await;
    assert_clean_error(&r, 503);
    // Pingora closes the connection after any proxy failure: the answer must say so, or a
    // client reusing it sees a reset. Several requests on one client: every one answered.
    assert_eq!(r.header("connection").as_deref(), Some("close"));
    let c = Client::new();
    for _ in 0..5 {
        assert_eq!(c.get(proxy.http, "x.test", "/").await.status, 503);
    }
}

#[tokio::test]
async fn connect_refused_is_502() {
    let dead_port = crate::support::RefusingPort::new();
    let dead = dead_port.addr.to_string();
    let proxy = TestProxy::start(&config(&format!(
        r#"backends = [{{ address = "{dead}" }}]"#
    )))
    .await;
    let r = Client::new().get(proxy.http, "x.test", "/").await;
    assert_clean_error(&r, 502);
}

#[tokio::test]
async fn upstream_read_timeout_is_504() {
    let a = TestBackend::start("slow").await;
    let proxy = TestProxy::start(&config(&format!(
        r#"timeouts = {{ read = "100ms" }}
backends = [{{ address = "{}" }}]"#,
        a.addr
    )))
    .await;
    let c = Client::new();
    let r = c.get(proxy.http, "x.test", "/delay/2000").await;
    assert_clean_error(&r, 504);
    // A fast request on the same proxy is unaffected.
    assert_eq!(c.get(proxy.http, "x.test", "/delay/1").await.status, 200);
}

#[tokio::test]
async fn backend_error_statuses_pass_through_untouched() {
    let a = TestBackend::start("a").await;
    let proxy = TestProxy::start(&config(&format!(
        r#"backends = [{{ address = "{}" }}]"#,
        a.addr
    )))
    .await;
    let c = Client::new();
    for status in [200u16, 201, 404, 418, 500, 503] {
        let r = c
            .get(proxy.http, "x.test", &format!("/status/{status}"))
            .await;
        assert_eq!(r.status, status);
        assert_eq!(r.backend(), "a");
    }
}

#[tokio::test]
async fn server_banner_only_when_enabled() {
    let a = TestBackend::start("a").await;
    let dead_port = crate::support::RefusingPort::new();
    let dead = dead_port.addr.to_string();
    let pools = format!(
        "backends = [{{ address = \"{}\" }}]\n[routes.dead]\npath_prefix = \"/dead\"\npool = \"dead\"\n[pools.dead]\nbackends = [{{ address = \"{dead}\" }}]",
        a.addr
    );
    let client = Client::new();
    let quiet = TestProxy::start(&config(&pools)).await;
    for path in ["/", "/dead"] {
        let r = client.get(quiet.http, "x.test", path).await;
        assert!(
            r.header("server").is_none(),
            "{path}: {:?}",
            r.header("server")
        );
    }
    let loud =
        TestProxy::start(&config(&pools).replace("[server]", "[server]\nserver_header = true"))
            .await;
    for (path, status) in [("/", 200), ("/dead", 502)] {
        let r = client.get(loud.http, "x.test", path).await;
        assert_eq!(r.status, status);
        assert_eq!(r.header("server").as_deref(), Some("gatehouse"), "{path}");
    }
}
