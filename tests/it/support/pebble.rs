//! Pebble (Let's Encrypt's RFC 8555 test CA, Debian package `pebble`) and its DNS companion
//! `pebble-challtestsrv`, on loopback, for the ACME tests. The package ships no certificates:
//! the HTTPS certificate of Pebble's own API is made here with rcgen, and the issuing root is
//! read from Pebble's management API (`/roots/0`) once it runs.

use super::tlsutil::TestCa;
use super::{free_port, wait_listening, WAIT};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use tempfile::TempDir;

/// A running Pebble with its DNS server; both are killed on drop.
pub struct Pebble {
    pub dir: TempDir,
    /// The ACME directory URL.
    pub directory: String,
    /// CA file that verifies Pebble's own HTTPS (gatehouse's `acme.directory_ca`).
    pub api_ca: PathBuf,
    /// The root that issued certificates chain to (PEM).
    pub root_pem: String,
    pebble: Option<Child>,
    dns: Option<Child>,
    pub listen: SocketAddr,
}

/// EAB credentials Pebble requires when started with them: key id and base64url HMAC key.
pub const EAB_KID: &str = "kid-gatehouse";
pub const EAB_HMAC: &str = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";

impl Pebble {
    /// Starts Pebble validating HTTP-01 on `http_port` and TLS-ALPN-01 on `tls_port` (the
    /// gatehouse listeners under test). `eab`: require external account binding. Certificates
    /// are valid for `validity_secs`.
    pub async fn start(http_port: u16, tls_port: u16, eab: bool, validity_secs: u64) -> Pebble {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("pebble API test CA");
        let api_ca = dir.path().join("api-ca.pem");
        std::fs::write(&api_ca, &ca.cert.cert_pem).unwrap();
        let leaf = ca.leaf(&["localhost", "127.0.0.1"]);
        let (cert, key) = leaf.write(dir.path(), "api");
        let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mgmt = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let dns_port = free_port();
        let eab_keys = if eab {
            format!(
                r#""externalAccountBindingRequired": true, "externalAccountMACKeys": {{ "{EAB_KID}": "{EAB_HMAC}" }},"#
            )
        } else {
            String::new()
        };
        let config = format!(
            r#"{{ "pebble": {{
  "listenAddress": "{listen}",
  "managementListenAddress": "{mgmt}",
  "certificate": "{}",
  "privateKey": "{}",
  "httpPort": {http_port},
  "tlsPort": {tls_port},
  "ocspResponderURL": "",
  {eab_keys}
  "certificateValidityPeriod": {validity_secs}
}} }}"#,
            cert.display(),
            key.display()
        );
        let config_path = dir.path().join("pebble.json");
        std::fs::write(&config_path, config).unwrap();
        let log = |name: &str| Stdio::from(std::fs::File::create(dir.path().join(name)).unwrap());
        let dns = Command::new("pebble-challtestsrv")
            .args(["-dns01", &format!("127.0.0.1:{dns_port}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-management", &format!("127.0.0.1:{}", free_port())])
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .stdout(log("dns.log"))
            .stderr(log("dns.err"))
            .spawn()
            .unwrap();
        let pebble = Command::new("pebble")
            .args(["-config"])
            .arg(&config_path)
            .args(["-dnsserver", &format!("127.0.0.1:{dns_port}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(log("pebble.log"))
            .stderr(log("pebble.err"))
            .spawn()
            .unwrap();
        wait_listening(listen).await;
        wait_listening(mgmt).await;
        let client = ca.client_config(&[]);
        let root = super::eventually("Pebble's root", WAIT, || {
            let client = client.clone();
            async move {
                let r = super::client::tls_get(
                    mgmt,
                    Some("localhost"),
                    "localhost",
                    "/roots/0",
                    client,
                )
                .await
                .ok()?;
                (r.reply.status == 200).then(|| r.reply.text())
            }
        })
        .await;
        Pebble {
            directory: format!("https://127.0.0.1:{}/dir", listen.port()),
            api_ca,
            root_pem: root,
            pebble: Some(pebble),
            dns: Some(dns),
            listen,
            dir,
        }
    }

    /// A client trusting only Pebble's issuing root.
    pub fn client(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut self.root_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        Arc::new(
            rustls::ClientConfig::builder_with_provider(gatehouse::tls::provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }

    /// Stops Pebble (the DNS server keeps running): the CA is down.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.pebble.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }

    /// Pebble's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pebble.log")).unwrap_or_default()
            + &std::fs::read_to_string(self.dir.path().join("pebble.err")).unwrap_or_default()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
        if let Some(mut d) = self.dns.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }
}
