//! Observability, one topic per file. These run the real binary: its process-wide recorder and
//! gauges are its own.
//!
//! - [`metrics`]: exact values after known traffic, label hygiene, histograms; metrics off.
//! - [`failover`]: health, failback and failover series.
//! - [`access_log`]: every field of the access log line, SIGUSR1 reopen, rotation.
//! - [`dashboards`]: the shipped dashboard and alert rules are valid and use real metrics.
//! - [`logging`]: diagnostic logs follow the `[logging]` section.

mod access_log;
mod dashboards;
mod failover;
mod logging;
mod metrics;

/// The value of the series whose line starts with `prefix` (name plus exact label set).
fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn base(pools: &str, extra: &str) -> String {
    format!(
        r#"
[server]
threads = 1
grace_period = "1s"
[reload]
watch = false
[admin]
address = "{{admin}}"
token_file = "admin.token"
[access_log]
path = "access.log"
[listeners.http]
address = "{{http}}"
{extra}
{pools}
"#
    )
}
