//! Diagnostic logs follow the `[logging]` section.

use super::base;
use crate::support::child::ChildProxy;
use crate::support::{eventually, TestBackend, WAIT};
use std::collections::BTreeSet;

/// `[logging]` decides the diagnostic log's level and format when `RUST_LOG` is not set: JSON
/// lines at `warn` hide the `info` start-up lines and show the warning of a refused reload.
#[tokio::test]
async fn diagnostic_logs_follow_the_logging_section() {
    let a = TestBackend::start("a").await;
    let pools = format!(
        "[routes.r]\npool = \"p\"\n[pools.p]\nbackends = [{{ address = \"{}\" }}]",
        a.addr
    );
    let config = base(&pools, "[logging]\nlevel = \"warn\"\nformat = \"json\"");
    let mut proxy = ChildProxy::spawn(&config, |_| {}, &[("RUST_LOG", "")]);
    proxy.wait_serving().await;
    proxy.write_config(&config.replace("pool = \"p\"", "pool = \"nope\""));
    assert_eq!(proxy.cli("reload").await.status.code(), Some(1));
    let lines = eventually("the refused reload logged", WAIT, || async {
        let text = proxy.log_text();
        text.contains("nope").then_some(text)
    })
    .await;
    let mut levels = BTreeSet::new();
    for line in lines.lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        levels.insert(v["level"].as_str().unwrap_or_default().to_string());
    }
    assert!(
        levels.contains("WARN") || levels.contains("ERROR"),
        "{levels:?}\n{lines}"
    );
    assert!(
        !levels.contains("INFO"),
        "info lines at level warn:\n{lines}"
    );
    assert!(
        !lines.contains("gatehouse starting"),
        "the info start-up line is filtered out"
    );
}
