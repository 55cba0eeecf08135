//! Started as root: serving, reloading and answering only as the configured user, and
//! exiting rather than running on as root when readiness fails. Skipped unless run as root.

use crate::support::{eventually, Client, TestBackend, WAIT};
use std::time::Duration;

/// `Uid:`/`Gid:` lines of `/proc/<pid>/status` (real, effective, saved, filesystem).
fn proc_ids(pid: u32, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// A config that runs as `nobody` once root is no longer needed.
fn as_nobody(backend: std::net::SocketAddr, tag: &str) -> String {
    format!(
        r#"
[server]
threads = 1
grace_period = "0s"
user = "nobody"
[reload]
watch = false
[admin]
address = "{{admin}}"
[listeners.http]
address = "{{http}}"
[routes.site]
pool = "p"
response_headers = {{ set = {{ "x-tag" = "{tag}" }} }}
[pools.p]
backends = [{{ address = "{backend}" }}]
"#
    )
}

/// Like /etc/gatehouse: the config is readable by the unprivileged user, so reloads work.
fn readable_by_nobody(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test]
async fn started_as_root_it_serves_and_reloads_as_the_configured_user() {
    use crate::support::child::ChildProxy;
    crate::ops::require!(
        nix::unistd::Uid::effective().is_root(),
        "dropping privileges needs the test to run as root"
    );
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let a = TestBackend::start("a").await;
    let proxy = ChildProxy::start_with(&as_nobody(a.addr, "v1"), readable_by_nobody).await;
    let pid = proxy.child.id();
    let uid = vec![nobody.uid.as_raw().to_string(); 4].join(" ");
    let gid = vec![nobody.gid.as_raw().to_string(); 4].join(" ");
    // The admin API answered (start_with waited for it) only after the drop.
    assert_eq!(proc_ids(pid, "Uid:"), uid);
    assert_eq!(proc_ids(pid, "Gid:"), gid);
    assert_eq!(proc_ids(pid, "Groups:"), nobody.gid.as_raw().to_string());
    assert!(proxy.log_text().contains("dropped root privileges"));

    let client = Client::new();
    let r = client.get(proxy.http, "site.test", "/").await;
    assert_eq!((r.status, r.header("x-tag").as_deref()), (200, Some("v1")));
    proxy.write_config(&as_nobody(a.addr, "v2"));
    proxy.signal(nix::sys::signal::Signal::SIGHUP);
    eventually("reload as nobody", WAIT, || async {
        (proxy.generation().await == 2).then_some(())
    })
    .await;
    let r = client.get(proxy.http, "site.test", "/").await;
    assert_eq!((r.status, r.header("x-tag").as_deref()), (200, Some("v2")));
}

/// Requests sent the moment the listeners accept — while the process is still root, which a
/// debug-build hook keeps it for 1.5 s after readiness — are answered only once the process
/// runs as `nobody`, on the proxy listener and on the admin listener alike. (The uid is read
/// when each answer arrives: a drop cannot be undone, so `nobody` then means the answer came
/// after it.)
#[tokio::test]
async fn started_as_root_nothing_is_answered_before_the_privilege_drop() {
    use crate::support::child::ChildProxy;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    crate::ops::require!(
        nix::unistd::Uid::effective().is_root(),
        "dropping privileges needs the test to run as root"
    );
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let nobody_ids = vec![nobody.uid.as_raw().to_string(); 4].join(" ");
    let a = TestBackend::start("a").await;
    let proxy = ChildProxy::spawn(
        &as_nobody(a.addr, "v1"),
        readable_by_nobody,
        &[("GATEHOUSE_TEST_PRIVILEGE_DROP_DELAY_MS", "1500")],
    );
    let pid = proxy.child.id();
    let connect = |addr: std::net::SocketAddr| {
        eventually("the listener accepts", WAIT, move || async move {
            tokio::net::TcpStream::connect(addr).await.ok()
        })
    };
    let mut site = connect(proxy.http).await;
    let mut admin = connect(proxy.admin).await;
    site.write_all(b"GET / HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    admin
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(
        proc_ids(pid, "Uid:"),
        "0 0 0 0",
        "the requests must be sent while gatehouse is still root"
    );
    for (what, stream) in [("proxy", &mut site), ("admin", &mut admin)] {
        let mut answer = Vec::new();
        crate::support::bounded(what, stream.read_to_end(&mut answer))
            .await
            .unwrap();
        let uid_when_answered = proc_ids(pid, "Uid:");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "{what}: {answer}");
        assert_eq!(
            uid_when_answered,
            nobody_ids,
            "{what} answered before privileges were dropped:\n{}",
            proxy.log_text()
        );
    }
    assert!(proxy.log_text().contains("dropped root privileges"));
}

/// Started as root with a drop pending, a process that does not become ready exits non-zero
/// instead of running on as root (a debug-build hook makes the readiness check fail).
#[tokio::test]
async fn started_as_root_it_exits_if_it_never_becomes_ready() {
    use crate::support::child::ChildProxy;
    crate::ops::require!(
        nix::unistd::Uid::effective().is_root(),
        "dropping privileges needs the test to run as root"
    );
    let a = TestBackend::start("a").await;
    let mut proxy = ChildProxy::spawn(
        &as_nobody(a.addr, "v1"),
        readable_by_nobody,
        &[("GATEHOUSE_TEST_FAIL_READINESS", "1")],
    );
    let deadline = tokio::time::Instant::now() + crate::support::patient(WAIT);
    let status = loop {
        if let Some(status) = proxy.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still running after {:?}:\n{}",
            crate::support::patient(WAIT),
            proxy.log_text()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let log = proxy.log_text();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("gatehouse did not become ready"), "{log}");
    assert!(
        log.contains("refusing to keep running as root") && !log.contains("dropped root"),
        "{log}"
    );
}
