//! The state-directory lock: of the processes sharing a state directory (two nodes of a
//! keepalived pair on shared storage, or an old and a new process during an upgrade), only the
//! one holding it orders. It is held for one renewal pass, not for the life of the process, so
//! either node can renew, and a node that dies releases it (the kernel drops `flock` locks with
//! the file descriptor). On NFS, Linux maps `flock` to NFS byte-range locks (since 2.6.12), so
//! the lock holds across machines there too.
//!
//! Whoever takes the lock re-reads the certificate files before ordering: the other node may
//! have renewed while it waited, and must not be ordered for twice.

use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::path::Path;

/// Held while this process may order; released on drop.
#[derive(Debug)]
pub struct StateLock {
    _held: Flock<File>,
}

impl StateLock {
    /// Takes the lock if nobody holds it; `Ok(None)` when another process does.
    ///
    /// # Errors
    /// When the lock file cannot be opened or created.
    pub fn try_acquire(path: &Path) -> std::io::Result<Option<StateLock>> {
        if let Some(dir) = path.parent() {
            super::store::create_private_dir(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(held) => Ok(Some(StateLock { _held: held })),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, errno)) => Err(std::io::Error::from(errno)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/lock");
        let first = StateLock::try_acquire(&path).unwrap();
        assert!(first.is_some());
        // A second open file description is another holder, as another process would be.
        assert!(StateLock::try_acquire(&path).unwrap().is_none());
        drop(first);
        assert!(StateLock::try_acquire(&path).unwrap().is_some());
    }
}
