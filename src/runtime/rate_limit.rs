//! Per-client token buckets with bounded memory.
//!
//! A fixed table of buckets; each client address hashes (with a per-process random key, so
//! collisions cannot be aimed) to two candidate slots. A client keeps its bucket while it is
//! active; a new client takes the candidate slot that has been idle longest. Memory is fixed
//! whatever the number of addresses; under a flood of addresses the longest-idle are forgotten
//! first.

use parking_lot::Mutex;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::time::Duration;
use tokio::time::Instant;

/// Slots per limiter (about 24 bytes each).
const SLOTS: usize = 16_384;

#[derive(Debug, Clone, Copy)]
struct Slot {
    key: u64,
    tokens: f64,
    last: Instant,
}

/// A rate limit for one route.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    slots: Box<[Mutex<Slot>]>,
    hasher: std::collections::hash_map::RandomState,
}

impl RateLimiter {
    /// `per_second` sustained, `burst` at once.
    pub fn new(per_second: f64, burst: u32) -> Self {
        let now = Instant::now();
        RateLimiter {
            per_second,
            burst: f64::from(burst),
            slots: (0..SLOTS)
                .map(|_| {
                    Mutex::new(Slot {
                        key: 0,
                        tokens: 0.0,
                        last: now,
                    })
                })
                .collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    /// The settings, to tell whether a reload changed them.
    pub fn settings(&self) -> (f64, f64) {
        (self.per_second, self.burst)
    }

    fn key(&self, ip: IpAddr) -> u64 {
        self.hasher.hash_one(ip) | 1 // 0 marks an empty slot
    }

    /// Takes one token for `ip`; `Err(wait)` says when to retry.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let key = self.key(ip);
        let now = Instant::now();
        let a = (key as usize) % SLOTS;
        let b = ((key >> 32) as usize ^ 0x9e37) % SLOTS;
        // Lock in index order so two clients sharing both slots cannot deadlock.
        let (first, second) = if a <= b { (a, b) } else { (b, a) };
        let mut g1 = self.slots[first].lock();
        let mut g2 = if second != first {
            Some(self.slots[second].lock())
        } else {
            None
        };
        let slot: &mut Slot = if g1.key == key {
            &mut g1
        } else if g2.as_ref().is_some_and(|g| g.key == key) {
            g2.as_deref_mut().unwrap_or(&mut g1)
        } else {
            // New client: take the candidate idle the longest, with a full bucket.
            let take_second = g2.as_ref().is_some_and(|g| g.last < g1.last);
            let s: &mut Slot = if take_second {
                g2.as_deref_mut().unwrap_or(&mut g1)
            } else {
                &mut g1
            };
            *s = Slot {
                key,
                tokens: self.burst,
                last: now,
            };
            s
        };
        let elapsed = now.saturating_duration_since(slot.last).as_secs_f64();
        slot.tokens = (slot.tokens + elapsed * self.per_second).min(self.burst);
        slot.last = now;
        if slot.tokens >= 1.0 {
            slot.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - slot.tokens) / self.per_second,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bursts_then_refills_per_client() {
        let l = RateLimiter::new(2.0, 3);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!((0..3).all(|_| l.check(a).is_ok()));
        let wait = l.check(a).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert!(l.check(b).is_ok(), "another client has its own bucket");
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(l.check(a).is_ok());
        assert!(l.check(a).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn memory_is_bounded_under_a_flood_of_addresses() {
        let l = RateLimiter::new(1.0, 1);
        let victim: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(l.check(victim).is_ok());
        assert!(l.check(victim).is_err());
        // 100,000 addresses pass through a fixed table.
        for i in 0..100_000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0b00_0000 + i));
            let _ = l.check(ip);
        }
        assert_eq!(l.slots.len(), SLOTS);
    }
}
