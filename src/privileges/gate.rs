//! A process-wide gate that connection handlers pass before touching a connection: closed
//! while a privilege drop is pending, open otherwise. Passing an open gate costs one relaxed
//! atomic load (the connection hot path); only connections accepted while it is closed wait.

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// The gate of this process (see the module docs). Open unless [`Gate::close`] was called.
pub static GATE: Gate = Gate::new();

/// Holds connection processing back until opened.
#[derive(Debug)]
pub struct Gate {
    closed: AtomicBool,
    opened: Notify,
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    /// An open gate.
    pub const fn new() -> Self {
        Gate {
            closed: AtomicBool::new(false),
            opened: Notify::const_new(),
        }
    }

    /// Closes the gate: connections accepted from now on wait in [`Self::wait_open`].
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Opens the gate and releases every waiting connection.
    pub fn open(&self) {
        self.closed.store(false, Ordering::Release);
        self.opened.notify_waiters();
    }

    /// The hot-path check: one relaxed load. A stale `true` only sends the caller to
    /// [`Self::wait_open`], which looks again with acquire ordering; `false` is never early,
    /// since the gate is closed before the server starts and opened only after the drop.
    #[inline]
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Waits until the gate is open (returns at once if it is).
    pub async fn wait_open(&self) {
        loop {
            let opened = self.opened.notified();
            tokio::pin!(opened);
            // Registered before the check, so an `open` between the check and the await is
            // not missed.
            opened.as_mut().enable();
            if !self.closed.load(Ordering::Acquire) {
                return;
            }
            opened.await;
        }
    }
}

/// A Pingora app whose connections pass [`GATE`] first (the admin listener; the proxy
/// listeners check it inline in their own connection handler).
pub struct GatedApp<A>(pub Arc<A>);

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for GatedApp<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        if GATE.is_closed() {
            GATE.wait_open().await;
        }
        self.0.process_new(stream, shutdown).await
    }

    async fn cleanup(&self) {
        self.0.cleanup().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn a_closed_gate_holds_callers_until_opened() {
        let gate = Arc::new(Gate::new());
        assert!(!gate.is_closed());
        gate.wait_open().await; // open: no wait
        gate.close();
        assert!(gate.is_closed());
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let gate = gate.clone();
                tokio::spawn(async move { gate.wait_open().await })
            })
            .collect();
        tokio::task::yield_now().await;
        for w in &waiters {
            assert!(!w.is_finished(), "passed a closed gate");
        }
        gate.open();
        for w in waiters {
            tokio::time::timeout(Duration::from_secs(5), w)
                .await
                .expect("released when opened")
                .unwrap();
        }
        assert!(!gate.is_closed());
    }
}
