//! Fetching and refreshing OCSP responses for certificates with `ocsp_fetch = true`.
//!
//! One task (in the control plane) keeps a schedule per certificate, keyed by fingerprint so
//! reloads that keep a certificate keep its staple: a response is fetched at start, then again
//! when half its validity has passed or `[ocsp] refresh` has elapsed, whichever is first.
//! Failures retry with backoff (1 s doubling up to `refresh`) while the last valid response
//! keeps being stapled until its own `nextUpdate`.

use super::{issuer_of, request, validate, OcspError, Stapled};
use crate::metrics::names;
use crate::runtime::SharedState;
use crate::tls::certs::LoadedCert;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use metrics::{counter, gauge};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// Largest response read from a responder (real ones are 1-4 KiB).
const MAX_RESPONSE: usize = 64 * 1024;
/// First wait after a failed fetch.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No request could be built (no responder URL, no issuer…).
    #[error(transparent)]
    Request(#[from] request::RequestError),
    /// The responder URL is not `http://host[:port]/…`.
    #[error(
        "unsupported responder URL {0:?} (only http:// is supported, as RFC 6960 responders use)"
    )]
    Url(String),
    /// Network failure or timeout.
    #[error("{url}: {reason}")]
    Transport {
        /// Responder.
        url: String,
        /// What happened.
        reason: String,
    },
    /// Non-200 answer.
    #[error("{url}: HTTP status {status}")]
    Status {
        /// Responder.
        url: String,
        /// Status.
        status: u16,
    },
    /// The response is not stapleable.
    #[error(transparent)]
    Invalid(#[from] OcspError),
}

/// POSTs `body` to an `http://` OCSP responder and returns the DER response.
///
/// # Errors
/// [`FetchError`].
pub async fn post(url: &str, body: Vec<u8>, limit: Duration) -> Result<Vec<u8>, FetchError> {
    let uri: http::Uri = url.parse().map_err(|_| FetchError::Url(url.to_string()))?;
    if uri.scheme_str() != Some("http") {
        return Err(FetchError::Url(url.to_string()));
    }
    let host = uri.host().ok_or_else(|| FetchError::Url(url.to_string()))?;
    let port = uri.port_u16().unwrap_or(80);
    let transport = |reason: String| FetchError::Transport {
        url: url.to_string(),
        reason,
    };
    let work = async {
        let stream = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port))
            .await
            .map_err(|e| transport(e.to_string()))?;
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| transport(e.to_string()))?;
        let driver = tokio::spawn(conn);
        let authority = uri.authority().map_or(host, |a| a.as_str());
        let request = http::Request::post(uri.path_and_query().map_or("/", |p| p.as_str()))
            .header(http::header::HOST, authority)
            .header(http::header::CONTENT_TYPE, "application/ocsp-request")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| transport(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| transport(e.to_string()))?;
        let status = response.status().as_u16();
        if status != 200 {
            driver.abort();
            return Err(FetchError::Status {
                url: url.to_string(),
                status,
            });
        }
        let bytes = Limited::new(response.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| transport(e.to_string()))?
            .to_bytes();
        driver.abort();
        Ok(bytes.to_vec())
    };
    tokio::time::timeout(limit, work)
        .await
        .map_err(|_| transport(format!("no answer within {limit:?}")))?
}

/// Fetches and validates a fresh response for `cert`.
///
/// # Errors
/// [`FetchError`].
pub async fn fetch_for(cert: &LoadedCert, limit: Duration) -> Result<super::Staple, FetchError> {
    let chain = &cert.certified.cert;
    let leaf = chain.first().map(|c| c.as_ref()).unwrap_or_default();
    let issuer = issuer_of(chain)?;
    let url = request::responder_url(leaf)?;
    let body = request::build(leaf, issuer)?;
    let der = post(&url, body, limit).await?;
    Ok(validate(&der, leaf, issuer, SystemTime::now())?)
}

struct Schedule {
    due: Instant,
    failures: u32,
}

/// When to fetch again after a good response: half its validity after `thisUpdate`, but no
/// later than `refresh` from now, and no sooner than a second from now.
fn next_fetch(staple: &super::Staple, refresh: Duration, now: SystemTime) -> Duration {
    let life = staple
        .expires
        .duration_since(staple.this_update)
        .unwrap_or_default();
    let half = (staple.this_update + life / 2)
        .duration_since(now)
        .unwrap_or_default();
    half.min(refresh).max(Duration::from_secs(1))
}

/// Keeps the fetched staples of every `ocsp_fetch` certificate served fresh, until shutdown.
pub async fn run(state: Arc<SharedState>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut generations = state.subscribe();
    let mut schedule: HashMap<Arc<str>, Schedule> = HashMap::new();
    loop {
        let snapshot = state.load();
        let settings = snapshot.config.ocsp.clone();
        let wanted: Vec<Arc<LoadedCert>> = snapshot
            .config
            .listeners
            .iter()
            .flat_map(|l| l.certificates.iter())
            .filter(|c| c.ocsp_fetch)
            .cloned()
            .collect();
        drop(snapshot);
        schedule.retain(|fp, _| wanted.iter().any(|c| *c.fingerprint == **fp));
        state
            .tls
            .retain_staples(|fp| wanted.iter().any(|c| *c.fingerprint == *fp));
        let now = Instant::now();
        for cert in &wanted {
            let entry = schedule
                .entry(Arc::from(cert.fingerprint.as_str()))
                .or_insert(Schedule {
                    due: now,
                    failures: 0,
                });
            if entry.due > now {
                continue;
            }
            let label = cert.cert_path.display().to_string();
            match fetch_for(cert, settings.timeout).await {
                Ok(staple) => {
                    counter!(names::OCSP_FETCHES_TOTAL, names::label::CERTIFICATE => label.clone(), names::label::RESULT => "ok")
                        .increment(1);
                    gauge!(names::OCSP_STAPLE_EXPIRY_SECONDS, names::label::CERTIFICATE => label.clone())
                        .set(staple.expires_unix() as f64);
                    let wait = next_fetch(&staple, settings.refresh, SystemTime::now());
                    state.tls.set_staple(
                        Arc::from(cert.fingerprint.as_str()),
                        Stapled::new(&cert.certified, &staple),
                    );
                    tracing::debug!(certificate = %label, next_in = ?wait, "OCSP response stapled");
                    entry.failures = 0;
                    entry.due = Instant::now() + wait;
                }
                Err(e) => {
                    counter!(names::OCSP_FETCHES_TOTAL, names::label::CERTIFICATE => label.clone(), names::label::RESULT => "error")
                        .increment(1);
                    let wait = FIRST_RETRY
                        .saturating_mul(1u32 << entry.failures.min(16))
                        .min(settings.refresh);
                    entry.failures += 1;
                    entry.due = Instant::now() + wait;
                    // A revoked certificate must never get (or keep) a staple.
                    if matches!(e, FetchError::Invalid(OcspError::Revoked)) {
                        state.tls.remove_staple(&cert.fingerprint);
                        tracing::error!(certificate = %label, "OCSP: the certificate is REVOKED; serving it without a staple - replace it");
                    } else {
                        tracing::warn!(certificate = %label, error = %e, retry_in = ?wait, "OCSP fetch failed; keeping the last valid staple until it expires");
                    }
                }
            }
        }
        let next = schedule.values().map(|s| s.due).min();
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => {}
            changed = generations.changed() => if changed.is_err() { return },
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshes_at_half_life_or_refresh_whichever_first() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let staple = crate::tls::ocsp::Staple {
            der: Arc::from(&[][..]),
            this_update: t0,
            expires: t0 + Duration::from_secs(3600),
        };
        let hour = Duration::from_secs(3600);
        assert_eq!(next_fetch(&staple, hour, t0), Duration::from_secs(1800));
        assert_eq!(
            next_fetch(&staple, Duration::from_secs(60), t0),
            Duration::from_secs(60)
        );
        assert_eq!(
            next_fetch(&staple, hour, t0 + Duration::from_secs(3000)),
            Duration::from_secs(1)
        );
    }
}
