//! TLS, one topic per file. Certificates are made with rcgen at test time.
//!
//! - [`versions_and_sni`]: TLS 1.3 and 1.2, certificate choice by SNI, clients without SNI.
//! - [`http2`]: HTTP/2 over ALPN, and cleartext h2c where enabled (refused where not).
//! - [`hsts`]: the HTTPS redirect and exact HSTS, on proxied and on gatehouse's own answers.
//! - [`rotation`]: certificates replaced on disk; bad files refused, the old one kept.
//! - [`backend`]: TLS and mTLS to backends.

mod backend;
mod hsts;
mod http2;
mod rotation;
mod versions_and_sni;

use crate::support::tlsutil::{TestCa, TestCert};
use std::path::Path;

const HOST_CERTS: &str = r#"certificates = [
  { cert = "www.crt", key = "www.key" },
  { cert = "wild.crt", key = "wild.key" },
  { cert = "default.crt", key = "default.key", default = true },
]"#;

fn tls_config(backend: &str, listener_extra: &str, unknown_sni: &str) -> String {
    format!(
        r#"
[server]
threads = 1
grace_period = "0s"
[reload]
debounce = "20ms"
[admin]
address = "{{admin}}"
[listeners.http]
address = "{{http}}"
[listeners.https]
address = "{{https}}"
protocol = "https"
unknown_sni = "{unknown_sni}"
{HOST_CERTS}
{listener_extra}
[routes.all]
pool = "p"
[pools.p]
backends = [{{ address = "{backend}" }}]
"#
    )
}

struct Certs {
    ca: TestCa,
    www: TestCert,
    wild: TestCert,
    default: TestCert,
}

fn certs() -> Certs {
    let ca = TestCa::new("gatehouse test CA");
    let www = ca.leaf(&["www.example.test"]);
    let wild = ca.leaf(&["*.example.test"]);
    let default = ca.leaf(&["default.test"]);
    Certs {
        ca,
        www,
        wild,
        default,
    }
}

fn write_certs(c: &Certs, dir: &Path) {
    c.www.write(dir, "www");
    c.wild.write(dir, "wild");
    c.default.write(dir, "default");
}
