//! Assembles the process: validated config → first snapshot → Pingora `Server` with the proxy
//! listeners, the admin listener and the control plane (file watch, SIGHUP, health checks,
//! metrics upkeep). The same assembly runs in the binary and, in-process, in the tests.

use crate::admin::{AdminApp, UpgradeHook};
use crate::config::model::Protocol;
use crate::config::resolve::{Resolve, SystemResolver};
use crate::config::Validated;
use crate::health::Registry;
use crate::listener::Connections;
use crate::proxy::retry_budget::RetryBudget;
use crate::reload::{self, Reloader};
use crate::runtime::{Applied, BoundListener, SharedState, Snapshot};
use async_trait::async_trait;
use pingora::listeners::Listeners;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::{
    ExecutionPhase, RunArgs, Server, ShutdownSignal, ShutdownSignalWatch, ShutdownWatch,
};
use pingora::services::background::{background_service, BackgroundService};
use pingora::services::listening::Service;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

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
}

/// Stops a running instance from another thread or task.
#[derive(Clone, Debug)]
pub struct Control {
    tx: mpsc::UnboundedSender<ShutdownSignal>,
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

/// A built, not yet running, gatehouse.
pub struct Gatehouse {
    /// The shared state (current snapshot, health registry).
    pub state: Arc<SharedState>,
    /// The reload transaction.
    pub reloader: Arc<Reloader>,
    /// Open client connections.
    pub open_connections: Arc<AtomicUsize>,
    /// Set when shutdown starts (`/healthz` answers 503 from then on).
    pub shutting_down: Arc<AtomicBool>,
    server: Server,
    control_rx: mpsc::UnboundedReceiver<ShutdownSignal>,
    control: Control,
    options: Options,
    pid_file: Option<PathBuf>,
}

impl Gatehouse {
    /// Builds everything from a validated config; binds nothing yet.
    ///
    /// # Errors
    /// [`StartError`] when an address is taken or TLS cannot be set up.
    pub fn new(
        config_path: &Path,
        validated: Validated,
        options: Options,
    ) -> Result<Self, StartError> {
        crate::tls::install_default_provider();
        let config = Arc::new(validated.config);
        if config.metrics_enabled {
            crate::metrics::init();
        }
        // A successor inherits its predecessor's sockets: only addresses new to it must bind.
        let inherited = if options.upgrade {
            crate::upgrade::inherited_listeners()
        } else {
            Vec::new()
        };
        preflight_binds(&config, &inherited)?;
        let registry = Arc::new(Registry::new());
        let bound: Vec<BoundListener> = config.listeners.iter().map(BoundListener::of).collect();
        let names: Vec<String> = bound.iter().map(|b| b.name.clone()).collect();
        let first = Snapshot::build(config.clone(), 1, &names, None, &registry);
        reload::trim::release_freed_memory();
        if options.upgrade {
            crate::upgrade::restore_health(&registry);
        }
        let s = &config.server;
        // The predecessor says where it sends the sockets (its config may name another path).
        let upgrade_socket = std::env::var_os(crate::upgrade::UPGRADE_SOCKET_ENV)
            .filter(|_| options.upgrade)
            .map(PathBuf::from)
            .unwrap_or_else(|| s.upgrade_socket.clone());
        let applied = Applied::of(&config, upgrade_socket.clone());
        let state = Arc::new(SharedState::new(first, registry, bound.clone(), applied));
        if options.upgrade {
            state.rollouts.restore_handover();
        }
        // A successor may already differ from its file (the upgrade socket it inherited).
        reload::publish_gauges(&state.load(), None, !state.pending_restart().is_empty());
        let reloader = Arc::new(Reloader::with_resolver(
            config_path.to_path_buf(),
            state.clone(),
            options.resolver.clone(),
        ));
        let conf = ServerConf {
            threads: s.threads,
            grace_period_seconds: Some(s.grace_period.as_secs_f64().ceil() as u64),
            graceful_shutdown_timeout_seconds: Some(s.shutdown_timeout.as_secs_f64().ceil() as u64),
            upgrade_sock: upgrade_socket.display().to_string(),
            upstream_keepalive_pool_size: s.upstream_keepalive_pool_size,
            // Per-pool limits are enforced in the proxy; this is only Pingora's outer bound.
            max_retries: 17,
            // Pingora's no-steal runtime keeps its per-thread handles in a `ThreadLocal` that
            // outlives the runtime: a later thread reusing a dead worker's id spawns onto a
            // stopped runtime (seen as listeners that never accept after an in-process restart).
            // Its gain was within the noise of the benchmark, so the work-stealing runtime stays.
            work_stealing: true,
            // One accept task per worker, so bursts of new connections spread over the threads.
            listener_tasks_per_fd: s.threads,
            ..ServerConf::default()
        };
        let opt = Opt {
            upgrade: options.upgrade,
            daemon: false,
            nocapture: false,
            test: false,
            conf: None,
        };
        let mut server = Server::new_with_opt_and_conf(opt, conf);
        server.bootstrap();

        let budget = Arc::new(RetryBudget::new());
        let access_log = match (&config.access_log, options.access_log) {
            (Some(settings), true) => {
                Some(crate::access_log::AccessLog::start(settings).map_err(StartError::AccessLog)?)
            }
            _ => None,
        };
        let alpn: Vec<Vec<Vec<u8>>> = config.listeners.iter().map(|l| l.alpn.clone()).collect();
        let h2c_listeners: Vec<bool> = config
            .listeners
            .iter()
            .map(|l| l.h2c && l.protocol == Protocol::Http)
            .collect();
        let engine = Arc::new(crate::forward::Engine::new(
            state.clone(),
            budget,
            access_log.clone(),
            config.server.upstream_keepalive_pool_size,
        ));
        let connections = Connections::new(state.clone(), &alpn, &h2c_listeners, engine.clone())?;
        let open_connections = connections.open_connections();
        let mut listeners = Listeners::new();
        for b in &bound {
            // No L4 buffers: Pingora's defaults (64 KiB read, 1460 B write, allocated per
            // connection for its whole life) would be most of an idle connection's memory. The
            // gate reads ahead and gathers small writes itself, only while a request is active.
            listeners.add_listener(
                pingora::listeners::ListenerConfig::tcp(b.address.to_string())
                    .l4_buffer(pingora::protocols::l4::stream::L4BufferSettings::unbuffered()),
            );
        }
        server.add_service(Service::with_listeners(
            "gatehouse proxy".to_string(),
            listeners,
            connections,
        ));

        let shutting_down = Arc::new(AtomicBool::new(false));
        let (tx, control_rx) = mpsc::unbounded_channel();
        let control = Control { tx };
        let capture = crate::upgrade::FdCapture::default();
        let mut inheritable: Vec<String> = bound.iter().map(|b| b.address.to_string()).collect();
        inheritable.extend(config.admin.address.map(|a| a.to_string()));
        let upgrader = Arc::new(crate::upgrade::Upgrader::new(
            config_path.to_path_buf(),
            upgrade_socket,
            inheritable,
            state.registry.clone(),
            capture.slot(),
            state.rollouts.clone(),
            Box::new({
                let control = control.clone();
                move || control.graceful_shutdown()
            }),
        ));
        server.add_service(capture);
        let upgrade_hook: UpgradeHook = options.upgrade_hook.clone().unwrap_or_else(|| {
            let upgrader = upgrader.clone();
            Arc::new(move || upgrader.upgrade())
        });
        if let Some(addr) = config.admin.address {
            let app = AdminApp::new(reloader.clone(), Some(upgrade_hook), shutting_down.clone());
            let app = crate::privileges::GatedApp(Arc::new(app));
            let mut admin = Service::new("gatehouse admin".to_string(), app);
            admin.add_tcp(&addr.to_string());
            admin.threads = Some(1);
            server.add_service(admin);
        }
        server.add_service(background_service(
            "gatehouse control",
            ControlPlane {
                reloader: reloader.clone(),
                state: state.clone(),
                engine,
            },
        ));

        let pid_file = config.server.pid_file.clone();
        Ok(Gatehouse {
            state,
            reloader,
            open_connections,
            shutting_down,
            server,
            control_rx,
            control,
            options,
            pid_file,
        })
    }

    /// A handle to stop the instance.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Execution phase notifications (tests wait for `Running`).
    pub fn phases(&self) -> broadcast::Receiver<ExecutionPhase> {
        self.server.watch_execution_phase()
    }

    /// A probe that tells when this process is actually serving (see [`Readiness::wait`]).
    pub fn readiness(&self) -> Readiness {
        let snapshot = self.state.load();
        Readiness {
            watching: self.reloader.subscribe_watching(),
            phases: self.server.watch_execution_phase(),
            listeners: self.state.bound.iter().map(|b| b.address).collect(),
            admin: snapshot.config.admin.address,
        }
    }

    /// Runs until stopped. Blocks the calling thread.
    pub fn run(self) {
        if let Some(pid_file) = &self.pid_file {
            crate::pid_file::write(pid_file);
        }
        if self.options.exit_when_drained {
            spawn_drain_watch(
                self.server.watch_execution_phase(),
                self.open_connections.clone(),
                self.pid_file.clone(),
            );
        }
        let shutting_down = self.shutting_down.clone();
        let signals = Signals {
            rx: tokio::sync::Mutex::new(self.control_rx),
            unix: self.options.handle_signals,
            shutting_down,
        };
        self.server.run(RunArgs {
            shutdown_signal: Box::new(signals),
        });
        if let Some(pid_file) = &self.pid_file {
            crate::pid_file::remove_if_ours(pid_file);
        }
    }
}

/// Tells when a starting process is serving.
pub struct Readiness {
    watching: tokio::sync::watch::Receiver<bool>,
    phases: broadcast::Receiver<ExecutionPhase>,
    listeners: Vec<std::net::SocketAddr>,
    admin: Option<std::net::SocketAddr>,
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

/// Binds and releases every address first (except those inherited from a predecessor), so
/// "address in use" is a clean startup error instead of a panic inside Pingora's listener task.
fn preflight_binds(config: &crate::config::Config, inherited: &[String]) -> Result<(), StartError> {
    let mut addrs: Vec<(std::net::SocketAddr, String)> = config
        .listeners
        .iter()
        .map(|l| (l.address, format!("listeners.{}", l.name)))
        .collect();
    if let Some(a) = config.admin.address {
        addrs.push((a, "admin.address".to_string()));
    }
    for (address, what) in addrs {
        if inherited.contains(&address.to_string()) {
            continue;
        }
        std::net::TcpListener::bind(address).map_err(|source| StartError::Bind {
            address,
            what,
            source,
        })?;
    }
    Ok(())
}

/// Minimum time between the start of a graceful stop and the process exit.
const ADMIN_FLUSH_MARGIN: Duration = Duration::from_millis(250);

/// After a graceful stop begins, exit as soon as no client connection is left (instead of
/// always sleeping through Pingora's whole grace period). Bounded by that grace period anyway.
fn spawn_drain_watch(
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

struct Signals {
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<ShutdownSignal>>,
    unix: bool,
    shutting_down: Arc<AtomicBool>,
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

/// Certificates are re-checked for expiry hourly (5 s ticks), so one that runs out while in
/// service is reported even when no reload happens.
const CERT_CHECK_EVERY_TICKS: u64 = 720;

/// Logs a loud warning for every served certificate that has expired or expires within 14 days.
/// Never an error: an expiring certificate must not take the node down.
fn warn_expiring_certificates(state: &SharedState) {
    let snapshot = state.load();
    let now = std::time::SystemTime::now();
    for l in &snapshot.config.listeners {
        for c in &l.certificates {
            let days = c.remaining(now).as_secs() / 86_400;
            if c.not_after <= now {
                tracing::error!(listener = %l.name, certificate = %c.cert_path.display(), "certificate EXPIRED and still being served: replace it now");
            } else if c.remaining(now) < crate::config::validate::EXPIRY_WARNING {
                tracing::warn!(listener = %l.name, certificate = %c.cert_path.display(), days_left = days, "certificate expires soon: renew it");
            }
        }
    }
}

/// File watch, SIGHUP, active health checks and metrics upkeep, in one small runtime.
/// Closes idle backend connections past their idle timeout, once a second.
async fn sweep_idle_connections(engine: Arc<crate::forward::Engine>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        engine.sweep();
    }
}

struct ControlPlane {
    reloader: Arc<Reloader>,
    state: Arc<SharedState>,
    engine: Arc<crate::forward::Engine>,
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
        let state = self.state.clone();
        let upkeep = async move {
            let mut ticks: u64 = 0;
            loop {
                if ticks.is_multiple_of(CERT_CHECK_EVERY_TICKS) {
                    warn_expiring_certificates(&state);
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
                ticks += 1;
                // Never installs the recorder: with metrics disabled there is none.
                if let Some(h) = crate::metrics::handle() {
                    h.run_upkeep();
                }
            }
        };
        tokio::select! {
            _ = shutdown.changed() => {}
            _ = upkeep => {}
        }
        for t in tasks {
            t.abort();
        }
    }
}
