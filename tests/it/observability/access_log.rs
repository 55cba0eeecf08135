//! The access log line has every field, and the file is reopened on SIGUSR1.

use super::base;
use crate::support::child::ChildProxy;
use crate::support::tlsutil::TestCa;
use crate::support::{eventually, Client, TestBackend, WAIT};
use std::path::Path;

#[tokio::test]
async fn the_access_log_line_has_every_field_and_reopens_on_sigusr1() {
    let a = TestBackend::start("a").await;
    let ca = TestCa::new("obs CA");
    let leaf = ca.leaf(&["www.example.test"]);
    let proxy = ChildProxy::start_with(
        &base(
            &format!(
                r#"[routes.www]
hosts = ["www.example.test"]
pool = "www-pool"
[pools.www-pool]
backends = [{{ address = "{}" }}]"#,
                a.addr
            ),
            r#"[listeners.https]
address = "{https}"
protocol = "https"
certificates = [{ cert = "www.crt", key = "www.key" }]"#,
        ),
        |d| {
            leaf.write(d, "www");
        },
    )
    .await;
    let log_path = proxy.dir.path().join("access.log");
    let last_line = |path: &Path| -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(text.lines().last()?).ok()
    };
    let req = http::Request::get(format!("http://{}/echo?q=1", proxy.http))
        .header("host", "www.example.test")
        .header("user-agent", "obs-test/1.0")
        .header("x-request-id", "obs-req-1")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(
            b"hello",
        )))
        .unwrap();
    let r = Client::new().send(req).await.unwrap();
    assert_eq!(r.status, 200);
    let v = eventually("the line is written", WAIT, || async {
        last_line(&log_path).filter(|v| v["http.request.id"] == "obs-req-1")
    })
    .await;
    assert!(v["@timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(v["client.ip"], "127.0.0.1");
    assert!(v["client.port"].as_u64().unwrap() > 0);
    assert_eq!(v["http.request.method"], "GET");
    assert_eq!(v["url.domain"], "www.example.test");
    assert_eq!(v["url.path"], "/echo");
    assert_eq!(v["url.query"], "q=1");
    assert_eq!(v["http.version"], "1.1");
    assert!(v.get("tls.version").is_none(), "cleartext");
    assert_eq!(v["http.response.status_code"], 200);
    assert_eq!(v["http.request.body.bytes"], 5);
    assert_eq!(
        v["http.response.body.bytes"].as_u64().unwrap() as usize,
        r.body.len()
    );
    assert!(v["event.duration"].as_u64().unwrap() > 0);
    assert_eq!(v["user_agent.original"], "obs-test/1.0");
    assert_eq!(v["gatehouse.listener"], "http");
    assert_eq!(v["gatehouse.route"], "www");
    assert_eq!(v["gatehouse.pool"], "www-pool");
    assert_eq!(v["gatehouse.upstream.address"], a.addr.to_string());
    assert_eq!(v["gatehouse.upstream.status_code"], 200);
    assert!(v["gatehouse.upstream.response_time_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(v["gatehouse.retries"], 0);

    // Over TLS and HTTP/2: the version fields say so.
    let tls = crate::support::client::tls_get(
        proxy.https,
        Some("www.example.test"),
        "www.example.test",
        "/",
        ca.client_config(&[b"h2"]),
    )
    .await
    .unwrap();
    let id = tls.reply.header("x-request-id").unwrap();
    let v = eventually("TLS line", WAIT, || async {
        last_line(&log_path).filter(|v| v["http.request.id"] == id.as_str())
    })
    .await;
    assert_eq!(v["tls.version"], "1.3");
    assert_eq!(v["tls.version_protocol"], "tls");
    assert_eq!(v["http.version"], "2");
    assert_eq!(v["gatehouse.listener"], "https");

    // logrotate: move the file away, SIGUSR1, the next line lands in a new file.
    std::fs::rename(&log_path, proxy.dir.path().join("access.log.1")).unwrap();
    proxy.signal(nix::sys::signal::Signal::SIGUSR1);
    // Requests sent before the signal is handled still go to the old file: each try has its
    // own id, and the one found in the new file must be in the new file only.
    let c = Client::new();
    let tries = std::sync::atomic::AtomicUsize::new(0);
    let v = eventually("a line in the reopened file", WAIT, || async {
        let n = tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let req = http::Request::get(format!("http://{}/", proxy.http))
            .header("host", "www.example.test")
            .header("x-request-id", format!("after-rotate-{n}"))
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        c.send(req).await.unwrap();
        last_line(&log_path).filter(|v| {
            v["http.request.id"]
                .as_str()
                .is_some_and(|id| id.starts_with("after-rotate-"))
        })
    })
    .await;
    assert_eq!(v["http.response.status_code"], 200);
    let id = v["http.request.id"].as_str().unwrap();
    let old = std::fs::read_to_string(proxy.dir.path().join("access.log.1")).unwrap();
    let new = std::fs::read_to_string(&log_path).unwrap();
    assert!(old.contains("obs-req-1") && !old.contains(&format!("\"{id}\"")));
    assert!(!new.contains("obs-req-1"), "{new}");
    assert!(proxy.log_text().contains("access log reopened"));
}
