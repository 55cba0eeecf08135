//! raw file → typed [`Config`]: collects *every* problem before failing, each with its key path
//! and line, so one `gatehouse check` run shows everything that needs fixing.
//!
//! The only I/O here is what validation cannot do without: reading the certificate, key, CA and
//! token files the config names (so bad files are refused before anything is served) and
//! resolving backend host names.

mod listeners;
mod pools;

pub use listeners::EXPIRY_WARNING;
mod routes;

#[cfg(test)]
pub(crate) use routes::parse_host_pattern;

use super::duration::ConfigDuration;
use super::error::{ConfigError, Issue};
use super::model::{
    AdminSettings, Config, Http1Engine, ReloadSettings, RetryBudgetSettings, ServerSettings,
};
use super::raw;
use super::resolve::Resolve;
use super::spans::{child, SpanIndex};
use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// What validation needs besides the text.
pub struct Context<'a> {
    /// Resolves backend host names.
    pub resolver: &'a dyn Resolve,
    /// "Now", for certificate expiry.
    pub now: SystemTime,
    /// Fingerprints of certificates already being served. `Some` during a reload, where a
    /// certificate that is new *and* already expired is an error; `None` at startup and in
    /// `gatehouse check`, where expiry is only a warning so that a restart can never be refused
    /// because a certificate ran out while in service.
    pub in_service: Option<&'a HashSet<String>>,
}

/// A valid config and the warnings found on the way.
#[derive(Debug)]
pub struct Validated {
    /// The config.
    pub config: Config,
    /// Things that work but deserve attention (expiring certificates, unused pools, …).
    pub warnings: Vec<Issue>,
}

const SECTIONS: &[&str] = &[
    "server",
    "admin",
    "reload",
    "logging",
    "access_log",
    "metrics",
    "limits",
    "listeners",
    "routes",
    "pools",
];

/// Validates config text that came from `path`.
///
/// # Errors
/// [`ConfigError::Invalid`] listing every problem.
pub fn validate(path: &Path, text: &str, ctx: &Context<'_>) -> Result<Validated, ConfigError> {
    let spans = SpanIndex::new(text);
    let mut report = Report::new(&spans);
    let base_dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));

    let document: toml::Table = match toml::from_str(text) {
        Ok(doc) => doc,
        Err(err) => {
            let line = err.span().map(|s| spans.line_at(s.start));
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                issues: vec![Issue {
                    path: String::new(),
                    message: format!("invalid TOML: {}", err.message().trim()),
                    line,
                }],
            });
        }
    };

    let mut sections = Sections::default();
    for (key, value) in document {
        match key.as_str() {
            "server" => sections.server = report.parse(value, "server"),
            "admin" => sections.admin = report.parse(value, "admin"),
            "reload" => sections.reload = report.parse(value, "reload"),
            "logging" => sections.logging = report.parse(value, "logging"),
            "access_log" => sections.access_log = report.parse(value, "access_log"),
            "metrics" => sections.metrics = report.parse(value, "metrics"),
            "limits" => sections.limits = report.parse(value, "limits"),
            "listeners" => {
                sections.listeners = report.parse_named(value, "listeners", &mut Vec::new())
            }
            "routes" => sections.routes = report.parse_named(value, "routes", &mut Vec::new()),
            "pools" => {
                sections.pools = report.parse_named(value, "pools", &mut sections.broken_pools)
            }
            other => report.error(
                &child("", other),
                format!("unknown section (expected one of: {})", SECTIONS.join(", ")),
            ),
        }
    }

    let mut files = DependentFiles::default();
    let server = server_settings(sections.server.unwrap_or_default(), path, &mut report);
    let admin = admin_settings(
        sections.admin.unwrap_or_default(),
        &base_dir,
        &mut report,
        &mut files,
    );
    let reload = reload_settings(sections.reload.unwrap_or_default());
    let logging = logging_settings(sections.logging.unwrap_or_default(), &mut report);
    let access_log = access_log_settings(
        sections.access_log.unwrap_or_default(),
        &base_dir,
        &mut report,
    );
    let metrics_enabled = sections.metrics.unwrap_or_default().enabled.unwrap_or(true);
    let limits = limits_settings(sections.limits.unwrap_or_default(), &mut report);
    let listeners =
        listeners::validate(sections.listeners, &base_dir, ctx, &mut report, &mut files);
    let pools = pools::validate(sections.pools, &base_dir, ctx, &mut report, &mut files);
    let routes = routes::validate(
        sections.routes,
        &pools,
        &sections.broken_pools,
        &listeners,
        &mut report,
    );
    if let Some(admin_addr) = admin.address {
        for l in &listeners {
            if l.address == admin_addr {
                report.error(
                    "admin.address",
                    format!("{admin_addr} is also the address of listeners.{}", l.name),
                );
            }
        }
    }

    let (issues, mut warnings) = report.finish();
    if !issues.is_empty() {
        return Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            issues,
        });
    }
    warnings.sort_by_key(|w| w.line);
    let mut digest_parts: Vec<&[u8]> = vec![text.as_bytes()];
    for (p, content) in &files.0 {
        digest_parts.push(p.as_os_str().as_encoded_bytes());
        digest_parts.push(content);
    }
    let digest = crate::tls::sha256_hex(&digest_parts);
    Ok(Validated {
        config: Config {
            source: path.to_path_buf(),
            server,
            admin,
            reload,
            logging,
            access_log,
            metrics_enabled,
            limits,
            listeners,
            routes,
            pools,
            dependent_files: files.0.into_iter().map(|(p, _)| p).collect(),
            digest,
        },
        warnings,
    })
}

#[derive(Default)]
struct Sections {
    server: Option<raw::Server>,
    admin: Option<raw::Admin>,
    reload: Option<raw::Reload>,
    logging: Option<raw::Logging>,
    access_log: Option<raw::AccessLog>,
    metrics: Option<raw::Metrics>,
    limits: Option<raw::Limits>,
    listeners: IndexMap<String, raw::Listener>,
    routes: IndexMap<String, raw::Route>,
    pools: IndexMap<String, raw::Pool>,
    /// Pools present in the file but unparseable (already reported): routes naming them are
    /// not reported again as naming an unknown pool.
    broken_pools: Vec<String>,
}

/// Files read during validation, with their contents (for the digest and the watcher).
#[derive(Default)]
pub(crate) struct DependentFiles(Vec<(PathBuf, Vec<u8>)>);

impl DependentFiles {
    /// Records a file the config depends on; unreadable files are recorded with no content so
    /// the watcher still notices when they appear.
    pub(crate) fn note(&mut self, path: &Path) {
        if self.0.iter().any(|(p, _)| p == path) {
            return;
        }
        let content = std::fs::read(path).unwrap_or_default();
        self.0.push((path.to_path_buf(), content));
    }
}

/// Collects issues and warnings, attaching line numbers as they are recorded.
pub(crate) struct Report<'a> {
    spans: &'a SpanIndex,
    issues: Vec<Issue>,
    warnings: Vec<Issue>,
}

impl<'a> Report<'a> {
    fn new(spans: &'a SpanIndex) -> Self {
        Report {
            spans,
            issues: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Records an error at `path`.
    pub(crate) fn error(&mut self, path: &str, message: impl Into<String>) {
        let issue = self.issue(path, message.into());
        self.issues.push(issue);
    }

    /// Records a warning at `path`.
    pub(crate) fn warn(&mut self, path: &str, message: impl Into<String>) {
        let issue = self.issue(path, message.into());
        self.warnings.push(issue);
    }

    fn issue(&self, path: &str, message: String) -> Issue {
        Issue {
            path: path.to_string(),
            message,
            line: self.spans.line_of(path),
        }
    }

    fn finish(mut self) -> (Vec<Issue>, Vec<Issue>) {
        // File order, so the list reads top to bottom like the file.
        self.issues.sort_by_key(|i| i.line.unwrap_or(usize::MAX));
        (self.issues, self.warnings)
    }

    /// Deserializes one section, recording a precise issue on failure.
    fn parse<T: DeserializeOwned>(&mut self, value: toml::Value, path: &str) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Some(v),
            Err(err) => {
                let inner = err.path().to_string();
                let message = err.inner().to_string();
                let mut full = if inner == "." {
                    path.to_string()
                } else {
                    format!("{path}.{inner}").replace(".[", "[")
                };
                // Point at the unknown field itself (serde sometimes reports it at its parent).
                if let Some(field) = unknown_field(&message) {
                    if !full.ends_with(&format!(".{field}")) {
                        full = child(&full, field);
                    }
                }
                self.error(&full, tidy_serde_message(&message));
                None
            }
        }
    }

    /// Deserializes a table of named entries (`[pools.<name>]`), each on its own, so that a
    /// mistake in one entry does not hide mistakes in the others.
    fn parse_named<T: DeserializeOwned>(
        &mut self,
        value: toml::Value,
        path: &str,
        broken: &mut Vec<String>,
    ) -> IndexMap<String, T> {
        let mut out = IndexMap::new();
        let toml::Value::Table(table) = value else {
            self.error(
                path,
                format!("expected a table of named entries, like [{path}.<name>]"),
            );
            return out;
        };
        for (name, entry) in table {
            let entry_path = child(path, &name);
            if !valid_name(&name) {
                self.error(
                    &entry_path,
                    "names may only contain letters, digits, '_', '-' and '.' (they become metric labels and admin URLs)",
                );
            }
            match self.parse(entry, &entry_path) {
                Some(parsed) => {
                    out.insert(name, parsed);
                }
                None => broken.push(name),
            }
        }
        out
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

fn tidy_serde_message(message: &str) -> String {
    // toml's value deserializer appends its own location hints; ours are better.
    let first = message.lines().next().unwrap_or(message);
    if let Some(field) = unknown_field(first) {
        let expected = first
            .split_once(", expected ")
            .map(|(_, e)| format!(" (expected {e})"))
            .unwrap_or_default();
        return format!("unknown key `{field}`{expected}");
    }
    first.to_string()
}

fn server_settings(
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
    let http1_engine = match raw.http1_engine.as_deref() {
        None | Some("gatehouse") => Http1Engine::Gatehouse,
        Some("pingora") => Http1Engine::Pingora,
        Some(other) => {
            report.error(
                "server.http1_engine",
                format!("unknown engine {other:?}: expected \"gatehouse\" or \"pingora\""),
            );
            Http1Engine::Gatehouse
        }
    };
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
        http1_engine,
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

fn admin_settings(
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

fn reload_settings(raw: raw::Reload) -> ReloadSettings {
    ReloadSettings {
        watch: raw.watch.unwrap_or(true),
        debounce: raw
            .debounce
            .map_or(Duration::from_millis(100), |d: ConfigDuration| d.0),
    }
}

fn logging_settings(
    raw: raw::Logging,
    report: &mut Report<'_>,
) -> crate::config::model::LoggingSettings {
    let level = raw.level.unwrap_or_else(|| "info".to_string());
    if !["error", "warn", "info", "debug", "trace", "off"].contains(&level.as_str()) {
        report.error(
            "logging.level",
            format!("unknown level {level:?} (expected error, warn, info, debug, trace or off)"),
        );
    }
    let json = match raw.format.as_deref().unwrap_or("text") {
        "text" => false,
        "json" => true,
        other => {
            report.error(
                "logging.format",
                format!("unknown format {other:?} (expected \"text\" or \"json\")"),
            );
            false
        }
    };
    crate::config::model::LoggingSettings { level, json }
}

fn access_log_settings(
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

fn limits_settings(
    raw: raw::Limits,
    report: &mut Report<'_>,
) -> crate::config::model::LimitsSettings {
    use crate::config::model::{Http2Settings, LimitsSettings};
    let defaults = crate::listener::head::Limits::default();
    let mut size = |key: &str, v: Option<usize>, default: usize, min: usize| match v {
        Some(n) if n < min => {
            report.error(&child("limits", key), format!("must be at least {min}"));
            default
        }
        Some(n) => n,
        None => default,
    };
    let head = crate::listener::head::Limits {
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

/// Parses a list of CIDR blocks, reporting each bad entry.
pub(crate) fn cidrs(
    path: &str,
    raw: Option<&[String]>,
    report: &mut Report<'_>,
) -> Vec<crate::net::cidr::Cidr> {
    let mut out = Vec::new();
    for (i, text) in raw.unwrap_or_default().iter().enumerate() {
        match text.parse() {
            Ok(c) => out.push(c),
            Err(e) => report.error(&crate::config::spans::index(path, i), e),
        }
    }
    out
}

/// Paths in the config are relative to the config file's directory.
pub fn resolve_path(base: &Path, file: &str) -> PathBuf {
    let p = Path::new(file);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// Records an error unless the duration is positive.
pub(crate) fn positive(
    report: &mut Report<'_>,
    path: &str,
    value: Option<ConfigDuration>,
    default: Duration,
) -> Duration {
    match value {
        Some(d) if d.0.is_zero() => {
            report.error(path, "must be greater than zero");
            default
        }
        Some(d) => d.0,
        None => default,
    }
}

/// Validates `text` as if read from a file in a directory that does not exist, with no name
/// resolving and no certificate in service: what unit tests of validation and of reload diffs
/// need.
#[cfg(test)]
pub(crate) fn validate_text(text: &str) -> Result<Validated, ConfigError> {
    let resolver = crate::config::resolve::StaticResolver::default();
    let ctx = Context {
        resolver: &resolver,
        now: SystemTime::now(),
        in_service: None,
    };
    validate(Path::new("/nonexistent/gatehouse.toml"), text, &ctx)
}

#[cfg(test)]
mod tests;
