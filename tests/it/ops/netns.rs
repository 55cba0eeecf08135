//! Network namespaces for tests: created with unique names, and deleted — with every process
//! still inside them — when the guard drops, also when the test fails. Links are created
//! directly inside the namespaces, so the host's own interfaces are never involved.

use super::{run, text};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// Namespace names start with this plus the test process's pid (unique per run, and lets a
/// later run recognise leftovers of a run that died).
pub const PREFIX: &str = "ghka";

/// Bound for each `ip` command.
pub const CMD_LIMIT: Duration = Duration::from_secs(10);

/// Runs `ip` with `args`, asserting success.
pub async fn ip(args: &[&str]) {
    let out = run("ip", args, CMD_LIMIT).await;
    assert!(out.status.success(), "ip {args:?}: {}", text(&out));
}

/// A command run inside a namespace (`ip netns exec` sets the namespace, then execs it, so the
/// child's pid is the program's own).
pub fn in_ns(ns: &str, program: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, program]);
    c
}

/// The namespaces of one test run; deleted on drop, with every process still inside them.
pub struct Netns {
    prefix: String,
    created: Vec<String>,
}

impl Netns {
    /// Names are unique per topology, not only per process: the pair tests build their
    /// topologies concurrently in one test binary, and a shared prefix made the second `ip
    /// netns add` fail with "File exists".
    pub fn new() -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Netns {
            prefix: format!("{PREFIX}{}-{n}", std::process::id()),
            created: Vec::new(),
        }
    }

    pub fn name(&self, role: &str) -> String {
        format!("{}-{role}", self.prefix)
    }

    /// Creates the namespace for `role` (with its loopback up). Err when namespaces cannot be
    /// created here at all.
    pub async fn add(&mut self, role: &str) -> Result<String, String> {
        let name = self.name(role);
        let out = run("ip", &["netns", "add", &name], CMD_LIMIT).await;
        if !out.status.success() {
            return Err(format!("ip netns add {name}: {}", text(&out).trim()));
        }
        self.created.push(name.clone());
        ip(&["-n", &name, "link", "set", "lo", "up"]).await;
        Ok(name)
    }
}

/// Kills whatever runs in a namespace, then deletes it (blocking: this runs in `Drop`).
fn delete_namespace(name: &str) {
    let bounded = |args: &[&str]| {
        std::process::Command::new("timeout")
            .arg("10")
            .arg("ip")
            .args(args)
            .stderr(Stdio::null())
            .output()
    };
    if let Ok(out) = bounded(&["netns", "pids", name]) {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            if let Ok(pid) = pid.parse::<i32>() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
    let _ = bounded(&["netns", "del", name]);
}

impl Drop for Netns {
    fn drop(&mut self) {
        for name in self.created.iter().rev() {
            delete_namespace(name);
        }
    }
}

/// Deletes namespaces left by earlier runs of this test whose process is gone.
pub async fn sweep_leftovers() {
    let out = run("ip", &["netns", "list"], CMD_LIMIT).await;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("removing leftover namespace {name}");
            delete_namespace(name);
        }
    }
}
