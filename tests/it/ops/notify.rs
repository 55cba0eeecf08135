//! `Type=notify` readiness with the real binary: `NOTIFY_SOCKET` points at a datagram socket
//! this test bound (systemd is not PID 1 here, so the test plays its part). `READY=1` must come
//! only once the listeners accept connections, `STOPPING=1` when SIGTERM starts a stop, and an
//! upgrade must move `MAINPID` to the successor without the old process's drain looking like a
//! stop of the service.

use super::{run_with, text};
use crate::support::{free_port, patient, Client, TestBackend, WAIT};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::net::UnixDatagram;
use tokio::process::{Child, Command};

/// The notification socket, as systemd would hold it.
struct Notifications {
    sock: UnixDatagram,
    path: std::path::PathBuf,
    seen: Vec<String>,
}

impl Notifications {
    fn bind(path: &Path) -> Self {
        Notifications {
            sock: UnixDatagram::bind(path).unwrap(),
            path: path.to_path_buf(),
            seen: Vec::new(),
        }
    }

    /// The next datagram with `line` among its lines; panics after `limit` (times the patience
    /// factor).
    async fn wait_for(&mut self, line: &str, limit: Duration) -> Vec<String> {
        let limit = patient(limit);
        let deadline = tokio::time::Instant::now() + limit;
        let mut buf = vec![0u8; 4096];
        loop {
            let got = tokio::time::timeout_at(deadline, self.sock.recv(&mut buf)).await;
            let Ok(got) = got else {
                panic!(
                    "no {line} within {limit:?}; received so far: {:?}",
                    self.seen
                );
            };
            let n = got.unwrap();
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            self.seen.push(msg.clone());
            let lines: Vec<String> = msg.lines().map(str::to_string).collect();
            if lines.iter().any(|l| l == line) {
                return lines;
            }
        }
    }

    /// Collects whatever else has arrived (after the sender exited).
    fn drain(&mut self) {
        let mut buf = vec![0u8; 4096];
        while let Ok(n) = self.sock.try_recv(&mut buf) {
            self.seen
                .push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
}

fn spawn_gatehouse(config: &Path, notify: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["run", "-c"])
        .arg(config)
        .env("NOTIFY_SOCKET", notify)
        .env("RUST_LOG", "info")
        .env_remove("RUNTIME_DIRECTORY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// A gatehouse child under a fake systemd, with its first `READY=1` datagram.
struct Started {
    child: Child,
    ready: Vec<String>,
    http: SocketAddr,
    admin: SocketAddr,
    config: std::path::PathBuf,
    log: std::path::PathBuf,
}

impl Started {
    fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Starts gatehouse in `dir` (proxying to `backend`) and waits for `READY=1`. Ports are
/// reserved by bind-and-release; if another test takes one meanwhile, the child exits at its
/// pre-flight bind and we try again with fresh ones.
async fn start(dir: &Path, notes: &mut Notifications, backend: SocketAddr) -> Started {
    let config = dir.join("gatehouse.toml");
    let log = dir.join("gatehouse.log");
    std::fs::write(dir.join("admin.token"), "ops-test-token\n").unwrap();
    for attempt in 1..=3 {
        let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        std::fs::write(
            &config,
            format!(
                r#"
[server]
threads = 1
grace_period = "3s"
shutdown_timeout = "1s"
[admin]
address = "{admin}"
token_file = "admin.token"
[reload]
watch = false
[listeners.http]
address = "{http}"
[routes.default]
pool = "app"
[pools.app]
backends = [{{ address = "{backend}" }}]
"#
            ),
        )
        .unwrap();
        let mut child = spawn_gatehouse(&config, &notes.path, &log);
        tokio::select! {
            status = child.wait() => {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                assert!(attempt < 3, "gatehouse exited before READY=1 ({status:?}):\n{log}");
                eprintln!("attempt {attempt}: gatehouse exited early ({status:?}), retrying:\n{log}");
            }
            ready = notes.wait_for("READY=1", Duration::from_secs(20)) => {
                return Started { child, ready, http, admin, config, log };
            }
        }
    }
    unreachable!()
}

fn expected_ready(pid: u32, http: SocketAddr, admin: SocketAddr) -> Vec<String> {
    vec![
        format!("MAINPID={pid}"),
        "READY=1".to_string(),
        format!("STATUS=ready: accepting on {http}, {admin} (pid {pid})"),
    ]
}

fn count(notes: &Notifications, line: &str) -> usize {
    notes
        .seen
        .iter()
        .filter(|m| m.lines().any(|l| l == line))
        .count()
}

#[tokio::test]
async fn ready_once_listening_then_stopping_on_sigterm() {
    let backend = TestBackend::start("notify-backend").await;
    let dir = tempfile::tempdir().unwrap();
    let mut notes = Notifications::bind(&dir.path().join("notify.sock"));
    let mut gh = start(dir.path(), &mut notes, backend.addr).await;
    let (http, admin) = (gh.http, gh.admin);

    // At the moment READY=1 arrives, both listeners must already accept: no waiting here.
    assert_eq!(
        gh.ready,
        expected_ready(gh.pid(), http, admin),
        "{:?}",
        notes.seen
    );
    tokio::net::TcpStream::connect(http)
        .await
        .expect("proxy listener accepts at READY=1");
    {
        let client = Client::no_keepalive();
        let r = client.get(http, "www.example.test", "/").await;
        assert_eq!((r.status, r.backend()), (200, "notify-backend".to_string()));
        let r = client.get(admin, "localhost", "/healthz").await;
        assert_eq!(r.status, 200, "{}", r.text());
    }

    // SIGTERM: STOPPING=1 first, then a clean exit once drained (no connections are left).
    kill(pid_of(gh.pid()), Signal::SIGTERM).unwrap();
    notes.wait_for("STOPPING=1", WAIT).await;
    let exit = tokio::time::timeout(patient(WAIT), gh.child.wait())
        .await
        .unwrap_or_else(|_| panic!("gatehouse still running {WAIT:?} after SIGTERM"))
        .unwrap();
    assert!(exit.success(), "exit {exit:?}:\n{}", gh.log());
    notes.drain();
    assert_eq!(
        count(&notes, "STOPPING=1"),
        1,
        "STOPPING=1 exactly once: {:?}",
        notes.seen
    );
}

fn pid_of(pid: u32) -> Pid {
    Pid::from_raw(i32::try_from(pid).unwrap())
}

/// SIGKILLs a process that is not our child (an upgrade successor) if the test ends early.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = kill(pid_of(self.0), Signal::SIGKILL);
    }
}

/// `gatehouse upgrade` under systemd: the successor says `MAINPID=<new>` + `READY=1`, the old
/// process confirms `MAINPID=<new>` and then drains and exits *without* `STOPPING=1` (which
/// systemd would apply to the whole service, now the successor). The successor's own stop
/// later sends `STOPPING=1` as usual.
#[tokio::test]
async fn upgrade_hands_mainpid_to_the_successor_without_stopping_the_service() {
    let backend = TestBackend::start("upgrade-backend").await;
    let dir = tempfile::tempdir().unwrap();
    let mut notes = Notifications::bind(&dir.path().join("notify.sock"));
    let mut old = start(dir.path(), &mut notes, backend.addr).await;
    let old_pid = old.pid();

    let out = run_with(
        tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["upgrade", "-c"])
            .arg(&old.config),
        Duration::from_secs(40),
    )
    .await;
    assert!(out.status.success(), "{}\n{}", text(&out), old.log());

    // The successor's readiness names it; then the old process confirms the new main pid.
    let ready = notes.wait_for("READY=1", WAIT).await;
    let new_pid: u32 = ready[0]
        .strip_prefix("MAINPID=")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{ready:?}"));
    let _successor = KillOnDrop(new_pid);
    assert_ne!(new_pid, old_pid);
    assert_eq!(ready, expected_ready(new_pid, old.http, old.admin));
    let confirm = format!("MAINPID={new_pid}");
    if count(&notes, &confirm) < 2 {
        let got = notes.wait_for(&confirm, WAIT).await;
        assert_eq!(got, [confirm]);
    }

    // The old process drains and exits; it never says STOPPING=1.
    let exit = tokio::time::timeout(patient(WAIT), old.child.wait())
        .await
        .unwrap_or_else(|_| panic!("the old process still runs {WAIT:?} after the upgrade"))
        .unwrap();
    assert!(exit.success(), "exit {exit:?}:\n{}", old.log());
    notes.drain();
    assert_eq!(count(&notes, "STOPPING=1"), 0, "{:?}", notes.seen);
    let r = Client::no_keepalive()
        .get(old.http, "www.example.test", "/")
        .await;
    assert_eq!(r.status, 200, "the successor serves");

    // The successor is the service now: its stop is the service's stop.
    kill(pid_of(new_pid), Signal::SIGTERM).unwrap();
    notes.wait_for("STOPPING=1", WAIT).await;
}
