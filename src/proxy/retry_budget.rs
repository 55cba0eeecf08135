//! A retry budget: retries may add at most `ratio` of the requests seen over the last ten
//! seconds, plus `min_per_second` so a quiet service can still retry (Finagle and Linkerd's
//! design). It stops a failing backend from turning every request into several.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::time::Instant;

const WINDOW_SECS: usize = 10;

/// Shared by every request of the process.
#[derive(Debug)]
pub struct RetryBudget {
    requests: AtomicU64,
    retries: AtomicU64,
    /// Totals at the start of each of the last seconds: (second, requests, retries).
    ring: Mutex<Ring>,
    origin: Instant,
}

#[derive(Debug)]
struct Ring {
    second: u64,
    marks: [(u64, u64); WINDOW_SECS],
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self::new()
    }
}

impl RetryBudget {
    /// An empty budget.
    pub fn new() -> Self {
        RetryBudget {
            requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            ring: Mutex::new(Ring {
                second: 0,
                marks: [(0, 0); WINDOW_SECS],
            }),
            origin: Instant::now(),
        }
    }

    /// Counts a request (one relaxed atomic add: this is on every request).
    pub fn deposit(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one retry from the budget if it allows; false means "do not retry".
    pub fn try_withdraw(&self, ratio: f64, min_per_second: u32) -> bool {
        let now_sec = self.origin.elapsed().as_secs();
        let requests = self.requests.load(Ordering::Relaxed);
        let retries = self.retries.load(Ordering::Relaxed);
        let mut ring = self.ring.lock();
        // Advance the ring to now, marking each second we skipped with the current totals.
        while ring.second < now_sec {
            ring.second += 1;
            let slot = (ring.second as usize) % WINDOW_SECS;
            ring.marks[slot] = (requests, retries);
        }
        let oldest = ring.marks[((now_sec as usize) + 1) % WINDOW_SECS];
        let window_requests = requests.saturating_sub(oldest.0);
        let window_retries = retries.saturating_sub(oldest.1);
        let allowed =
            ratio * window_requests as f64 + f64::from(min_per_second) * WINDOW_SECS as f64;
        if (window_retries as f64) < allowed {
            self.retries.fetch_add(1, Ordering::Relaxed);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn retries_are_capped_by_ratio_and_floor() {
        let b = RetryBudget::new();
        for _ in 0..1000 {
            b.deposit();
        }
        // 20% of 1000 + 1/s floor * 10 s = 210 retries
        let granted = (0..500).filter(|_| b.try_withdraw(0.2, 1)).count();
        assert_eq!(granted, 210);
        // the window slides: after ten quiet seconds the budget is back to the floor
        tokio::time::advance(Duration::from_secs(11)).await;
        let granted = (0..500).filter(|_| b.try_withdraw(0.2, 1)).count();
        assert_eq!(granted, 10);
    }
}
