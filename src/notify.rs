//! Readiness and lifecycle notification for systemd (`Type=notify`), written directly on the
//! `NOTIFY_SOCKET` datagram socket: the protocol is one datagram of `KEY=VALUE` lines, so it
//! needs no crate and no libsystemd.
//!
//! Where it sits: `main` waits for [`Readiness`](crate::lifecycle::Readiness) (Pingora running,
//! every listener and the admin listener accepting, this process's own admin answering) and
//! then calls [`ready`]: systemd orders dependent units, and `systemctl start` returns, on that
//! message, so it must not be sent while a bind could still fail. The signal watcher in
//! `server` calls [`stopping`] when a stop begins, so `systemctl status` shows "deactivating"
//! while connections drain. During `gatehouse upgrade` the successor's [`ready`] carries its
//! own `MAINPID=`, and the old process confirms it with [`mainpid`], which also marks it as
//! handed over: its own drain afterwards must not tell systemd the *service* is stopping.
//!
//! Every function is a no-op when `NOTIFY_SOCKET` is unset (not under systemd, or in tests), and
//! none of them panics: a failed notification is logged, never fatal, because the proxy serving
//! traffic matters more than systemd's view of it.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};

/// The environment variable systemd sets for `Type=notify` services.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// `STOPPING=1` is sent at most once per process.
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

/// Tells systemd the service is up (the listeners accept connections), with a one-line
/// status for `systemctl status`. Names this process as the main one (`MAINPID=`) in the same
/// datagram: redundant on a first start, and what makes an upgrade successor the process
/// systemd tracks (the unit needs `NotifyAccess=all` for that, as the message comes from a
/// process that is not yet the main one).
pub fn ready(status: &str) {
    let lines = ready_message(std::process::id(), status);
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    match notify(&lines) {
        Ok(true) => tracing::info!("told systemd READY=1"),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "cannot send READY=1 to systemd"),
    }
}

/// The status line [`ready`] reports for a server: where it accepts connections. It takes the
/// shared state, not the server, so that this module stays below the server that calls it.
pub fn serving_status(state: &crate::runtime::SharedState) -> String {
    let mut addrs: Vec<SocketAddr> = state.bound.iter().map(|b| b.address).collect();
    addrs.extend(state.load().config.admin.address);
    serving_text(&addrs, std::process::id())
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

/// Tells systemd which process is now the service's main process. Called by the old process
/// once its upgrade successor is ready; naming another process also marks this one as
/// [`handed_over`].
pub fn mainpid(pid: u32) {
    if pid != std::process::id() {
        handed_over();
    }
    let line = format!("MAINPID={pid}");
    log_failure("MAINPID", notify(&[&line]));
}

/// Marks this process as replaced by a successor: later [`stopping`] calls are ignored, so the
/// old process draining does not make systemd think the whole service is stopping.
pub fn handed_over() {
    HANDED_OVER.store(true, Ordering::SeqCst);
}

/// The readiness datagram: `MAINPID=` first (systemd must know the main process before it
/// acts on `READY=1` from it), then `READY=1` and the status.
fn ready_message(pid: u32, status: &str) -> Vec<String> {
    vec![
        format!("MAINPID={pid}"),
        "READY=1".to_string(),
        format!("STATUS={}", one_line(status)),
    ]
}

fn serving_text(addrs: &[SocketAddr], pid: u32) -> String {
    let addrs: Vec<String> = addrs.iter().map(SocketAddr::to_string).collect();
    format!("ready: accepting on {} (pid {pid})", addrs.join(", "))
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
    use std::time::Duration;

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
    fn ready_names_the_main_process_first_then_ready_and_status() {
        let addrs: Vec<SocketAddr> = vec![
            "0.0.0.0:443".parse().unwrap(),
            "127.0.0.1:9901".parse().unwrap(),
        ];
        assert_eq!(
            ready_message(42, &serving_text(&addrs, 42)),
            [
                "MAINPID=42",
                "READY=1",
                "STATUS=ready: accepting on 0.0.0.0:443, 127.0.0.1:9901 (pid 42)"
            ]
        );
        assert_eq!(ready_message(7, "two\nlines")[2], "STATUS=two lines");
    }
}
