//! Ready: the probe that tells when a starting process is actually serving.

use pingora::server::ExecutionPhase;
use std::time::Duration;
use tokio::sync::broadcast;

/// Tells when a starting process is serving.
pub struct Readiness {
    pub(super) watching: tokio::sync::watch::Receiver<bool>,
    pub(super) phases: broadcast::Receiver<ExecutionPhase>,
    pub(super) listeners: Vec<std::net::SocketAddr>,
    pub(super) admin: Option<std::net::SocketAddr>,
}

impl Readiness {
    /// Blocks until the server runs, config file watching is in place and every socket accepts
    /// connections. (During an upgrade the sockets are shared with the predecessor, so a connect
    /// cannot tell the two apart; they are inherited, and any new address was bound and checked
    /// before start-up, so "running" is the signal that matters there.)
    ///
    /// # Errors
    /// A reason when that does not happen within `limit`.
    pub fn wait(mut self, limit: Duration) -> Result<(), String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let deadline = tokio::time::Instant::now() + limit;
        rt.block_on(async {
            tokio::time::timeout_at(deadline, async {
                loop {
                    match self.phases.recv().await {
                        Ok(ExecutionPhase::Running) => return Ok(()),
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => {
                            return Err("server stopped".to_string())
                        }
                    }
                }
            })
            .await
            .map_err(|_| "server did not start".to_string())??;
            tokio::time::timeout_at(deadline, self.watching.wait_for(|w| *w))
                .await
                .map_err(|_| "config file watching did not start".to_string())?
                .map_err(|_| "server stopped".to_string())?;
            for addr in self.listeners.iter().chain(self.admin.iter()) {
                while tokio::net::TcpStream::connect(addr).await.is_err() {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(format!("{addr} is not accepting connections"));
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            Ok(())
        })
    }
}
