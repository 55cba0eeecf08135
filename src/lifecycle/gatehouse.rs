//! Start and bind: validated config → first snapshot → Pingora `Server` with the proxy
//! listeners, the admin listener and the control plane; then serve until stopped and drained.
//! The binary ([`super::run`]) and the in-process test server both build and run a
//! [`Gatehouse`] through this file.

use super::control_plane::ControlPlane;
use super::drain::spawn_drain_watch;
use super::options::{Control, Options, StartError};
use super::preflight::preflight_binds;
use super::readiness::Readiness;
use super::signals::Signals;
use crate::admin::{AdminApp, UpgradeHook};
use crate::config::model::Protocol;
use crate::config::Validated;
use crate::health::Registry;
use crate::listener::Connections;
use crate::proxy::retry_budget::RetryBudget;
use crate::reload::{self, Reloader};
use crate::runtime::{Applied, BoundListener, SharedState, Snapshot};
use pingora::listeners::Listeners;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::{ExecutionPhase, RunArgs, Server, ShutdownSignal};
use pingora::services::background::background_service;
use pingora::services::listening::Service;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc};

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
        Self::with_loader(
            config_path,
            validated,
            options,
            reload::loader::Loader::start(),
        )
    }

    /// Same, building the first snapshot on `loader` (the one that validated the config).
    ///
    /// # Errors
    /// See [`Gatehouse::new`].
    pub fn with_loader(
        config_path: &Path,
        validated: Validated,
        options: Options,
        loader: reload::loader::Loader,
    ) -> Result<Self, StartError> {
        crate::tls::install_default_provider();
        let validated_config = validated.config;
        if validated_config.metrics_enabled {
            crate::metrics::init();
        }
        // A successor inherits its predecessor's sockets: only addresses new to it must bind.
        let inherited = if options.upgrade {
            crate::upgrade::inherited_listeners()
        } else {
            Vec::new()
        };
        preflight_binds(&validated_config, &inherited)?;
        let registry = Arc::new(Registry::new());
        let bound: Vec<BoundListener> = validated_config
            .listeners
            .iter()
            .map(BoundListener::of)
            .collect();
        let names: Vec<String> = bound.iter().map(|b| b.name.clone()).collect();
        // The first snapshot is built on the config loader like every later one: its memory
        // then belongs to the thread that frees it at the first reload and returns it at once
        // (built here, it stayed resident after that reload in most runs: +17 MiB at 10,000
        // routes).
        let (config, first) = {
            let (names, registry) = (names.clone(), registry.clone());
            loader.run(move |_| {
                let mut config = validated_config;
                config.settle(None);
                let config = Arc::new(config);
                let first = Snapshot::build(config.clone(), 1, &names, None, &registry);
                (config, first)
            })?
        };
        // The validated copies settle() replaced were freed from the loader into this
        // thread's pages: collect them here.
        crate::memory::release_freed_memory();
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
        let reloader = Arc::new(Reloader::with_loader(
            config_path.to_path_buf(),
            state.clone(),
            options.resolver.clone(),
            loader,
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
            // Pingora's "fast" timeouts share a clock thread that wakes 100 times a second for
            // the rest of the process's life once any of them is armed (the first accept arms
            // one). Timeouts of a second or more (the accept handshake's, connect timeouts)
            // use tokio's timer instead, which costs nothing while nothing waits.
            fast_timeout_to_tokio_threshold_seconds: Some(0),
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
