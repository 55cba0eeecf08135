//! From ready to serving: once [`Readiness`](super::Readiness) holds, drop root, open the gate
//! that holds every connection until then, and tell the predecessor of an upgrade and systemd.
//! A process that does not become ready says why to both, and never keeps running as root.

use super::{test_hook, Gatehouse};
use crate::upgrade::report_to_predecessor;
use std::time::Duration;

/// How long a starting process may take to serve before it reports failure.
const READY_LIMIT: Duration = Duration::from_secs(20);

/// The account to switch to once the sockets are bound (`[server] user`, `group`).
pub(super) struct RunAs {
    pub(super) user: Option<String>,
    pub(super) group: Option<String>,
}

/// Closes the privilege gate when a drop is pending, then waits for readiness on its own
/// thread and takes the steps above.
pub(super) fn spawn(gatehouse: &Gatehouse, run_as: RunAs) {
    // Root is needed until the sockets are bound, which Pingora does as it starts; until the
    // switch, no connection is processed (the kernel still accepts them into the backlog).
    let drop_pending = crate::privileges::drop_pending(run_as.user.as_deref());
    if drop_pending {
        crate::privileges::GATE.close();
    } else if crate::privileges::running_as_root() {
        tracing::warn!(
            "running as root with no server.user: every connection is served as root; set server.user (and server.group) to drop privileges once the listeners are bound"
        );
    }
    let readiness = gatehouse.readiness();
    let status = crate::notify::serving_status(&gatehouse.state);
    let ready = move || match test_hook("GATEHOUSE_TEST_FAIL_READINESS") {
        Some(_) => Err("failed on purpose (GATEHOUSE_TEST_FAIL_READINESS)".to_string()),
        None => readiness.wait(READY_LIMIT),
    };
    std::thread::spawn(move || match ready() {
        Ok(()) => {
            // Sockets are bound: root is no longer needed.
            let delay = test_hook("GATEHOUSE_TEST_PRIVILEGE_DROP_DELAY_MS")
                .and_then(|ms| ms.parse().ok())
                .map(Duration::from_millis);
            if let Some(delay) = delay {
                #[allow(clippy::disallowed_methods)] // a debug-build test hook, off the runtime
                std::thread::sleep(delay);
            }
            match crate::privileges::drop_to(run_as.user.as_deref(), run_as.group.as_deref()) {
                Ok(true) => tracing::info!(user = ?run_as.user, "dropped root privileges"),
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %e, "refusing to keep running as root");
                    std::process::exit(1);
                }
            }
            crate::privileges::GATE.open();
            let pid = std::process::id();
            tracing::info!(pid, "gatehouse ready");
            report_to_predecessor(&format!("READY {pid}"));
            crate::notify::ready(&status);
        }
        Err(reason) => {
            tracing::error!(%reason, "gatehouse did not become ready");
            report_to_predecessor(&format!("ERROR {reason}"));
            crate::notify::status(&format!("not ready: {reason}"));
            if drop_pending {
                // Never serve as root, nor sit there holding connections: fail, so a
                // supervisor sees it.
                tracing::error!("refusing to keep running as root: privileges were not dropped");
                std::process::exit(1);
            }
        }
    });
}
