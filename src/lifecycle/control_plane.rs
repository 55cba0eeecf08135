//! The control plane that runs beside the proxy: file watch, SIGHUP, the pair guard, health
//! checks, OCSP and ACME, idle-connection sweeps, and a 5-second ticker for metrics upkeep and
//! certificate-expiry warnings.

use crate::reload::{self, Reloader};
use crate::runtime::SharedState;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::sync::Arc;
use std::time::Duration;

/// Closes idle backend connections past their idle timeout, once a second.
async fn sweep_idle_connections(engine: Arc<crate::forward::Engine>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        engine.sweep();
    }
}

/// File watch, SIGHUP, active health checks and metrics upkeep, in one small runtime: the
/// background service Pingora runs for the control plane.
pub(super) struct ControlPlane {
    pub(super) reloader: Arc<Reloader>,
    pub(super) state: Arc<SharedState>,
    pub(super) engine: Arc<crate::forward::Engine>,
}

#[async_trait]
impl BackgroundService for ControlPlane {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let tasks = [
            tokio::spawn(reload::watch::run(self.reloader.clone(), shutdown.clone())),
            tokio::spawn(reload::signal::run(self.reloader.clone(), shutdown.clone())),
            tokio::spawn(crate::pair::guard::run(
                self.state.clone(),
                shutdown.clone(),
            )),
            tokio::spawn(reload::signal::reopen_logs_on_sigusr1(shutdown.clone())),
            tokio::spawn(crate::checks::run(self.state.clone(), shutdown.clone())),
            tokio::spawn(sweep_idle_connections(self.engine.clone())),
            tokio::spawn(crate::tls::ocsp::fetch::run(
                self.state.clone(),
                shutdown.clone(),
            )),
            tokio::spawn(
                crate::tls::acme::manager::Manager::new(self.state.clone(), self.reloader.clone())
                    .run(shutdown.clone()),
            ),
        ];
        let upkeep = super::ticker::run(self.state.clone());
        tokio::select! {
            _ = shutdown.changed() => {}
            _ = upkeep => {}
        }
        for t in tasks {
            t.abort();
        }
    }
}
