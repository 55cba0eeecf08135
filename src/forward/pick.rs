//! Backend choice and connection for one attempt, shared by the HTTP/1 and HTTP/2 engines: the
//! pool's pick (never a backend already tried, preferring one with a free slot), the in-flight
//! count and connection slot held while the attempt lasts, and a connection — idle from this
//! thread's pool or new for HTTP/1 backends, a stream slot on a shared connection for HTTP/2
//! backends. A failed connect is counted here (passive health, metrics, log) once for both.

use super::h2pool::{ConnectError, Slot};
use super::upstream::Upstream;
use super::Engine;
use crate::config::model::UpstreamProtocol;
use crate::health::{InflightGuardHandle as InflightGuard, Permit};
use crate::proxy::select::Tried;
use crate::proxy::select::{may_retry_with, prefer_room};
use crate::runtime::balance::Affinity;
use crate::runtime::pool::PoolBackend;
use crate::runtime::{Pool, Snapshot};
use pingora::ErrorType;

/// The attempts of one request so far.
#[derive(Default)]
pub struct Attempts {
    /// Backends tried.
    pub tried: Tried,
    /// Attempts made.
    pub count: u32,
    /// Retries made.
    pub retries: u32,
    /// The next attempt goes to this backend again, on a new connection.
    fresh: Option<u32>,
    permit: Option<Permit>,
    /// What the request brings to the choice (hash key, sticky cookie).
    pub affinity: Affinity,
    /// The route's `max_retries`, overriding the pool's.
    pub max_retries: Option<u32>,
}

/// Why no backend could be given an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// None is eligible (503).
    NoBackend,
    /// The chosen backend's queue is full or its wait timed out (503).
    QueueFull,
}

impl Refused {
    /// The error kind for the access log.
    pub fn kind(self) -> &'static str {
        match self {
            Refused::NoBackend => "NoBackendAvailable",
            Refused::QueueFull => "QueueFull",
        }
    }
}

/// The backend of one attempt, counted in flight while this lives.
pub struct Picked<'p> {
    /// Index in the pool.
    pub index: u32,
    /// The backend.
    pub backend: &'p PoolBackend,
    /// A retry on a new connection to the same backend.
    pub same: bool,
    _inflight: InflightGuard,
    _pool_inflight: crate::runtime::pool::PoolInflight<'p>,
}

/// A connection for one attempt.
pub enum Connection {
    /// HTTP/1.1, idle or new.
    H1(Upstream),
    /// A stream slot on an HTTP/2 connection.
    H2(Slot),
}

/// A failed connect.
#[derive(Debug)]
pub struct ConnectFailure {
    /// Error kind (Pingora's names).
    pub kind: &'static str,
    /// It timed out (504 rather than 502).
    pub timed_out: bool,
    /// What went wrong, for the log.
    pub error: String,
}

impl Attempts {
    /// The attempts of a request with this affinity ([`Pool::affinity`]) on a route that
    /// may override the pool's `max_retries`.
    pub fn new(affinity: Affinity, max_retries: Option<u32>) -> Self {
        Attempts {
            affinity,
            max_retries,
            ..Attempts::default()
        }
    }

    /// Picks the backend for the next attempt and holds its slot (`max_connections`).
    ///
    /// # Errors
    /// No eligible backend, or no slot in time.
    pub async fn pick<'p>(&mut self, pool: &'p Pool) -> Result<Picked<'p>, Refused> {
        let same = self.fresh.take();
        let selected = match same {
            Some(i) => Some(i),
            None if self.count == 0 => pool.select_for(self.affinity),
            None => pool.select_excluding(self.tried.as_slice()),
        };
        let mut index = selected.ok_or(Refused::NoBackend)?;
        // A sticky backend keeps its requests even when full (they queue there).
        let sticky = self.count == 0 && self.affinity.sticky == Some(index);
        if same.is_none() && !sticky {
            index = prefer_room(pool, index, self.tried.as_slice());
        }
        let mut backend = pool
            .backends
            .get(index as usize)
            .ok_or(Refused::NoBackend)?;
        let (mut inflight, mut before) = backend.state.begin_request_counted();
        let mut pool_inflight = pool.begin_request(index);
        // A bounded-load pick raced another for a member's last place and lost it: it gives
        // the place back and picks again, where the winner's count now shows. Each lost race
        // means another request holds a place, so the pool's size bounds the loop.
        if self.count == 0 && same.is_none() && !sticky {
            for _ in 0..pool.backends.len() {
                if pool.within_bound(index, before) {
                    break;
                }
                drop((inflight, pool_inflight));
                let again = pool.select_for(self.affinity).ok_or(Refused::NoBackend)?;
                index = prefer_room(pool, again, self.tried.as_slice());
                backend = pool
                    .backends
                    .get(index as usize)
                    .ok_or(Refused::NoBackend)?;
                (inflight, before) = backend.state.begin_request_counted();
                pool_inflight = pool.begin_request(index);
            }
        }
        self.count += 1;
        self.tried.push(index);
        if let Some(max) = backend.config.max_connections {
            if self.permit.is_none() || same.is_none() {
                drop(self.permit.take());
                let slot = backend
                    .state
                    .acquire_slot(max, backend.config.max_queue, backend.config.queue_timeout)
                    .await;
                match slot {
                    Ok(p) => self.permit = Some(p),
                    Err(e) => {
                        tracing::debug!(backend = %backend.label, error = %e, "no connection slot");
                        return Err(Refused::QueueFull);
                    }
                }
            }
        }
        Ok(Picked {
            index,
            backend,
            same: same.is_some(),
            _inflight: inflight,
            _pool_inflight: pool_inflight,
        })
    }

    /// The next attempt goes to the same backend on a new connection.
    pub fn again_on_fresh_connection(&mut self, index: u32) {
        self.fresh = Some(index);
    }

    /// Whether another attempt is allowed (attempts left, a backend left unless `same`, and
    /// the retry budget).
    pub fn may_retry(&self, engine: &Engine, snapshot: &Snapshot, pool: &Pool, same: bool) -> bool {
        may_retry_with(
            self.max_retries.unwrap_or(pool.config.max_retries),
            &engine.budget,
            &snapshot.config.server.retry_budget,
            pool,
            self.count,
            self.tried.as_slice(),
            same,
        )
    }

    /// Counts a retry (the next attempt follows).
    pub fn count_retry(&mut self, pool: &Pool, reason: &'static str) {
        self.retries += 1;
        pool.metrics.retry(reason);
    }

    /// After a failed connect: the slot is given back and the failure counted; says whether
    /// another backend may be tried.
    pub fn connect_failed(
        &mut self,
        engine: &Engine,
        snapshot: &Snapshot,
        pool: &Pool,
        picked: &Picked<'_>,
        failure: &ConnectFailure,
    ) -> bool {
        let backend = picked.backend;
        pool.report_connect_failure(picked.index);
        backend.metrics.connect_failure(&pool.name, &backend.label);
        if failure.timed_out {
            backend.metrics.timeout(&pool.name, &backend.label);
        }
        tracing::warn!(pool = %pool.name, backend = %backend.label, error = %failure.error, "upstream connect failed");
        self.permit = None;
        let retry = self.may_retry(engine, snapshot, pool, false);
        if retry {
            self.count_retry(pool, "connect");
        }
        retry
    }
}

/// A connection to the picked backend: an idle one when there is one (not for a retry on a
/// fresh connection), else a new one.
///
/// # Errors
/// The connect failure.
pub async fn connect(
    engine: &Engine,
    pool: &Pool,
    picked: &Picked<'_>,
) -> Result<Connection, ConnectFailure> {
    let backend = picked.backend;
    // Built only for a new connection, and boxed: ~670 bytes every request's future would
    // otherwise be sized for.
    let peer = || Box::new(backend.peer(&pool.config));
    if pool.config.protocol == UpstreamProtocol::H2 {
        if !picked.same {
            if let Some(slot) = engine
                .h2
                .take(backend.reuse_key, pool.config.h2_streams as usize)
            {
                return Ok(Connection::H2(slot));
            }
        }
        return engine
            .h2
            .open(engine.connector.transport(), &peer(), backend.reuse_key)
            .await
            .map(Connection::H2)
            .map_err(|e| match e {
                ConnectError::Transport(e) => transport_failure(&e),
                other => ConnectFailure {
                    kind: "ConnectError",
                    timed_out: false,
                    error: other.to_string(),
                },
            });
    }
    if !picked.same {
        if let Some(up) = engine.connector.take_idle(backend.reuse_key) {
            return Ok(Connection::H1(up));
        }
    }
    engine
        .connector
        .connect(&peer(), backend.reuse_key)
        .await
        .map(Connection::H1)
        .map_err(|e| transport_failure(&e))
}

fn transport_failure(e: &pingora::Error) -> ConnectFailure {
    ConnectFailure {
        kind: e.etype().as_str(),
        timed_out: matches!(e.etype(), ErrorType::ConnectTimedout),
        error: e.to_string(),
    }
}
