//! The settings this process applied once, at start, and keeps until it exits: its cold
//! settings. A reload compares the file with these — not with the previous snapshot — so a
//! cold change stays reported as pending (`restart_required`) for as long as the served config
//! differs from what actually runs, however many reloads come after it.

use crate::config::model::{
    AdminSettings, Config, Http2Settings, LimitsSettings, Listener, LoggingSettings, Protocol,
    ServerSettings,
};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Process-wide cold settings as applied at start (listeners: [`BoundListener`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// `server.threads`.
    pub threads: usize,
    /// `server.grace_period`.
    pub grace_period: Duration,
    /// `server.shutdown_timeout`.
    pub shutdown_timeout: Duration,
    /// `server.pid_file`.
    pub pid_file: Option<PathBuf>,
    /// The upgrade socket in use (a successor keeps the one its predecessor handed over on).
    pub upgrade_socket: PathBuf,
    /// `server.upstream_keepalive_pool_size`.
    pub upstream_keepalive_pool_size: usize,
    /// `server.user` (privileges are dropped once, at start).
    pub user: Option<String>,
    /// `server.group`.
    pub group: Option<String>,
    /// Admin listener address (`None`: disabled).
    pub admin_address: Option<SocketAddr>,
    /// `[logging]` (the subscriber is installed once).
    pub logging: LoggingSettings,
    /// `[access_log]` (the writer is started once).
    pub access_log: Option<crate::access_log::Settings>,
    /// `metrics.enabled` (the recorder is installed once, or never).
    pub metrics_enabled: bool,
    /// `[limits.http2]` (handed to the h2 codec when the proxy is built).
    pub http2: Http2Settings,
}

impl Applied {
    /// The cold settings of `config`, with the upgrade socket actually in use.
    ///
    /// Every setting is named here, hot ones bound to `_`: a new setting does not compile
    /// until it is classified, so none can be silently neither applied on reload nor reported.
    pub fn of(config: &Config, upgrade_socket: PathBuf) -> Self {
        let Config {
            source: _,
            server,
            admin,
            reload: _, // hot: read by the watcher on every event
            pair: _,   // hot: read by the pair guard on every pass
            logging,
            access_log,
            metrics_enabled,
            limits,
            listeners: _, // cold parts in `BoundListener`, the rest hot (snapshot)
            routes: _,    // hot
            pools: _,     // hot
            acme: _,      // hot: read by the ACME task on every pass
            ocsp: _,      // hot: read by the OCSP task on every pass
            dependent_files: _,
            digest: _,
            shared_digest: _,
        } = config;
        let AdminSettings {
            address: admin_address,
            token: _,      // hot: read per admin call
            token_file: _, // hot
        } = admin;
        // Hot: read from the snapshot per connection or request.
        let LimitsSettings {
            header_timeout: _,
            keepalive_timeout: _,
            head: _,
            max_buffered_body: _,
            body_timeout: _,
            min_body_rate: _,
            body_rate_grace: _,
            max_connections: _,
            max_connections_per_ip: _,
            handshake_timeout: _,
            http2,
        } = limits;
        let ServerSettings {
            threads,
            grace_period,
            shutdown_timeout,
            pid_file,
            upgrade_socket: _,
            upstream_keepalive_pool_size,
            server_header: _, // hot: read per response
            retry_budget: _,  // hot: read per retry
            user,
            group,
        } = server.clone();
        Applied {
            threads,
            grace_period,
            shutdown_timeout,
            pid_file,
            upgrade_socket,
            upstream_keepalive_pool_size,
            user,
            group,
            admin_address: *admin_address,
            logging: logging.clone(),
            access_log: access_log.clone(),
            metrics_enabled: *metrics_enabled,
            http2: *http2,
        }
    }

    /// Keys whose value in `other` differs from `self`, in file order.
    pub fn differing_keys(&self, other: &Applied) -> Vec<&'static str> {
        let (a, b) = (self, other);
        let checks: [(&'static str, bool); 19] = [
            ("server.threads", a.threads != b.threads),
            ("server.grace_period", a.grace_period != b.grace_period),
            (
                "server.shutdown_timeout",
                a.shutdown_timeout != b.shutdown_timeout,
            ),
            ("server.pid_file", a.pid_file != b.pid_file),
            (
                "server.upgrade_socket",
                a.upgrade_socket != b.upgrade_socket,
            ),
            (
                "server.upstream_keepalive_pool_size",
                a.upstream_keepalive_pool_size != b.upstream_keepalive_pool_size,
            ),
            ("server.user", a.user != b.user),
            ("server.group", a.group != b.group),
            ("admin.address", a.admin_address != b.admin_address),
            ("logging.level", a.logging.level != b.logging.level),
            ("logging.format", a.logging.json != b.logging.json),
            (
                "access_log.enabled",
                a.access_log.is_some() != b.access_log.is_some(),
            ),
            (
                "access_log.path",
                both(&a.access_log, &b.access_log, |x, y| x.target != y.target),
            ),
            (
                "access_log.sample",
                both(&a.access_log, &b.access_log, |x, y| x.sample != y.sample),
            ),
            (
                "access_log.buffer",
                both(&a.access_log, &b.access_log, |x, y| x.buffer != y.buffer),
            ),
            ("metrics.enabled", a.metrics_enabled != b.metrics_enabled),
            (
                "limits.http2.max_concurrent_streams",
                a.http2.max_concurrent_streams != b.http2.max_concurrent_streams,
            ),
            (
                "limits.http2.max_header_list_size",
                a.http2.max_header_list_size != b.http2.max_header_list_size,
            ),
            (
                "limits.http2.max_pending_reset_streams",
                a.http2.max_pending_reset_streams != b.http2.max_pending_reset_streams,
            ),
        ];
        checks
            .into_iter()
            .filter(|(_, differs)| *differs)
            .map(|(key, _)| key)
            .collect()
    }
}

/// `differs` when both are set (a change of `enabled` is reported by itself).
fn both<T>(a: &Option<T>, b: &Option<T>, differs: impl Fn(&T, &T) -> bool) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => differs(x, y),
        _ => false,
    }
}

/// A listener as bound at startup (its cold settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundListener {
    /// Name from the config.
    pub name: String,
    /// Bound address.
    pub address: SocketAddr,
    /// Protocol.
    pub protocol: Protocol,
    /// A PROXY protocol header precedes each connection.
    pub proxy_protocol: bool,
    /// ALPN protocols offered (https), fixed in the listener's TLS config.
    pub alpn: Vec<Vec<u8>>,
    /// Cleartext HTTP/2 with prior knowledge.
    pub h2c: bool,
    /// TLS profile (versions and suites are fixed in the listener's TLS config).
    pub tls_profile: crate::tls::profile::TlsProfile,
}

impl BoundListener {
    /// The cold settings of a configured listener, as binding it applies them.
    pub fn of(l: &Listener) -> Self {
        let Listener {
            name,
            address,
            protocol,
            certificates: _,        // hot: SNI store in the snapshot
            default_certificate: _, // hot
            unknown_sni: _,         // hot
            alpn,
            h2c,
            redirect_https: _, // hot
            https_port: _,     // hot
            hsts: _,           // hot
            proxy_protocol,
            trusted_proxies: _, // hot
            tls_profile,
            client_auth: _,         // hot: the verifier reads the snapshot
            client_cert_headers: _, // hot
            acme: _,                // hot
        } = l;
        BoundListener {
            name: name.clone(),
            address: *address,
            protocol: *protocol,
            proxy_protocol: *proxy_protocol,
            alpn: alpn.clone(),
            h2c: *h2c,
            tls_profile: *tls_profile,
        }
    }

    /// Keys of `l` (the same listener in a newer file) that differ from what is bound.
    pub fn differing_keys(&self, l: &Listener) -> Vec<&'static str> {
        let new = BoundListener::of(l);
        [
            ("address", self.address != new.address),
            ("protocol", self.protocol != new.protocol),
            ("alpn", self.alpn != new.alpn),
            ("h2c", self.h2c != new.h2c),
            ("proxy_protocol", self.proxy_protocol != new.proxy_protocol),
            ("tls_profile", self.tls_profile != new.tls_profile),
        ]
        .into_iter()
        .filter(|(_, differs)| *differs)
        .map(|(key, _)| key)
        .collect()
    }
}
