//! `max_connections` per backend with a bounded queue and a queue timeout (HAProxy's
//! `maxconn`/`maxqueue`/`timeout queue`): a slow backend is protected instead of overloaded.
//!
//! The counters live in the backend's state (so they survive reloads); the limits come from the
//! current snapshot and are passed in on every acquire, so changing them is a plain reload.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Slot accounting for one backend.
#[derive(Debug, Default)]
pub struct Limiter {
    active: AtomicU32,
    queued: AtomicU32,
    freed: Notify,
}

/// The queue was full or the wait timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("backend at max_connections and its queue is full or timed out")]
pub struct QueueFull;

/// A held connection slot; released on drop.
#[derive(Debug)]
pub struct Permit {
    owner: Arc<super::BackendState>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.owner.limiter.active.fetch_sub(1, Ordering::AcqRel);
        self.owner.limiter.freed.notify_one();
    }
}

impl Limiter {
    fn try_take(&self, max: u32) -> bool {
        let mut current = self.active.load(Ordering::Acquire);
        while current < max {
            match self.active.compare_exchange_weak(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
        false
    }

    /// Whether a slot is free right now (used to prefer another backend before queueing).
    pub fn has_room(&self, max: u32) -> bool {
        self.active.load(Ordering::Acquire) < max
    }

    /// Requests waiting now.
    pub(crate) fn queued(&self) -> u32 {
        self.queued.load(Ordering::Relaxed)
    }

    /// Requests holding a slot now.
    #[cfg(test)]
    pub(crate) fn active(&self) -> u32 {
        self.active.load(Ordering::Relaxed)
    }
}

impl super::BackendState {
    /// Takes a slot, waiting in the bounded queue if the backend is at `max`.
    ///
    /// # Errors
    /// [`QueueFull`] when `max_queue` requests already wait or `timeout` passes first.
    pub async fn acquire_slot(
        self: &Arc<Self>,
        max: u32,
        max_queue: u32,
        timeout: Duration,
    ) -> Result<Permit, QueueFull> {
        let limiter = &self.limiter;
        if limiter.try_take(max) {
            return Ok(Permit {
                owner: self.clone(),
            });
        }
        if limiter.queued.fetch_add(1, Ordering::AcqRel) >= max_queue {
            limiter.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(QueueFull);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let result = loop {
            // Register interest before re-checking, so a release in between is not missed.
            let freed = limiter.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if limiter.try_take(max) {
                break Ok(Permit {
                    owner: self.clone(),
                });
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                break Err(QueueFull);
            }
        };
        limiter.queued.fetch_sub(1, Ordering::AcqRel);
        result
    }
}

#[cfg(test)]
mod tests {
    use crate::health::{BackendKey, Registry, Status};
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn queue_is_bounded_and_times_out() {
        let registry = Registry::new();
        let state = registry.get_or_create(
            BackendKey::new("p", "127.0.0.1:1".parse().unwrap()),
            Status::Up,
        );
        let first = state
            .acquire_slot(1, 1, Duration::from_secs(1))
            .await
            .unwrap();
        // second waits in the queue; third finds the queue full
        let s2 = state.clone();
        let waiter =
            tokio::spawn(async move { s2.acquire_slot(1, 1, Duration::from_secs(1)).await });
        tokio::task::yield_now().await;
        assert_eq!(state.limiter.queued(), 1);
        assert!(state
            .acquire_slot(1, 1, Duration::from_secs(1))
            .await
            .is_err());
        drop(first);
        let second = waiter.await.unwrap().unwrap();
        assert_eq!(state.limiter.active(), 1);
        assert_eq!(state.limiter.queued(), 0);
        // a queued request gives up at its timeout
        let s3 = state.clone();
        let timed =
            tokio::spawn(async move { s3.acquire_slot(1, 5, Duration::from_millis(500)).await });
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(timed.await.unwrap().is_err());
        drop(second);
        assert_eq!(state.limiter.active(), 0);
    }
}
