//! Hot reload under load, refused reloads, in-flight and long-lived requests across reloads,
//! health kept across reloads, triggers (file watch, SIGHUP, `gatehouse reload`) and
//! zero-downtime upgrades.

use crate::support::child::{ChildProxy, TOKEN};
use crate::support::load::{assert_no_failures, Load};
use crate::support::{bounded, eventually, Client, TestBackend, TestProxy, WAIT};
use std::collections::HashSet;
use std::sync::Arc;

/// A pool's `backends = [...]` entries for these addresses.
fn backend_list(addrs: &[&str]) -> String {
    addrs
        .iter()
        .map(|a| format!("{{ address = \"{a}\" }}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Pool blue = `backend`, routed; pool green = a refusing port, unused; the route sets an
/// `x-tag` response header to `tag`, so each generation is recognisable in responses.
fn tagged(backend: &str, unused: &crate::support::RefusingPort, tag: &str) -> String {
    two_pools(
        "blue",
        &[backend],
        &[&unused.addr.to_string()],
        &format!("response_headers = {{ set = {{ \"x-tag\" = \"{tag}\" }} }}"),
    )
}

fn two_pools(route_pool: &str, a: &[&str], b: &[&str], extra: &str) -> String {
    format!(
        r#"
[server]
threads = 2
grace_period = "0s"
[reload]
debounce = "10ms"
[admin]
address = "{{admin}}"
[listeners.http]
address = "{{http}}"
[routes.site]
pool = "{route_pool}"
{extra}
[pools.blue]
backends = [{}]
[pools.green]
backends = [{}]
"#,
        backend_list(a),
        backend_list(b)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_reloads_under_load_fail_no_request_and_never_mix_snapshots() {
    let blue = [
        TestBackend::start("blue-1").await,
        TestBackend::start("blue-2").await,
    ];
    let green = [
        TestBackend::start("green-1").await,
        TestBackend::start("green-2").await,
    ];
    let ba = [blue[0].addr.to_string(), blue[1].addr.to_string()];
    let ga = [green[0].addr.to_string(), green[1].addr.to_string()];
    let configs = [
        two_pools("blue", &[&ba[0], &ba[1]], &[&ga[0], &ga[1]], ""),
        two_pools("green", &[&ba[0], &ba[1]], &[&ga[0], &ga[1]], ""),
    ];
    let proxy = TestProxy::start(&configs[0]).await;
    let first = proxy.generation();
    let state = proxy.state.clone();
    let load = Load::start(
        proxy.http,
        "site.test",
        "/",
        4,
        Some(Arc::new(move || state.load().generation)),
    );
    for i in 1..=50 {
        let g = proxy.rewrite_and_wait(&proxy.render(&configs[i % 2])).await;
        assert_eq!(g, first + i as u64, "one generation per reload");
    }
    let samples = load.finish().await;
    assert_eq!(proxy.generation(), first + 50, "exactly 50 new generations");
    assert!(
        samples.len() >= 100,
        "the load was real: {} requests",
        samples.len()
    );
    assert_no_failures(&samples, "reloads under load");
    // Generation g (odd offset from the first) routes to green, even to blue. A response must
    // come from the pool of a generation that was live while its request was in flight.
    let pool_of = |g: u64| {
        if (g - first).is_multiple_of(2) {
            "blue"
        } else {
            "green"
        }
    };
    let mut seen = HashSet::new();
    for s in &samples {
        let valid: HashSet<&str> = (s.gen_before..=s.gen_after).map(pool_of).collect();
        let pool = s.backend.split('-').next().unwrap();
        assert!(
            valid.contains(pool),
            "{s:?} answered by {pool}, valid: {valid:?}"
        );
        seen.insert(pool.to_string());
    }
    assert_eq!(seen.len(), 2, "both pools answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_file_mid_load_is_refused_and_the_old_config_keeps_serving() {
    let a = TestBackend::start("a").await;
    let b = TestBackend::start("b").await;
    let (aa, ba) = (a.addr.to_string(), b.addr.to_string());
    let good = two_pools("blue", &[&aa], &[&ba], "");
    let proxy = TestProxy::start(&good).await;
    let generation = proxy.generation();
    let mut reports = proxy.reloader.subscribe_reports();
    let load = Load::start(proxy.http, "site.test", "/", 4, None);
    eventually("some load before the bad write", WAIT, || async {
        (load.count() > 50).then_some(())
    })
    .await;
    proxy.write_config(
        &proxy
            .render(&good)
            .replace("pool = \"blue\"", "pool = \"purple\""),
    );
    let report = bounded(
        "the refused reload is reported",
        reports.wait_for(|r| r.as_ref().is_some_and(|r| r.result == "error")),
    )
    .await
    .unwrap()
    .clone()
    .unwrap();
    assert!(
        report.errors.iter().any(|e| e
            .contains("routes.site.pool: unknown pool \"purple\" (known: blue, green) at line 12")),
        "{report:?}"
    );
    let n = load.count();
    eventually("load continues after the refused reload", WAIT, || async {
        (load.count() > n + 50).then_some(())
    })
    .await;
    let samples = load.finish().await;
    assert_no_failures(&samples, "invalid file mid-load");
    assert_eq!(proxy.generation(), generation, "old config still serving");
    assert!(
        samples.iter().all(|s| s.backend == "a"),
        "still routed by the old config"
    );
    let status = Client::new()
        .get(proxy.admin, "admin", "/status")
        .await
        .json();
    assert_eq!(status["last_reload"]["result"], "error");
    let took = status["last_reload"]["duration_ms"].as_f64().unwrap();
    assert!(took > 0.0 && took < 10_000.0, "{status}");
}

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

#[tokio::test]
async fn health_state_of_unchanged_backends_survives_a_reload() {
    let up = TestBackend::start("up").await;
    let down = TestBackend::start("down").await;
    let extra = TestBackend::start("extra").await;
    let c = Client::new();
    assert_eq!(
        c.get(down.addr, "x", "/fault?healthz=fail").await.status,
        404,
        "GET is not the fault API"
    );
    let fault = |addr, q: &'static str| {
        let req = http::Request::post(format!("http://{addr}/fault?{q}"))
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        let c = c.clone();
        async move { c.send(req).await.unwrap() }
    };
    fault(down.addr, "healthz=fail").await;
    // One probe per backend at start (interval 1h, no jitter): `down` is down for good unless
    // someone probes it again.
    let config = |backends: &str| {
        format!(
            r#"
[server]
threads = 1
grace_period = "0s"
[reload]
debounce = "10ms"
[admin]
address = "{{admin}}"
[listeners.http]
address = "{{http}}"
[routes.site]
pool = "p"
[pools.p]
health_check = {{ type = "http", path = "/healthz", interval = "1h", jitter = 0.0, rise = 1, fall = 1 }}
backends = [{backends}]
"#
        )
    };
    let two = format!(
        r#"{{ address = "{}" }}, {{ address = "{}" }}"#,
        up.addr, down.addr
    );
    let three = format!(r#"{two}, {{ address = "{}" }}"#, extra.addr);
    let proxy = TestProxy::start(&config(&two)).await;
    eventually("the failing backend is down", WAIT, || async {
        let s = proxy.state.load();
        (s.pools[0].backends[1].state.view().state == "down").then_some(())
    })
    .await;
    fault(down.addr, "healthz=ok").await; // it would pass now, but nobody asks
    proxy.rewrite_and_wait(&proxy.render(&config(&three))).await;
    for _ in 0..60 {
        let r = c.get(proxy.http, "site.test", "/").await;
        assert_eq!(r.status, 200);
        assert_ne!(
            r.backend(),
            "down",
            "a backend known to be down stays out after the reload"
        );
    }
    let s = proxy.state.load();
    assert_eq!(s.pools[0].backends[1].state.view().state, "down");
    assert!(
        s.pools[0].backends[1].state.view().last_check.is_some(),
        "state carried over, not reset"
    );
}

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

fn child_config(backend: &str, tag: &str) -> String {
    format!(
        r#"
[server]
threads = 1
grace_period = "5s"
[reload]
watch = false
[admin]
address = "{{admin}}"
token_file = "admin.token"
[listeners.http]
address = "{{http}}"
[routes.site]
pool = "p"
response_headers = {{ set = {{ "x-tag" = "{tag}" }} }}
[pools.p]
health_check = {{ type = "http", path = "/healthz", interval = "100ms" }}
backends = [{{ address = "{backend}" }}]
"#
    )
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

/// Cold changes are compared with what the process runs, not with the previous file: they stay
/// reported (reload output, `/status`, `gatehouse_config_restart_required`) through later
/// reloads, until the file matches the process again. Includes the keys once forgotten
/// (`server.user`, `server.group`, `[limits.http2]`).
#[tokio::test]
async fn cold_changes_stay_reported_until_the_file_matches_what_runs() {
    let a = TestBackend::start("a").await;
    let backend = a.addr.to_string();
    let proxy = ChildProxy::start(&child_config(&backend, "v1")).await;
    let gauge = || async {
        let m = proxy.metrics().await;
        m.lines()
            .find_map(|l| l.strip_prefix("gatehouse_config_restart_required "))
            .and_then(|v| v.parse::<f64>().ok())
    };
    let reload = |expect: &'static str| {
        let proxy = &proxy;
        async move {
            let out = proxy.cli("reload").await;
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
            assert!(stdout.contains(expect), "{stdout}");
            stderr
                .lines()
                .filter_map(|l| l.strip_prefix("needs `gatehouse upgrade`: "))
                .map(str::to_string)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(gauge().await, Some(0.0));

    // A cold change: applied reload, reported.
    let cold = |tag: &str| {
        child_config(&backend, tag).replace(
            "threads = 1",
            "threads = 2\nuser = \"nobody\"\ngroup = \"nogroup\"",
        ) + "[limits.http2]\nmax_concurrent_streams = 7\n"
    };
    let expected = [
        "server.threads: changed",
        "server.user: changed",
        "server.group: changed",
        "limits.http2.max_concurrent_streams: changed",
    ];
    proxy.write_config(&cold("v2"));
    assert_eq!(reload("now serving generation 2").await, expected);
    assert_eq!(gauge().await, Some(1.0));

    // A later hot-only reload, and a no-op one: still pending, still reported.
    proxy.write_config(&cold("v3"));
    assert_eq!(reload("now serving generation 3").await, expected);
    assert_eq!(gauge().await, Some(1.0));
    assert_eq!(
        reload("no change: still serving generation 3").await,
        expected
    );
    assert_eq!(gauge().await, Some(1.0));
    let status = proxy.status().await.unwrap();
    assert_eq!(status["restart_required"], serde_json::json!(expected));
    assert_eq!(status["last_reload"]["result"], "unchanged");
    assert_eq!(
        status["last_reload"]["restart_required"],
        serde_json::json!(expected)
    );
    // The last applied reload is kept apart from the last attempt.
    assert_eq!(status["last_applied_reload"]["result"], "ok");
    assert_eq!(status["last_applied_reload"]["generation"], 3);
    assert!(
        status["last_applied_reload"]["attempt"].as_u64()
            < status["last_reload"]["attempt"].as_u64()
    );

    // The file matches what runs again: nothing pending.
    proxy.write_config(&child_config(&backend, "v4"));
    assert!(reload("now serving generation 4").await.is_empty());
    assert_eq!(gauge().await, Some(0.0));
    assert_eq!(
        proxy.status().await.unwrap()["restart_required"],
        serde_json::json!([])
    );
}
