//! `[listeners.*]`: addresses, protocol, certificates (loaded and checked here), ALPN, redirect
//! and HSTS.

use super::lenient::Named;
use super::suggest::{choice, did_you_mean_value};
use super::{required, resolve_path, Context, DependentFiles, Report};
use crate::config::model::{Listener, Protocol, UnknownSni};
use crate::config::raw;
use crate::config::spans::{child, index};
use crate::tls::acme::AcmeSettings;
use crate::tls::certs::{load_pair, CertError, LoadedCert};
use http::HeaderValue;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A certificate expiring within this window is a loud warning (and a metric), never an error.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 86400);

/// The usable listeners, and whether the file has an https listener: one whose protocol is
/// https, unknown or refused, even if the listener has errors of its own (or is not a table),
/// so that nothing is reported as having "no https listener" because of an error reported at
/// that listener.
pub(super) fn validate(
    raw: Named<raw::Listener>,
    base: &Path,
    ctx: &Context<'_>,
    acme: (Option<&AcmeSettings>, bool),
    report: &mut Report<'_>,
    files: &mut DependentFiles,
) -> (Vec<Listener>, bool) {
    let mut out: Vec<Listener> = Vec::new();
    if raw.is_empty() {
        report.error(
            "listeners",
            "no listeners: add at least one, e.g. [listeners.http] address = \"0.0.0.0:8080\"",
        );
    }
    let https_configured = !raw.unreadable.is_empty()
        || raw
            .entries
            .iter()
            .any(|(name, l)| match l.protocol.as_deref() {
                Some(p) => p != "http",
                None => report.refused(&child(&child("listeners", name), "protocol")),
            });
    for (name, l) in raw.entries {
        let path = child("listeners", &name);
        if let Some(listener) = one(&name, &path, l, base, ctx, acme, report, files) {
            if let Some(other) = out.iter().find(|o| o.address == listener.address) {
                report.error(
                    &child(&path, "address"),
                    format!(
                        "{} is already used by listeners.{}",
                        listener.address, other.name
                    ),
                );
            }
            out.push(listener);
        }
    }
    let https_port = out
        .iter()
        .find(|l| l.protocol == Protocol::Https)
        .map(|l| l.address.port());
    for l in &mut out {
        if l.redirect_https && l.https_port.is_none() {
            l.https_port = https_port;
            let path = child("listeners", &l.name);
            if https_port.is_none()
                && !https_configured
                && !report.refused(&child(&path, "https_port"))
            {
                report.error(
                    &child(&path, "redirect_https"),
                    "there is no https listener to redirect to; add one or set https_port",
                );
            }
        }
    }
    (out, https_configured)
}

#[allow(clippy::too_many_arguments)]
fn one(
    name: &str,
    path: &str,
    l: raw::Listener,
    base: &Path,
    ctx: &Context<'_>,
    (acme_settings, acme_section): (Option<&AcmeSettings>, bool),
    report: &mut Report<'_>,
    files: &mut DependentFiles,
) -> Option<Listener> {
    let address = required(
        report,
        path,
        "address",
        l.address.as_ref(),
        "\"0.0.0.0:8080\"",
    )
    .and_then(|text| match text.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            report.error(
                &child(path, "address"),
                format!("{text:?} is not an IP:port address (e.g. \"0.0.0.0:8080\")"),
            );
            None
        }
    });
    // `None`: unknown or refused, so the checks that depend on the protocol are skipped
    // rather than judged against a protocol the file did not choose.
    let protocol = match l.protocol.as_deref() {
        None if report.refused(&child(path, "protocol")) => None,
        None => Some(Protocol::Http),
        Some(p) => choice(
            report,
            &child(path, "protocol"),
            "protocol",
            p,
            &[("http", Protocol::Http), ("https", Protocol::Https)],
        ),
    };
    let is_tls = protocol == Some(Protocol::Https);
    let mut certificates = Vec::new();
    let mut default_certificate = None;
    let mut acme = Vec::new();
    // With an unknown protocol the certificates are still checked: they show what was meant.
    if protocol != Some(Protocol::Http) {
        if is_tls && l.certificates.is_empty() && !report.refused(&child(path, "certificates")) {
            report.error(
                &child(path, "certificates"),
                "an https listener needs at least one certificate: certificates = [{ cert = \"...\", key = \"...\" }]",
            );
        }
        for (i, c) in l.certificates.iter().enumerate() {
            let cpath = index(&child(path, "certificates"), i);
            let loaded = if c.acme.is_some() {
                super::acme::entry(&cpath, name, c, acme_settings, acme_section, report, files)
                    .and_then(|(entry, loaded)| {
                        acme.push(entry);
                        loaded
                    })
            } else {
                certificate(&cpath, c, base, ctx, report, files)
            };
            if let Some(mut loaded) = loaded {
                super::tls::ocsp_entry(&cpath, c, &mut loaded, base, ctx.now, report, files);
                if c.default.unwrap_or(false) {
                    if default_certificate.is_some() {
                        report.error(
                            &child(&cpath, "default"),
                            "only one certificate can be the default",
                        );
                    }
                    default_certificate = Some(certificates.len());
                }
                certificates.push(Arc::new(loaded));
            }
        }
        if default_certificate.is_none() && !certificates.is_empty() {
            default_certificate = Some(0);
        }
    } else {
        // Cleartext for sure.
        for key in [
            ("certificates", !l.certificates.is_empty()),
            ("alpn", l.alpn.is_some()),
            ("unknown_sni", l.unknown_sni.is_some()),
            ("hsts", l.hsts.is_some()),
        ]
        .into_iter()
        .chain(super::tls::https_only_keys(&l))
        {
            if key.1 {
                report.error(
                    &child(path, key.0),
                    "only applies to https listeners (set protocol = \"https\")",
                );
            }
        }
    }
    if is_tls {
        for key in [
            ("h2c", l.h2c.is_some()),
            ("redirect_https", l.redirect_https.is_some()),
        ] {
            if key.1 {
                report.error(
                    &child(path, key.0),
                    "only applies to cleartext (http) listeners",
                );
            }
        }
    }
    let unknown_sni = l
        .unknown_sni
        .as_deref()
        .and_then(|v| {
            choice(
                report,
                &child(path, "unknown_sni"),
                "value",
                v,
                &[
                    ("default", UnknownSni::Default),
                    ("reject", UnknownSni::Reject),
                ],
            )
        })
        .unwrap_or(UnknownSni::Default);
    let alpn = alpn(path, l.alpn.as_deref(), report);
    let hsts = l
        .hsts
        .as_ref()
        .and_then(|h| hsts_value(&child(path, "hsts"), h, report));
    let trusted_proxies = super::cidrs(
        &child(path, "trusted_proxies"),
        l.trusted_proxies.as_deref(),
        report,
    );
    let (tls_profile, client_auth, client_cert_headers) = if protocol == Some(Protocol::Http) {
        Default::default()
    } else {
        super::tls::listener(path, &l, base, report, files)
    };
    let proxy_protocol = l.proxy_protocol.unwrap_or(false);
    if proxy_protocol && trusted_proxies.is_empty() {
        report.warn(
            &child(path, "proxy_protocol"),
            "any peer that reaches this listener can claim any client address; list the L4 balancers in trusted_proxies",
        );
    }
    Some(Listener {
        name: name.to_string(),
        address: address?,
        // An unknown protocol is reported; the config is refused either way.
        protocol: protocol.unwrap_or(Protocol::Http),
        certificates,
        default_certificate,
        unknown_sni,
        alpn,
        h2c: l.h2c.unwrap_or(false),
        redirect_https: l.redirect_https.unwrap_or(false),
        https_port: l.https_port,
        hsts,
        proxy_protocol,
        trusted_proxies,
        tls_profile,
        client_auth,
        client_cert_headers,
        acme,
    })
}

fn alpn(path: &str, raw: Option<&[String]>, report: &mut Report<'_>) -> Vec<Vec<u8>> {
    let default = ["h2".to_string(), "http/1.1".to_string()];
    let list = raw.unwrap_or(&default);
    if list.is_empty() {
        report.error(
            &child(path, "alpn"),
            "must name at least one protocol (\"h2\", \"http/1.1\")",
        );
    }
    let mut out = Vec::new();
    for (i, p) in list.iter().enumerate() {
        match p.as_str() {
            "h2" | "http/1.1" => out.push(p.as_bytes().to_vec()),
            other => report.error(
                &index(&child(path, "alpn"), i),
                format!(
                    "unsupported ALPN protocol {other:?} (expected \"h2\" or \"http/1.1\"){}",
                    did_you_mean_value(other, &["h2", "http/1.1"])
                ),
            ),
        }
    }
    out
}

fn certificate(
    path: &str,
    c: &raw::Certificate,
    base: &Path,
    ctx: &Context<'_>,
    report: &mut Report<'_>,
    files: &mut DependentFiles,
) -> Option<LoadedCert> {
    let cert = required(report, path, "cert", c.cert.as_ref(), "\"site.crt\"");
    let key = required(report, path, "key", c.key.as_ref(), "\"site.key\"");
    let (cert_path, key_path) = (resolve_path(base, cert?), resolve_path(base, key?));
    files.note(&cert_path);
    files.note(&key_path);
    let loaded = match load_pair(&cert_path, &key_path) {
        Ok(l) => l,
        Err(err) => {
            let key = match &err {
                CertError::Read { path: p, .. } if *p == key_path => "key",
                CertError::NoKey { .. }
                | CertError::UnsupportedKey { .. }
                | CertError::KeyWorldReadable { .. } => "key",
                CertError::KeyMismatch { .. } => "key",
                _ => "cert",
            };
            report.error(&child(path, key), err.to_string());
            return None;
        }
    };
    check_expiry(path, &loaded, ctx, report);
    if loaded.names.is_empty() {
        report.warn(
            &child(path, "cert"),
            format!(
                "{} has no DNS names in its subjectAltName; it can only be served as the default certificate",
                cert_path.display()
            ),
        );
    }
    Some(loaded)
}

fn check_expiry(path: &str, cert: &LoadedCert, ctx: &Context<'_>, report: &mut Report<'_>) {
    let cert_key = child(path, "cert");
    let file = cert.cert_path.display();
    if cert.not_after <= ctx.now {
        let when = humantime_date(cert.not_after);
        let new = ctx
            .in_service
            .is_some_and(|serving| !serving.contains(&cert.fingerprint));
        if new {
            report.error(
                &cert_key,
                format!("{file} expired on {when}; refusing to add an expired certificate"),
            );
        } else {
            report.warn(
                &cert_key,
                format!("{file} EXPIRED on {when}; still serving it so the node stays up - replace it now"),
            );
        }
    } else if cert.remaining(ctx.now) < EXPIRY_WARNING {
        report.warn(
            &cert_key,
            format!(
                "{file} expires in {} days ({}); renew it",
                cert.remaining(ctx.now).as_secs() / 86400,
                humantime_date(cert.not_after)
            ),
        );
    }
    if cert.not_before > ctx.now {
        report.warn(
            &cert_key,
            format!(
                "{file} is not valid before {}",
                humantime_date(cert.not_before)
            ),
        );
    }
}

/// `YYYY-MM-DD` for a point in time (UTC), without a date library.
pub(crate) fn humantime_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = secs.div_euclid(86400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}")
}

/// Builds the `Strict-Transport-Security` value once, at load.
pub(crate) fn hsts_value(
    path: &str,
    h: &raw::Hsts,
    report: &mut Report<'_>,
) -> Option<HeaderValue> {
    let max_age = required(report, path, "max_age", h.max_age.as_ref(), "\"365d\"")?.0;
    let mut value = format!("max-age={}", max_age.as_secs());
    let subdomains = h.include_subdomains.unwrap_or(false);
    let preload = h.preload.unwrap_or(false);
    if subdomains {
        value.push_str("; includeSubDomains");
    }
    if preload {
        if !subdomains || max_age < Duration::from_secs(365 * 86400) {
            report.warn(
                &child(path, "preload"),
                "browsers' preload lists require include_subdomains = true and max_age of at least 365d",
            );
        }
        value.push_str("; preload");
    }
    HeaderValue::from_str(&value).ok()
}

#[cfg(test)]
mod tests {
    use super::humantime_date;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn dates_are_civil() {
        assert_eq!(humantime_date(UNIX_EPOCH), "1970-01-01");
        assert_eq!(
            humantime_date(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29"
        );
        assert_eq!(
            humantime_date(UNIX_EPOCH + Duration::from_secs(1_798_761_600)),
            "2027-01-01"
        );
    }
}
