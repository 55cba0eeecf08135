//! Hardening, one topic per file: what reaches the proxy malformed, slow, too often or from
//! the wrong place, what a misbehaving backend sends back, and what the process itself refuses
//! to do (keep running as root). Raw sockets throughout: what matters is the exact bytes each
//! side sees.
//!
//! - [`malformed`]: malformed and smuggling-shaped requests get the right status and never
//!   reach a backend.
//! - [`backends`]: misbehaving backends (resets, garbage, stalls, wrong lengths).
//! - [`slow_clients`]: slowloris, slow request bodies, idle keep-alive connections.
//! - [`limits`]: connection caps and the per-route rate limit.
//! - [`access`]: allow and deny lists against `X-Forwarded-For` spoofing.
//! - [`proxy_protocol`]: PROXY protocol v1/v2, only on listeners that enable it.
//! - [`tls_resumption`]: TLS 1.2 and 1.3 session resumption.
//! - [`privileges`]: started as root, serving (and reloading) only as the configured user.
//! - [`http2_floods`]: HTTP/2 limits announced and enforced, rapid reset, CONTINUATION flood.

mod access;
mod backends;
mod http2_floods;
mod limits;
mod malformed;
mod privileges;
mod proxy_protocol;
mod slow_clients;
mod tls_resumption;

use std::time::Duration;

fn proxy_config(routes_and_pools: &str, limits: &str, listeners: &str) -> String {
    format!(
        r#"
[server]
threads = 2
grace_period = "0s"
[admin]
address = "{{admin}}"
[limits]
{limits}
[listeners.http]
address = "{{http}}"
{listeners}
{routes_and_pools}
"#
    )
}

const SECOND: Duration = Duration::from_secs(1);
