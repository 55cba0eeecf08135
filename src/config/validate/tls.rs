//! The TLS settings of https listeners beyond certificates: `tls_profile`, client
//! certificates (`client_auth`, `client_ca`, `client_crl`, `client_cert_headers`), OCSP
//! stapling of a certificate entry (`ocsp_file`, `ocsp_fetch`), and the `[ocsp]` section.

use super::suggest::choice;
use super::{positive, resolve_path, DependentFiles, Report};
use crate::config::model::OcspSettings;
use crate::config::raw;
use crate::config::spans::child;
use crate::tls::certs::LoadedCert;
use crate::tls::client_auth::{CertHeaders, ClientAuth, ClientAuthMode};
use crate::tls::ocsp::{self, Stapled};
use crate::tls::profile::TlsProfile;
use http::HeaderName;
use std::path::Path;
use std::sync::Arc;

/// Keys that only mean something on an https listener.
pub(super) fn https_only_keys(l: &raw::Listener) -> [(&'static str, bool); 5] {
    [
        ("tls_profile", l.tls_profile.is_some()),
        ("client_auth", l.client_auth.is_some()),
        ("client_ca", l.client_ca.is_some()),
        ("client_crl", l.client_crl.is_some()),
        ("client_cert_headers", l.client_cert_headers.is_some()),
    ]
}

/// The listener's TLS profile, client-certificate settings and header names.
pub(super) fn listener(
    path: &str,
    l: &raw::Listener,
    base: &Path,
    report: &mut Report<'_>,
    files: &mut DependentFiles,
) -> (TlsProfile, Option<Arc<ClientAuth>>, CertHeaders) {
    let profile = l
        .tls_profile
        .as_deref()
        .and_then(|v| {
            choice(
                report,
                &child(path, "tls_profile"),
                "TLS profile",
                v,
                &[
                    ("modern", TlsProfile::Modern),
                    ("intermediate", TlsProfile::Intermediate),
                ],
            )
        })
        .unwrap_or_default();
    let mode = l.client_auth.as_deref().and_then(|v| {
        choice(
            report,
            &child(path, "client_auth"),
            "client_auth",
            v,
            &[
                ("required", ClientAuthMode::Required),
                ("optional", ClientAuthMode::Optional),
            ],
        )
    });
    let headers = headers(path, l.client_cert_headers.as_ref(), report);
    if mode.is_none() && l.client_auth.is_none() {
        for (key, set) in [
            ("client_ca", l.client_ca.is_some()),
            ("client_crl", l.client_crl.is_some()),
            ("client_cert_headers", l.client_cert_headers.is_some()),
        ] {
            if set {
                report.error(
                    &child(path, key),
                    "has no effect without client_auth = \"required\" or \"optional\"",
                );
            }
        }
    }
    let client_auth = mode.and_then(|mode| {
        let ca = super::required(
            report,
            path,
            "client_ca",
            l.client_ca.as_ref(),
            "\"clients-ca.pem\"",
        )?;
        let ca = resolve_path(base, ca);
        files.note(&ca);
        let crl = l.client_crl.as_ref().map(|c| resolve_path(base, c));
        if let Some(c) = &crl {
            files.note(c);
        }
        match ClientAuth::load(mode, &ca, crl.as_deref()) {
            Ok(auth) => Some(Arc::new(auth)),
            Err(e) => {
                let key = match &e {
                    crate::tls::client_auth::ClientAuthError::NoCrl { .. } => "client_crl",
                    crate::tls::client_auth::ClientAuthError::Read { path: p, .. }
                    | crate::tls::client_auth::ClientAuthError::Invalid { path: p, .. }
                        if Some(p) == crl.as_ref() =>
                    {
                        "client_crl"
                    }
                    _ => "client_ca",
                };
                report.error(&child(path, key), e.to_string());
                None
            }
        }
    });
    (profile, client_auth, headers)
}

fn headers(
    path: &str,
    raw: Option<&raw::ClientCertHeaders>,
    report: &mut Report<'_>,
) -> CertHeaders {
    let mut out = CertHeaders::default();
    let Some(raw) = raw else { return out };
    let hpath = child(path, "client_cert_headers");
    for (key, value, slot) in [
        ("subject", &raw.subject, &mut out.subject),
        ("san", &raw.san, &mut out.san),
        ("fingerprint", &raw.fingerprint, &mut out.fingerprint),
    ] {
        if let Some(v) = value {
            match HeaderName::from_bytes(v.as_bytes()) {
                Ok(name) if !is_reserved(&name) => *slot = name,
                Ok(_) => report.error(
                    &child(&hpath, key),
                    format!(
                        "{v:?} is a header gatehouse or HTTP itself manages; choose another name"
                    ),
                ),
                Err(_) => report.error(
                    &child(&hpath, key),
                    format!("{v:?} is not a valid header name"),
                ),
            }
        }
    }
    let names = out.names();
    if names[0] == names[1] || names[1] == names[2] || names[0] == names[2] {
        report.error(&hpath, "the three header names must differ");
    }
    out
}

fn is_reserved(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host"
            | "connection"
            | "content-length"
            | "transfer-encoding"
            | "te"
            | "upgrade"
            | "x-forwarded-for"
            | "x-forwarded-proto"
            | "x-forwarded-host"
            | "x-request-id"
    )
}

/// Applies `ocsp_file` / `ocsp_fetch` of a certificate entry to the loaded certificate. A
/// response that does not validate is a warning (the certificate is served without a staple),
/// never an error: an OCSP problem must not take a site down.
pub(super) fn ocsp_entry(
    path: &str,
    c: &raw::Certificate,
    loaded: &mut LoadedCert,
    base: &Path,
    now: std::time::SystemTime,
    report: &mut Report<'_>,
    files: &mut DependentFiles,
) {
    loaded.ocsp_fetch = c.ocsp_fetch.unwrap_or(false);
    let chain = &loaded.certified.cert;
    let leaf = chain.first().map(|c| c.as_ref()).unwrap_or_default();
    if loaded.ocsp_fetch {
        if let Err(e) = ocsp::request::responder_url(leaf) {
            report.warn(&child(path, "ocsp_fetch"), e.to_string());
        } else if chain.len() < 2 {
            report.warn(
                &child(path, "ocsp_fetch"),
                ocsp::OcspError::NoIssuer.to_string(),
            );
        }
    }
    let Some(file) = &c.ocsp_file else { return };
    let file = resolve_path(base, file);
    files.note(&file);
    let key = child(path, "ocsp_file");
    let der = match std::fs::read(&file) {
        Ok(d) => d,
        Err(e) => {
            report.warn(
                &key,
                format!(
                    "cannot read {}: {e}; serving without a staple",
                    file.display()
                ),
            );
            return;
        }
    };
    let checked = ocsp::issuer_of(chain).and_then(|issuer| ocsp::validate(&der, leaf, issuer, now));
    match checked {
        Ok(staple) => loaded.staple = Some(Stapled::new(&loaded.certified, &staple)),
        Err(e) => report.warn(
            &key,
            format!("{}: {e}; serving without a staple", file.display()),
        ),
    }
}

/// `[ocsp]`.
pub(super) fn ocsp_section(raw: raw::Ocsp, report: &mut Report<'_>) -> OcspSettings {
    let d = OcspSettings::default();
    OcspSettings {
        refresh: positive(report, "ocsp.refresh", raw.refresh, d.refresh),
        timeout: positive(report, "ocsp.timeout", raw.timeout, d.timeout),
    }
}
