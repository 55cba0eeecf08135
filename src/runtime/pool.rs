//! A pool at runtime: its backends (with their shared health state and a ready-made Pingora
//! peer each), the cached serving schedule, and the passive-ejection policy that needs a view
//! of the whole pool (`max_ejection_percent`).

use super::balance::{self, maglev};
use super::schedule::{serving_tier, weighted_cycle, Member, Tier};
use crate::config::model::{self, Balance};
use crate::health::{Availability, BackendKey, BackendState, Registry};
use arc_swap::ArcSwap;
use parking_lot::Mutex;
use pingora::upstreams::peer::HttpPeer;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::time::Instant;

/// One backend of a pool.
#[derive(Debug)]
pub struct PoolBackend {
    /// Its validated config.
    pub config: model::Backend,
    /// Health, ejection, overrides, in-flight: shared with every snapshot that has it.
    pub state: Arc<BackendState>,
    /// The peer handed to Pingora, built once (a `SocketAddr`, never a name to resolve).
    pub peer: HttpPeer,
    /// `IP:port`, for logs and metric labels.
    pub label: Arc<str>,
    /// Identifies connections that may be reused for this backend: the peer's address and
    /// TLS settings (Pingora's `reuse_hash`).
    pub reuse_key: u64,
    /// Requests by status class, in flight (handles resolved on first use).
    pub metrics: crate::metrics::BackendMetrics,
}

/// The cached decision of who serves, valid until the health epoch moves or `valid_until`.
#[derive(Debug)]
struct Schedule {
    epoch: u64,
    valid_until: Option<Instant>,
    tier: Tier,
    /// Round-robin order (smooth weighted cycle): the pick of `round_robin`, the draws of
    /// `random_two_choices`, and the fallback of `hash` for requests without a key.
    order: Vec<u32>,
    /// The serving members (indices into the backends), in configured order.
    members: Vec<u32>,
    /// Their weights.
    weights: Vec<u32>,
    /// Sum of `weights`.
    total_weight: u64,
    /// `hash` only: the Maglev table over `members`.
    table: maglev::Table,
    /// Per backend: whether it is a member (a sticky cookie's backend is honoured only then).
    serving: Vec<bool>,
    /// The request counter's value when this schedule took over, and the position of `order`
    /// it took over at: round robin continues the old cycle's phase ([`super::phase`]).
    start: usize,
    offset: usize,
    /// Members ramping up under slow start (their phase is the one carried over).
    ramping: Vec<u32>,
}

/// A pool at runtime.
#[derive(Debug)]
pub struct Pool {
    /// Name (metric label).
    pub name: Arc<str>,
    /// Validated settings, compared on reload to decide whether this pool can be reused.
    pub config: model::Pool,
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
}

impl Pool {
    /// Builds a pool, taking (or creating) each backend's state from the registry.
    pub fn build(config: &model::Pool, registry: &Arc<Registry>) -> Self {
        let start = BackendState::start_status(config.health_check.as_ref());
        let backends = config
            .backends
            .iter()
            .map(|b| {
                let state = registry.get_or_create(BackendKey::new(&config.name, b.address), start);
                state.configure(config.failback_delay, b.drain);
                let peer = make_peer(config, b);
                PoolBackend {
                    config: b.clone(),
                    state,
                    reuse_key: pingora::upstreams::peer::Peer::reuse_hash(&peer),
                    peer,
                    label: Arc::from(b.address.to_string()),
                    metrics: Default::default(),
                }
            })
            .collect();
        let name: Arc<str> = Arc::from(config.name.as_str());
        Pool {
            metrics: crate::metrics::PoolMetrics::new(&name, &[]),
            name,
            config: config.clone(),
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
            schedule: ArcSwap::from_pointee(Schedule {
                epoch: 0,
                valid_until: None,
                tier: Tier::None,
                order: Vec::new(),
                members: Vec::new(),
                weights: Vec::new(),
                total_weight: 0,
                table: maglev::Table::default(),
                serving: Vec::new(),
                start: 0,
                offset: 0,
                ramping: Vec::new(),
            }),
            rebuild: Mutex::new(()),
        }
    }

    /// The same pool, counting requests per listener (`listeners` in bound order, fixed for
    /// the life of the process, so a pool reused by a later snapshot stays right).
    pub fn with_listeners(mut self, listeners: &[Arc<str>]) -> Self {
        self.metrics = crate::metrics::PoolMetrics::new(&self.name, listeners);
        self
    }

    /// Identities of this pool's backends.
    pub fn keys(&self) -> impl Iterator<Item = &BackendKey> {
        self.backends.iter().map(|b| &b.state.key)
    }

    fn current(&self) -> Arc<Schedule> {
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
        next.offset =
            super::phase::entry_offset(&cached.order, old_pos, &next.order, &tracked, next.start);
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
        next
    }

    fn members(&self, now: Instant) -> (Vec<Member>, Option<Instant>) {
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
        Schedule {
            epoch,
            valid_until,
            tier,
            order,
            serving,
            total_weight: weights.iter().map(|&w| u64::from(w)).sum(),
            members: chosen,
            weights,
            table,
            start: 0,
            offset: 0,
            ramping,
        }
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
            Balance::LeastConnections => balance::least_loaded(
                &schedule.members,
                &schedule.weights,
                self.counter.fetch_add(1, Ordering::Relaxed),
                load,
            ),
            Balance::RandomTwoChoices => {
                balance::two_choices(&schedule.order, |i| self.weight(i), load)
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
            let cap =
                balance::capacity(bound, total, self.weight(candidate), schedule.total_weight);
            if self.load(candidate) < cap {
                return Some(candidate);
            }
        }
        Some(first)
    }

    fn load(&self, index: u32) -> u64 {
        self.backends
            .get(index as usize)
            .map_or(u64::MAX, |b| u64::from(b.state.inflight()))
    }

    fn weight(&self, index: u32) -> u32 {
        self.backends
            .get(index as usize)
            .map_or(1, |b| b.config.weight)
    }

    /// Counts a request in flight to this pool until the guard drops (the bounded-load total).
    pub fn begin_request(&self) -> PoolInflight<'_> {
        self.inflight.fetch_add(1, Ordering::Relaxed);
        PoolInflight(&self.inflight)
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

    /// Records a failed connect; ejects the backend if its threshold is reached and the pool's
    /// `max_ejection_percent` allows (at least one backend may always be ejected).
    pub fn report_connect_failure(&self, index: u32) {
        let Some(b) = self.backends.get(index as usize) else {
            return;
        };
        if b.state.record_connect_failure(&self.config.passive) {
            self.try_eject(b, "consecutive connect failures");
        }
    }

    /// Records an upstream timeout (see [`Self::report_connect_failure`]).
    pub fn report_timeout(&self, index: u32) {
        let Some(b) = self.backends.get(index as usize) else {
            return;
        };
        if b.state.record_timeout(&self.config.passive) {
            self.try_eject(b, "consecutive timeouts");
        }
    }

    /// Records a response: 5xx count towards ejection, anything else resets the counters.
    pub fn report_response(&self, index: u32, status: u16) {
        let Some(b) = self.backends.get(index as usize) else {
            return;
        };
        if status >= 500 {
            if b.state.record_5xx(&self.config.passive) {
                self.try_eject(b, "consecutive 5xx responses");
            }
        } else {
            b.state.record_success();
        }
    }

    fn try_eject(&self, backend: &PoolBackend, reason: &str) {
        let now = Instant::now();
        let ejected = self
            .backends
            .iter()
            .filter(|b| b.state.is_ejected(now))
            .count();
        let cap =
            (self.backends.len() * self.config.passive.max_ejection_percent as usize / 100).max(1);
        if backend.state.is_ejected(now) {
            return;
        }
        if ejected >= cap {
            tracing::warn!(pool = %self.name, backend = %backend.label, ejected, cap, "not ejecting: max_ejection_percent reached");
            return;
        }
        backend.state.eject(now, &self.config.passive, reason);
        crate::metrics::record_ejection(&self.name, &backend.label);
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

/// A request counted in flight to a pool; uncounted on drop.
#[derive(Debug)]
pub struct PoolInflight<'p>(&'p AtomicUsize);

impl Drop for PoolInflight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn make_peer(pool: &model::Pool, backend: &model::Backend) -> HttpPeer {
    let tls = pool.tls.as_ref();
    let sni = tls.and_then(|t| t.sni.clone()).unwrap_or_else(|| {
        if tls.is_some() {
            backend.host.clone()
        } else {
            String::new()
        }
    });
    let mut peer = HttpPeer::new(backend.address, tls.is_some(), sni);
    let t = &pool.timeouts;
    peer.options.connection_timeout = Some(t.connect);
    peer.options.total_connection_timeout = Some(t.connect);
    peer.options.read_timeout = Some(t.read);
    peer.options.write_timeout = Some(t.write);
    peer.options.idle_timeout = Some(t.idle);
    if pool.protocol == model::UpstreamProtocol::H2 {
        // HTTP/2 only: ALPN `h2` over TLS, prior knowledge (h2c) over cleartext.
        peer.options.set_http_version(2, 2);
        peer.options.max_h2_streams = pool.h2_streams as usize;
    }
    if let Some(tls) = tls {
        peer.options.verify_cert = tls.verify;
        peer.options.verify_hostname = tls.verify;
        peer.options.ca = tls.material.ca.clone();
        peer.client_cert_key = tls.material.client.clone();
    }
    peer
}

#[cfg(test)]
mod tests;
