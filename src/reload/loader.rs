//! The config loader: one long-lived thread on which every reload reads, validates and builds
//! its snapshot, and on which every retired snapshot is dropped.
//!
//! Why one thread: mimalloc frees a page into the heap of the thread that allocated it and
//! only *schedules* the page's return to the OS; the return happens when that owning thread
//! next works in the segment or collects (a free from another thread is queued for the owner).
//! Reloads used to run on whichever `spawn_blocking` thread picked them up, and the old
//! snapshot was dropped later by yet another thread (the last request holding it), while the
//! building thread went idle and exited: the freed snapshot stayed resident for as long as
//! mimalloc pleased, and RSS after 50 reloads swung ±20 % around the first. Here the builder,
//! the dropper and the collector are the same thread, so a forced collect after each drop
//! returns the whole snapshot at once.
//!
//! A retired snapshot still held by requests (a long download, a tunnel) is kept in a list
//! and checked again every [`RECHECK`] until the loader holds the last reference.

use crate::runtime::Snapshot;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

/// How often snapshots still held by requests are checked again.
const RECHECK: Duration = Duration::from_secs(1);

type Job = Box<dyn FnOnce(&mut Retired) + Send>;

thread_local! {
    /// Set on the loader thread: a job that itself asks for a load runs it inline instead of
    /// waiting for itself.
    static ON_LOADER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Snapshots swapped out of service, dropped on the loader thread once nothing else holds
/// them.
#[derive(Debug, Default)]
pub struct Retired(Vec<Arc<Snapshot>>);

impl Retired {
    /// Takes a snapshot that was just replaced.
    pub fn push(&mut self, old: Arc<Snapshot>) {
        self.0.push(old);
    }

    /// Drops every snapshot nobody else holds and returns this thread's freed memory to the OS.
    pub fn release(&mut self) {
        self.drop_released();
        crate::memory::release_freed_memory();
    }

    /// Drops every snapshot nobody else holds; true when one was dropped.
    fn drop_released(&mut self) -> bool {
        let before = self.0.len();
        self.0.retain(|s| Arc::strong_count(s) > 1);
        self.0.len() < before
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The job was lost: the loader thread could not be started or the job panicked.
#[derive(Debug, thiserror::Error)]
#[error("the config load did not finish (it panicked; see the log)")]
pub struct Lost;

/// Handle to the loader thread. Dropping it ends the thread (after its current job).
#[derive(Debug)]
pub struct Loader {
    jobs: Option<mpsc::Sender<Job>>,
}

impl Loader {
    /// Starts the thread. If it cannot be started, jobs run on the calling thread instead (the
    /// memory is then returned on mimalloc's own schedule, as before the loader existed).
    pub fn start() -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        match std::thread::Builder::new()
            .name("config-loader".into())
            .spawn(move || serve(&rx))
        {
            Ok(_) => Loader { jobs: Some(tx) },
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the config loader thread; loading on the caller's");
                Loader { jobs: None }
            }
        }
    }

    /// Runs `job` on the loader thread and waits for it; then the snapshots it retired are
    /// dropped (those nobody else holds) and the freed memory is returned to the OS before
    /// this returns. Blocking: call it from a blocking context in async code.
    ///
    /// # Errors
    /// [`Lost`] when the job panicked.
    pub fn run<R, F>(&self, job: F) -> Result<R, Lost>
    where
        R: Send + 'static,
        F: FnOnce(&mut Retired) -> R + Send + 'static,
    {
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        let boxed: Job = Box::new(move |retired: &mut Retired| {
            let result = job(retired);
            retired.release();
            let _ = done_tx.send(result);
        });
        let Some(jobs) = self.jobs.as_ref().filter(|_| !ON_LOADER.get()) else {
            let mut retired = Retired::default();
            run_one(boxed, &mut retired);
            return done_rx.recv().map_err(|_| Lost);
        };
        if let Err(mpsc::SendError(boxed)) = jobs.send(boxed) {
            // The thread is gone (it only ends when this handle is dropped): run here.
            let mut retired = Retired::default();
            run_one(boxed, &mut retired);
        }
        done_rx.recv().map_err(|_| Lost)
    }
}

/// The loader thread: jobs as they come; between them, snapshots still held are checked
/// every [`RECHECK`]. Ends when every [`Loader`] handle is dropped.
fn serve(jobs: &mpsc::Receiver<Job>) {
    ON_LOADER.set(true);
    let mut retired = Retired::default();
    loop {
        let next = if retired.is_empty() {
            jobs.recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected)
        } else {
            jobs.recv_timeout(RECHECK)
        };
        match next {
            Ok(job) => run_one(job, &mut retired),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if retired.drop_released() {
                    crate::memory::release_freed_memory();
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Runs one job; a panic is logged and reported to the waiting caller as [`Lost`] (its result
/// channel is dropped), and the thread carries on.
fn run_one(job: Job, retired: &mut Retired) {
    if catch_unwind(AssertUnwindSafe(|| job(retired))).is_err() {
        tracing::error!("a config load panicked; the current config keeps serving");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_run_on_one_named_thread_and_return_their_result() {
        let loader = Loader::start();
        let name = || std::thread::current().name().map(str::to_owned);
        let first = loader.run(move |_| name()).map_err(|_| ()).unwrap();
        let second = loader.run(move |_| name()).map_err(|_| ()).unwrap();
        assert_eq!(first.as_deref(), Some("config-loader"));
        assert_eq!(first, second);
    }

    #[test]
    fn a_panicking_job_is_lost_and_the_loader_carries_on() {
        let loader = Loader::start();
        let lost = loader.run(|_| -> u8 { panic!("boom") });
        assert!(lost.is_err());
        assert_eq!(loader.run(|_| 7).map_err(|_| ()).unwrap(), 7);
    }

    #[test]
    fn a_job_that_asks_for_a_load_runs_it_inline() {
        let loader = Arc::new(Loader::start());
        let inner = loader.clone();
        let nested = loader.run(move |_| inner.run(|_| 5).map_err(|_| ()));
        assert_eq!(nested.map_err(|_| ()).unwrap(), Ok(5));
    }
}
