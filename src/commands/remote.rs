//! Subcommands that talk to the running instance through its admin API ([`crate::ctl`]).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// `gatehouse reload`: asks the running instance to reload and prints the outcome.
///
/// # Errors
/// When the admin API cannot be found or reached.
pub fn reload(path: &Path) -> anyhow::Result<ExitCode> {
    let endpoint = crate::ctl::admin_endpoint(path)?;
    let (status, body) = crate::ctl::call(&endpoint, "POST", "/reload", Duration::from_secs(60))?;
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
    match status {
        200 => {
            let outcome = &doc["outcome"];
            if outcome["applied"].as_bool() == Some(true) {
                println!("reloaded: now serving generation {}", outcome["generation"]);
            } else {
                println!(
                    "no change: still serving generation {}",
                    outcome["generation"]
                );
            }
            for w in outcome["warnings"].as_array().into_iter().flatten() {
                eprintln!("warning: {}", w.as_str().unwrap_or_default());
            }
            for r in outcome["restart_required"].as_array().into_iter().flatten() {
                eprintln!(
                    "needs `gatehouse upgrade`: {}",
                    r.as_str().unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        422 => {
            eprintln!(
                "reload refused; still serving generation {}:",
                doc["generation"]
            );
            for e in doc["errors"].as_array().into_iter().flatten() {
                eprintln!("  - {}", e.as_str().unwrap_or_default());
            }
            Ok(ExitCode::FAILURE)
        }
        _ => {
            eprintln!(
                "admin API answered {status}: {}",
                doc["error"].as_str().unwrap_or(body.trim())
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `gatehouse upgrade`: asks the running instance to hand over to a new process.
///
/// # Errors
/// When the admin API cannot be found or reached.
pub fn upgrade(path: &Path) -> anyhow::Result<ExitCode> {
    let endpoint = crate::ctl::admin_endpoint(path)?;
    let (status, body) = crate::ctl::call(&endpoint, "POST", "/upgrade", Duration::from_secs(90))?;
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
    if status == 200 {
        let u = &doc["upgrade"];
        println!(
            "upgraded: pid {} now serving; pid {} is draining and will exit",
            u["new_pid"], u["old_pid"]
        );
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("upgrade failed; the running instance keeps serving:");
    for e in doc["errors"].as_array().into_iter().flatten() {
        eprintln!("  {}", e.as_str().unwrap_or_default());
    }
    if doc["errors"].as_array().is_none() {
        eprintln!(
            "  admin API answered {status}: {}",
            doc["error"].as_str().unwrap_or(body.trim())
        );
    }
    Ok(ExitCode::FAILURE)
}

/// `gatehouse rollout`: rolls a new version out to one backend or a whole pool.
///
/// # Errors
/// When the admin API cannot be found or reached, or no backend is named.
pub fn rollout(
    path: &Path,
    backend: Option<String>,
    all: bool,
    mut opts: crate::rollout::driver::Options,
) -> anyhow::Result<ExitCode> {
    use crate::rollout::driver;
    let endpoint = crate::ctl::admin_endpoint(path)?;
    opts.backends = match (backend, all) {
        (Some(b), false) => vec![b],
        (None, true) => driver::pool_backends(&endpoint, &opts.pool)?,
        _ => anyhow::bail!("name a backend, or pass --all"),
    };
    let print = |line: &str| println!("{line}");
    match driver::run(&endpoint, &opts, &print) {
        Ok(()) => {
            println!("rollout of pool {} succeeded", opts.pool);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("rollout of pool {} FAILED: {e}", opts.pool);
            Ok(ExitCode::FAILURE)
        }
    }
}
