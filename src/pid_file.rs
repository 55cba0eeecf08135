//! `server.pid_file`: the pid written at start and removed at exit, for supervisors and scripts
//! (`kill -HUP $(cat FILE)`). gatehouse itself never reads it: `gatehouse reload` talks to the
//! admin API, which can report the outcome, and never signals a pid that may be stale.
//!
//! During `gatehouse upgrade` the successor writes its pid while the predecessor still runs;
//! the predecessor must then leave the file alone when it exits, so removal checks that the
//! file still names this process.

use std::path::Path;

/// Writes this process's pid to `path` (a failure is logged: the proxy serves without it).
pub fn write(path: &Path) {
    if let Err(e) = std::fs::write(path, format!("{}\n", std::process::id())) {
        tracing::warn!(file = %path.display(), error = %e, "cannot write pid file");
    }
}

/// Removes `path` if it still holds this process's pid (not a successor's).
pub fn remove_if_ours(path: &Path) {
    let ours = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
        == Some(std::process::id());
    if ours {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_only_its_own_pid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gatehouse.pid");
        write(&path);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        remove_if_ours(&path);
        assert!(!path.exists());
        // A successor's pid file stays.
        std::fs::write(&path, "1\n").unwrap();
        remove_if_ours(&path);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1\n");
    }
}
