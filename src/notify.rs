//! Readiness and lifecycle notification for systemd (`Type=notify`), written directly on the
//! `NOTIFY_SOCKET` datagram socket: the protocol is one datagram of `KEY=VALUE` lines, so it
//! needs no crate and no libsystemd.
//!
//! Where it sits: `main` builds the server, calls [`watch_lifecycle`] and then runs the server.
//! The watcher waits for Pingora's `Running` phase, proves that every listener and the admin
//! listener accept connections, and only then sends `READY=1` — systemd orders dependent units
//! (and `systemctl start` returns) on that message, so it must not be sent while a bind could
//! still fail. `STOPPING=1` is sent when a stop begins, so `systemctl status` shows "deactivating"
//! while connections drain.
//!
//! Every function is a no-op when `NOTIFY_SOCKET` is unset (not under systemd, or in tests), and
//! none of them panics: a failed notification is logged, never fatal, because the proxy serving
//! traffic matters more than systemd's view of it.

use pingora::server::ExecutionPhase;
use std::ffi::OsStr;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// The environment variable systemd sets for `Type=notify` services.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// How long the listeners may take to accept connections after Pingora reports `Running`
/// before the start is declared failed. Binding is done by then; this only covers the accept
/// tasks being scheduled, which takes milliseconds, so 10 s means something is wrong.
pub const READY_PROBE_LIMIT: Duration = Duration::from_secs(10);

/// `STOPPING=1` is sent at most once per process (the signal handler and the phase watcher
/// both try, whichever is first wins).
static STOPPING_SENT: AtomicBool = AtomicBool::new(false);

/// Set once this process has handed its sockets (and its role as systemd's main process) to a
/// successor: from then on it must not send `STOPPING=1`, which systemd would apply to the
/// service as a whole, now represented by the successor.
static HANDED_OVER: AtomicBool = AtomicBool::new(false);

/// Sends raw `KEY=VALUE` lines (joined by newlines) to systemd. Returns `Ok(false)` when
/// `NOTIFY_SOCKET` is unset, `Ok(true)` when the datagram was sent.
///
/// # Errors
/// When the socket address is invalid or the send fails.
pub fn notify(lines: &[&str]) -> std::io::Result<bool> {
    match std::env::var_os(NOTIFY_SOCKET) {
        None => Ok(false),
        Some(s) if s.is_empty() => Ok(false),
        Some(socket) => send_to(&socket, &lines.join("\n")).map(|()| true),
    }
}

/// Tells systemd the service is up: the listeners accept connections.
pub fn ready() {
    log_failure("READY=1", notify(&["READY=1"]));
}

/// Tells systemd a stop has begun (connections are draining). Sent at most once, and never
/// after [`handed_over`].
pub fn stopping() {
    if HANDED_OVER.load(Ordering::SeqCst) || STOPPING_SENT.swap(true, Ordering::SeqCst) {
        return;
    }
    log_failure(
        "STOPPING=1",
        notify(&["STOPPING=1", "STATUS=stopping: draining connections"]),
    );
}

/// Sets the one-line status `systemctl status` shows.
pub fn status(text: &str) {
    let line = format!("STATUS={}", one_line(text));
    log_failure("STATUS", notify(&[&line]));
}

/// Tells systemd which process is now the service's main process (used by a successor during
/// a zero-downtime upgrade, together with `READY=1`; needs `NotifyAccess=all` in the unit
/// because the message comes from a process that is not yet the main one).
pub fn mainpid(pid: u32) {
    let line = format!("MAINPID={pid}");
    log_failure("MAINPID", notify(&[&line]));
}

/// Marks this process as replaced by a successor: later [`stopping`] calls are ignored, so the
/// old process draining does not make systemd think the whole service is stopping.
pub fn handed_over() {
    HANDED_OVER.store(true, Ordering::SeqCst);
}

/// Follows a built server through its life for systemd: when Pingora reports `Running`, probes
/// every proxy listener and the admin listener (each must accept a TCP connection, bounded by
/// [`READY_PROBE_LIMIT`]) and then sends `READY=1` with a `STATUS=` line, plus `MAINPID=` when
/// `successor` (this process is taking over from a running one in a zero-downtime upgrade, so
/// systemd must learn its pid); when a stop begins, sends `STOPPING=1`.
///
/// Call it after [`Gatehouse::new`](crate::server::Gatehouse::new) and before
/// [`Gatehouse::run`](crate::server::Gatehouse::run). Starts no thread when `NOTIFY_SOCKET` is
/// unset.
pub fn watch_lifecycle(gatehouse: &crate::server::Gatehouse, successor: bool) {
    if std::env::var_os(NOTIFY_SOCKET).is_none_or(|s| s.is_empty()) {
        return;
    }
    let phases = gatehouse.phases();
    let probe = probe_targets(gatehouse);
    let spawned = std::thread::Builder::new()
        .name("gatehouse-notify".to_string())
        .spawn(move || follow_phases(phases, &probe, successor));
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the systemd notification thread; systemd will not see READY=1");
    }
}

/// The addresses a server must accept connections on before it is ready: every proxy listener
/// and the admin listener.
pub fn probe_targets(gatehouse: &crate::server::Gatehouse) -> Vec<SocketAddr> {
    let mut targets: Vec<SocketAddr> = gatehouse.state.bound.iter().map(|b| b.address).collect();
    if let Some(admin) = gatehouse.state.load().config.admin.address {
        targets.push(admin);
    }
    targets
}

fn follow_phases(
    mut phases: broadcast::Receiver<ExecutionPhase>,
    probe: &[SocketAddr],
    successor: bool,
) {
    loop {
        let phase = match phases.blocking_recv() {
            Ok(p) => p,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        match phase {
            ExecutionPhase::Running => announce_ready(probe, successor),
            ExecutionPhase::GracefulUpgradeTransferringFds => handed_over(),
            ExecutionPhase::GracefulTerminate | ExecutionPhase::ShutdownStarted => stopping(),
            _ => {}
        }
    }
}

fn announce_ready(probe: &[SocketAddr], successor: bool) {
    let started = Instant::now();
    if let Err(addr) = wait_accepting(probe, READY_PROBE_LIMIT) {
        let text =
            format!("not ready: nothing accepts connections on {addr} after {READY_PROBE_LIMIT:?}");
        tracing::error!("{text}; not sending READY=1 (systemd will fail the start)");
        status(&text);
        return;
    }
    let lines = ready_message(probe, std::process::id(), successor);
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    match notify(&lines) {
        Ok(true) => tracing::info!(after = ?started.elapsed(), "told systemd READY=1"),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "cannot send READY=1 to systemd"),
    }
}

/// The readiness datagram: `MAINPID=` first for a successor (systemd must know the new main
/// process before it sees `READY=1` from it), then `READY=1` and a human-readable `STATUS=`.
fn ready_message(probe: &[SocketAddr], pid: u32, successor: bool) -> Vec<String> {
    let mut lines = Vec::with_capacity(3);
    if successor {
        lines.push(format!("MAINPID={pid}"));
    }
    lines.push("READY=1".to_string());
    let addrs: Vec<String> = probe.iter().map(SocketAddr::to_string).collect();
    lines.push(format!(
        "STATUS=ready: accepting on {} (pid {pid})",
        addrs.join(", ")
    ));
    lines
}

/// Waits until every address accepts a TCP connection; returns the first one that still does
/// not at the deadline.
fn wait_accepting(addrs: &[SocketAddr], limit: Duration) -> Result<(), SocketAddr> {
    let deadline = Instant::now() + limit;
    for &addr in addrs {
        let target = connectable(addr);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(addr);
            }
            if TcpStream::connect_timeout(&target, left.min(Duration::from_millis(500))).is_ok() {
                break;
            }
            // A refused connect returns at once: pause a little before the next try without
            // spinning (this is a plain thread, not a runtime worker).
            let pause = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(20));
            pause_for(pause);
        }
    }
    Ok(())
}

/// A listener on `0.0.0.0` or `[::]` is reached through loopback.
fn connectable(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(a) if a.ip().is_unspecified() => {
            SocketAddr::from((Ipv4Addr::LOCALHOST, a.port()))
        }
        SocketAddr::V6(a) if a.ip().is_unspecified() => {
            SocketAddr::from((Ipv6Addr::LOCALHOST, a.port()))
        }
        other => other,
    }
}

/// Blocks the calling thread for `d`. Only used on the notification thread, which is a plain
/// thread (no runtime to block) that has nothing else to do between probes.
#[allow(clippy::disallowed_methods)] // the lint guards runtimes and tests; this is neither
fn pause_for(d: Duration) {
    std::thread::sleep(d);
}

fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

fn log_failure(what: &str, result: std::io::Result<bool>) {
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot send {what} to systemd");
    }
}

/// Sends one datagram to a `NOTIFY_SOCKET` value: a filesystem path, or `@name` for a socket in
/// the abstract namespace (Linux).
fn send_to(socket: &OsStr, message: &str) -> std::io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    let bytes = socket.as_encoded_bytes();
    let sent = if let Some(name) = bytes.strip_prefix(b"@") {
        send_abstract(&sock, name, message.as_bytes())?
    } else if bytes.first() == Some(&b'/') {
        sock.send_to(message.as_bytes(), socket)?
    } else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{NOTIFY_SOCKET}={socket:?} is neither an absolute path nor @abstract"),
        ));
    };
    if sent == message.len() {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::WriteZero,
            format!(
                "short write to {socket:?}: {sent} of {} bytes",
                message.len()
            ),
        ))
    }
}

#[cfg(target_os = "linux")]
fn send_abstract(sock: &UnixDatagram, name: &[u8], message: &[u8]) -> std::io::Result<usize> {
    use std::os::linux::net::SocketAddrExt as _;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    sock.send_to_addr(message, &addr)
}

#[cfg(not(target_os = "linux"))]
fn send_abstract(_: &UnixDatagram, _: &[u8], _: &[u8]) -> std::io::Result<usize> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "abstract NOTIFY_SOCKET addresses exist only on Linux",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recv(sock: &UnixDatagram) -> String {
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn sends_to_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        send_to(path.as_os_str(), "READY=1\nSTATUS=hi").unwrap();
        assert_eq!(recv(&server), "READY=1\nSTATUS=hi");
    }

    #[test]
    fn sends_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt as _;
        let name = format!("gatehouse-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        send_to(OsStr::new(&format!("@{name}")), "STOPPING=1").unwrap();
        assert_eq!(recv(&server), "STOPPING=1");
    }

    #[test]
    fn a_bad_socket_is_an_error_not_a_panic() {
        assert!(send_to(OsStr::new("relative/path"), "READY=1").is_err());
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nobody-listens.sock");
        assert!(send_to(missing.as_os_str(), "READY=1").is_err());
    }

    #[test]
    fn a_successor_names_itself_main_process_before_ready() {
        let probe: Vec<SocketAddr> = vec![
            "0.0.0.0:443".parse().unwrap(),
            "127.0.0.1:9901".parse().unwrap(),
        ];
        assert_eq!(
            ready_message(&probe, 42, true),
            [
                "MAINPID=42",
                "READY=1",
                "STATUS=ready: accepting on 0.0.0.0:443, 127.0.0.1:9901 (pid 42)"
            ]
        );
        assert_eq!(ready_message(&probe, 42, false)[0], "READY=1");
    }

    #[test]
    fn unspecified_addresses_are_probed_through_loopback() {
        assert_eq!(
            connectable("0.0.0.0:80".parse().unwrap()),
            "127.0.0.1:80".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            connectable("[::]:443".parse().unwrap()),
            "[::1]:443".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            connectable("10.0.0.1:80".parse().unwrap()),
            "10.0.0.1:80".parse::<SocketAddr>().unwrap()
        );
    }

    #[test]
    fn probing_reports_the_address_that_does_not_accept() {
        let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open_addr = open.local_addr().unwrap();
        let closed_addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        assert_eq!(wait_accepting(&[open_addr], Duration::from_secs(2)), Ok(()));
        assert_eq!(
            wait_accepting(&[open_addr, closed_addr], Duration::from_millis(200)),
            Err(closed_addr)
        );
    }
}
