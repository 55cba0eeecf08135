//! Zero-downtime restart and binary upgrade (`gatehouse upgrade`).
//!
//! Pingora's stock path (SIGQUIT) sends the listening sockets, sleeps, and exits even when the
//! send failed. Gatehouse instead drives the hand-over from the running process:
//!
//! 1. validate the config on disk (a bad file never gets as far as a new process);
//! 2. write backend health state to a hand-over file, so the successor does not start blind;
//! 3. start the successor itself (`run --upgrade`), so under systemd it stays in the unit's
//!    cgroup, and hand it the listening sockets over Pingora's upgrade socket;
//! 4. wait for the successor to report `READY <pid>` (or `ERROR <reason>`) on a private socket;
//! 5. only then tell systemd the new `MAINPID` and start draining. If anything fails, the
//!    successor is stopped and the running process keeps serving; the caller gets the reason.

use crate::health::{AdminOverride, Registry, Status};
use parking_lot::Mutex;
use pingora::server::ListenFds;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Env var: where a successor reports `READY <pid>` or `ERROR <reason>`.
pub const READY_SOCKET_ENV: &str = "GATEHOUSE_READY_SOCKET";
/// Env var: the health hand-over file.
pub const HEALTH_STATE_ENV: &str = "GATEHOUSE_HEALTH_STATE";
/// Env var: addresses whose sockets the successor inherits (comma-separated).
pub const INHERITED_ENV: &str = "GATEHOUSE_INHERITED_LISTENERS";
/// Env var: the upgrade socket the predecessor sends to (overrides the config's).
pub const UPGRADE_SOCKET_ENV: &str = "GATEHOUSE_UPGRADE_SOCKET";

/// How long a successor may take to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// One backend's state in the hand-over file.
#[derive(Debug, Serialize, Deserialize)]
pub struct HandedOver {
    /// Pool name.
    pub pool: String,
    /// Backend address.
    pub address: std::net::SocketAddr,
    /// Active-check status.
    pub status: Status,
    /// Admin override.
    pub admin: AdminOverride,
}

/// The executable path at start-up. After a binary upgrade replaced the file on disk,
/// `/proc/self/exe` points at the deleted old inode; the successor must run the new file.
pub fn executable() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| std::env::current_exe().unwrap_or_else(|_| PathBuf::from("gatehouse")))
}

/// Captures the process's listening-socket table for the hand-over.
#[derive(Default)]
pub struct FdCapture(Arc<OnceLock<ListenFds>>);

impl FdCapture {
    /// A capture slot shared with the [`Upgrader`].
    pub fn slot(&self) -> Arc<OnceLock<ListenFds>> {
        self.0.clone()
    }
}

#[async_trait::async_trait]
impl pingora::services::Service for FdCapture {
    async fn start_service(
        &mut self,
        fds: Option<ListenFds>,
        _shutdown: pingora::server::ShutdownWatch,
        _n: usize,
    ) {
        if let Some(fds) = fds {
            let _ = self.0.set(fds);
        }
    }

    fn name(&self) -> &str {
        "gatehouse fds"
    }

    fn threads(&self) -> Option<usize> {
        Some(1)
    }

    fn listen_addresses(&self) -> Option<Vec<String>> {
        Some(Vec::new())
    }
}

/// Drives upgrades of this process.
pub struct Upgrader {
    config_path: PathBuf,
    upgrade_socket: PathBuf,
    inherited: Vec<String>,
    registry: Arc<Registry>,
    fds: Arc<OnceLock<ListenFds>>,
    rollouts: Arc<crate::rollout::Rollouts>,
    on_success: Box<dyn Fn() + Send + Sync>,
    busy: Mutex<()>,
}

impl Upgrader {
    /// An upgrader for the process serving `config_path` with `inherited` listener addresses.
    pub fn new(
        config_path: PathBuf,
        upgrade_socket: PathBuf,
        inherited: Vec<String>,
        registry: Arc<Registry>,
        fds: Arc<OnceLock<ListenFds>>,
        rollouts: Arc<crate::rollout::Rollouts>,
        on_success: Box<dyn Fn() + Send + Sync>,
    ) -> Self {
        Upgrader {
            config_path,
            upgrade_socket,
            inherited,
            registry,
            fds,
            rollouts,
            on_success,
            busy: Mutex::new(()),
        }
    }

    /// Runs one upgrade. Blocking (spawns and waits for the successor).
    ///
    /// # Errors
    /// A message saying why the upgrade did not happen; this process keeps serving.
    pub fn upgrade(&self) -> Result<serde_json::Value, String> {
        let Some(_one_at_a_time) = self.busy.try_lock() else {
            return Err("an upgrade is already in progress".into());
        };
        let started = Instant::now();
        if let Err(e) = crate::config::load_initial(&self.config_path) {
            return Err(format!(
                "the config on disk is invalid; not upgrading:\n{e}"
            ));
        }
        let fds = self
            .fds
            .get()
            .ok_or("listening sockets are not available for hand-over")?
            .clone();
        let health_file = sibling(&self.upgrade_socket, "health.json");
        let ready_path = sibling(&self.upgrade_socket, "ready");
        write_health(&self.registry, &health_file)
            .map_err(|e| format!("cannot write {}: {e}", health_file.display()))?;
        // A rollout running now is interrupted: its drains are in the health file, and its
        // record goes over so the successor's `/status` says so.
        let rollout_file = sibling(&self.upgrade_socket, "rollouts.json");
        self.rollouts
            .write_handover(&rollout_file)
            .map_err(|e| format!("cannot write {}: {e}", rollout_file.display()))?;
        let _ = std::fs::remove_file(&ready_path);
        let ready = UnixListener::bind(&ready_path)
            .map_err(|e| format!("cannot listen on {}: {e}", ready_path.display()))?;
        ready.set_nonblocking(true).map_err(|e| e.to_string())?;
        let _cleanup = RemoveOnDrop(vec![ready_path.clone()]);

        // A stale socket file (a predecessor's successor that died) would look like readiness.
        let _ = std::fs::remove_file(&self.upgrade_socket);
        let mut child = Command::new(executable())
            .args(["run", "--upgrade", "-c"])
            .arg(&self.config_path)
            .env(READY_SOCKET_ENV, &ready_path)
            .env(HEALTH_STATE_ENV, &health_file)
            .env(crate::rollout::HANDOVER_ENV, &rollout_file)
            .env(INHERITED_ENV, self.inherited.join(","))
            .env(UPGRADE_SOCKET_ENV, &self.upgrade_socket)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", executable().display()))?;
        let pid = child.id();
        tracing::info!(
            successor = pid,
            "upgrade: successor started; handing over listening sockets"
        );
        match hand_over(ready, &mut child, &self.upgrade_socket, &fds) {
            Ok(reported) => {
                // Also marks this process as handed over: no STOPPING=1 from its drain.
                crate::notify::mainpid(reported);
                tracing::info!(
                    successor = reported,
                    "upgrade: successor ready; this process now drains and exits"
                );
                (self.on_success)();
                Ok(serde_json::json!({
                    "old_pid": std::process::id(),
                    "new_pid": reported,
                    "duration_ms": started.elapsed().as_secs_f64() * 1000.0,
                }))
            }
            Err(reason) => {
                stop(&mut child);
                tracing::error!(successor = pid, %reason, "upgrade failed; still serving");
                Err(format!(
                    "successor (pid {pid}) failed: {reason}; this process keeps serving"
                ))
            }
        }
    }
}

struct RemoveOnDrop(Vec<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn sibling(socket: &Path, suffix: &str) -> PathBuf {
    let mut name = socket
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".{suffix}"));
    socket.with_file_name(name)
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// What the successor said on the ready socket.
enum Said {
    Ready(u32),
    Failed(String),
}

async fn read_report(listener: &tokio::net::UnixListener) -> Result<Said, String> {
    let (stream, _) = listener
        .accept()
        .await
        .map_err(|e| format!("ready socket: {e}"))?;
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(stream);
    tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncBufReadExt::read_line(&mut reader, &mut line),
    )
    .await
    .map_err(|_| "successor connected but said nothing".to_string())?
    .map_err(|e| e.to_string())?;
    let line = line.trim();
    if let Some(pid) = line.strip_prefix("READY ") {
        return pid
            .parse()
            .map(Said::Ready)
            .map_err(|_| format!("bad ready message {line:?}"));
    }
    Ok(Said::Failed(
        line.strip_prefix("ERROR ").unwrap_or(line).to_string(),
    ))
}

/// Hands the sockets over and waits for the successor's verdict: first for its upgrade socket
/// to appear (Pingora's sender does not retry a missing path), then the transfer, then
/// `READY <pid>`. At every step the successor's own `ERROR` report or early exit wins, so the
/// caller learns the real reason.
fn hand_over(
    ready: UnixListener,
    child: &mut Child,
    upgrade_socket: &Path,
    fds: &ListenFds,
) -> Result<u32, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let listener = tokio::net::UnixListener::from_std(ready).map_err(|e| e.to_string())?;
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut sent = false;
        // One report future for the whole wait: re-created on every tick, an accepted
        // connection whose line had not arrived yet would be dropped with the future, and the
        // successor's READY lost (the old process then gave up after READY_TIMEOUT).
        let report = read_report(&listener);
        tokio::pin!(report);
        loop {
            tokio::select! {
                said = &mut report => {
                    return match said? {
                        Said::Ready(pid) if sent => Ok(pid),
                        Said::Ready(_) => Err("reported ready before receiving the sockets".to_string()),
                        Said::Failed(reason) => Err(reason),
                    };
                }
                _ = tick.tick() => {
                    if let Ok(Some(status)) = child.try_wait() {
                        // Give a last-moment ERROR report a chance to arrive.
                        if let Ok(Ok(Said::Failed(reason))) = tokio::time::timeout(Duration::from_millis(200), &mut report).await {
                            return Err(reason);
                        }
                        return Err(format!("exited ({status}) before becoming ready"));
                    }
                    if !sent && upgrade_socket.exists() {
                        let fds = fds.clone();
                        let path = upgrade_socket.display().to_string();
                        let result = tokio::task::spawn_blocking(move || fds.lock().send_to_sock(path.as_str())).await;
                        match result {
                            Ok(Ok(_)) => sent = true,
                            Ok(Err(e)) => return Err(format!("could not hand over the listening sockets: {e}")),
                            Err(e) => return Err(e.to_string()),
                        }
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(format!("not ready within {READY_TIMEOUT:?}"));
                }
            }
        }
    })
}

fn write_health(registry: &Registry, path: &Path) -> std::io::Result<()> {
    let state: Vec<HandedOver> = registry
        .live()
        .iter()
        .map(|b| HandedOver {
            pool: b.key.pool.to_string(),
            address: b.key.address,
            status: b.status(),
            admin: b.admin(),
        })
        .collect();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(&state)?)?;
    std::fs::rename(&tmp, path)
}

/// In a successor: restores the predecessor's backend states (then deletes the file).
pub fn restore_health(registry: &Registry) {
    let Some(path) = std::env::var_os(HEALTH_STATE_ENV) else {
        return;
    };
    let path = PathBuf::from(path);
    let Ok(bytes) = std::fs::read(&path) else {
        return;
    };
    let _ = std::fs::remove_file(&path);
    let Ok(states) = serde_json::from_slice::<Vec<HandedOver>>(&bytes) else {
        tracing::warn!(file = %path.display(), "unreadable health hand-over file; starting with fresh health state");
        return;
    };
    let mut restored = 0;
    for s in states {
        if let Some(b) = registry.get(&crate::health::BackendKey::new(&s.pool, s.address)) {
            b.restore(s.status, s.admin);
            restored += 1;
        }
    }
    tracing::info!(
        restored,
        "backend health state taken over from the previous process"
    );
}

/// In a successor: tells the predecessor how start-up went (no-op when not upgrading).
pub fn report_to_predecessor(message: &str) {
    let Some(path) = std::env::var_os(READY_SOCKET_ENV) else {
        return;
    };
    match UnixStream::connect(&path) {
        Ok(mut s) => {
            let _ = writeln!(s, "{message}");
        }
        Err(e) => tracing::warn!(error = %e, "cannot report to the previous process"),
    }
}

/// Addresses inherited from the predecessor.
pub fn inherited_listeners() -> Vec<String> {
    std::env::var(INHERITED_ENV)
        .map(|v| {
            v.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}
