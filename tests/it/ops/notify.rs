//! `Type=notify` readiness with the real binary: `NOTIFY_SOCKET` points at a datagram socket
//! this test bound (systemd is not PID 1 here, so the test plays its part). `READY=1` must come
//! only once the listeners accept connections, and `STOPPING=1` when SIGTERM starts a stop.

use crate::support::{free_port, Client, TestBackend, WAIT};
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
    seen: Vec<String>,
}

impl Notifications {
    fn bind(path: &Path) -> Self {
        Notifications {
            sock: UnixDatagram::bind(path).unwrap(),
            seen: Vec::new(),
        }
    }

    /// The next datagram with `line` among its lines; panics after `limit`.
    async fn wait_for(&mut self, line: &str, limit: Duration) -> Vec<String> {
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

#[tokio::test]
async fn ready_once_listening_then_stopping_on_sigterm() {
    let backend = TestBackend::start("notify-backend").await;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("notify.sock");
    let log = dir.path().join("gatehouse.log");
    let config = dir.path().join("gatehouse.toml");
    let mut notes = Notifications::bind(&socket);

    // Ports are reserved by bind-and-release; if another test takes one meanwhile, the child
    // exits at its pre-flight bind and we try again with fresh ones.
    let mut started = None;
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
[reload]
watch = false
[listeners.http]
address = "{http}"
[routes.default]
pool = "app"
[pools.app]
backends = [{{ address = "{}" }}]
"#,
                backend.addr
            ),
        )
        .unwrap();
        let mut child = spawn_gatehouse(&config, &socket, &log);
        tokio::select! {
            status = child.wait() => {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                assert!(attempt < 3, "gatehouse exited before READY=1 ({status:?}):\n{log}");
                eprintln!("attempt {attempt}: gatehouse exited early ({status:?}), retrying:\n{log}");
            }
            ready = notes.wait_for("READY=1", Duration::from_secs(20)) => {
                started = Some((child, ready, http, admin));
                break;
            }
        }
    }
    let (mut child, ready, http, admin) = started.unwrap();

    // At the moment READY=1 arrives, both listeners must already accept: no waiting here.
    let status = format!(
        "STATUS=ready: accepting on {http}, {admin} (pid {})",
        child.id().unwrap()
    );
    assert_eq!(ready, ["READY=1".to_string(), status], "{:?}", notes.seen);
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
    let pid = Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    kill(pid, Signal::SIGTERM).unwrap();
    notes.wait_for("STOPPING=1", WAIT).await;
    let exit = tokio::time::timeout(WAIT, child.wait())
        .await
        .unwrap_or_else(|_| panic!("gatehouse still running {WAIT:?} after SIGTERM"))
        .unwrap();
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(exit.success(), "exit {exit:?}:\n{log}");
    notes.drain();
    assert_eq!(
        notes
            .seen
            .iter()
            .filter(|m| m.lines().any(|l| l == "STOPPING=1"))
            .count(),
        1,
        "STOPPING=1 exactly once: {:?}",
        notes.seen
    );
}
