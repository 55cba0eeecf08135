//! The process-wide sections (`[server]`, `[admin]`, `[reload]`, `[logging]`, `[access_log]`,
//! `[limits]`): each is one table of settings with defaults, checked key by key.

use super::suggest::choice;
use super::{positive, resolve_path, DependentFiles, Report};
use crate::config::duration::ConfigDuration;
use crate::config::model::{AdminSettings, ReloadSettings, RetryBudgetSettings, ServerSettings};
use crate::config::raw;
use crate::config::spans::child;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(super) fn server_settings(
    raw: raw::Server,
    config_path: &Path,
    report: &mut Report<'_>,
) -> ServerSettings {
    let threads = match raw.threads {
        Some(0) => {
            report.error("server.threads", "must be at least 1");
            1
        }
        Some(n) if n > 256 => {
            report.error("server.threads", "must be at most 256");
            256
        }
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let budget = raw.retry_budget.unwrap_or_default();
    let ratio = budget.ratio.unwrap_or(0.2);
    if !(0.0..=1.0).contains(&ratio) {
        report.error("server.retry_budget.ratio", "must be between 0.0 and 1.0");
    }
    // Like `nginx -t`: a user that does not exist here is found by `check`, not at start.
    if let Some(name) = &raw.user {
        if !matches!(nix::unistd::User::from_name(name), Ok(Some(_))) {
            report.error(
                "server.user",
                format!("no such user {name:?} on this machine"),
            );
        }
    }
    if let Some(name) = &raw.group {
        if !matches!(nix::unistd::Group::from_name(name), Ok(Some(_))) {
            report.error(
                "server.group",
                format!("no such group {name:?} on this machine"),
            );
        }
    }
    // Relative paths are relative to the config file, like every other path in it (not to
    // whatever directory the process happened to start in).
    let base_dir = config_path.parent().unwrap_or_else(|| Path::new("."));
    let upgrade_socket = raw
        .upgrade_socket
        .map(|p| base_dir.join(p))
        .unwrap_or_else(|| default_runtime_path(config_path, "upgrade.sock"));
    ServerSettings {
        threads,
        grace_period: raw.grace_period.map_or(Duration::from_secs(10), |d| d.0),
        shutdown_timeout: raw.shutdown_timeout.map_or(Duration::from_secs(5), |d| d.0),
        pid_file: raw.pid_file.map(|p| base_dir.join(p)),
        upgrade_socket,
        upstream_keepalive_pool_size: raw.upstream_keepalive_pool_size.unwrap_or(1024),
        server_header: raw.server_header.unwrap_or(false),
        retry_budget: RetryBudgetSettings {
            ratio: ratio.clamp(0.0, 1.0),
            min_per_second: budget.min_per_second.unwrap_or(10),
        },
        user: raw.user,
        group: raw.group,
    }
}

/// Where runtime files go when the config does not say: systemd's `RUNTIME_DIRECTORY` if set,
/// else the temp dir with a name derived from the config path (so two instances don't clash).
pub(crate) fn default_runtime_path(config_path: &Path, file: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("RUNTIME_DIRECTORY") {
        return PathBuf::from(dir).join(file);
    }
    let absolute = std::path::absolute(config_path).unwrap_or_else(|_| config_path.to_path_buf());
    let tag = crate::tls::sha256_hex(&[absolute.as_os_str().as_encoded_bytes()]);
    std::env::temp_dir().join(format!("gatehouse-{}-{file}", &tag[..12]))
}

pub(super) fn admin_settings(
    raw: raw::Admin,
    base: &Path,
    report: &mut Report<'_>,
    files: &mut DependentFiles,
) -> AdminSettings {
    let enabled = raw.enabled.unwrap_or(true);
    let address = if enabled {
        let text = raw.address.as_deref().unwrap_or("127.0.0.1:9901");
        match text.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                report.error(
                    "admin.address",
                    format!("{text:?} is not an IP:port address"),
                );
                None
            }
        }
    } else {
        None
    };
    if address.is_some_and(|a| !a.ip().is_loopback()) && raw.token_file.is_none() {
        report.warn(
            "admin.address",
            "the admin listener is reachable beyond this machine and has no token_file: /status and /metrics are open to that network",
        );
    }
    let token_file = raw.token_file.map(|f| resolve_path(base, &f));
    let token = token_file.as_ref().and_then(|file| {
        files.note(file);
        match std::fs::read_to_string(file) {
            Ok(t) if !t.trim().is_empty() => Some(t.trim().to_string()),
            Ok(_) => {
                report.error("admin.token_file", format!("{} is empty", file.display()));
                None
            }
            Err(e) => {
                report.error(
                    "admin.token_file",
                    format!("cannot read {}: {e}", file.display()),
                );
                None
            }
        }
    });
    AdminSettings {
        address,
        token,
        token_file,
    }
}

pub(super) fn reload_settings(raw: raw::Reload) -> ReloadSettings {
    ReloadSettings {
        watch: raw.watch.unwrap_or(true),
        debounce: raw
            .debounce
            .map_or(Duration::from_millis(100), |d: ConfigDuration| d.0),
    }
}

pub(super) fn pair_settings(
    raw: raw::Pair,
    report: &mut Report<'_>,
) -> crate::config::model::PairSettings {
    let peer = raw.peer.filter(|p| {
        let ok = p.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|n| n != 0)
        });
        if !ok {
            report.error(
                "pair.peer",
                format!("{p:?} is not host:port (the peer's admin listener)"),
            );
        }
        ok
    });
    let floating_address = raw.floating_address.and_then(|a| match a.parse() {
        Ok(ip) => Some(ip),
        Err(_) => {
            report.error(
                "pair.floating_address",
                format!("{a:?} is not an IP address"),
            );
            None
        }
    });
    let interval = raw
        .interval
        .map_or(Duration::from_secs(2), |d: ConfigDuration| d.0);
    if interval.is_zero() {
        report.error("pair.interval", "must be more than 0s");
    }
    if floating_address.is_some() && peer.is_none() {
        report.warn(
            "pair.floating_address",
            "without pair.peer there is nothing to compare: the guard is off",
        );
    }
    crate::config::model::PairSettings {
        peer,
        floating_address,
        interval,
    }
}

pub(super) fn logging_settings(
    raw: raw::Logging,
    report: &mut Report<'_>,
) -> crate::config::model::LoggingSettings {
    let level = raw.level.unwrap_or_else(|| "info".to_string());
    let levels = ["error", "warn", "info", "debug", "trace", "off"].map(|l| (l, ()));
    choice(report, "logging.level", "level", &level, &levels);
    let json = raw
        .format
        .as_deref()
        .and_then(|v| {
            choice(
                report,
                "logging.format",
                "format",
                v,
                &[("text", false), ("json", true)],
            )
        })
        .unwrap_or(false);
    crate::config::model::LoggingSettings { level, json }
}

pub(super) fn access_log_settings(
    raw: raw::AccessLog,
    base: &Path,
    report: &mut Report<'_>,
) -> Option<crate::access_log::Settings> {
    if !raw.enabled.unwrap_or(true) {
        return None;
    }
    let sample = raw.sample.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&sample) {
        report.error("access_log.sample", "must be between 0.0 and 1.0");
    }
    let path = raw.path.unwrap_or_else(|| "-".to_string());
    let target = if path == "-" {
        crate::access_log::writer::Target::Stdout
    } else {
        crate::access_log::writer::Target::File(resolve_path(base, &path))
    };
    let buffer = raw.buffer.unwrap_or(16_384);
    if buffer == 0 {
        report.error("access_log.buffer", "must be at least 1");
    }
    Some(crate::access_log::Settings {
        target,
        sample: sample.clamp(0.0, 1.0),
        buffer: buffer.max(1),
        flush_interval: positive(
            report,
            "access_log.flush_interval",
            raw.flush_interval,
            Duration::from_millis(200),
        ),
    })
}

pub(super) fn limits_settings(
    raw: raw::Limits,
    report: &mut Report<'_>,
) -> crate::config::model::LimitsSettings {
    use crate::config::model::{Http2Settings, LimitsSettings};
    let defaults = crate::config::limits::Limits::default();
    let mut size = |key: &str, v: Option<usize>, default: usize, min: usize| match v {
        Some(n) if n < min => {
            report.error(&child("limits", key), format!("must be at least {min}"));
            default
        }
        Some(n) => n,
        None => default,
    };
    let head = crate::config::limits::Limits {
        max_request_line: size(
            "max_request_line",
            raw.max_request_line,
            defaults.max_request_line,
            64,
        ),
        max_header_bytes: size(
            "max_header_bytes",
            raw.max_header_bytes,
            defaults.max_header_bytes,
            256,
        ),
        max_headers: size("max_headers", raw.max_headers, defaults.max_headers, 8),
    };
    let max_buffered_body = size("max_buffered_body", raw.max_buffered_body, 64 * 1024, 0);
    let h2 = raw.http2;
    LimitsSettings {
        header_timeout: positive(
            report,
            "limits.header_timeout",
            raw.header_timeout,
            Duration::from_secs(10),
        ),
        keepalive_timeout: positive(
            report,
            "limits.keepalive_timeout",
            raw.keepalive_timeout,
            Duration::from_secs(60),
        ),
        head,
        max_buffered_body,
        body_timeout: positive(
            report,
            "limits.body_timeout",
            raw.body_timeout,
            Duration::from_secs(30),
        ),
        min_body_rate: raw.min_body_rate.unwrap_or(256),
        body_rate_grace: positive(
            report,
            "limits.body_rate_grace",
            raw.body_rate_grace,
            Duration::from_secs(5),
        ),
        max_connections: raw.max_connections.unwrap_or(50_000),
        max_connections_per_ip: raw.max_connections_per_ip.unwrap_or(0),
        handshake_timeout: positive(
            report,
            "limits.handshake_timeout",
            raw.handshake_timeout,
            Duration::from_secs(10),
        ),
        http2: Http2Settings {
            max_concurrent_streams: h2.max_concurrent_streams.unwrap_or(128).max(1),
            max_header_list_size: h2.max_header_list_size.unwrap_or(32 * 1024).max(1024),
            max_pending_reset_streams: h2.max_pending_reset_streams.unwrap_or(20),
        },
    }
}
