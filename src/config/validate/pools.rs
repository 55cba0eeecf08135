//! `[pools.*]`: balancing, retries, timeouts, backend TLS, health checks and backends (names
//! resolved here, at load time).

use super::health::health_check;
use super::lenient::Named;
use super::suggest::choice;
use super::{positive, required, resolve_path, Context, DependentFiles, Report};
use crate::config::model::{
    Backend, Balance, PassiveSettings, Pool, TimeoutSettings, UpstreamProtocol, UpstreamTls,
};
use crate::config::raw;
use crate::config::spans::{child, index};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Largest weight accepted; keeps the precomputed round-robin schedule small.
pub(crate) const MAX_WEIGHT: u32 = 1000;

pub(super) fn validate(
    raw: Named<raw::Pool>,
    base: &Path,
    ctx: &Context<'_>,
    report: &mut Report<'_>,
    files: &mut DependentFiles,
) -> Vec<Pool> {
    // Every pool in the file becomes a `Pool`, errors or not, so that routes naming it
    // resolve (the config is refused on its errors anyway).
    raw.entries
        .into_iter()
        .map(|(name, p)| {
            let path = child("pools", &name);
            one(&name, &path, p, base, ctx, report, files)
        })
        .collect()
}

fn one(
    name: &str,
    path: &str,
    p: raw::Pool,
    base: &Path,
    ctx: &Context<'_>,
    report: &mut Report<'_>,
    files: &mut DependentFiles,
) -> Pool {
    // `None`: unknown or refused; checks that depend on the balance are skipped.
    let balance = match p.balance.as_deref() {
        None if report.refused(&child(path, "balance")) => None,
        None => Some(Balance::RoundRobin),
        Some(b) => choice(
            report,
            &child(path, "balance"),
            "balance",
            b,
            &[
                ("round_robin", Balance::RoundRobin),
                ("active_passive", Balance::ActivePassive),
                ("least_connections", Balance::LeastConnections),
                ("random_two_choices", Balance::RandomTwoChoices),
                ("hash", Balance::Hash),
            ],
        ),
    };
    let hash = super::balance::hash(path, p.hash.as_ref(), balance, report);
    let sticky = super::balance::sticky(path, p.sticky.as_ref(), report);
    let t = &p.timeouts;
    let tpath = child(path, "timeouts");
    let timeouts = TimeoutSettings {
        connect: positive(
            report,
            &child(&tpath, "connect"),
            t.connect,
            Duration::from_secs(3),
        ),
        read: positive(
            report,
            &child(&tpath, "read"),
            t.read,
            Duration::from_secs(60),
        ),
        write: positive(
            report,
            &child(&tpath, "write"),
            t.write,
            Duration::from_secs(60),
        ),
        idle: positive(
            report,
            &child(&tpath, "idle"),
            t.idle,
            Duration::from_secs(60),
        ),
        response: t.response.map(|_| {
            positive(
                report,
                &child(&tpath, "response"),
                t.response,
                Duration::from_secs(60),
            )
        }),
        tunnel: positive(
            report,
            &child(&tpath, "tunnel"),
            t.tunnel,
            Duration::from_secs(3600),
        ),
    };
    let tls = upstream_tls(path, &p, base, report, files);
    let protocol = match p.protocol.as_deref() {
        None => Some(UpstreamProtocol::Http1),
        Some(value) => choice(
            report,
            &child(path, "protocol"),
            "protocol",
            value,
            &[
                ("http/1.1", UpstreamProtocol::Http1),
                ("h2", UpstreamProtocol::H2),
            ],
        ),
    };
    let h2_declared = protocol == Some(UpstreamProtocol::H2);
    let protocol = protocol.unwrap_or(UpstreamProtocol::Http1);
    let h2_streams = p.h2_streams.unwrap_or(100);
    if h2_streams == 0 {
        report.error(&child(path, "h2_streams"), "must be at least 1");
    }
    if p.h2_streams.is_some() && !h2_declared && !report.refused(&child(path, "protocol")) {
        report.warn(
            &child(path, "h2_streams"),
            "has no effect unless protocol = \"h2\"",
        );
    }
    let health_check = p
        .health_check
        .as_ref()
        .map(|h| health_check(&child(path, "health_check"), h, report));
    let passive = passive(&child(path, "passive"), &p.passive, report);
    let backends = backends(path, &p.backends, balance, ctx, report);
    if p.backends.is_empty() && !report.refused(&child(path, "backends")) {
        report.error(
            &child(path, "backends"),
            "pool has no backends; add at least one [[pools.<name>.backends]] with an address",
        );
    }
    if balance == Some(Balance::ActivePassive)
        && !p.backends.is_empty()
        && p.backends.iter().all(|b| b.backup.unwrap_or(false))
    {
        report.error(
            &child(path, "backends"),
            "every backend is a backup; mark at least one as primary (backup = false)",
        );
    }
    Pool {
        name: name.to_string(),
        balance: balance.unwrap_or(Balance::RoundRobin),
        hash,
        sticky,
        slow_start: p.slow_start.map(|_| {
            positive(
                report,
                &child(path, "slow_start"),
                p.slow_start,
                Duration::from_secs(30),
            )
        }),
        max_retries: p.max_retries.unwrap_or(2).min(16),
        fail_open: p.fail_open.unwrap_or(false),
        failback_delay: p.failback_delay.map_or(Duration::ZERO, |d| d.0),
        timeouts,
        tls,
        health_check: health_check.flatten(),
        protocol,
        h2_streams: h2_streams.max(1),
        passive,
        backends,
    }
}

fn upstream_tls(
    path: &str,
    p: &raw::Pool,
    base: &Path,
    report: &mut Report<'_>,
    files: &mut DependentFiles,
) -> Option<UpstreamTls> {
    let enabled = p.tls.unwrap_or(false);
    let tls_keys = [
        ("tls_sni", p.tls_sni.is_some()),
        ("tls_ca_file", p.tls_ca_file.is_some()),
        ("tls_client_cert", p.tls_client_cert.is_some()),
        ("tls_client_key", p.tls_client_key.is_some()),
        ("tls_verify", p.tls_verify.is_some()),
    ];
    // `tls` refused: the TLS keys present are still checked (files read), but none is called
    // pointless without tls = true.
    let unknown = p.tls.is_none() && report.refused(&child(path, "tls"));
    let check_material = enabled || (unknown && tls_keys.iter().any(|(_, set)| *set));
    if !check_material {
        for (key, set) in tls_keys {
            if set && !unknown {
                report.error(&child(path, key), "has no effect without tls = true");
            }
        }
        return None;
    }
    let ca = p.tls_ca_file.as_deref().map(|f| resolve_path(base, f));
    let client = match (&p.tls_client_cert, &p.tls_client_key) {
        (Some(c), Some(k)) => Some((resolve_path(base, c), resolve_path(base, k))),
        (Some(_), None) => {
            report.error(
                &child(path, "tls_client_key"),
                "tls_client_cert needs tls_client_key",
            );
            None
        }
        (None, Some(_)) => {
            report.error(
                &child(path, "tls_client_cert"),
                "tls_client_key needs tls_client_cert",
            );
            None
        }
        (None, None) => None,
    };
    for f in ca.iter().chain(client.iter().flat_map(|(c, k)| [c, k])) {
        files.note(f);
    }
    let material = crate::tls::upstream::load(
        ca.as_deref(),
        client.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
    );
    match material {
        Ok(_) if unknown => None,
        Ok(material) => Some(UpstreamTls {
            sni: p.tls_sni.clone(),
            verify: p.tls_verify.unwrap_or(true),
            material: Arc::new(material),
        }),
        Err(err) => {
            let key = match &err {
                crate::tls::certs::CertError::Read { path: f, .. } if Some(f) == ca.as_ref() => {
                    "tls_ca_file"
                }
                crate::tls::certs::CertError::NoCertificate { path: f }
                | crate::tls::certs::CertError::BadCertificate { path: f, .. }
                    if Some(f) == ca.as_ref() =>
                {
                    "tls_ca_file"
                }
                crate::tls::certs::CertError::NoKey { .. }
                | crate::tls::certs::CertError::KeyWorldReadable { .. }
                | crate::tls::certs::CertError::UnsupportedKey { .. }
                | crate::tls::certs::CertError::KeyMismatch { .. } => "tls_client_key",
                _ => "tls_client_cert",
            };
            report.error(&child(path, key), err.to_string());
            None
        }
    }
}

fn passive(path: &str, p: &raw::Passive, report: &mut Report<'_>) -> PassiveSettings {
    let cooldown = positive(
        report,
        &child(path, "cooldown"),
        p.cooldown,
        Duration::from_secs(10),
    );
    let max_cooldown = positive(
        report,
        &child(path, "max_cooldown"),
        p.max_cooldown,
        Duration::from_secs(300),
    );
    // Compared only when both are what the file says (not defaults standing in for a value
    // reported as wrong).
    let as_written = |key: &str, v: Option<crate::config::duration::ConfigDuration>| {
        v.is_none_or(|d| !d.0.is_zero()) && !report.refused(&child(path, key))
    };
    if max_cooldown < cooldown
        && as_written("cooldown", p.cooldown)
        && as_written("max_cooldown", p.max_cooldown)
    {
        report.error(
            &child(path, "max_cooldown"),
            "must not be shorter than cooldown",
        );
    }
    let max_ejection_percent = p.max_ejection_percent.unwrap_or(50);
    if max_ejection_percent > 100 {
        report.error(
            &child(path, "max_ejection_percent"),
            "must be between 0 and 100",
        );
    }
    PassiveSettings {
        connect_failures: p.connect_failures.unwrap_or(3),
        http_5xx: p.http_5xx.unwrap_or(0),
        timeouts: p.timeouts.unwrap_or(0),
        cooldown,
        max_cooldown: max_cooldown.max(cooldown),
        max_ejection_percent: max_ejection_percent.min(100),
    }
}

fn backends(
    path: &str,
    raw: &[raw::Backend],
    balance: Option<Balance>,
    ctx: &Context<'_>,
    report: &mut Report<'_>,
) -> Vec<std::sync::Arc<Backend>> {
    let mut out: Vec<(Backend, usize)> = Vec::new();
    for (i, b) in raw.iter().enumerate() {
        let bpath = index(&child(path, "backends"), i);
        let weight = match b.weight {
            Some(0) => {
                report.error(
                    &child(&bpath, "weight"),
                    "must be at least 1 (use drain = true to stop sending traffic)",
                );
                1
            }
            Some(w) if w > MAX_WEIGHT => {
                report.error(
                    &child(&bpath, "weight"),
                    format!("must be at most {MAX_WEIGHT}"),
                );
                MAX_WEIGHT
            }
            Some(w) => w,
            None => 1,
        };
        if balance == Some(Balance::ActivePassive) && b.weight.is_some_and(|w| w != 1) {
            report.warn(
                &child(&bpath, "weight"),
                "has no effect with balance = \"active_passive\"",
            );
        }
        let mpath = child(&bpath, "max_connections");
        let max_connections = match b.max_connections {
            Some(0) => {
                report.error(&mpath, "must be at least 1");
                None
            }
            other => other,
        };
        // Judged on what the file says: `max_connections = 0` or a refused value is reported
        // already, and `max_queue` next to it is not the mistake.
        if b.max_connections.is_none() && !report.refused(&mpath) {
            for (key, set) in [
                ("max_queue", b.max_queue.is_some()),
                ("queue_timeout", b.queue_timeout.is_some()),
            ] {
                if set {
                    report.error(
                        &child(&bpath, key),
                        "only applies together with max_connections",
                    );
                }
            }
        }
        let queue_timeout = positive(
            report,
            &child(&bpath, "queue_timeout"),
            b.queue_timeout,
            Duration::from_secs(1),
        );
        let example = "\"10.0.0.1:8080\"";
        let Some(configured) = required(report, &bpath, "address", b.address.as_ref(), example)
        else {
            continue;
        };
        let Some((host, addrs)) = resolve(&child(&bpath, "address"), configured, ctx, report)
        else {
            continue;
        };
        for address in addrs {
            if let Some((_, first)) = out.iter().find(|(o, _)| o.address == address) {
                report.error(
                    &child(&bpath, "address"),
                    format!(
                        "duplicate backend {address} (already {})",
                        report.in_file(&index(&child(path, "backends"), *first))
                    ),
                );
                continue;
            }
            out.push((
                Backend {
                    configured: configured.clone(),
                    host: host.clone(),
                    address,
                    weight,
                    backup: b.backup.unwrap_or(false),
                    drain: b.drain.unwrap_or(false),
                    max_connections,
                    max_queue: b.max_queue.unwrap_or(128),
                    queue_timeout,
                },
                i,
            ));
        }
    }
    // Into a list of its own length: collecting in place would keep `out`'s buffer, grown by
    // doubling for elements 16 times the size (~200 bytes per backend held for nothing).
    let mut backends = Vec::with_capacity(out.len());
    backends.extend(out.into_iter().map(|(b, _)| std::sync::Arc::new(b)));
    backends
}

/// `IP:port` as is; `host:port` through the resolver (several addresses → several backends).
fn resolve(
    path: &str,
    text: &str,
    ctx: &Context<'_>,
    report: &mut Report<'_>,
) -> Option<(String, Vec<SocketAddr>)> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some((addr.ip().to_string(), vec![addr]));
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        report.error(
            path,
            format!("{text:?} needs a port (host:port or IP:port)"),
        );
        return None;
    };
    let Ok(port) = port.parse::<u16>() else {
        report.error(path, format!("{text:?} has an invalid port"));
        return None;
    };
    if host.is_empty() || host.contains(['/', ' ', '[', ']']) {
        report.error(
            path,
            format!("{text:?} is not a host:port or IP:port address"),
        );
        return None;
    }
    match ctx.resolver.resolve(host, port) {
        Ok(addrs) if !addrs.is_empty() => Some((host.to_string(), addrs)),
        Ok(_) => {
            report.error(path, format!("{host:?} resolves to no addresses"));
            None
        }
        Err(e) => {
            report.error(path, format!("cannot resolve {host:?}: {e}"));
            None
        }
    }
}
