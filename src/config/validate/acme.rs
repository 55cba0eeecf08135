//! `[acme]` and the `acme = [names]` certificate entries.
//!
//! An ACME entry whose certificate is already in the state directory is loaded like a
//! `{cert, key}` entry (its files become dependent files, so a renewal is an ordinary reload);
//! one that is not there yet is a warning, not an error: gatehouse obtains it once running.
//! Nothing here touches the network or creates the state directory (`gatehouse check` stays
//! read-only).

use super::suggest::choice;
use super::{positive, required, resolve_path, DependentFiles, Report};
use crate::config::raw;
use crate::config::spans::{child, index};
use crate::tls::acme::store::StateDir;
use crate::tls::acme::{cert_id, valid_name, AcmeCert, AcmeSettings, ChallengeKind, Eab};
use crate::tls::certs::{load_pair, LoadedCert};
use std::path::Path;
use std::time::Duration;

fn challenge(path: &str, value: &str, report: &mut Report<'_>) -> Option<ChallengeKind> {
    choice(
        report,
        path,
        "challenge",
        value,
        &[
            ("http-01", ChallengeKind::Http01),
            ("tls-alpn-01", ChallengeKind::TlsAlpn01),
        ],
    )
}

/// `[acme]`, when present.
pub(super) fn section(
    raw: raw::Acme,
    base: &Path,
    report: &mut Report<'_>,
    files: &mut DependentFiles,
) -> Option<AcmeSettings> {
    let directory = required(
        report,
        "acme",
        "directory",
        raw.directory.as_ref(),
        "\"https://acme-v02.api.letsencrypt.org/directory\"",
    )
    .and_then(|d| match d.parse::<http::Uri>() {
        Ok(uri) if uri.scheme_str() == Some("https") && uri.host().is_some() => Some(d.clone()),
        _ => {
            report.error(
                "acme.directory",
                format!(
                    "{d:?} is not an https:// URL (RFC 8555 directories are served over HTTPS)"
                ),
            );
            None
        }
    });
    let state_dir = required(
        report,
        "acme",
        "state_dir",
        raw.state_dir.as_ref(),
        "\"acme\"",
    )
    .map(|d| resolve_path(base, d));
    let contact = raw.contact.unwrap_or_default();
    for (i, c) in contact.iter().enumerate() {
        if !c.starts_with("mailto:") {
            report.error(
                &index("acme.contact", i),
                format!("{c:?}: contacts are URLs, e.g. \"mailto:ops@example.com\""),
            );
        }
    }
    let directory_ca = raw.directory_ca.map(|p| {
        let p = resolve_path(base, &p);
        files.note(&p);
        if let Err(e) = std::fs::metadata(&p) {
            report.error(
                "acme.directory_ca",
                format!("cannot read {}: {e}", p.display()),
            );
        }
        p
    });
    let eab = match (raw.eab_kid, raw.eab_hmac_key_file) {
        (None, None) => None,
        (Some(kid), Some(file)) => {
            let file = resolve_path(base, &file);
            files.note(&file);
            match std::fs::read_to_string(&file) {
                Ok(text) => match decode_base64url(text.trim()) {
                    Some(hmac_key) if !hmac_key.is_empty() => Some(Eab { kid, hmac_key }),
                    _ => {
                        report.error(
                            "acme.eab_hmac_key_file",
                            format!(
                                "{}: not a base64url HMAC key (as the CA hands it out)",
                                file.display()
                            ),
                        );
                        None
                    }
                },
                Err(e) => {
                    report.error(
                        "acme.eab_hmac_key_file",
                        format!("cannot read {}: {e}", file.display()),
                    );
                    None
                }
            }
        }
        (Some(_), None) => {
            report.error(
                "acme.eab_hmac_key_file",
                "required with eab_kid (the CA gives both)",
            );
            None
        }
        (None, Some(_)) => {
            report.error(
                "acme.eab_kid",
                "required with eab_hmac_key_file (the CA gives both)",
            );
            None
        }
    };
    let default_challenge = raw
        .challenge
        .as_deref()
        .and_then(|v| challenge("acme.challenge", v, report))
        .unwrap_or(ChallengeKind::Http01);
    let retry_initial = positive(
        report,
        "acme.retry_initial",
        raw.retry_initial,
        Duration::from_secs(60),
    );
    let retry_max = positive(
        report,
        "acme.retry_max",
        raw.retry_max,
        Duration::from_secs(3600),
    );
    if retry_max < retry_initial {
        report.error("acme.retry_max", "must not be shorter than retry_initial");
    }
    let check_interval = positive(
        report,
        "acme.check_interval",
        raw.check_interval,
        Duration::from_secs(3600),
    );
    let renew_before = raw.renew_before.map(|d| d.0);
    Some(AcmeSettings {
        directory: directory?,
        contact,
        state_dir: state_dir?,
        directory_ca,
        eab,
        challenge: default_challenge,
        renew_before,
        retry_initial,
        retry_max,
        check_interval,
    })
}

/// An `acme` certificate entry: its identity and, when already obtained, the loaded pair.
/// `acme_section`: whether the file has an `[acme]` section at all (it may have errors).
pub(super) fn entry(
    path: &str,
    listener: &str,
    c: &raw::Certificate,
    acme: Option<&AcmeSettings>,
    acme_section: bool,
    report: &mut Report<'_>,
    files: &mut DependentFiles,
) -> Option<(AcmeCert, Option<LoadedCert>)> {
    let raw_names = c.acme.as_deref().unwrap_or_default();
    for key in [("cert", c.cert.is_some()), ("key", c.key.is_some())] {
        if key.1 {
            report.error(
                &child(path, key.0),
                "an acme entry gets its certificate and key from the CA; remove cert/key or acme",
            );
        }
    }
    if raw_names.is_empty() {
        report.error(
            &child(path, "acme"),
            "names to obtain a certificate for, e.g. acme = [\"www.example.com\"]",
        );
        return None;
    }
    let mut names: Vec<String> = Vec::new();
    for (i, n) in raw_names.iter().enumerate() {
        let lower = n.trim_end_matches('.').to_ascii_lowercase();
        if !valid_name(&lower) {
            let why = if lower.starts_with("*.") {
                "wildcards need the DNS-01 challenge, which gatehouse does not do"
            } else {
                "not a DNS name a public CA can issue for"
            };
            report.error(&index(&child(path, "acme"), i), format!("{n:?}: {why}"));
        } else if !names.contains(&lower) {
            names.push(lower);
        }
    }
    if !acme_section {
        report.error(
            &child(path, "acme"),
            "needs an [acme] section (directory, state_dir, contact)",
        );
    }
    let settings = acme?;
    let challenge = match c.challenge.as_deref() {
        Some(v) => challenge(&child(path, "challenge"), v, report)?,
        None => settings.challenge,
    };
    if names.is_empty() || report_has_name_errors(raw_names) {
        return None;
    }
    let id = cert_id(&names);
    let dir = StateDir::new(&settings.state_dir);
    let (cert_path, key_path) = (dir.cert(&id), dir.key(&id));
    files.note(&cert_path);
    files.note(&key_path);
    let loaded = if cert_path.exists() || key_path.exists() {
        match load_pair(&cert_path, &key_path) {
            Ok(mut l) => {
                l.acme = Some(id.clone());
                Some(l)
            }
            Err(e) => {
                report.warn(
                    &child(path, "acme"),
                    format!("{e}; ordering a new certificate once running"),
                );
                None
            }
        }
    } else {
        report.warn(
            &child(path, "acme"),
            format!(
                "no certificate for {} yet in {}; gatehouse obtains it once running",
                names.join(", "),
                settings.state_dir.display()
            ),
        );
        None
    };
    Some((
        AcmeCert {
            id,
            names,
            challenge,
            listener: listener.to_string(),
        },
        loaded,
    ))
}

fn report_has_name_errors(raw: &[String]) -> bool {
    raw.iter()
        .any(|n| !valid_name(&n.trim_end_matches('.').to_ascii_lowercase()))
}

/// Base64url (with or without padding; standard alphabet tolerated), as CAs hand out EAB keys.
fn decode_base64url(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let trimmed = text.trim_end_matches('=');
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
        .ok()
}
