//! Running gatehouse for real: readiness notification to systemd (`ops::notify`), the unit files
//! (`ops::units`), the install script (`ops::install`), the Debian package (`ops::deb`) and a
//! redundant pair behind keepalived in network namespaces (`ops::pair`).
//!
//! Some of these need things a developer's machine may lack (`systemd-analyze`, `keepalived`,
//! `logrotate`, root for `ip netns`). Such a test prints `SKIPPED: <why>` and passes — unless
//! `GATEHOUSE_REQUIRE_ALL_TESTS` is set, as `.ci/run` does after installing everything, in which
//! case a missing tool fails the test instead of hiding it.

mod deb;
mod install;
mod netns;
mod notify;
mod pair;
mod pair_guard;
mod units;
mod vipclient;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

/// Set (to anything) to turn every skip into a failure.
pub const REQUIRE_ALL: &str = "GATEHOUSE_REQUIRE_ALL_TESTS";

/// Skips the calling test with a printed reason (or fails it under [`REQUIRE_ALL`]).
macro_rules! require {
    ($cond:expr, $($reason:tt)+) => {
        if !$cond {
            crate::ops::skipped(&format!($($reason)+));
            return;
        }
    };
}
pub(crate) use require;

/// Reports a skipped test; panics instead when [`REQUIRE_ALL`] is set.
pub fn skipped(reason: &str) {
    if std::env::var_os(REQUIRE_ALL).is_some() {
        panic!("{REQUIRE_ALL} is set, but this test cannot run: {reason}");
    }
    eprintln!("SKIPPED: {reason}");
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where cargo put the binaries under test (`gatehouse`, `sample-app`).
pub fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_gatehouse"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Whether `program` can be found on `PATH` (or is an existing absolute path).
pub fn have(program: &str) -> bool {
    if program.starts_with('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Runs a command to completion, bounded by `limit` (times the patience factor; killed past
/// it), capturing its output.
pub async fn run(program: &str, args: &[&str], limit: Duration) -> Output {
    run_with(tokio::process::Command::new(program).args(args), limit).await
}

/// Like [`run`] for a prepared command (environment, working directory…).
pub async fn run_with(cmd: &mut tokio::process::Command, limit: Duration) -> Output {
    let what = format!("{cmd:?}");
    let limit = crate::support::patient(limit);
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {limit:?}"))
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// stdout and stderr together, for assertions and failure messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Lays gatehouse out under `root` with `scripts/install`, using the binaries under test.
pub async fn install_into(root: &Path) -> Output {
    let out = run_with(
        tokio::process::Command::new("bash")
            .arg(repo().join("scripts/install"))
            .arg(root)
            .env("GATEHOUSE_BIN_DIR", bin_dir())
            .env_remove("DESTDIR"),
        Duration::from_secs(30),
    )
    .await;
    assert!(
        out.status.success(),
        "scripts/install failed:\n{}",
        text(&out)
    );
    out
}

/// Writes a self-signed certificate and key (PEM) for `names`.
pub fn write_cert(cert: &Path, key: &Path, names: &[&str]) {
    let pair = rcgen::KeyPair::generate().unwrap();
    let c = rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .unwrap()
        .self_signed(&pair)
        .unwrap();
    std::fs::write(cert, c.pem()).unwrap();
    std::fs::write(key, pair.serialize_pem()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o600)).unwrap();
}
