//! Fault switches of a sample instance, flipped with `POST /fault?...`.

use std::sync::atomic::{AtomicU8, Ordering};
use tokio::sync::{watch, Notify};

/// `/healthz` behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Healthz {
    /// 200.
    Ok = 0,
    /// 503.
    Fail = 1,
    /// Block until switched back (holds a probe open).
    Hold = 2,
}

/// The switches. One set is shared by every listener of an instance (HTTP and gRPC), so a
/// `POST /fault` on the HTTP port also shows in the gRPC health service.
#[derive(Debug)]
pub struct Faults {
    healthz: AtomicU8,
    refuse_work: AtomicU8,
    /// Answer 500 to every n-th request (0: never): a bad release, for rollout tests.
    error_every: std::sync::atomic::AtomicU64,
    served: std::sync::atomic::AtomicU64,
    released: Notify,
    /// Bumped on every change, for listeners that mirror the switches (gRPC health).
    changed: watch::Sender<u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            healthz: AtomicU8::new(Healthz::Ok as u8),
            refuse_work: AtomicU8::new(0),
            error_every: std::sync::atomic::AtomicU64::new(0),
            served: std::sync::atomic::AtomicU64::new(0),
            released: Notify::new(),
            changed: watch::Sender::new(0),
        }
    }
}

impl Faults {
    /// A receiver that wakes after every change of a switch (read the switches then).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Answer 500 to every `n`-th request from now on (0: never).
    pub fn set_error_every(&self, n: u64) {
        self.error_every.store(n, Ordering::Relaxed);
    }

    /// Whether this request gets an injected 500 (counts the request).
    pub fn inject_error(&self) -> bool {
        let every = self.error_every.load(Ordering::Relaxed);
        let n = self.served.fetch_add(1, Ordering::Relaxed) + 1;
        every > 0 && n.is_multiple_of(every)
    }

    /// Current `/healthz` behaviour.
    pub fn healthz(&self) -> Healthz {
        match self.healthz.load(Ordering::Relaxed) {
            1 => Healthz::Fail,
            2 => Healthz::Hold,
            _ => Healthz::Ok,
        }
    }

    /// Sets `/healthz` behaviour, releasing held probes when leaving `Hold`.
    pub fn set_healthz(&self, h: Healthz) {
        self.healthz.store(h as u8, Ordering::Relaxed);
        if h != Healthz::Hold {
            self.released.notify_waiters();
        }
        self.bump();
    }

    /// Waits while `/healthz` is held.
    pub async fn wait_released(&self) {
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if self.healthz() != Healthz::Hold {
                return;
            }
            released.await;
        }
    }

    /// Whether ordinary routes answer 503.
    pub fn refusing(&self) -> bool {
        self.refuse_work.load(Ordering::Relaxed) == 1
    }

    /// Sets whether ordinary routes answer 503.
    pub fn set_refusing(&self, refuse: bool) {
        self.refuse_work.store(u8::from(refuse), Ordering::Relaxed);
        self.bump();
    }
}
