//! ACME (RFC 8555): certificates that obtain and renew themselves.
//!
//! A certificate entry with `acme = ["www.example.com", …]` names what to cover; the `[acme]`
//! section names the CA (directory URL), the account (contact, optional external account
//! binding) and the state directory. The pieces:
//!
//! - [`store`]: the state directory: account credentials, each certificate's `cert.pem` and
//!   `key.pem` (keys 0600), written atomically (temp file, fsync, rename).
//! - [`lock`]: an advisory lock on the state directory, so that of two nodes sharing it (a
//!   keepalived pair on shared storage) only one orders at a time.
//! - [`challenge`]: the challenges being answered: HTTP-01 tokens (answered by the cleartext
//!   listeners before routing) and TLS-ALPN-01 certificates (answered by the SNI resolver when a
//!   client offers `acme-tls/1`). They are published in memory *and* in the state directory, so
//!   whichever node holds the floating address answers them.
//! - [`order`]: one order, from new-order to the certificate chain (instant-acme).
//! - [`manager`]: the control-plane task: obtains missing certificates at start, renews when a
//!   third of the life is left (or `renew_before`, or on the CA's ARI hint, RFC 9773), retries
//!   failures with backoff, and reloads so the new certificate is served (open connections keep
//!   the one they started with). A node that did not order picks renewed files up by itself.
//!
//! The served certificate comes from the files through the ordinary config load: an ACME entry
//! whose files exist is loaded like a `{cert, key}` entry, and they are dependent files of the
//! config, so a new certificate is an ordinary reload.

pub mod account;
pub mod challenge;
pub mod lock;
pub mod manager;
pub mod order;
pub mod status;
pub mod store;

use std::path::PathBuf;
use std::time::Duration;

/// Why an ACME step failed (shown in `/status` and the log; the old certificate keeps serving).
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    /// The CA or the network said no.
    #[error("ACME: {0}")]
    Protocol(#[from] instant_acme::Error),
    /// The state directory could not be read or written.
    #[error("state directory: {0}")]
    Io(#[from] std::io::Error),
    /// The account file is unusable.
    #[error("account file {}: {reason}", path.display())]
    AccountFile {
        /// File.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A challenge could not be published.
    #[error(transparent)]
    Challenge(#[from] challenge::ChallengeError),
    /// The CA offered no challenge of the configured type.
    #[error("the CA offers no {kind} challenge for {name}")]
    NoChallenge {
        /// Type.
        kind: &'static str,
        /// Name.
        name: String,
    },
    /// The order did not become ready or valid.
    #[error("order for {names} failed: {reason}")]
    Order {
        /// Names.
        names: String,
        /// The CA's explanation.
        reason: String,
    },
    /// The key or CSR could not be generated, or the issued chain does not load.
    #[error("certificate: {0}")]
    Certificate(String),
    /// The attempt took too long.
    #[error("no result within {0:?}")]
    Timeout(Duration),
}

/// Which challenge proves control of the names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeKind {
    /// A token served at `http://<name>/.well-known/acme-challenge/<token>` (port 80).
    Http01,
    /// A self-signed certificate served to clients offering ALPN `acme-tls/1` (port 443).
    TlsAlpn01,
}

impl ChallengeKind {
    /// The name used in the config file and by the ACME protocol.
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeKind::Http01 => "http-01",
            ChallengeKind::TlsAlpn01 => "tls-alpn-01",
        }
    }
}

/// External account binding (RFC 8555 §7.3.4), for CAs that require one.
#[derive(Clone, PartialEq, Eq)]
pub struct Eab {
    /// Key id from the CA.
    pub kid: String,
    /// The decoded HMAC key.
    pub hmac_key: Vec<u8>,
}

impl std::fmt::Debug for Eab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Eab").field("kid", &self.kid).finish()
    }
}

/// `[acme]` after validation.
#[derive(Debug, Clone, PartialEq)]
pub struct AcmeSettings {
    /// Directory URL.
    pub directory: String,
    /// Account contact URLs.
    pub contact: Vec<String>,
    /// State directory (absolute, or relative to the config file's directory, resolved).
    pub state_dir: PathBuf,
    /// CA bundle trusted for the directory's HTTPS instead of the system roots.
    pub directory_ca: Option<PathBuf>,
    /// External account binding.
    pub eab: Option<Eab>,
    /// Default challenge.
    pub challenge: ChallengeKind,
    /// Renew when less than this is left; `None`: when a third of the life is left.
    pub renew_before: Option<Duration>,
    /// First retry delay after a failure.
    pub retry_initial: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// How often the state directory is looked at for certificates another node renewed.
    pub check_interval: Duration,
}

/// One certificate entry managed by ACME.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeCert {
    /// Stable identity: file-system-safe, derived from the names (see [`cert_id`]).
    pub id: String,
    /// Names to cover, lowercase, in the order written.
    pub names: Vec<String>,
    /// Challenge used for this entry.
    pub challenge: ChallengeKind,
    /// Listener it was configured on (for `/status`).
    pub listener: String,
}

/// The identity of a set of names: the first name made file-system safe, then 8 hex digits
/// of the SHA-256 of the sorted set. The same names always map to the same files, whatever the
/// listener or order, so reloads and the second node of a pair agree on it.
pub fn cert_id(names: &[String]) -> String {
    let mut sorted: Vec<&str> = names.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let hash = super::sha256_hex(&[sorted.join(",").as_bytes()]);
    let first: String = names
        .first()
        .map(String::as_str)
        .unwrap_or("cert")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{first}-{}", &hash[..8])
}

/// Whether `name` is a DNS name ACME can issue for with HTTP-01 or TLS-ALPN-01 (no wildcard:
/// those need DNS-01, which gatehouse does not do).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.parse::<std::net::IpAddr>().is_err()
        && name.split('.').count() >= 2
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_depend_on_the_set_not_the_order() {
        let a = cert_id(&["www.example.com".into(), "example.com".into()]);
        let b = cert_id(&[
            "www.example.com".into(),
            "example.com".into(),
            "example.com".into(),
        ]);
        assert_eq!(a, b);
        assert!(a.starts_with("www.example.com-"), "{a}");
        assert_ne!(a, cert_id(&["www.example.com".into()]));
        assert!(valid_name("www.example.com"));
        for bad in [
            "*.example.com",
            "localhost",
            "1.2.3.4",
            "a..b",
            "Upper.case",
            "-a.b",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
