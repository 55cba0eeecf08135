//! What the assembly is told ([`Options`]), how it fails ([`StartError`]) and how it is stopped
//! from outside ([`Control`]).

use crate::admin::UpgradeHook;
use crate::config::resolve::{Resolve, SystemResolver};
use pingora::server::ShutdownSignal;
use std::sync::Arc;
use tokio::sync::mpsc;

/// How to start.
#[derive(Clone)]
pub struct Options {
    /// Take the listening sockets over from a running instance (zero-downtime upgrade).
    pub upgrade: bool,
    /// Handle SIGTERM/SIGINT/SIGQUIT (the binary) or only programmatic stops (in-process tests).
    pub handle_signals: bool,
    /// Exit the process as soon as a graceful stop has drained every connection, instead of
    /// always waiting out the grace period (the binary).
    pub exit_when_drained: bool,
    /// Resolves backend names (tests substitute a fixed table).
    pub resolver: Arc<dyn Resolve>,
    /// Hook for `POST /upgrade`.
    pub upgrade_hook: Option<UpgradeHook>,
    /// Start the access log the config asks for (embedders running several instances in one
    /// process, like the tests, turn it off: it is process-wide).
    pub access_log: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            upgrade: false,
            handle_signals: false,
            exit_when_drained: false,
            resolver: Arc::new(SystemResolver),
            upgrade_hook: None,
            access_log: true,
        }
    }
}

/// Why the process cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener address cannot be bound.
    #[error("cannot listen on {address} ({what}): {source}")]
    Bind {
        /// Address.
        address: std::net::SocketAddr,
        /// Which listener.
        what: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// TLS setup failed.
    #[error("TLS setup failed: {0}")]
    Tls(#[from] rustls::Error),
    /// The access log writer could not start.
    #[error("cannot start the access log: {0}")]
    AccessLog(#[source] std::io::Error),
    /// Building the first snapshot panicked.
    #[error("cannot build the first snapshot: {0}")]
    FirstSnapshot(#[from] crate::reload::loader::Lost),
}

/// Stops a running instance from another thread or task.
#[derive(Clone, Debug)]
pub struct Control {
    pub(super) tx: mpsc::UnboundedSender<ShutdownSignal>,
}

impl Control {
    /// Stops now (in-flight requests are cut).
    pub fn fast_shutdown(&self) {
        let _ = self.tx.send(ShutdownSignal::FastShutdown);
    }

    /// Stops accepting, drains, then exits (bounded by the grace period).
    pub fn graceful_shutdown(&self) {
        let _ = self.tx.send(ShutdownSignal::GracefulTerminate);
    }
}
