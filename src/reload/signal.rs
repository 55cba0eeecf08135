//! SIGHUP → reload. Pingora does not handle SIGHUP and its default action terminates the
//! process, so the handler is registered before the server starts (see [`install_early`]).

use super::{Reloader, Trigger};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::signal::unix::{signal, SignalKind};

/// Set by every SIGHUP from [`install_early`] on. A tokio signal stream only sees signals that
/// arrive after it was created, and the control plane creates its stream when its runtime
/// starts — after the admin API may already answer. A SIGHUP sent in between (a deploy script
/// reloading right after start, `systemctl reload` just after `start` returned) was lost; this
/// flag carries it over.
static SIGHUP_SEEN: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Registers gatehouse's SIGHUP handling with the process as early as possible, so a SIGHUP
/// that arrives during startup cannot kill the process. (Once tokio registers a signal, the
/// default disposition is replaced for the life of the process.)
///
/// # Errors
/// When the signal cannot be registered.
pub fn install_early() -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let _guard = rt.enter();
    // SIGUSR1's default action also terminates: a logrotate run during start-up must not.
    drop(signal(SignalKind::user_defined1())?);
    signal(SignalKind::hangup()).map(drop)?;
    let seen = SIGHUP_SEEN.get_or_init(Arc::default);
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(seen)).map(drop)
}

/// Reopens the access log on every SIGUSR1 (logrotate's `postrotate`) until `shutdown` flips.
pub async fn reopen_logs_on_sigusr1(mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut usr1 = match signal(SignalKind::user_defined1()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGUSR1");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            got = usr1.recv() => {
                if got.is_none() { return; }
                if let Some(log) = crate::access_log::AccessLog::global() {
                    tracing::info!("SIGUSR1 received: reopening the access log");
                    log.reopen();
                }
            }
        }
    }
}

/// Reloads on every SIGHUP until `shutdown` flips.
pub async fn run(reloader: Arc<Reloader>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGHUP");
            return;
        }
    };
    // A SIGHUP that came before the stream above existed. (One that comes between its creation
    // and this line is seen twice: the second reload finds nothing changed.)
    if SIGHUP_SEEN
        .get()
        .is_some_and(|seen| seen.swap(false, Ordering::Relaxed))
    {
        tracing::info!("SIGHUP received during start-up: reloading");
        let r = reloader.clone();
        let _ = tokio::task::spawn_blocking(move || r.reload(Trigger::Signal)).await;
    }
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            got = hup.recv() => {
                if got.is_none() { return; }
                tracing::info!("SIGHUP received: reloading");
                let r = reloader.clone();
                let _ = tokio::task::spawn_blocking(move || r.reload(Trigger::Signal)).await;
            }
        }
    }
}
