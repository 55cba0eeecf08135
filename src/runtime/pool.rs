//! A pool at runtime: its backends (with their shared health state and a ready-made Pingora
//! peer each, [`backend`]), the cached serving schedule ([`cache`]), the choice of a backend
//! per request (here), the requests in flight ([`inflight`]) and the passive-ejection policy
//! that needs a view of the whole pool ([`passive`]).

mod backend;
mod cache;
mod gauges;
mod inflight;
mod passive;

pub use backend::{make_peer, PoolBackend};
pub use gauges::render_backend_gauges;
pub use inflight::PoolInflight;

use super::balance::{self, maglev};
use super::schedule::{serving_tier, Tier};
use crate::config::model::{self, Balance};
use crate::health::{Availability, BackendKey, BackendState, Registry};
use arc_swap::ArcSwap;
use cache::Schedule;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::time::Instant;

/// A pool at runtime.
#[derive(Debug)]
pub struct Pool {
    /// Name (metric label).
    pub name: Arc<str>,
    /// Validated settings, compared on reload to decide whether this pool can be reused
    /// ([`Self::same_config`]). Its `backends` list is empty: each backend's config is in
    /// [`Self::backends`] (one copy, not two). Shared (`Arc`) with the health-check task of
    /// each of its backends, which builds its peer from it.
    pub config: Arc<model::Pool>,
    /// Backends in configured order.
    pub backends: Vec<PoolBackend>,
    /// Request, latency and byte series of this pool (every route's requests are counted here).
    pub metrics: crate::metrics::PoolMetrics,
    registry: Arc<Registry>,
    counter: AtomicUsize,
    /// Requests in flight to this pool's backends (the bounded-load total).
    inflight: AtomicUsize,
    /// Each backend's stable identity for hashing (pool name and address).
    ids: Vec<u64>,
    /// The hash of `[hash] default`, used for requests without the key.
    default_key: Option<u64>,
    /// The sticky cookie, if enabled.
    sticky: Option<balance::sticky::Sticky>,
    failed_over: std::sync::atomic::AtomicBool,
    schedule: ArcSwap<Schedule>,
    rebuild: Mutex<()>,
    /// The pool that replaced this one on a reload, if any.
    successor: inflight::Successor,
}

impl Pool {
    /// Builds a pool, taking (or creating) each backend's state from the registry.
    pub fn build(config: &model::Pool, registry: &Arc<Registry>) -> Self {
        let start = BackendState::start_status(config.health_check.as_ref());
        let name: Arc<str> = Arc::from(config.name.as_str());
        let backends = config
            .backends
            .iter()
            .map(|b| {
                // The keys share the pool's name: one allocation per pool, not per backend.
                let key = BackendKey {
                    pool: name.clone(),
                    address: b.address,
                };
                let state = registry.get_or_create(key, start);
                state.configure(config.failback_delay, b.drain);
                PoolBackend::new(config, b, state)
            })
            .collect();
        Pool {
            metrics: crate::metrics::PoolMetrics::new(&name, &[]),
            name,
            config: Arc::new(settings_of(config)),
            backends,
            registry: registry.clone(),
            counter: AtomicUsize::new(0),
            inflight: AtomicUsize::new(0),
            ids: config
                .backends
                .iter()
                .map(|b| maglev::member_id(&config.name, &b.address))
                .collect(),
            default_key: config
                .hash
                .as_ref()
                .and_then(|h| h.default.as_deref())
                .map(|d| balance::hash::hash_bytes(d.as_bytes())),
            sticky: config
                .sticky
                .as_ref()
                .map(|s| balance::sticky::Sticky::build(&config.name, s, &config.backends)),
            failed_over: std::sync::atomic::AtomicBool::new(false),
            schedule: ArcSwap::from_pointee(Schedule::empty()),
            rebuild: Mutex::new(()),
            successor: Default::default(),
        }
    }

    /// The same pool, counting requests per listener (`listeners` in bound order, fixed for
    /// the life of the process, so a pool reused by a later snapshot stays right).
    pub fn with_listeners(mut self, listeners: &[Arc<str>]) -> Self {
        self.metrics = crate::metrics::PoolMetrics::new(&self.name, listeners);
        self
    }

    /// Whether `config` is this pool's config, settings and backends (a reload keeps the pool
    /// then).
    pub fn same_config(&self, config: &model::Pool) -> bool {
        same_settings(&self.config, config)
            && self.backends.len() == config.backends.len()
            && self
                .backends
                .iter()
                .zip(&config.backends)
                .all(|(b, c)| b.config == *c)
    }

    /// Identities of this pool's backends.
    pub fn keys(&self) -> impl Iterator<Item = &BackendKey> {
        self.backends.iter().map(|b| &b.state.key)
    }

    /// The tier serving now.
    pub fn tier(&self) -> Tier {
        self.current().tier
    }

    /// Picks a backend for a first attempt by the pool's algorithm. `key` is the hash of the
    /// request's balancing key ([`balance::key::key_hash`]; only `hash` pools use it).
    pub fn select(&self, key: Option<u64>) -> Option<u32> {
        let schedule = self.current();
        if schedule.order.is_empty() {
            return None;
        }
        let load = |i: u32| self.load(i);
        match self.config.balance {
            Balance::RoundRobin | Balance::ActivePassive => Some(self.next_in_order(&schedule)),
            Balance::LeastConnections => schedule
                .least
                .as_ref()
                .and_then(|least| least.pick(self.counter.fetch_add(1, Ordering::Relaxed))),
            Balance::RandomTwoChoices => {
                balance::two_choices(&schedule.order, |i| schedule.weight(i), load)
            }
            Balance::Hash => match key.or(self.default_key) {
                Some(k) => self.hashed(&schedule, k),
                None => Some(self.next_in_order(&schedule)),
            },
        }
    }

    /// What a request brings to the choice: its key's hash (pools that hash) and the backend
    /// its sticky cookie names (pools with `sticky`); nothing, at no cost, otherwise.
    pub fn affinity(&self, input: &balance::key::KeyInput<'_>) -> balance::Affinity {
        balance::Affinity {
            key: self
                .config
                .hash
                .as_ref()
                .and_then(|h| balance::key::key_hash(&h.key, input)),
            sticky: self.sticky.as_ref().and_then(|s| s.requested(input.fields)),
        }
    }

    /// The first attempt's backend: the sticky cookie's while it serves, else the algorithm's.
    pub fn select_for(&self, affinity: balance::Affinity) -> Option<u32> {
        if let Some(i) = affinity.sticky {
            if self
                .current()
                .serving
                .get(i as usize)
                .copied()
                .unwrap_or(false)
            {
                return Some(i);
            }
        }
        self.select(affinity.key)
    }

    /// The sticky `Set-Cookie` value for a response from `chosen` (none when the pool is not
    /// sticky or the request's cookie already named it).
    pub fn set_cookie(
        &self,
        affinity: balance::Affinity,
        chosen: u32,
        tls: bool,
    ) -> Option<&http::HeaderValue> {
        self.sticky
            .as_ref()
            .and_then(|s| s.set_cookie(affinity.sticky, chosen, tls))
    }

    fn next_in_order(&self, schedule: &Schedule) -> u32 {
        let turn = self.counter.fetch_add(1, Ordering::Relaxed);
        let position = schedule
            .offset
            .wrapping_add(turn.wrapping_sub(schedule.start));
        schedule.order[position % schedule.order.len()]
    }

    /// The Maglev owner of `key`; with a bound, the first owner along the table (from the
    /// key's slot on) whose in-flight count is below its capacity.
    fn hashed(&self, schedule: &Schedule, key: u64) -> Option<u32> {
        let table = &schedule.table;
        let slot = table.slot(key);
        let owner = |probe: usize| {
            table
                .owner(slot + probe)
                .and_then(|pos| schedule.members.get(pos as usize).copied())
        };
        let first = owner(0)?;
        let Some(bound) = self.config.hash.as_ref().and_then(|h| h.bound) else {
            return Some(first);
        };
        let total = self.inflight.load(Ordering::Relaxed) as u64;
        // Capacities sum to at least the in-flight count plus one, so some member has room;
        // the probe count only guards against a pathological table.
        for probe in 0..table.len() {
            let candidate = owner(probe)?;
            let cap = balance::capacity(
                bound,
                total,
                schedule.weight(candidate),
                schedule.total_weight,
            );
            if self.load(candidate) < cap {
                return Some(candidate);
            }
        }
        Some(first)
    }

    /// Whether a request just counted in flight to backend `index` (the pool's count raised,
    /// `before` the backend's count it raised) took a place within the bounded-load capacity.
    /// The pick compares a load read before the count was raised, so two threads can both
    /// take a member's last place; the counts they raised differ, so exactly one keeps it
    /// and the other sees here that it must pick again. Always true without a bound.
    pub fn within_bound(&self, index: u32, before: u32) -> bool {
        let Some(bound) = self.config.hash.as_ref().and_then(|h| h.bound) else {
            return true;
        };
        if self.config.balance != Balance::Hash {
            return true;
        }
        let schedule = self.current();
        let others = (self.inflight.load(Ordering::Relaxed) as u64).saturating_sub(1);
        let cap = balance::capacity(bound, others, schedule.weight(index), schedule.total_weight);
        u64::from(before) < cap
    }

    fn load(&self, index: u32) -> u64 {
        self.backends
            .get(index as usize)
            .map_or(u64::MAX, |b| u64::from(b.state.inflight()))
    }

    /// Picks a backend for a retry, never one already tried for this request: the next in the
    /// serving tier, else the next tier down (for active/passive, the next backend in order).
    pub fn select_excluding(&self, tried: &[u32]) -> Option<u32> {
        let schedule = self.current();
        if !schedule.order.is_empty() {
            let start = self.counter.fetch_add(1, Ordering::Relaxed);
            for k in 0..schedule.order.len() {
                let candidate = schedule.order[(start + k) % schedule.order.len()];
                if !tried.contains(&candidate) {
                    return Some(candidate);
                }
            }
        }
        // Everything in the serving tier was tried: look further down, in priority order.
        let (mut members, _) = self.members(Instant::now());
        for &t in tried {
            if let Some(m) = members.get_mut(t as usize) {
                m.config_drain = true; // excluded from every tier below
            }
        }
        let (_, chosen) = serving_tier(&members, self.config.fail_open);
        chosen.first().copied()
    }

    /// Whether any backend is currently usable (healthy, unknown or fail-open).
    pub fn has_candidates(&self) -> bool {
        !self.current().order.is_empty()
    }

    /// Availability of each backend now (for `/status`).
    pub fn availability(&self) -> Vec<Availability> {
        self.members(Instant::now())
            .0
            .into_iter()
            .map(|m| m.availability)
            .collect()
    }
}

/// A copy of a pool's settings without its backends (not cloned only to be dropped: at
/// 100,000 backends that is megabytes of churn per load).
fn settings_of(config: &model::Pool) -> model::Pool {
    let model::Pool {
        name,
        balance,
        hash,
        sticky,
        slow_start,
        max_retries,
        fail_open,
        failback_delay,
        timeouts,
        protocol,
        h2_streams,
        tls,
        health_check,
        passive,
        backends: _,
    } = config;
    model::Pool {
        name: name.clone(),
        balance: *balance,
        hash: hash.clone(),
        sticky: sticky.clone(),
        slow_start: *slow_start,
        max_retries: *max_retries,
        fail_open: *fail_open,
        failback_delay: *failback_delay,
        timeouts: *timeouts,
        protocol: *protocol,
        h2_streams: *h2_streams,
        tls: tls.clone(),
        health_check: health_check.clone(),
        passive: *passive,
        backends: Vec::new(),
    }
}

/// Whether two pool configs have the same settings, their backends aside. Every field is
/// named, so a new setting cannot be left out of the comparison.
fn same_settings(a: &model::Pool, b: &model::Pool) -> bool {
    let model::Pool {
        name,
        balance,
        hash,
        sticky,
        slow_start,
        max_retries,
        fail_open,
        failback_delay,
        timeouts,
        protocol,
        h2_streams,
        tls,
        health_check,
        passive,
        backends: _,
    } = a;
    *name == b.name
        && *balance == b.balance
        && *hash == b.hash
        && *sticky == b.sticky
        && *slow_start == b.slow_start
        && *max_retries == b.max_retries
        && *fail_open == b.fail_open
        && *failback_delay == b.failback_delay
        && *timeouts == b.timeouts
        && *protocol == b.protocol
        && *h2_streams == b.h2_streams
        && *tls == b.tls
        && *health_check == b.health_check
        && *passive == b.passive
}

#[cfg(test)]
mod footprint;
#[cfg(test)]
mod tests;
