//! The cached decision of who serves a pool: recomputed when the health epoch moves or a
//! timed state (ejection, slow-start step) is due, and otherwise read with one `ArcSwap` load
//! per request.

use super::Pool;
use crate::config::model::Balance;
use crate::runtime::balance::{self, least_conn, maglev};
use crate::runtime::schedule::{serving_tier, weighted_cycle, Member, Tier};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::time::Instant;

/// Who serves, valid until the health epoch moves or `valid_until`.
#[derive(Debug)]
pub(super) struct Schedule {
    pub(super) epoch: u64,
    pub(super) valid_until: Option<Instant>,
    pub(super) tier: Tier,
    /// Round-robin order (smooth weighted cycle): the pick of `round_robin`, the draws of
    /// `random_two_choices`, and the fallback of `hash` for requests without a key.
    pub(super) order: Vec<u32>,
    /// The serving members (indices into the backends), in configured order.
    pub(super) members: Vec<u32>,
    /// Per backend: its weight in this schedule (ramped by slow start, in the same unit as
    /// `total_weight`), 0 when it is not a member.
    pub(super) weight_of: Vec<u32>,
    /// Sum of the members' weights.
    pub(super) total_weight: u64,
    /// `hash` only: the Maglev table over `members`.
    pub(super) table: maglev::Table,
    /// `least_connections` only: the members ordered by load.
    pub(super) least: Option<least_conn::Index>,
    /// Per backend: whether it is a member (a sticky cookie's backend is honoured only then).
    pub(super) serving: Vec<bool>,
    /// The request counter's value when this schedule took over, and the position of `order`
    /// it took over at: round robin continues the old cycle's phase ([`crate::runtime::phase`]).
    pub(super) start: usize,
    pub(super) offset: usize,
    /// Members ramping up under slow start (their phase is the one carried over).
    ramping: Vec<u32>,
}

impl Schedule {
    /// Backend `index`'s weight in this schedule, at least 1: what the two choices and the
    /// bounded load compare, in the unit of `total_weight` (so that capacities add up while a
    /// backend ramps).
    pub(super) fn weight(&self, index: u32) -> u32 {
        self.weight_of
            .get(index as usize)
            .copied()
            .unwrap_or(1)
            .max(1)
    }

    /// The schedule of a pool that has not computed one yet.
    pub(super) fn empty() -> Self {
        Schedule {
            epoch: 0,
            valid_until: None,
            tier: Tier::None,
            order: Vec::new(),
            members: Vec::new(),
            weight_of: Vec::new(),
            total_weight: 0,
            table: maglev::Table::default(),
            least: None,
            serving: Vec::new(),
            start: 0,
            offset: 0,
            ramping: Vec::new(),
        }
    }
}

impl Pool {
    /// The schedule in force, recomputed first if it is stale.
    pub(super) fn current(&self) -> Arc<Schedule> {
        let epoch = self.registry.epoch();
        {
            let cached = self.schedule.load();
            let fresh = cached.epoch == epoch
                && cached
                    .valid_until
                    .is_none_or(|until| Instant::now() < until);
            if fresh {
                return arc_swap::Guard::into_inner(cached);
            }
        }
        let _one_rebuilder = self.rebuild.lock();
        let cached = self.schedule.load_full();
        if cached.epoch == epoch && cached.valid_until.is_none_or(|u| Instant::now() < u) {
            return cached;
        }
        let mut next = self.compute(epoch);
        next.start = self.counter.load(Ordering::Relaxed);
        let mut tracked: Vec<u32> = cached
            .ramping
            .iter()
            .chain(&next.ramping)
            .copied()
            .collect();
        tracked.sort_unstable();
        tracked.dedup();
        let old_pos = cached
            .offset
            .wrapping_add(next.start.wrapping_sub(cached.start));
        next.offset = crate::runtime::phase::entry_offset(
            &cached.order,
            old_pos,
            &next.order,
            &tracked,
            next.start,
        );
        let next = Arc::new(next);
        if cached.epoch == 0 || next.tier != cached.tier {
            let change = if cached.epoch == 0 {
                None
            } else if cached.tier == Tier::Primary {
                self.failed_over.store(true, Ordering::Relaxed);
                Some(crate::metrics::TierChange::Failover)
            } else if next.tier == Tier::Primary && self.failed_over.swap(false, Ordering::Relaxed)
            {
                // Only a return after a failover is a failback (not a start-up settling).
                Some(crate::metrics::TierChange::Failback)
            } else {
                None
            };
            if cached.epoch != 0 {
                tracing::info!(pool = %self.name, from = cached.tier.as_str(), to = next.tier.as_str(), "pool serving tier changed");
            }
            crate::metrics::record_tier_change(&self.name, next.tier.as_str(), change);
        }
        self.schedule.store(next.clone());
        if let Some(least) = &next.least {
            // A request that started or ended while the index was built refreshed the old
            // one; from here on they refresh this one (see `Pool::refresh_load`).
            std::sync::atomic::fence(Ordering::SeqCst);
            least.resync(|i| self.load(i));
        }
        next
    }

    pub(super) fn members(&self, now: Instant) -> (Vec<Member>, Option<Instant>) {
        let mut valid_until: Option<Instant> = None;
        let members = self
            .backends
            .iter()
            .map(|b| {
                let (availability, until) = b.state.availability(now);
                if let Some(u) = until {
                    valid_until = Some(valid_until.map_or(u, |v| v.min(u)));
                }
                Member {
                    availability,
                    backup: b.config.backup,
                    weight: b.config.weight,
                    config_drain: b.config.drain,
                }
            })
            .collect();
        (members, valid_until)
    }

    fn compute(&self, epoch: u64) -> Schedule {
        let (members, valid_until) = self.members(Instant::now());
        let (tier, chosen) = serving_tier(&members, self.config.fail_open);
        let configured: Vec<u32> = chosen.iter().map(|&i| members[i as usize].weight).collect();
        let now = Instant::now();
        let mut serving = vec![false; self.backends.len()];
        for &i in &chosen {
            if let Some(s) = serving.get_mut(i as usize) {
                *s = true;
            }
        }
        let since: Vec<Option<Instant>> = self
            .backends
            .iter()
            .zip(&serving)
            .map(|(b, &on)| b.state.ramp.note(on, now))
            .filter(|_| self.config.slow_start.is_some())
            .collect();
        let chosen_since: Vec<Option<Instant>> = chosen
            .iter()
            .map(|&i| since.get(i as usize).copied().flatten())
            .collect();
        let (weights, next_step) =
            balance::slow_start::weights(self.config.slow_start, &configured, &chosen_since, now);
        let ramping = match self.config.slow_start {
            Some(window) => chosen
                .iter()
                .zip(&chosen_since)
                .filter(|(_, s)| s.is_some_and(|s| now.saturating_duration_since(s) < window))
                .map(|(&i, _)| i)
                .collect(),
            None => Vec::new(),
        };
        let valid_until = match (valid_until, next_step) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let order = match self.config.balance {
            Balance::ActivePassive => chosen.first().copied().into_iter().collect(),
            _ => weighted_cycle(&chosen, &weights),
        };
        let table = if self.config.balance == Balance::Hash {
            let ids: Vec<u64> = chosen
                .iter()
                .map(|&i| self.ids.get(i as usize).copied().unwrap_or_default())
                .collect();
            maglev::Table::build(&ids, &weights)
        } else {
            maglev::Table::default()
        };
        let least = (self.config.balance == Balance::LeastConnections).then(|| {
            least_conn::Index::build(self.backends.len(), &chosen, &weights, |i| self.load(i))
        });
        let mut weight_of = vec![0; self.backends.len()];
        for (&i, &w) in chosen.iter().zip(&weights) {
            if let Some(slot) = weight_of.get_mut(i as usize) {
                *slot = w;
            }
        }
        Schedule {
            epoch,
            valid_until,
            tier,
            order,
            weight_of,
            serving,
            total_weight: weights.iter().map(|&w| u64::from(w)).sum(),
            members: chosen,
            table,
            least,
            start: 0,
            offset: 0,
            ramping,
        }
    }
}
