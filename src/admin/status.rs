//! The `/status` document: what an operator needs to see at a glance.

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
    /// Pools.
    pub pools: Vec<PoolStatus>,
    /// Routes in file order: name, pool and how each matches (precedence is the router's).
    pub routes: Vec<RouteStatus>,
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

/// One route.
#[derive(Debug, Serialize)]
pub struct RouteStatus {
    /// Name.
    pub name: String,
    /// Pool it forwards to.
    pub pool: String,
    /// Path rule and conditions (`path_prefix "/"`, `path_regex "^/u/\\d+$"; methods GET`, …).
    pub matches: String,
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
    /// Backends in configured order.
    pub backends: Vec<BackendStatus>,
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

/// Builds the document from a snapshot.
pub fn build(snapshot: &Snapshot, tls: &crate::tls::live::TlsLive, reloads: Reloads) -> Status {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Status {
        generation: snapshot.generation,
        config_digest: snapshot.config.digest.clone(),
        config_file: snapshot.config.source.display().to_string(),
        loaded_at_unix: snapshot
            .built_at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        version: env!("CARGO_PKG_VERSION"),
        pid: std::process::id(),
        routes: snapshot
            .config
            .routes
            .iter()
            .map(|r| RouteStatus {
                name: r.name.clone(),
                pool: snapshot
                    .config
                    .pools
                    .get(r.pool)
                    .map(|p| p.name.clone())
                    .unwrap_or_default(),
                matches: crate::config::route_match::describe(
                    &r.path_prefix,
                    &r.path_match,
                    &r.conditions,
                ),
            })
            .collect(),
        pools: snapshot
            .pools
            .iter()
            .map(|p| PoolStatus {
                name: p.name.to_string(),
                balance: p.config.balance.as_str(),
                hash_key: p.config.hash.as_ref().map(|h| h.key.to_string()),
                hash_bound: p.config.hash.as_ref().and_then(|h| h.bound),
                serving_tier: p.tier().as_str(),
                backends: p
                    .backends
                    .iter()
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
    }
}
