//! The real `gatehouse` binary as a child process, for signals, the CLI and upgrades.

use super::{wait_listening, WAIT};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use tempfile::TempDir;

pub struct ChildProxy {
    pub http: SocketAddr,
    pub https: SocketAddr,
    pub admin: SocketAddr,
    pub dir: TempDir,
    pub config_path: PathBuf,
    pub log: PathBuf,
    pub child: Child,
    extra_pids: Vec<u32>,
}

pub const TOKEN: &str = "test-admin-token";

impl ChildProxy {
    /// Placeholders as in `TestProxy` (`{http}`, `{admin}`, `{dir}`); an admin token file
    /// `admin.token` is written next to the config.
    pub async fn start(template: &str) -> Self {
        Self::start_with(template, |_| {}).await
    }

    /// Like `start`, writing extra files (certificates…) into the config dir first.
    pub async fn start_with(template: &str, prepare: impl Fn(&std::path::Path)) -> Self {
        let mut me = Self::spawn(template, prepare, &[]);
        me.wait_serving().await;
        me
    }

    /// Starts the process with extra environment variables and returns at once, without
    /// waiting for it to serve (see [`Self::wait_serving`]).
    pub fn spawn(template: &str, prepare: impl Fn(&std::path::Path), env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("admin.token"), TOKEN).unwrap();
        prepare(dir.path());
        let [http, https, admin, _] = super::placeholder_addrs(template);
        let text = template
            .replace("{https}", &https.to_string())
            .replace("{http}", &http.to_string())
            .replace("{admin}", &admin.to_string())
            .replace("{dir}", &dir.path().display().to_string());
        let config_path = dir.path().join("gatehouse.toml");
        std::fs::write(&config_path, text).unwrap();
        let log = dir.path().join("gatehouse.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        command
            .args(["run", "-c"])
            .arg(&config_path)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::from(
                std::fs::File::options()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .unwrap(),
            ))
            .stderr(Stdio::from(
                std::fs::File::options().append(true).open(&log).unwrap(),
            ));
        // `("RUST_LOG", "")` means: not set at all, so the config's `[logging]` decides.
        if env.contains(&("RUST_LOG", "")) {
            command.env_remove("RUST_LOG");
        }
        let child = command.spawn().unwrap();
        ChildProxy {
            http,
            https,
            admin,
            dir,
            config_path,
            log,
            child,
            extra_pids: Vec::new(),
        }
    }

    /// Waits until this process answers `/status` and its http listener accepts.
    pub async fn wait_serving(&mut self) {
        let pid = self.child.id();
        let deadline = tokio::time::Instant::now() + super::patient(WAIT);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "gatehouse exited early ({status}):\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if self
                .status()
                .await
                .is_some_and(|s| s["pid"].as_u64() == Some(u64::from(pid)))
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "gatehouse pid {pid} not serving /status:\n{}",
                self.log_text()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        wait_listening(self.http).await;
    }

    /// `GET /status`, or `None` if the admin API does not answer.
    pub async fn status(&self) -> Option<serde_json::Value> {
        let endpoint = gatehouse::ctl::AdminEndpoint {
            address: self.admin,
            token: None,
        };
        tokio::task::spawn_blocking(move || {
            gatehouse::ctl::call(
                &endpoint,
                "GET",
                "/status",
                super::patient(std::time::Duration::from_secs(2)),
            )
        })
        .await
        .ok()?
        .ok()
        .and_then(|(code, body)| {
            (code == 200)
                .then(|| serde_json::from_str(&body).ok())
                .flatten()
        })
    }

    /// `GET /metrics` text.
    pub async fn metrics(&self) -> String {
        super::Client::new()
            .get(self.admin, "admin", "/metrics")
            .await
            .text()
    }

    pub async fn generation(&self) -> u64 {
        self.status()
            .await
            .and_then(|s| s["generation"].as_u64())
            .expect("status")
    }

    /// Runs `gatehouse <subcommand> -c <config>`.
    pub async fn cli(&self, subcommand: &str) -> Output {
        let path = self.config_path.clone();
        let sub = subcommand.to_string();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_gatehouse"))
                .args([sub.as_str(), "-c"])
                .arg(path)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    }

    pub fn write_config(&self, template: &str) {
        let text = template
            .replace("{https}", &self.https.to_string())
            .replace("{http}", &self.http.to_string())
            .replace("{admin}", &self.admin.to_string())
            .replace("{dir}", &self.dir.path().display().to_string());
        let tmp = self.dir.path().join(".tmp.toml");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &self.config_path).unwrap();
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), signal).unwrap();
    }

    /// Remembers another process to kill at the end (an upgrade successor).
    pub fn adopt(&mut self, pid: u32) {
        self.extra_pids.push(pid);
    }

    /// Runs `gatehouse upgrade`, asserts it succeeded, waits until the successor answers
    /// `/status`, and adopts it (stopped on drop). Returns the successor's pid and what the
    /// command printed.
    pub async fn upgrade(&mut self) -> (u32, String) {
        let old_pid = self.child.id();
        let out = self.cli("upgrade").await;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{stdout}{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log_text()
        );
        let status = super::eventually("the successor answers /status", WAIT, || async {
            self.status()
                .await
                .filter(|s| s["pid"].as_u64() != Some(u64::from(old_pid)))
        })
        .await;
        let new_pid = status["pid"].as_u64().unwrap() as u32;
        self.adopt(new_pid);
        (new_pid, stdout)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ChildProxy {
    fn drop(&mut self) {
        for pid in &self.extra_pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
