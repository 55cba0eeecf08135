//! `[[listeners]]`: addresses, protocols, certificates (files, ACME, OCSP) and client
//! certificates.

use super::Hsts;
use crate::config::duration::ConfigDuration;
use serde::Deserialize;

/// `[listeners.<name>]`: one address the proxy accepts connections on.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// `IP:port` to bind (required).
    pub address: Option<String>,
    /// `http` or `https`.
    pub protocol: Option<String>,
    /// PEM certificate/key pairs served on an `https` listener.
    #[serde(default)]
    pub certificates: Vec<Certificate>,
    /// What to do for clients whose SNI matches no certificate: `default` or `reject`.
    pub unknown_sni: Option<String>,
    /// ALPN protocols offered, in preference order (`h2`, `http/1.1`).
    pub alpn: Option<Vec<String>>,
    /// Accept HTTP/2 with prior knowledge on a cleartext listener.
    pub h2c: Option<bool>,
    /// Answer every request on this (cleartext) listener with a redirect to HTTPS.
    pub redirect_https: Option<bool>,
    /// Port used in redirects to HTTPS (defaults to the first https listener's port).
    pub https_port: Option<u16>,
    /// `Strict-Transport-Security` added to responses on this (https) listener.
    pub hsts: Option<Hsts>,
    /// Expect a PROXY protocol (v1 or v2) header on every connection.
    pub proxy_protocol: Option<bool>,
    /// Peers whose `X-Forwarded-For` is believed (CIDR blocks).
    pub trusted_proxies: Option<Vec<String>>,
    /// `modern` (TLS 1.3 only) or `intermediate` (TLS 1.2 and 1.3, the default).
    pub tls_profile: Option<String>,
    /// Ask clients for a certificate: `required` (no valid one: TLS alert) or `optional`.
    pub client_auth: Option<String>,
    /// PEM bundle of the CAs client certificates must chain to.
    pub client_ca: Option<String>,
    /// PEM file of CRLs checked against client certificates.
    pub client_crl: Option<String>,
    /// Names of the headers that carry the verified client certificate to backends.
    pub client_cert_headers: Option<ClientCertHeaders>,
}

/// `client_cert_headers = { subject = "...", san = "...", fingerprint = "..." }`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientCertHeaders {
    /// The subject distinguished name.
    pub subject: Option<String>,
    /// The subject alternative names.
    pub san: Option<String>,
    /// The hex SHA-256 of the certificate.
    pub fingerprint: Option<String>,
}

/// `[acme]`: the ACME account and CA that `acme` certificate entries are obtained from.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Acme {
    /// The CA's directory URL (required).
    pub directory: Option<String>,
    /// Contact URLs for the account (`mailto:ops@example.com`).
    pub contact: Option<Vec<String>>,
    /// Where the account, certificates and keys are kept (required).
    pub state_dir: Option<String>,
    /// PEM CA bundle trusted for the directory's HTTPS (test CAs such as Pebble).
    pub directory_ca: Option<String>,
    /// External account binding key id, for CAs that require one.
    pub eab_kid: Option<String>,
    /// File holding the external account binding HMAC key (base64url, as CAs hand it out).
    pub eab_hmac_key_file: Option<String>,
    /// Default challenge: `http-01` or `tls-alpn-01`.
    pub challenge: Option<String>,
    /// Renew when less than this is left (default: a third of the certificate's life).
    pub renew_before: Option<ConfigDuration>,
    /// First wait after a failed attempt (doubles up to `retry_max`).
    pub retry_initial: Option<ConfigDuration>,
    /// Longest wait between failed attempts.
    pub retry_max: Option<ConfigDuration>,
    /// How often the state directory is looked at for certificates another node renewed.
    pub check_interval: Option<ConfigDuration>,
}

/// `[ocsp]`: fetching OCSP responses to staple.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ocsp {
    /// Longest time between two fetches of a certificate's response (responses are also
    /// refreshed when half their validity has passed).
    pub refresh: Option<ConfigDuration>,
    /// Time allowed for one fetch.
    pub timeout: Option<ConfigDuration>,
}

/// One `{cert, key}` (or `{acme}`) entry of an https listener.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    /// PEM file with the leaf certificate first, then its chain (required without `acme`).
    pub cert: Option<String>,
    /// PEM file with the private key (required without `acme`).
    pub key: Option<String>,
    /// Serve this certificate to clients without SNI or with an unknown name.
    pub default: Option<bool>,
    /// Names to obtain (and renew) a certificate for from the `[acme]` CA, instead of files.
    pub acme: Option<Vec<String>>,
    /// ACME challenge for this entry: `http-01` or `tls-alpn-01` (default from `[acme]`).
    pub challenge: Option<String>,
    /// DER OCSP response to staple (e.g. written next to the certificate by a cron job).
    pub ocsp_file: Option<String>,
    /// Fetch the OCSP response from the certificate's responder and keep it fresh.
    pub ocsp_fetch: Option<bool>,
}
