//! The shipped Grafana dashboard and Prometheus alert rules are valid and every metric they
//! use is present in a real scrape.

use super::base;
use crate::support::child::ChildProxy;
use crate::support::tlsutil::TestCa;
use crate::support::{eventually, fault, Client, TestBackend, WAIT};
use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;

#[tokio::test]
async fn dashboard_and_alert_rules_are_valid_and_use_real_metrics() {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(conf.join("grafana/gatehouse-dashboard.json")).unwrap(),
    )
    .unwrap();
    let mut used = BTreeSet::new();
    let metric = regex_lite_names;
    for panel in dashboard["panels"].as_array().unwrap() {
        assert!(panel["title"].as_str().is_some_and(|t| !t.is_empty()));
        for target in panel["targets"].as_array().unwrap() {
            used.extend(metric(target["expr"].as_str().unwrap()));
        }
    }
    let rules = std::fs::read_to_string(conf.join("prometheus/gatehouse-alerts.yml")).unwrap();
    used.extend(metric(&rules));
    for needed in [
        "gatehouse_backend_up",
        "gatehouse_pool_serving_tier",
        "gatehouse_config_reloads_total",
        "gatehouse_certificate_expiry_timestamp_seconds",
        "gatehouse_requests_total",
        "gatehouse_route_requests_total",
        "gatehouse_backend_requests_total",
    ] {
        assert!(used.contains(needed), "alerts/dashboards cover {needed}");
    }
    let promtool = std::env::var_os("PROMTOOL")
        .map(std::path::PathBuf::from)
        .or_else(|| which("promtool"));
    match &promtool {
        Some(promtool) => {
            let out = std::process::Command::new(promtool)
                .args(["check", "rules"])
                .arg(conf.join("prometheus/gatehouse-alerts.yml"))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "promtool: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        None => eprintln!("SKIP promtool check: promtool not found (scripts/test provides it)"),
    }

    // A real process, exercised so that every series the dashboards use exists.
    let a = TestBackend::start("a").await;
    let primary = TestBackend::start("primary").await;
    let backup = TestBackend::start("backup").await;
    let dead_port = crate::support::RefusingPort::new();
    let dead = dead_port.addr.to_string();
    let ca = TestCa::new("dash CA");
    let leaf = ca.leaf(&["www.example.test"]);
    let config = base(
        &format!(
            r#"[routes.web]
pool = "web"
metrics = true
[routes.ap]
hosts = ["ap.test"]
pool = "ap"
[routes.flaky]
hosts = ["flaky.test"]
pool = "flaky"
[pools.web]
health_check = {{ type = "http", path = "/healthz", interval = "50ms" }}
backends = [{{ address = "{a}" }}]
[pools.ap]
balance = "active_passive"
health_check = {{ type = "http", path = "/healthz", interval = "50ms", fall = 1, rise = 1 }}
backends = [{{ address = "{p}" }}, {{ address = "{bk}", backup = true }}]
[pools.flaky]
passive = {{ connect_failures = 1 }}
backends = [{{ address = "{dead}" }}, {{ address = "{a}" }}]"#,
            a = a.addr,
            p = primary.addr,
            bk = backup.addr
        ),
        r#"[listeners.https]
address = "{https}"
protocol = "https"
certificates = [{ cert = "www.crt", key = "www.key" }]"#,
    );
    let proxy = ChildProxy::start_with(&config, |d| {
        leaf.write(d, "www");
    })
    .await;
    let c = Client::new();
    for host in ["web.test", "ap.test", "flaky.test", "flaky.test"] {
        assert_eq!(c.get(proxy.http, host, "/").await.status, 200);
    }
    crate::support::client::tls_get(
        proxy.https,
        Some("www.example.test"),
        "www.example.test",
        "/",
        ca.client_config(&[]),
    )
    .await
    .unwrap();
    fault(primary.addr, "healthz=fail").await;
    eventually("ap failed over", WAIT, || async {
        (c.get(proxy.http, "ap.test", "/").await.backend() == "backup").then_some(())
    })
    .await;
    proxy.write_config(&config.replace("interval = \"50ms\" }", "interval = \"40ms\" }"));
    assert_eq!(proxy.cli("reload").await.status.code(), Some(0));
    let page = proxy.metrics().await;
    // The page is valid exposition text, by Prometheus's own linter: the latency histograms
    // are written by gatehouse, not by the exporter (`src/metrics/latency.rs`).
    if let Some(promtool) = &promtool {
        assert!(
            page.contains("gatehouse_request_duration_seconds_bucket{"),
            "{page}"
        );
        let mut check = std::process::Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        check
            .stdin
            .take()
            .unwrap()
            .write_all(page.as_bytes())
            .unwrap();
        let out = check.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let scraped = names(&page);
    for name in &used {
        let present = scraped.contains(name)
            || ["_bucket", "_sum", "_count"].iter().any(|s| {
                name.strip_suffix(s)
                    .is_some_and(|base| scraped.contains(&format!("{base}_bucket")))
            });
        assert!(
            present,
            "{name} is used by a dashboard or alert but absent from a real scrape"
        );
    }
}

/// Metric names in a PromQL expression (or a rules file).
fn regex_lite_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("gatehouse_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

fn which(cmd: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(cmd))
        .find(|p| p.is_file())
}

fn names(metrics: &str) -> BTreeSet<String> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect()
}
