//! The proxy under test: the real `gatehouse::lifecycle::Gatehouse` on its own thread, stopped on drop.

use super::{wait_listening, WAIT};
use gatehouse::lifecycle::{Control, Gatehouse, Options};
use gatehouse::runtime::SharedState;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use tempfile::TempDir;

/// The admin token written to `{dir}/token` for every test proxy.
pub const ADMIN_TOKEN: &str = "s3cret";

/// A running proxy with its config in a temp dir.
pub struct TestProxy {
    pub http: SocketAddr,
    pub https: SocketAddr,
    pub admin: SocketAddr,
    pub extra: SocketAddr,
    pub state: Arc<SharedState>,
    pub reloader: Arc<gatehouse::reload::Reloader>,
    pub dir: TempDir,
    pub config_path: PathBuf,
    control: Control,
    thread: Option<JoinHandle<()>>,
}

impl TestProxy {
    /// Starts a proxy from a config template. `{http}`, `{https}`, `{admin}` and `{extra}` are
    /// replaced by distinct free loopback addresses; `{dir}` by the temp dir. Files a test needs next to the config
    /// (certificates…) can be written by `prepare` before the config is validated.
    pub async fn start(template: &str) -> Self {
        Self::start_with(template, |_| {}).await
    }

    pub async fn start_with(template: &str, prepare: impl Fn(&Path)) -> Self {
        super::init_logging();
        let dir = tempfile::tempdir().unwrap();
        // An admin token is always available for configs that name `{dir}/token`.
        std::fs::write(dir.path().join("token"), ADMIN_TOKEN).unwrap();
        prepare(dir.path());
        // Ports are reserved by binding and releasing; if another test grabs one in between,
        // start-up fails cleanly (pre-flight bind) and we try again with fresh ports.
        for attempt in 0..5 {
            let [http, https, admin, extra] = super::placeholder_addrs(template);
            let text = template
                .replace("{extra}", &extra.to_string())
                .replace("{http}", &http.to_string())
                .replace("{https}", &https.to_string())
                .replace("{admin}", &admin.to_string())
                .replace("{dir}", &dir.path().display().to_string());
            let config_path = dir.path().join("gatehouse.toml");
            std::fs::write(&config_path, &text).unwrap();
            let validated = gatehouse::config::load_initial(&config_path)
                .unwrap_or_else(|e| panic!("test config is invalid: {e}"));
            let listeners: Vec<SocketAddr> = validated
                .config
                .listeners
                .iter()
                .map(|l| l.address)
                .collect();
            let admin_enabled = validated.config.admin.address.is_some();
            let options = Options {
                access_log: false,
                ..Options::default()
            };
            let gh = match Gatehouse::new(&config_path, validated, options) {
                Ok(g) => g,
                Err(e) if attempt < 4 => {
                    eprintln!("retrying proxy start: {e}");
                    continue;
                }
                Err(e) => panic!("proxy failed to start: {e}"),
            };
            let state = gh.state.clone();
            let reloader = gh.reloader.clone();
            let control = gh.control();
            let mut phases = gh.phases();
            let thread = std::thread::spawn(move || gh.run());
            super::bounded("proxy running", async {
                loop {
                    match phases.recv().await {
                        Ok(pingora::server::ExecutionPhase::Running) => break,
                        Ok(_) => continue,
                        Err(e) => panic!("proxy stopped during start-up: {e}"),
                    }
                }
            })
            .await;
            for l in &listeners {
                wait_listening(*l).await;
            }
            super::bounded(
                "config file watching in place",
                reloader.subscribe_watching().wait_for(|w| *w),
            )
            .await
            .unwrap();
            if admin_enabled {
                wait_listening(admin).await;
            }
            return TestProxy {
                http,
                https,
                admin,
                extra,
                state,
                reloader,
                dir,
                config_path,
                control,
                thread: Some(thread),
            };
        }
        unreachable!()
    }

    /// Rewrites the config file (atomically, like an editor) and waits for a newer generation.
    pub async fn rewrite_and_wait(&self, text: &str) -> u64 {
        let mut rx = self.state.subscribe();
        let before = *rx.borrow();
        self.write_config(text);
        super::bounded("a newer config generation", rx.wait_for(|g| *g > before))
            .await
            .map(|g| *g)
            .unwrap()
    }

    /// Writes the config via temp file + rename.
    pub fn write_config(&self, text: &str) {
        let tmp = self.dir.path().join(".gatehouse.toml.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &self.config_path).unwrap();
    }

    /// Fills the placeholders of a template with this proxy's addresses.
    pub fn render(&self, template: &str) -> String {
        template
            .replace("{extra}", &self.extra.to_string())
            .replace("{http}", &self.http.to_string())
            .replace("{https}", &self.https.to_string())
            .replace("{admin}", &self.admin.to_string())
            .replace("{dir}", &self.dir.path().display().to_string())
    }

    pub fn generation(&self) -> u64 {
        self.state.load().generation
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// Starts a graceful stop (as SIGTERM would): stop accepting, drain, exit.
    pub fn graceful_shutdown(&self) {
        self.control.graceful_shutdown();
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.control.fast_shutdown();
        if let Some(t) = self.thread.take() {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = t.join();
                let _ = tx.send(());
            });
            let limit = super::patient(WAIT);
            if rx.recv_timeout(limit).is_err() {
                eprintln!("warning: proxy thread did not stop within {limit:?}");
            }
        }
    }
}
