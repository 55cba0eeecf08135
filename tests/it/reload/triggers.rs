//! What triggers a reload: an editor-style save (exactly one), a Kubernetes ConfigMap swap,
//! SIGHUP and `gatehouse reload` (with their exit codes); writes to other files next to the
//! config do not.

use super::{child_config, tagged};
use crate::support::child::{ChildProxy, TOKEN};
use crate::support::{bounded, eventually, Client, TestBackend, TestProxy, WAIT};
use std::sync::Arc;

#[tokio::test]
async fn an_editor_style_save_triggers_exactly_one_reload() {
    let a = TestBackend::start("a").await;
    let aa = a.addr.to_string();
    let unused = crate::support::RefusingPort::new();
    let config = |tag: &str| tagged(&aa, &unused, tag);
    let proxy = TestProxy::start(&config("one")).await;
    let before = proxy.generation();
    let mut reports = proxy.reloader.subscribe_reports();
    // An editor: write a swap file, then rename it over the original (several fs events).
    let dir = proxy.dir.path();
    std::fs::write(
        dir.join(".gatehouse.toml.swp"),
        proxy.render(&config("two")),
    )
    .unwrap();
    std::fs::rename(dir.join(".gatehouse.toml.swp"), &proxy.config_path).unwrap();
    bounded(
        "reload",
        reports.wait_for(|r| r.as_ref().is_some_and(|r| r.generation == before + 1)),
    )
    .await
    .unwrap();
    // A second, distinct save: if the first had produced a second reload, it would show here.
    proxy
        .rewrite_and_wait(&proxy.render(&config("three")))
        .await;
    assert_eq!(proxy.generation(), before + 2, "one reload per save");
    // Saving the same content again reloads nothing. (A reload's report is published just
    // after its generation: wait for the report before counting attempts.)
    let attempts = bounded(
        "report of the second reload",
        reports.wait_for(|r| r.as_ref().is_some_and(|r| r.generation == before + 2)),
    )
    .await
    .unwrap()
    .as_ref()
    .map(|r| r.attempt)
    .unwrap();
    proxy.write_config(&proxy.render(&config("three")));
    let r = bounded(
        "the no-op event is looked at",
        reports.wait_for(|r| r.as_ref().is_some_and(|r| r.attempt > attempts)),
    )
    .await
    .unwrap()
    .clone()
    .unwrap();
    assert_eq!(r.result, "unchanged", "{r:?}");
    assert_eq!(proxy.generation(), before + 2);
}

/// A file written over and over next to the config (an access log, say) starts no reload
/// attempt, and does not hold a real edit back (the debounce waits for quiet only among
/// relevant events).
#[tokio::test]
async fn writes_to_other_files_next_to_the_config_start_no_reload() {
    let a = TestBackend::start("a").await;
    let aa = a.addr.to_string();
    let unused = crate::support::RefusingPort::new();
    let config =
        |tag: &str| tagged(&aa, &unused, tag).replace("debounce = \"10ms\"", "debounce = \"50ms\"");
    let proxy = TestProxy::start(&config("one")).await;
    let reports = proxy.reloader.subscribe_reports();
    let attempts = || reports.borrow().as_ref().map_or(0, |r| r.attempt);
    let before = attempts();
    let generation = proxy.generation();

    // A writer appending every 5 ms, well within the 50 ms debounce.
    let noise = proxy.dir.path().join("access.log");
    let written = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writer = tokio::spawn({
        let written = written.clone();
        async move {
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&noise)
                .unwrap();
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(5));
            loop {
                tick.tick().await;
                writeln!(file, "{{\"line\":1}}").unwrap();
                written.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    });
    eventually("100 writes next to the config", WAIT, || async {
        (written.load(std::sync::atomic::Ordering::Relaxed) >= 100).then_some(())
    })
    .await;
    assert_eq!(attempts(), before, "writes to another file started reloads");

    // A real edit reloads while the writes go on, in exactly one attempt.
    let mut rx = proxy.reloader.subscribe_reports();
    proxy.write_config(&proxy.render(&config("two")));
    let report = bounded(
        "the edit reloaded despite the writes",
        rx.wait_for(|r| r.as_ref().is_some_and(|r| r.generation > generation)),
    )
    .await
    .unwrap()
    .clone()
    .unwrap();
    assert_eq!(report.result, "ok");
    assert_eq!(report.attempt, before + 1, "{report:?}");
    writer.abort();
}

/// Kubernetes updates a mounted ConfigMap by renaming a new `..data` symlink into place; the
/// config file itself (`gatehouse.toml -> ..data/gatehouse.toml`) sees no event of its own.
#[tokio::test]
async fn a_kubernetes_style_configmap_swap_reloads() {
    let a = TestBackend::start("a").await;
    let aa = a.addr.to_string();
    let unused = crate::support::RefusingPort::new();
    let config = |tag: &str| tagged(&aa, &unused, tag);
    let proxy = TestProxy::start_with(&config("one"), |d| {
        // The harness writes the config through the symlink, into `..v1`.
        std::fs::create_dir(d.join("..v1")).unwrap();
        std::os::unix::fs::symlink("..v1", d.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/gatehouse.toml", d.join("gatehouse.toml")).unwrap();
    })
    .await;
    let d = proxy.dir.path();
    assert!(d.join("..v1/gatehouse.toml").exists());
    let mut rx = proxy.state.subscribe();
    let before = *rx.borrow();
    std::fs::create_dir(d.join("..v2")).unwrap();
    std::fs::write(d.join("..v2/gatehouse.toml"), proxy.render(&config("two"))).unwrap();
    std::os::unix::fs::symlink("..v2", d.join("..data_tmp")).unwrap();
    std::fs::rename(d.join("..data_tmp"), d.join("..data")).unwrap();
    bounded("reload after the swap", rx.wait_for(|g| *g > before))
        .await
        .unwrap();
    let r = Client::new().get(proxy.http, "site.test", "/").await;
    assert_eq!(r.header("x-tag").as_deref(), Some("two"));
}

#[tokio::test]
async fn sighup_and_gatehouse_reload_with_their_exit_codes() {
    let a = TestBackend::start("a").await;
    let proxy = ChildProxy::start(&child_config(&a.addr.to_string(), "v1")).await;
    let client = Client::new();
    assert_eq!(proxy.generation().await, 1);

    // SIGHUP reloads (and does not kill the process).
    proxy.write_config(&child_config(&a.addr.to_string(), "v2"));
    proxy.signal(nix::sys::signal::Signal::SIGHUP);
    eventually("SIGHUP reload", WAIT, || async {
        (proxy.generation().await == 2).then_some(())
    })
    .await;
    assert_eq!(
        client
            .get(proxy.http, "site.test", "/")
            .await
            .header("x-tag")
            .unwrap(),
        "v2"
    );

    // `gatehouse reload`: applied → 0
    proxy.write_config(&child_config(&a.addr.to_string(), "v3"));
    let out = proxy.cli("reload").await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("reloaded: now serving generation 3"));
    // unchanged → 0
    let out = proxy.cli("reload").await;
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no change: still serving generation 3"));
    // invalid → 1, every problem printed, old config still serving
    proxy.write_config(
        &child_config(&a.addr.to_string(), "v4")
            .replace("interval = \"100ms\"", "interval = \"soon\""),
    );
    let out = proxy.cli("reload").await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("reload refused; still serving generation 3"),
        "{stderr}"
    );
    assert!(stderr.contains("invalid duration \"soon\""), "{stderr}");
    assert_eq!(
        client
            .get(proxy.http, "site.test", "/")
            .await
            .header("x-tag")
            .unwrap(),
        "v3"
    );
    // a wrong token is refused by the admin API (and reported)
    std::fs::write(proxy.dir.path().join("admin.token"), "wrong").unwrap();
    let out = proxy.cli("reload").await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(proxy.dir.path().join("admin.token"), TOKEN).unwrap();
}
