//! The access-log writer thread: the request path only hands a finished line to a bounded
//! queue (never blocks; a full queue drops the line and counts it). The thread writes, flushes
//! when idle, reopens the file on request (SIGUSR1) or when it notices the file was rotated
//! away (different inode, or gone).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Standard output.
    Stdout,
    /// A file, appended to.
    File(PathBuf),
}

/// A message to the writer.
pub enum Message {
    /// A finished line.
    Line(String),
    /// Flush everything queued so far, then acknowledge.
    Flush(std::sync::mpsc::SyncSender<()>),
}

enum Sink {
    Stdout(std::io::Stdout),
    File { out: BufWriter<File>, inode: u64 },
}

impl Sink {
    fn open(target: &Target) -> std::io::Result<Sink> {
        match target {
            Target::Stdout => Ok(Sink::Stdout(std::io::stdout())),
            Target::File(path) => {
                let file = OpenOptions::new().create(true).append(true).open(path)?;
                let inode = file.metadata()?.ino();
                Ok(Sink::File {
                    out: BufWriter::with_capacity(64 * 1024, file),
                    inode,
                })
            }
        }
    }

    fn write(&mut self, line: &str) -> std::io::Result<()> {
        match self {
            Sink::Stdout(s) => s.lock().write_all(line.as_bytes()),
            Sink::File { out, .. } => out.write_all(line.as_bytes()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Stdout(s) => s.flush(),
            Sink::File { out, .. } => out.flush(),
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

/// Runs until every sender is gone.
pub fn run(target: Target, rx: Receiver<Message>, reopen: Arc<AtomicBool>) {
    let mut sink = match Sink::open(&target) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(?target, error = %e, "cannot open the access log");
            None
        }
    };
    let mut last_check = Instant::now();
    // Reopen when asked (SIGUSR1) or when the path now names another file. Checked before
    // every line, so a line submitted after the request to reopen lands in the new file.
    let mut reopen_if_needed = |sink: &mut Option<Sink>| {
        let rotated = last_check.elapsed() >= ROTATION_CHECK && {
            last_check = Instant::now();
            sink.as_ref().is_none_or(|s| s.rotated(&target))
        };
        if !(reopen.swap(false, Ordering::AcqRel) || rotated) {
            return;
        }
        if let Some(mut old) = sink.take() {
            let _ = old.flush();
        }
        match Sink::open(&target) {
            Ok(s) => {
                tracing::info!(?target, "access log reopened");
                *sink = Some(s);
            }
            Err(e) => tracing::error!(?target, error = %e, "cannot reopen the access log"),
        }
    };
    loop {
        let message = rx.recv_timeout(ROTATION_CHECK);
        reopen_if_needed(&mut sink);
        let mut next = match message {
            Ok(m) => Some(m),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                if let Some(s) = sink.as_mut() {
                    let _ = s.flush();
                }
                return;
            }
        };
        // Write everything queued, then flush once: lines reach the file promptly when traffic
        // is light, and are written in batches when it is heavy.
        while let Some(m) = next.take() {
            match m {
                Message::Line(line) => {
                    reopen_if_needed(&mut sink);
                    if let Some(s) = sink.as_mut() {
                        let _ = s.write(&line);
                    }
                }
                Message::Flush(ack) => {
                    if let Some(s) = sink.as_mut() {
                        let _ = s.flush();
                    }
                    let _ = ack.send(());
                }
            }
            next = rx.try_recv().ok();
        }
        if let Some(s) = sink.as_mut() {
            let _ = s.flush();
        }
    }
}
