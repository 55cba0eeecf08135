//! Cold changes (those a reload cannot apply) are compared with what the process runs.

use super::child_config;
use crate::support::child::ChildProxy;
use crate::support::TestBackend;

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
