//! Active health checks connect exactly as traffic does (the backend's own Pingora peer through
//! the engine's connector code: SNI, verification, CA, client certificate, ALPN), so a probe
//! cannot pass while traffic to the same backend fails, and fixing the pool fixes both.
//!
//! Each proxy has two pools with the same backend and the same TLS settings: `traffic` without
//! checks (its requests show what traffic gets) and `probed` with a check (its backend state
//! shows what the probe concluded).

use crate::support::tlsutil::{server_config, TestCa};
use crate::support::{eventually, Client, TestBackend, TestProxy, WAIT};
use gatehouse::health::StatusView;
use std::path::Path;
use std::sync::Arc;

fn config(backend: &str, pool: &str, check: &str) -> String {
    format!(
        r#"
[server]
threads = 1
grace_period = "0s"
[admin]
address = "{{admin}}"
[listeners.http]
address = "{{http}}"
[routes.traffic]
hosts = ["traffic.test"]
pool = "traffic"
[routes.probed]
hosts = ["probed.test"]
pool = "probed"
[pools.traffic]
{pool}
passive = {{ connect_failures = 0 }}
backends = [{{ address = "{backend}" }}]
[pools.probed]
{pool}
health_check = {{ type = "http", interval = "30ms", rise = 1, fall = 1, jitter = 0.0, {check} }}
backends = [{{ address = "{backend}" }}]
"#
    )
}

/// The probed backend's state once it is `want`.
async fn probed_state(proxy: &TestProxy, want: &str) -> StatusView {
    eventually(
        &format!("the probe marks the backend {want}"),
        WAIT,
        || async {
            let snapshot = proxy.state.load();
            let pool = snapshot.pools.iter().find(|p| &*p.name == "probed")?;
            let v = pool.backends[0].state.view();
            (v.state == want && v.last_check.is_some()).then_some(v)
        },
    )
    .await
}

/// Traffic through the `traffic` pool fails (502) and the probe marks the backend down.
async fn both_fail(proxy: &TestProxy, what: &str) {
    let r = Client::new().get(proxy.http, "traffic.test", "/echo").await;
    assert_eq!(r.status, 502, "{what}: traffic should fail");
    let v = probed_state(proxy, "down").await;
    assert!(
        v.last_check.as_ref().is_some_and(|c| !c.ok),
        "{what}: {v:?}"
    );
}

/// Traffic passes (200 from `backend`) and the probe marks the backend up.
async fn both_pass(proxy: &TestProxy, backend: &str, what: &str) -> StatusView {
    let r = Client::new().get(proxy.http, "traffic.test", "/echo").await;
    assert_eq!(r.status, 200, "{what}: traffic should pass");
    assert_eq!(r.backend(), backend, "{what}");
    let v = probed_state(proxy, "up").await;
    assert!(v.last_check.as_ref().is_some_and(|c| c.ok), "{what}: {v:?}");
    v
}

/// A backend that speaks only `h2` (ALPN) to an HTTP/1 pool: traffic offers `http/1.1` and the
/// handshake is refused. The probe used to offer no ALPN at all, got through and passed; now it
/// fails with traffic. As an `h2` pool both pass, and the probe's request arrives as HTTP/2.
#[tokio::test]
async fn a_probe_offers_the_alpn_traffic_offers_and_an_h2_pool_is_probed_over_h2() {
    let ca = TestCa::new("backend CA");
    let leaf = ca.leaf(&["backend.internal"]);
    let mut tls = (*server_config(&leaf, None)).clone();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let app = TestBackend::start_tls("h2-only", Arc::new(tls)).await;
    let write_ca = |d: &Path| std::fs::write(d.join("ca.pem"), &ca.cert.cert_pem).unwrap();
    let tls_pool = "tls = true\ntls_sni = \"backend.internal\"\ntls_ca_file = \"ca.pem\"";
    let addr = app.addr.to_string();

    let h1 = TestProxy::start_with(&config(&addr, tls_pool, "path = \"/echo\""), write_ca).await;
    both_fail(&h1, "HTTP/1 pool, h2-only backend").await;

    let h2_pool = format!("{tls_pool}\nprotocol = \"h2\"");
    let check = "path = \"/echo\", expect_body = \"HTTP/2.0\"";
    let h2 = TestProxy::start_with(&config(&addr, &h2_pool, check), write_ca).await;
    both_pass(&h2, "h2-only", "h2 pool").await;
}

/// Cleartext `h2` pools speak HTTP/2 with prior knowledge; so does their probe.
#[tokio::test]
async fn an_h2c_pool_is_probed_with_prior_knowledge() {
    let app = TestBackend::start("h2c").await;
    let check = "path = \"/echo\", expect_body = \"HTTP/2.0\"";
    let proxy = TestProxy::start(&config(&app.addr.to_string(), "protocol = \"h2\"", check)).await;
    both_pass(&proxy, "h2c", "h2c pool").await;
}

/// A certificate that does not match the name the pool verifies: traffic and probe both fail;
/// with the pool's `tls_sni` set to the certificate's name, both pass.
#[tokio::test]
async fn a_certificate_for_another_name_fails_traffic_and_probe_alike() {
    let ca = TestCa::new("backend CA");
    let leaf = ca.leaf(&["other.internal"]);
    let app = TestBackend::start_tls("other-name", server_config(&leaf, None)).await;
    let write_ca = |d: &Path| std::fs::write(d.join("ca.pem"), &ca.cert.cert_pem).unwrap();
    let addr = app.addr.to_string();
    let pool = |sni: &str| format!("tls = true\ntls_sni = \"{sni}\"\ntls_ca_file = \"ca.pem\"");

    let wrong = TestProxy::start_with(
        &config(&addr, &pool("backend.internal"), "path = \"/healthz\""),
        write_ca,
    )
    .await;
    both_fail(
        &wrong,
        "SNI backend.internal, certificate for other.internal",
    )
    .await;

    let right = TestProxy::start_with(
        &config(&addr, &pool("other.internal"), "path = \"/healthz\""),
        write_ca,
    )
    .await;
    both_pass(&right, "other-name", "SNI other.internal").await;
}

/// A backend that requires a client certificate: without one, traffic and probe both fail;
/// with the pool's client certificate, both pass.
#[tokio::test]
async fn a_backend_requiring_a_client_certificate_gets_it_from_the_probe_too() {
    let backend_ca = TestCa::new("backend CA");
    let client_ca = TestCa::new("client CA");
    let leaf = backend_ca.leaf(&["backend.internal"]);
    let client_cert = client_ca.leaf(&["gatehouse.client"]);
    let app = TestBackend::start_tls("mtls", server_config(&leaf, Some(&client_ca))).await;
    let prepare = |d: &Path| {
        std::fs::write(d.join("ca.pem"), &backend_ca.cert.cert_pem).unwrap();
        client_cert.write(d, "client");
    };
    let addr = app.addr.to_string();
    let pool = "tls = true\ntls_sni = \"backend.internal\"\ntls_ca_file = \"ca.pem\"";

    let without = TestProxy::start_with(&config(&addr, pool, "path = \"/healthz\""), prepare).await;
    both_fail(&without, "no client certificate").await;

    let with_cert =
        format!("{pool}\ntls_client_cert = \"client.crt\"\ntls_client_key = \"client.key\"");
    let with =
        TestProxy::start_with(&config(&addr, &with_cert, "path = \"/healthz\""), prepare).await;
    both_pass(&with, "mtls", "client certificate").await;
}
