//! The access-log writer thread and the batch it drains.
//!
//! The request path appends a finished line to a shared in-memory batch under a short lock
//! (a memcpy of a few hundred bytes) and never waits for I/O: no channel message, no thread
//! wake-up and no `write(2)` per request. The writer thread wakes every `flush_interval`, or
//! early when the batch passes [`WAKE_BYTES`], swaps the batch for an empty one and writes it
//! with one system call. This is what nginx's `access_log … buffer= flush=` does; writing a
//! line per request cost more CPU than proxying it (see docs/performance.md).
//!
//! A full batch (`buffer` lines waiting) drops new lines and counts them. The file is reopened
//! on request (SIGUSR1) or when the writer notices it was rotated away (different inode, or
//! gone).

use parking_lot::Mutex;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// Where lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Standard output.
    Stdout,
    /// A file, appended to.
    File(PathBuf),
}

/// A batch this large wakes the writer before its interval is up, so memory stays bounded and
/// writes stay large under heavy traffic.
pub const WAKE_BYTES: usize = 64 * 1024;

/// Lines waiting for the writer.
#[derive(Debug, Default)]
pub struct Batch {
    /// The lines, back to back.
    pub bytes: Vec<u8>,
    /// How many.
    pub lines: usize,
    /// The writer was already woken for this batch.
    pub woken: bool,
    /// Callers waiting until everything before their request is written.
    pub flush_waiters: Vec<SyncSender<()>>,
    /// No more lines will come: write what is left and stop.
    pub closed: bool,
}

/// What the request path and the writer share.
#[derive(Debug)]
pub struct Shared {
    /// The batch being filled.
    pub batch: Mutex<Batch>,
    /// Set by SIGUSR1: reopen before the next write.
    pub reopen: AtomicBool,
    /// The writer thread, to wake it.
    pub writer: OnceLock<Thread>,
}

impl Shared {
    /// Wakes the writer thread (if it is running).
    pub fn wake(&self) {
        if let Some(t) = self.writer.get() {
            t.unpark();
        }
    }
}

enum Sink {
    Stdout(std::io::Stdout),
    File { out: File, inode: u64 },
}

impl Sink {
    fn open(target: &Target) -> std::io::Result<Sink> {
        match target {
            Target::Stdout => Ok(Sink::Stdout(std::io::stdout())),
            Target::File(path) => {
                let out = OpenOptions::new().create(true).append(true).open(path)?;
                let inode = out.metadata()?.ino();
                Ok(Sink::File { out, inode })
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Stdout(s) => {
                let mut s = s.lock();
                s.write_all(bytes)?;
                s.flush()
            }
            Sink::File { out, .. } => out.write_all(bytes),
        }
    }

    /// True when the path now names another file (logrotate moved ours away) or none.
    fn rotated(&self, target: &Target) -> bool {
        match (self, target) {
            (Sink::File { inode, .. }, Target::File(path)) => {
                std::fs::metadata(path).map_or(true, |m| m.ino() != *inode)
            }
            _ => false,
        }
    }
}

/// How often the writer checks whether the file was rotated away.
const ROTATION_CHECK: Duration = Duration::from_millis(500);

/// Runs until the batch is closed.
pub fn run(target: Target, shared: Arc<Shared>, flush_interval: Duration) {
    let mut sink = match Sink::open(&target) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(?target, error = %e, "cannot open the access log");
            None
        }
    };
    let mut last_check = Instant::now();
    let mut spare: Vec<u8> = Vec::new();
    loop {
        std::thread::park_timeout(flush_interval);
        let (waiters, closed) = {
            let mut b = shared.batch.lock();
            std::mem::swap(&mut b.bytes, &mut spare);
            b.lines = 0;
            b.woken = false;
            (std::mem::take(&mut b.flush_waiters), b.closed)
        };
        // Reopen when asked (SIGUSR1) or when the path now names another file; checked after
        // taking the batch, so lines logged after the request to reopen land in the new file.
        let rotated = last_check.elapsed() >= ROTATION_CHECK && {
            last_check = Instant::now();
            sink.as_ref().is_none_or(|s| s.rotated(&target))
        };
        if shared.reopen.swap(false, Ordering::AcqRel) || rotated {
            sink = match Sink::open(&target) {
                Ok(s) => {
                    tracing::info!(?target, "access log reopened");
                    Some(s)
                }
                Err(e) => {
                    tracing::error!(?target, error = %e, "cannot reopen the access log");
                    None
                }
            };
        }
        if !spare.is_empty() {
            if let Some(s) = sink.as_mut() {
                if let Err(e) = s.write(&spare) {
                    tracing::warn!(?target, error = %e, "access log write failed");
                }
            }
            spare.clear();
            // Do not keep a burst's worth of memory around between bursts.
            spare.shrink_to(WAKE_BYTES * 2);
        }
        for w in waiters {
            let _ = w.send(());
        }
        if closed {
            return;
        }
    }
}
