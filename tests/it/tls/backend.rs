//! TLS to backends: verified against the configured CA, and mTLS where the backend requires it.

use crate::support::tlsutil::{server_config, TestCa};
use crate::support::{eventually, Client, TestBackend, TestProxy, WAIT};
use std::path::Path;

fn backend_tls_config(backend: &str, pool_tls: &str) -> String {
    format!(
        r#"
[server]
threads = 1
grace_period = "0s"
[admin]
address = "{{admin}}"
[listeners.http]
address = "{{http}}"
[routes.all]
pool = "p"
[pools.p]
tls = true
tls_sni = "backend.internal"
{pool_tls}
passive = {{ connect_failures = 0 }}
backends = [{{ address = "{backend}" }}]
"#
    )
}

/// Writes the backend's CA and a rogue one (which signs nothing the backend presents) into the
/// config directory, as `backend-ca.pem` and `rogue-ca.pem`.
fn write_cas<'a>(backend_ca: &'a TestCa, rogue_ca: &'a TestCa) -> impl Fn(&Path) + Copy + 'a {
    move |d: &Path| {
        std::fs::write(d.join("backend-ca.pem"), &backend_ca.cert.cert_pem).unwrap();
        std::fs::write(d.join("rogue-ca.pem"), &rogue_ca.cert.cert_pem).unwrap();
    }
}

#[tokio::test]
async fn backend_tls_is_verified_against_the_configured_ca() {
    let backend_ca = TestCa::new("backend CA");
    let rogue_ca = TestCa::new("rogue CA");
    let leaf = backend_ca.leaf(&["backend.internal"]);
    let app = TestBackend::start_tls("secure-app", server_config(&leaf, None)).await;
    let write_cas = write_cas(&backend_ca, &rogue_ca);
    let trusted = TestProxy::start_with(
        &backend_tls_config(&app.addr.to_string(), r#"tls_ca_file = "backend-ca.pem""#),
        write_cas,
    )
    .await;
    let r = Client::new().get(trusted.http, "x.test", "/echo").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.backend(), "secure-app");

    let untrusted = TestProxy::start_with(
        &backend_tls_config(&app.addr.to_string(), r#"tls_ca_file = "rogue-ca.pem""#),
        write_cas,
    )
    .await;
    let r = Client::new().get(untrusted.http, "x.test", "/").await;
    assert_eq!(
        r.status, 502,
        "a backend that fails verification is an upstream error"
    );
    // No CA file: the system roots, which do not include this private CA.
    let system_roots = TestProxy::start(&backend_tls_config(&app.addr.to_string(), "")).await;
    let r = Client::new().get(system_roots.http, "x.test", "/").await;
    assert_eq!(r.status, 502, "a private CA is not trusted by default");

    // Active checks of a TLS pool speak TLS, verified like requests: up with the right CA,
    // down with the wrong one.
    let with_checks = |ca: &str| {
        backend_tls_config(
            &app.addr.to_string(),
            &format!(
                "tls_ca_file = \"{ca}\"\nhealth_check = {{ type = \"http\", path = \"/healthz\", interval = \"30ms\", rise = 1, fall = 1 }}"
            ),
        )
    };
    for (ca, want) in [("backend-ca.pem", "up"), ("rogue-ca.pem", "down")] {
        let proxy = TestProxy::start_with(&with_checks(ca), write_cas).await;
        let v = eventually(&format!("checked over TLS with {ca}"), WAIT, || async {
            let v = proxy.state.load().pools[0].backends[0].state.view();
            (v.state == want).then_some(v)
        })
        .await;
        if want == "down" {
            assert!(v.last_check.as_ref().is_some_and(|c| !c.ok), "{v:?}");
        }
    }
}

#[tokio::test]
async fn a_reload_that_replaces_the_backend_ca_reuses_no_connection_the_old_one_verified() {
    let backend_ca = TestCa::new("backend CA");
    let rogue_ca = TestCa::new("rogue CA");
    let leaf = backend_ca.leaf(&["backend.internal"]);
    let app = TestBackend::start_tls("secure-app", server_config(&leaf, None)).await;
    let write_cas = write_cas(&backend_ca, &rogue_ca);
    let config =
        |ca: &str| backend_tls_config(&app.addr.to_string(), &format!("tls_ca_file = \"{ca}\""));
    let proxy = TestProxy::start_with(&config("backend-ca.pem"), write_cas).await;
    let c = Client::new();
    let r = c.get(proxy.http, "x.test", "/echo").await;
    assert_eq!(r.status, 200);
    // The connection that request used waits in the idle pool, verified against the backend
    // CA. The pool's CA is replaced by one that does not sign the backend's certificate.
    proxy
        .rewrite_and_wait(&proxy.render(&config("rogue-ca.pem")))
        .await;
    let r = c.get(proxy.http, "x.test", "/echo").await;
    assert_eq!(
        r.status, 502,
        "a connection verified against the replaced CA must not be reused"
    );
    proxy
        .rewrite_and_wait(&proxy.render(&config("backend-ca.pem")))
        .await;
    let r = c.get(proxy.http, "x.test", "/echo").await;
    assert_eq!(r.status, 200, "trusted again: a new connection is verified");
}

#[tokio::test]
async fn mtls_to_a_backend_that_requires_it() {
    let backend_ca = TestCa::new("backend CA");
    let client_ca = TestCa::new("client CA");
    let leaf = backend_ca.leaf(&["backend.internal"]);
    let client_cert = client_ca.leaf(&["gatehouse.client"]);
    let app = TestBackend::start_tls("mtls-app", server_config(&leaf, Some(&client_ca))).await;
    let prepare = |d: &Path| {
        std::fs::write(d.join("backend-ca.pem"), &backend_ca.cert.cert_pem).unwrap();
        client_cert.write(d, "client");
    };
    let with_cert = TestProxy::start_with(
        &backend_tls_config(
            &app.addr.to_string(),
            r#"tls_ca_file = "backend-ca.pem"
tls_client_cert = "client.crt"
tls_client_key = "client.key""#,
        ),
        prepare,
    )
    .await;
    let r = Client::new().get(with_cert.http, "x.test", "/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.backend(), "mtls-app");

    let without = TestProxy::start_with(
        &backend_tls_config(&app.addr.to_string(), r#"tls_ca_file = "backend-ca.pem""#),
        prepare,
    )
    .await;
    let r = Client::new().get(without.http, "x.test", "/").await;
    assert_eq!(
        r.status, 502,
        "the backend refuses a client without a certificate"
    );
}
