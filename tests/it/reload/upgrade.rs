//! Zero-downtime binary upgrades: handed over under load with no failed request; a failed
//! upgrade leaves the old process serving; the pid file names the serving process.

use super::child_config;
use crate::support::child::{ChildProxy, TOKEN};
use crate::support::load::{assert_no_failures, Load};
use crate::support::{eventually, Client, TestBackend, WAIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_under_load_hands_over_with_zero_failed_requests() {
    let a = TestBackend::start("a").await;
    let b = TestBackend::start("b").await;
    let config = child_config(&a.addr.to_string(), "v1").replace(
        &format!("backends = [{{ address = \"{}\" }}]", a.addr),
        &format!(
            "backends = [{{ address = \"{}\" }}, {{ address = \"{}\" }}]",
            a.addr, b.addr
        ),
    );
    let mut proxy = ChildProxy::start(&config).await;
    // Health state to hand over: b disabled by an operator (no check would bring that back).
    let disable = http::Request::post(format!(
        "http://{}/backends/p/{}/disable",
        proxy.admin, b.addr
    ))
    .header("authorization", format!("Bearer {TOKEN}"))
    .body(http_body_util::Full::new(bytes::Bytes::new()))
    .unwrap();
    assert_eq!(Client::new().send(disable).await.unwrap().status, 200);
    let load = Load::start(proxy.http, "site.test", "/", 4, None);
    eventually("load running", WAIT, || async {
        (load.count() > 100).then_some(())
    })
    .await;
    let (new_pid, stdout) = proxy.upgrade().await;
    assert!(
        stdout.contains(&format!("pid {new_pid} now serving")),
        "{stdout}"
    );
    // The old process drains and exits by itself.
    let exited = tokio::task::spawn_blocking(move || proxy_wait(proxy))
        .await
        .unwrap();
    let (mut proxy, old_status) = exited;
    assert!(
        old_status.success(),
        "old process exited cleanly: {old_status}"
    );
    let n = load.count();
    eventually("load continues on the successor", WAIT, || async {
        (load.count() > n + 100).then_some(())
    })
    .await;
    let samples = load.finish().await;
    assert_no_failures(&samples, "upgrade under load");
    // Responses after the hand-over carry the successor's request-id prefix.
    let prefix = |s: &crate::support::load::Sample| s.request_id.get(..16).map(str::to_string);
    let first = prefix(&samples[0]).unwrap();
    let last = prefix(samples.last().unwrap()).unwrap();
    assert_ne!(first, last, "responses now come from another process");
    // Health state was handed over: the successor still has b disabled, and every response
    // (before and after the hand-over) came from a.
    assert!(
        proxy
            .log_text()
            .contains("backend health state taken over from the previous process"),
        "{}",
        proxy.log_text()
    );
    let successor = proxy.status().await.unwrap();
    let backends = successor["pools"][0]["backends"]
        .as_array()
        .unwrap()
        .clone();
    let b_state = backends
        .iter()
        .find(|x| x["address"] == b.addr.to_string())
        .unwrap_or_else(|| panic!("{successor}"));
    assert_eq!(b_state["state"], "disabled", "{successor}");
    assert!(samples.iter().all(|s| s.backend == "a"), "b took traffic");
    proxy.adopt(new_pid);
}

fn proxy_wait(mut proxy: ChildProxy) -> (ChildProxy, std::process::ExitStatus) {
    let status = proxy.child.wait().unwrap();
    (proxy, status)
}

#[tokio::test]
async fn a_failed_upgrade_leaves_the_old_process_serving() {
    let a = TestBackend::start("a").await;
    let proxy = ChildProxy::start(&child_config(&a.addr.to_string(), "v1")).await;
    let pid = proxy.child.id();
    let client = Client::new();

    // 1. An invalid config never gets as far as a new process.
    proxy.write_config(
        &child_config(&a.addr.to_string(), "v1").replace("pool = \"p\"", "pool = \"nope\""),
    );
    let out = proxy.cli("upgrade").await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        stderr.contains("the config on disk is invalid")
            && stderr.contains("unknown pool \"nope\""),
        "{stderr}"
    );

    // 2. The successor cannot start: the new config adds a listener on a port someone holds.
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = squatter.local_addr().unwrap();
    let with_listener = child_config(&a.addr.to_string(), "v1").replace(
        "[routes.site]",
        &format!("[listeners.extra]\naddress = \"{taken}\"\n[routes.site]"),
    );
    proxy.write_config(&with_listener);
    let out = proxy.cli("upgrade").await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        stderr.contains("failed") && stderr.contains(&taken.to_string()),
        "{stderr}"
    );
    assert!(stderr.contains("keeps serving"), "{stderr}");

    assert_eq!(
        proxy.status().await.unwrap()["pid"].as_u64(),
        Some(u64::from(pid)),
        "still the same process"
    );
    for _ in 0..20 {
        assert_eq!(client.get(proxy.http, "site.test", "/").await.status, 200);
    }
}

#[tokio::test]
async fn the_pid_file_names_the_serving_process_across_an_upgrade() {
    let a = TestBackend::start("a").await;
    let config = child_config(&a.addr.to_string(), "v1").replace(
        "grace_period = \"5s\"",
        "grace_period = \"5s\"\npid_file = \"{dir}/gatehouse.pid\"",
    );
    let proxy = ChildProxy::start(&config).await;
    let pid_file = proxy.dir.path().join("gatehouse.pid");
    let read_pid = |path: &std::path::Path| {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
    };
    let old_pid = proxy.child.id();
    assert_eq!(read_pid(&pid_file), Some(old_pid));
    let mut proxy = proxy;
    let (new_pid, _) = proxy.upgrade().await;
    // The predecessor drains and exits; the file it leaves behind names the successor.
    let (proxy, old_status) = tokio::task::spawn_blocking(move || proxy_wait(proxy))
        .await
        .unwrap();
    assert!(old_status.success(), "{old_status}");
    assert_eq!(
        read_pid(&pid_file),
        Some(new_pid),
        "pid file after the predecessor exited\n{}",
        proxy.log_text()
    );
}
