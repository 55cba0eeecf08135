//! The process lifecycle, in order: **start** (validated config → first snapshot →
//! [`Gatehouse`], [`gatehouse`]) → **bind** (checked first by [`preflight`], then by Pingora) →
//! **ready** ([`readiness`]: running, watching the config file, every socket accepting) →
//! **drop privileges** and open the gate ([`ready`]) → **notify** (the predecessor of an
//! upgrade and systemd, [`ready`]) → **drain** on a stop ([`signals`], [`drain`]) → **exit**.
//! Beside the proxy runs the control plane ([`control_plane`], [`ticker`]).
//!
//! The binary calls [`run`]; the in-process test server builds and runs the same [`Gatehouse`]
//! (start, bind, serve, drain) and leaves out only what is process-wide: privileges, systemd,
//! Unix signals and the early exit once drained (see [`Options`]).

mod control_plane;
mod drain;
pub mod gatehouse;
pub mod options;
mod preflight;
pub mod readiness;
mod ready;
mod signals;
mod ticker;

pub use gatehouse::Gatehouse;
pub use options::{Control, Options, StartError};
pub use readiness::Readiness;

use crate::config;
use crate::upgrade::report_to_predecessor;
use std::path::Path;
use std::process::ExitCode;

/// Why `gatehouse run` stopped before serving.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The SIGHUP handler could not be installed.
    #[error("installing the SIGHUP handler")]
    Signal(#[source] std::io::Error),
    /// The instance could not be assembled (an address is taken, TLS, the access log).
    #[error(transparent)]
    Start(#[from] StartError),
}

/// `gatehouse run`: the whole lifecycle of the binary, returning when the process has drained
/// (or failing before it serves). `upgrade` takes the sockets over from a running instance.
///
/// # Errors
/// [`RunError`] when the process cannot start; an invalid config is reported on standard
/// error and to an upgrading predecessor, and gives [`ExitCode::FAILURE`].
pub fn run(path: &Path, upgrade: bool) -> Result<ExitCode, RunError> {
    let _ = crate::upgrade::executable();
    crate::reload::signal::install_early().map_err(RunError::Signal)?;
    // Validated on the config loader, where the first snapshot is built and every later one:
    // one thread's pages hold all of it, and its first reload frees and returns it there.
    let loader = crate::reload::loader::Loader::start();
    let owned = path.to_path_buf();
    let loaded = loader
        .run(move |_| config::load_initial(&owned))
        .unwrap_or_else(|lost| {
            Err(config::ConfigError::Read {
                path: path.to_path_buf(),
                source: std::io::Error::other(lost),
            })
        });
    // The logging settings come from this one load (the binary loads nothing before `run`).
    crate::commands::init_logging(loaded.as_ref().ok().map(|v| &v.config.logging));
    let validated = match loaded {
        Ok(v) => v,
        Err(e) => {
            eprintln!("gatehouse: {e}");
            report_to_predecessor(&format!("ERROR {}", e.to_string().replace('\n', "; ")));
            return Ok(ExitCode::FAILURE);
        }
    };
    for w in &validated.warnings {
        tracing::warn!("{}: {w}", path.display());
    }
    let run_as = ready::RunAs {
        user: validated.config.server.user.clone(),
        group: validated.config.server.group.clone(),
    };
    let options = Options {
        upgrade,
        handle_signals: true,
        exit_when_drained: true,
        ..Default::default()
    };
    let gatehouse = match Gatehouse::with_loader(path, validated, options, loader) {
        Ok(g) => g,
        Err(e) => {
            report_to_predecessor(&format!("ERROR {e}"));
            return Err(e.into());
        }
    };
    tracing::info!(config = %path.display(), pid = std::process::id(), upgrade, "gatehouse starting");
    crate::memory::start_collector();
    ready::spawn(&gatehouse, run_as);
    gatehouse.run();
    Ok(ExitCode::SUCCESS)
}

/// The environment variable `name`, in debug builds only (the integration tests run the debug
/// binary): test hooks that widen a timing window or force an outcome, so a test can check an
/// ordering deterministically. Release builds never read them.
#[cfg(debug_assertions)]
fn test_hook(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[cfg(not(debug_assertions))]
fn test_hook(_name: &str) -> Option<String> {
    None
}
