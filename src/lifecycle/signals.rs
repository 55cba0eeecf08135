//! Stop requests: SIGTERM/SIGINT/SIGQUIT in the binary, [`super::Control`] everywhere. The
//! first one marks the instance as shutting down (`/healthz` answers 503) and, in the binary,
//! tells systemd the stop has begun.

use async_trait::async_trait;
use pingora::server::{ShutdownSignal, ShutdownSignalWatch};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Pingora's shutdown-signal source for one instance.
pub(super) struct Signals {
    pub(super) rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<ShutdownSignal>>,
    pub(super) unix: bool,
    pub(super) shutting_down: Arc<AtomicBool>,
}

#[async_trait]
impl ShutdownSignalWatch for Signals {
    async fn recv(&self) -> ShutdownSignal {
        let mut rx = self.rx.lock().await;
        let signal = if self.unix {
            use tokio::signal::unix::{signal, SignalKind};
            match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
                signal(SignalKind::quit()),
            ) {
                (Ok(mut term), Ok(mut int), Ok(mut quit)) => tokio::select! {
                    s = rx.recv() => s.unwrap_or(ShutdownSignal::FastShutdown),
                    _ = term.recv() => { tracing::info!("SIGTERM: draining, then exiting"); ShutdownSignal::GracefulTerminate }
                    _ = int.recv() => { tracing::info!("SIGINT: exiting now"); ShutdownSignal::FastShutdown }
                    _ = quit.recv() => { tracing::info!("SIGQUIT: draining, then exiting (use `gatehouse upgrade` for a zero-downtime restart)"); ShutdownSignal::GracefulTerminate }
                },
                _ => rx.recv().await.unwrap_or(ShutdownSignal::FastShutdown),
            }
        } else {
            rx.recv().await.unwrap_or(ShutdownSignal::FastShutdown)
        };
        self.shutting_down.store(true, Ordering::Relaxed);
        if self.unix {
            // Synchronously, as the stop begins: the drain watcher may exit the process
            // moments later. (A no-op in a process that handed over to a successor.)
            crate::notify::stopping();
        }
        signal
    }
}
