//! What the subcommands of the `gatehouse` binary do, apart from `run` (which is
//! [`crate::lifecycle::run`]): `main.rs` parses the command line with clap and calls these.
//! They print for a person and return the exit code; errors carry context for that person.

mod demo_certs;
mod remote;

pub use demo_certs::demo_certs;
pub use remote::{reload, rollout, upgrade};

use crate::config;
use anyhow::Context as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// Diagnostic logs to stderr (the access log owns stdout), at the config's level unless
/// `RUST_LOG` says otherwise, as text or JSON lines.
pub fn init_logging(settings: Option<&config::model::LoggingSettings>) {
    let level = settings.map_or("info", |s| s.level.as_str());
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if settings.is_some_and(|s| s.json) {
        let _ = builder.json().flatten_event(true).try_init();
    } else {
        let _ = builder.try_init();
    }
}

/// `gatehouse check`: validates a config file (`nginx -t`), optionally replaying the running
/// instance's recent requests through it.
///
/// # Errors
/// Only when the running instance cannot be asked for its samples.
pub fn check(path: &Path, against_running: bool) -> anyhow::Result<ExitCode> {
    match config::load_initial(path) {
        Ok(v) => {
            for w in &v.warnings {
                eprintln!("warning: {w}");
            }
            let c = &v.config;
            let backends: usize = c.pools.iter().map(|p| p.backends.len()).sum();
            println!(
                "{}: OK: {} listeners, {} routes, {} pools, {} backends, {} certificates{}",
                path.display(),
                c.listeners.len(),
                c.routes.len(),
                c.pools.len(),
                backends,
                c.listeners
                    .iter()
                    .map(|l| l.certificates.len())
                    .sum::<usize>(),
                if v.warnings.is_empty() {
                    String::new()
                } else {
                    format!(", {} warnings", v.warnings.len())
                }
            );
            if against_running {
                preview(path, v.config)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Replays the running instance's recent requests through `config` and prints what moves.
fn preview(path: &Path, config: config::model::Config) -> anyhow::Result<()> {
    let endpoint = crate::ctl::admin_endpoint(path)?;
    let (status, body) = crate::ctl::call(
        &endpoint,
        "GET",
        "/preview/samples",
        Duration::from_secs(30),
    )?;
    if status != 200 {
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        anyhow::bail!(
            "the running instance refused the samples ({status}): {}",
            doc["error"].as_str().unwrap_or(body.trim())
        );
    }
    let export: crate::preview::Export = serde_json::from_str(&body)
        .context("the running instance sent samples this version cannot read")?;
    for line in export.replay(config).lines() {
        println!("{line}");
    }
    Ok(())
}

/// Parses a command-line duration (`30s`, `1m`), as the config file writes them.
///
/// # Errors
/// A message for clap when `s` is not a duration.
pub fn duration_arg(s: &str) -> Result<Duration, String> {
    config::duration::parse_duration(s)
}

/// Parses a ratio: `5%` or `0.05`.
///
/// # Errors
/// A message for clap when `s` is not a ratio between 0 and 1.
pub fn ratio_arg(s: &str) -> Result<f64, String> {
    let value = match s.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => s.parse::<f64>(),
    }
    .map_err(|e| format!("{s:?}: {e}"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "{s:?}: a ratio is between 0 and 1 (or 0% and 100%)"
        ))
    }
}
