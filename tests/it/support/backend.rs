//! Sample apps for tests: in-process (fast) or as child processes (for SIGKILL).

use gatehouse::sample::{serve, SampleOptions};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use tokio::sync::oneshot;

/// An in-process sample app on an ephemeral port; stops when dropped.
pub struct TestBackend {
    pub addr: SocketAddr,
    pub name: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestBackend {
    pub async fn start(name: &str) -> Self {
        Self::start_with(SampleOptions::named(name)).await
    }

    pub async fn start_tls(name: &str, config: Arc<rustls::ServerConfig>) -> Self {
        Self::start_with(SampleOptions::named(name).with_tls(config)).await
    }

    pub async fn start_with(options: SampleOptions) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let name = options.name.clone();
        let task = tokio::spawn(serve(listener, options, async {
            let _ = stopped.await;
        }));
        TestBackend {
            addr,
            name,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `ws://<addr><path>` (for `tokio_tungstenite::client_async` on a TCP stream to `addr`).
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// Stops accepting and closes every connection (upgraded ones included).
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for TestBackend {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// A `sample-app` child process; SIGKILLed when dropped.
pub struct ChildBackend {
    pub addr: SocketAddr,
    pub name: String,
    child: Child,
}

impl ChildBackend {
    pub fn spawn(name: &str) -> Self {
        Self::spawn_on(name, "127.0.0.1:0")
    }

    /// Starts on a given address (to bring a killed backend back on its port).
    pub fn spawn_on(name: &str, listen: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sample-app"))
            .args(["--listen", listen, "--name", name])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn sample-app");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read sample-app banner");
        let addr: SocketAddr = line
            .trim()
            .rsplit(' ')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected sample-app banner: {line:?}"));
        ChildBackend {
            addr,
            name: name.to_string(),
            child,
        }
    }

    /// SIGKILL, no goodbye: the abrupt death failover must cope with.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildBackend {
    fn drop(&mut self) {
        self.kill();
    }
}
