//! raw file → typed [`Config`]: collects *every* problem before failing, each with its key path
//! and line, so one `gatehouse check` run shows everything that needs fixing.
//!
//! The only I/O here is what validation cannot do without: reading the certificate, key, CA and
//! token files the config names (so bad files are refused before anything is served) and
//! resolving backend host names.

mod acme;
mod actions;
mod balance;
mod fast;
mod health;
mod lenient;
mod listeners;
mod matching;
mod pools;
mod report;
mod routes;
mod sections;
mod suggest;
mod tls;

pub use listeners::EXPIRY_WARNING;
pub(crate) use report::Report;

#[cfg(test)]
pub(crate) use routes::parse_host_pattern;

use super::duration::ConfigDuration;
use super::error::{ConfigError, Issue};
use super::model::Config;
use super::raw;
use super::resolve::Resolve;
use super::shared_digest::SharedDigest;
use super::spans::{child, SpanIndex};
use lenient::Named;
use sections::{
    access_log_settings, admin_settings, limits_settings, logging_settings, reload_settings,
    server_settings,
};
use std::collections::HashSet;
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

/// The top-level sections, in the order the reference lists them ([`super::schema`] has one
/// property per entry, checked by its tests).
pub(crate) const SECTIONS: &[&str] = &[
    "server",
    "admin",
    "reload",
    "pair",
    "logging",
    "access_log",
    "metrics",
    "limits",
    "listeners",
    "routes",
    "pools",
    "acme",
    "ocsp",
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

    // Straight into the raw types when nothing needs refusing; otherwise the lenient parser,
    // which reports every refused value with its line.
    let sections = match fast::sections(text) {
        Some(sections) => sections,
        None => {
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
            lenient_sections(document, &mut report)
        }
    };

    let mut files = DependentFiles::default();
    let server = server_settings(sections.server.unwrap_or_default(), path, &mut report);
    let admin = admin_settings(
        sections.admin.unwrap_or_default(),
        &base_dir,
        &mut report,
        &mut files,
    );
    let reload = reload_settings(sections.reload.unwrap_or_default());
    let pair = sections::pair_settings(sections.pair.unwrap_or_default(), &mut report);
    let logging = logging_settings(sections.logging.unwrap_or_default(), &mut report);
    let access_log = access_log_settings(
        sections.access_log.unwrap_or_default(),
        &base_dir,
        &mut report,
    );
    let metrics_enabled = sections.metrics.unwrap_or_default().enabled.unwrap_or(true);
    let limits = limits_settings(sections.limits.unwrap_or_default(), &mut report);
    let acme = sections
        .acme
        .and_then(|a| acme::section(a, &base_dir, &mut report, &mut files));
    let ocsp = tls::ocsp_section(sections.ocsp.unwrap_or_default(), &mut report);
    let (listeners, https_configured) = listeners::validate(
        sections.listeners,
        &base_dir,
        ctx,
        (acme.as_ref(), sections.acme_present),
        &mut report,
        &mut files,
    );
    if acme.is_some() && listeners.iter().all(|l| l.acme.is_empty()) {
        report.warn(
            "acme",
            "no certificate entry uses ACME (add acme = [\"www.example.com\"] to an https listener's certificates)",
        );
    }
    let unreadable_pools = sections.pools.unreadable.clone();
    let pools = pools::validate(sections.pools, &base_dir, ctx, &mut report, &mut files);
    let routes = routes::validate(
        sections.routes,
        &pools,
        &unreadable_pools,
        https_configured,
        listeners.iter().any(|l| l.client_auth.is_some()),
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
            pair,
            logging,
            access_log,
            metrics_enabled,
            limits,
            listeners,
            routes,
            pools,
            acme,
            ocsp,
            digest,
            shared_digest: SharedDigest::new(
                text.to_string(),
                files.0.iter().map(|(_, content)| content.clone()).collect(),
            ),
            dependent_files: files.0.into_iter().map(|(p, _)| p).collect(),
        },
        warnings,
    })
}

/// Parses every section leniently: each refused value is reported and left out.
fn lenient_sections(document: toml::Table, report: &mut Report<'_>) -> Sections {
    let mut sections = Sections::default();
    for (key, value) in document {
        match key.as_str() {
            "server" => sections.server = report.parse(value, "server"),
            "admin" => sections.admin = report.parse(value, "admin"),
            "reload" => sections.reload = report.parse(value, "reload"),
            "pair" => sections.pair = report.parse(value, "pair"),
            "logging" => sections.logging = report.parse(value, "logging"),
            "access_log" => sections.access_log = report.parse(value, "access_log"),
            "metrics" => sections.metrics = report.parse(value, "metrics"),
            "limits" => sections.limits = report.parse(value, "limits"),
            "listeners" => sections.listeners = report.parse_named(value, "listeners"),
            "routes" => sections.routes = report.parse_named(value, "routes"),
            "pools" => sections.pools = report.parse_named(value, "pools"),
            "acme" => {
                sections.acme_present = true;
                sections.acme = report.parse(value, "acme");
            }
            "ocsp" => sections.ocsp = report.parse(value, "ocsp"),
            other => report.error(
                &child("", other),
                format!(
                    "unknown section (expected one of: {}){}",
                    SECTIONS.join(", "),
                    suggest::closest(other, SECTIONS.iter().copied())
                        .map(|s| format!("; did you mean `{s}`?"))
                        .unwrap_or_default()
                ),
            ),
        }
    }
    sections
}

#[derive(Default)]
struct Sections {
    server: Option<raw::Server>,
    admin: Option<raw::Admin>,
    reload: Option<raw::Reload>,
    pair: Option<raw::Pair>,
    logging: Option<raw::Logging>,
    access_log: Option<raw::AccessLog>,
    metrics: Option<raw::Metrics>,
    limits: Option<raw::Limits>,
    listeners: Named<raw::Listener>,
    routes: Named<raw::Route>,
    pools: Named<raw::Pool>,
    acme: Option<raw::Acme>,
    acme_present: bool,
    ocsp: Option<raw::Ocsp>,
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

/// The value of a key the section cannot do without; when it is absent, an error at
/// `path.key` showing what to write ([`Report`] drops it when the key was there but refused,
/// or misspelt with "did you mean" this key: that is reported already).
pub(crate) fn required<'v, T>(
    report: &mut Report<'_>,
    path: &str,
    key: &str,
    value: Option<&'v T>,
    example: &str,
) -> Option<&'v T> {
    if value.is_none() {
        report.error(
            &child(path, key),
            format!("required key is missing (e.g. {key} = {example})"),
        );
    }
    value
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
mod cascade_tests;
#[cfg(test)]
mod tests;
