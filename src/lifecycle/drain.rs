//! Drain and exit: after a graceful stop begins, the process leaves as soon as the last client
//! connection is gone.

use pingora::server::ExecutionPhase;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// Minimum time between the start of a graceful stop and the process exit.
const ADMIN_FLUSH_MARGIN: Duration = Duration::from_millis(250);

/// After a graceful stop begins, exit as soon as no client connection is left (instead of
/// always sleeping through Pingora's whole grace period). Bounded by that grace period anyway.
pub(super) fn spawn_drain_watch(
    mut phases: broadcast::Receiver<ExecutionPhase>,
    open: Arc<AtomicUsize>,
    pid_file: Option<PathBuf>,
) {
    let spawned = std::thread::Builder::new()
        .name("gatehouse-drain".to_string())
        .spawn(move || loop {
            match phases.blocking_recv() {
                Ok(ExecutionPhase::ShutdownGracePeriod) => {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_time()
                        .build();
                    if let Ok(rt) = rt {
                        rt.block_on(async {
                            // Leave the admin reply that triggered the stop (`/upgrade`) time
                            // to reach its caller before the process can go away.
                            tokio::time::sleep(ADMIN_FLUSH_MARGIN).await;
                            while open.load(Ordering::Relaxed) > 0 {
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                        });
                    }
                    tracing::info!("all connections drained; exiting");
                    if let Some(log) = crate::access_log::AccessLog::global() {
                        log.flush(Duration::from_secs(2));
                    }
                    if let Some(p) = &pid_file {
                        crate::pid_file::remove_if_ours(p);
                    }
                    std::process::exit(0);
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the drain watcher; shutdown will wait the full grace period");
    }
}
