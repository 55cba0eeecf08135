//! The `/status` document: what an operator needs to see at a glance.
//!
//! Bounded by default: every pool with its counts, but the backends themselves only while the
//! config has at most [`BACKEND_LIST_LIMIT`] of them; `?pool=NAME` lists one pool's backends
//! and `?route=NAME` one route and its pool, so the document stays usable at 10,000 backends.

use crate::health::StatusView;
use crate::runtime::Snapshot;
use serde::Serialize;
use std::time::SystemTime;

/// Top level of `GET /status`.
#[derive(Debug, Serialize)]
pub struct Status {
    /// Config generation serving.
    pub generation: u64,
    /// Content hash of the config and its files.
    pub config_digest: String,
    /// Config file.
    pub config_file: String,
    /// When the snapshot was built (seconds since the epoch).
    pub loaded_at_unix: f64,
    /// Gatehouse version.
    pub version: &'static str,
    /// Process id.
    pub pid: u32,
    /// Pools (only the one asked for with `?pool=` or `?route=`).
    pub pools: Vec<PoolStatus>,
    /// Routes in file order, how each matches (precedence is the router's): all of them up to
    /// [`ROUTE_LIST_LIMIT`], else none (see `routes_omitted`).
    pub routes: Vec<RouteStatus>,
    /// Set when the route list was left out: how many, and how to get one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routes_omitted: Option<String>,
    /// The route asked for with `?route=`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<RouteStatus>,
    /// Set when the pools' backend lists were left out (more than [`BACKEND_LIST_LIMIT`]
    /// backends): how to get them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backends_omitted: Option<String>,
    /// Certificates served.
    pub certificates: Vec<CertificateStatus>,
    /// ACME certificates: expiry, renewal, last attempt and error.
    pub acme: Vec<crate::tls::acme::status::AcmeStatus>,
    /// Cold settings of the served config this process does not run with (`key: what`); they
    /// need `gatehouse upgrade`. Empty when the process runs what the file says.
    pub restart_required: Vec<String>,
    /// The last reload attempt, whatever its result (trigger, result, errors).
    pub last_reload: Option<crate::reload::ReloadReport>,
    /// The last reload that published a new generation (kept when later attempts change
    /// nothing or are refused).
    pub last_applied_reload: Option<crate::reload::ReloadReport>,
    /// Each pool's last verified rollout (`gatehouse rollout`): running, succeeded, failed, or
    /// interrupted by an upgrade.
    pub rollouts: Vec<crate::rollout::Rollout>,
    /// The pair guard's last comparison (`peer` is null when no `[pair] peer` is set).
    pub pair: crate::pair::PairStatus,
}

/// What `/status` says about reloads.
#[derive(Debug, Default)]
pub struct Reloads {
    /// Pending cold changes.
    pub restart_required: Vec<String>,
    /// The last attempt.
    pub last: Option<crate::reload::ReloadReport>,
    /// The last applied reload.
    pub last_applied: Option<crate::reload::ReloadReport>,
}

/// One pool.
#[derive(Debug, Serialize)]
pub struct PoolStatus {
    /// Name.
    pub name: String,
    /// Algorithm.
    pub balance: &'static str,
    /// `hash` pools: the key hashed (`client_ip`, `header:x-user`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_key: Option<String>,
    /// `hash` pools with a bounded load: the bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_bound: Option<f64>,
    /// Tier serving now (`primary`, `backup`, `unknown`, `fail_open`, `none`).
    pub serving_tier: &'static str,
    /// Number of backends.
    pub backends_total: usize,
    /// Backends whose state is `up`.
    pub backends_up: usize,
    /// Backends in configured order (empty when omitted, see `Status::backends_omitted`).
    pub backends: Vec<BackendStatus>,
}

/// One route (`?route=`).
#[derive(Debug, Serialize)]
pub struct RouteStatus {
    /// Name.
    pub name: String,
    /// Host patterns.
    pub hosts: Vec<String>,
    /// Path rule and conditions (`path_prefix "/"`, `path_regex "^/u/\\d+$"; methods GET`, …).
    pub matches: String,
    /// Pool serving it.
    pub pool: String,
    /// `metrics = true`.
    pub metrics: bool,
}

/// More routes than this in the config: `/status` lists none (`?route=NAME` shows one).
pub const ROUTE_LIST_LIMIT: usize = 500;

fn route_status(snapshot: &Snapshot, r: &crate::config::model::Route) -> RouteStatus {
    RouteStatus {
        name: r.name.clone(),
        hosts: r.hosts.iter().map(host_pattern).collect(),
        matches: crate::config::route_match::describe(
            &r.path_prefix,
            &r.extras.path_match,
            &r.extras.conditions,
        ),
        pool: snapshot
            .config
            .pools
            .get(r.pool)
            .map(|p| p.name.clone())
            .unwrap_or_default(),
        metrics: r.metrics,
    }
}

/// More backends than this in the config: `/status` lists pools with counts only.
pub const BACKEND_LIST_LIMIT: usize = 500;

/// What `/status` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Everything (backend lists bounded).
    All,
    /// One pool, all its backends.
    Pool(String),
    /// One route and its pool.
    Route(String),
}

impl Filter {
    /// From the query string: `pool=NAME` or `route=NAME` (percent-decoding is not needed:
    /// names are config keys).
    pub fn from_query(query: Option<&str>) -> Filter {
        for pair in query.unwrap_or("").split('&') {
            match pair.split_once('=') {
                Some(("pool", v)) => return Filter::Pool(v.to_string()),
                Some(("route", v)) => return Filter::Route(v.to_string()),
                _ => {}
            }
        }
        Filter::All
    }
}

/// The pool or route asked for does not exist.
#[derive(Debug, thiserror::Error)]
#[error("no {kind} {name:?}")]
pub struct NotFound {
    /// `pool` or `route`.
    pub kind: &'static str,
    /// The name asked for.
    pub name: String,
}

/// One backend.
#[derive(Debug, Serialize)]
pub struct BackendStatus {
    /// `IP:port`.
    pub address: String,
    /// As written in the config.
    pub configured: String,
    /// Weight.
    pub weight: u32,
    /// Backup tier.
    pub backup: bool,
    /// `drain = true` in the config.
    pub config_drain: bool,
    /// Connection limit.
    pub max_connections: Option<u32>,
    /// State, checks, overrides, in-flight, queue.
    #[serde(flatten)]
    pub view: StatusView,
}

/// One certificate.
#[derive(Debug, Serialize)]
pub struct CertificateStatus {
    /// Listener.
    pub listener: String,
    /// Certificate file.
    pub file: String,
    /// SAN names.
    pub names: Vec<String>,
    /// Expiry (seconds since the epoch).
    pub not_after_unix: u64,
    /// Days left (negative when expired).
    pub expires_in_days: i64,
    /// The ACME certificate id, when it is one.
    pub acme: Option<String>,
    /// An OCSP response is stapled now (from `ocsp_file` or fetched).
    pub ocsp_stapled: bool,
}

/// A host pattern as written in the config.
fn host_pattern(h: &crate::config::model::HostMatch) -> String {
    use crate::config::model::HostMatch;
    match h {
        HostMatch::Exact(name) => name.clone(),
        HostMatch::Wildcard(suffix) => format!("*.{suffix}"),
        HostMatch::Any => "*".to_string(),
    }
}

/// Builds the document from a snapshot.
///
/// # Errors
/// [`NotFound`] when the filter names a pool or route the snapshot does not have.
pub fn build(
    snapshot: &Snapshot,
    tls: &crate::tls::live::TlsLive,
    reloads: Reloads,
    filter: &Filter,
) -> Result<Status, NotFound> {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let not_found = |kind: &'static str, name: &str| NotFound {
        kind,
        name: name.to_string(),
    };
    let (route, selected): (
        Option<RouteStatus>,
        Vec<&std::sync::Arc<crate::runtime::Pool>>,
    ) = match filter {
        Filter::All => (None, snapshot.pools.iter().collect()),
        Filter::Pool(name) => {
            let pool = snapshot
                .pools
                .iter()
                .find(|p| &*p.name == name)
                .ok_or_else(|| not_found("pool", name))?;
            (None, vec![pool])
        }
        Filter::Route(name) => {
            let (i, r) = snapshot
                .config
                .routes
                .iter()
                .enumerate()
                .find(|(_, r)| &r.name == name)
                .ok_or_else(|| not_found("route", name))?;
            let (_, pool) = snapshot
                .route(i as crate::runtime::RouteId)
                .ok_or_else(|| not_found("route", name))?;
            (Some(route_status(snapshot, r)), vec![pool])
        }
    };
    let total_backends: usize = selected.iter().map(|p| p.backends.len()).sum();
    let list_backends = filter != &Filter::All || total_backends <= BACKEND_LIST_LIMIT;
    let list_routes = snapshot.config.routes.len() <= ROUTE_LIST_LIMIT;
    Ok(Status {
        generation: snapshot.generation,
        config_digest: snapshot.config.digest.clone(),
        config_file: snapshot.config.source.display().to_string(),
        loaded_at_unix: snapshot
            .built_at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        version: env!("CARGO_PKG_VERSION"),
        pid: std::process::id(),
        routes: if filter == &Filter::All && list_routes {
            snapshot
                .config
                .routes
                .iter()
                .map(|r| route_status(snapshot, r))
                .collect()
        } else {
            Vec::new()
        },
        routes_omitted: (filter == &Filter::All && !list_routes).then(|| {
            format!(
                "{} routes (more than {ROUTE_LIST_LIMIT}): ask for one with /status?route=NAME",
                snapshot.config.routes.len()
            )
        }),
        backends_omitted: (!list_backends).then(|| {
            format!(
                "{total_backends} backends (more than {BACKEND_LIST_LIMIT}): ask for one pool's with /status?pool=NAME or a route's with /status?route=NAME"
            )
        }),
        route,
        pools: selected
            .into_iter()
            .map(|p| PoolStatus {
                name: p.name.to_string(),
                balance: p.config.balance.as_str(),
                hash_key: p.config.hash.as_ref().map(|h| h.key.to_string()),
                hash_bound: p.config.hash.as_ref().and_then(|h| h.bound),
                serving_tier: p.tier().as_str(),
                backends_total: p.backends.len(),
                backends_up: p
                    .backends
                    .iter()
                    .filter(|b| b.state.view().state == "up")
                    .count(),
                backends: p
                    .backends
                    .iter()
                    .filter(|_| list_backends)
                    .map(|b| {
                        let view = b.state.view();
                        BackendStatus {
                            address: b.label.to_string(),
                            configured: b.config.configured.clone(),
                            weight: b.config.weight,
                            backup: b.config.backup,
                            config_drain: b.config.drain,
                            max_connections: b.config.max_connections,
                            view,
                        }
                    })
                    .collect(),
            })
            .collect(),
        certificates: snapshot
            .config
            .listeners
            .iter()
            .flat_map(|l| {
                l.certificates.iter().map(move |c| CertificateStatus {
                    listener: l.name.clone(),
                    file: c.cert_path.display().to_string(),
                    names: c.names.clone(),
                    not_after_unix: c.not_after_unix(),
                    expires_in_days: (c.not_after_unix() as i64 - now as i64).div_euclid(86400),
                    acme: c.acme.clone(),
                    ocsp_stapled: c.staple.as_ref().is_some_and(|s| s.current())
                        || (c.ocsp_fetch && tls.stapled(&c.fingerprint).is_some()),
                })
            })
            .collect(),
        acme: tls.acme.list(),
        restart_required: reloads.restart_required,
        last_reload: reloads.last,
        last_applied_reload: reloads.last_applied,
        rollouts: Vec::new(),
        pair: crate::pair::PairStatus::default(),
    })
}
