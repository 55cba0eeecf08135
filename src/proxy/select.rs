//! Backend selection rules shared by both protocol engines: prefer a backend with a free
//! connection slot, and whether a failed attempt may be retried (attempts left, a candidate
//! left, and the process-wide retry budget).

use super::retry_budget::RetryBudget;
use crate::config::model::RetryBudgetSettings;
use crate::runtime::Pool;

/// `index` if it has a free connection slot (or no limit); else another eligible backend with a
/// free slot; else `index` (the request will queue there).
pub fn prefer_room(pool: &Pool, index: u32, tried: &[u32]) -> u32 {
    let has_room = |i: u32| {
        pool.backends.get(i as usize).is_none_or(|b| {
            b.config
                .max_connections
                .is_none_or(|max| b.state.limiter.has_room(max))
        })
    };
    if has_room(index) {
        return index;
    }
    let mut excluded: Vec<u32> = tried.to_vec();
    excluded.push(index);
    while let Some(other) = pool.select_excluding(&excluded) {
        if has_room(other) {
            return other;
        }
        excluded.push(other);
    }
    index
}

/// Whether another attempt is allowed after `attempts` attempts: the pool's `max_retries`, a
/// backend not tried yet (unless the retry goes to the same backend on a fresh connection),
/// and the retry budget.
pub fn may_retry(
    budget: &RetryBudget,
    settings: &RetryBudgetSettings,
    pool: &Pool,
    attempts: u32,
    tried: &[u32],
    same_backend: bool,
) -> bool {
    may_retry_with(
        pool.config.max_retries,
        budget,
        settings,
        pool,
        attempts,
        tried,
        same_backend,
    )
}

/// [`may_retry`] with a route's own `max_retries` in place of the pool's.
pub fn may_retry_with(
    max_retries: u32,
    budget: &RetryBudget,
    settings: &RetryBudgetSettings,
    pool: &Pool,
    attempts: u32,
    tried: &[u32],
    same_backend: bool,
) -> bool {
    if attempts > max_retries {
        return false;
    }
    if !same_backend && pool.select_excluding(tried).is_none() {
        return false;
    }
    if budget.try_withdraw(settings.ratio, settings.min_per_second) {
        true
    } else {
        pool.metrics.retry_budget_exhausted();
        false
    }
}

/// Backends already tried for this request (bounded: retries are capped at 16).
#[derive(Debug, Default, Clone, Copy)]
pub struct Tried {
    slots: [u32; 17],
    len: u8,
}

impl Tried {
    /// Records a backend as tried.
    pub fn push(&mut self, index: u32) {
        if usize::from(self.len) < self.slots.len() && !self.as_slice().contains(&index) {
            self.slots[usize::from(self.len)] = index;
            self.len += 1;
        }
    }

    /// Backends tried so far.
    pub fn as_slice(&self) -> &[u32] {
        &self.slots[..usize::from(self.len)]
    }
}
