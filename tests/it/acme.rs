//! ACME end to end against Pebble (Let's Encrypt's RFC 8555 test CA) on loopback: a fresh
//! gatehouse obtains a certificate with HTTP-01 and with TLS-ALPN-01 (the latter with external
//! account binding), serves it (verified against Pebble's root), renews it when the renewal
//! window says so, keeps serving while Pebble is down (the failure in `/status` and metrics),
//! and two processes sharing a state directory order once. Skipped without `pebble` unless
//! `GATEHOUSE_REQUIRE_ALL_TESTS` is set (CI installs it).

use crate::ops::{have, require};
use crate::support::child::ChildProxy;
use crate::support::client::tls_get;
use crate::support::pebble::{Pebble, EAB_HMAC, EAB_KID};
use crate::support::{eventually, free_port, TestBackend, TestProxy};
use std::time::Duration;

/// Issuance against Pebble takes well under a second here; the bound leaves room for a loaded
/// machine.
const ISSUE: Duration = Duration::from_secs(30);

fn config(backend: &str, pebble: &Pebble, state: &str, names: &str, acme_extra: &str) -> String {
    format!(
        r#"
[server]
threads = 1
grace_period = "0s"
[admin]
address = "{{admin}}"
[listeners.http]
address = "{{http}}"
[listeners.https]
address = "{{https}}"
protocol = "https"
certificates = [{{ acme = [{names}] }}]
[acme]
directory = "{directory}"
directory_ca = "{ca}"
state_dir = "{state}"
contact = ["mailto:ops@example.com"]
retry_initial = "200ms"
retry_max = "1s"
check_interval = "500ms"
{acme_extra}
[routes.all]
pool = "p"
[pools.p]
backends = [{{ address = "{backend}" }}]
"#,
        directory = pebble.directory,
        ca = pebble.api_ca.display(),
    )
}

/// The certificate a client verifying against Pebble's root gets for `name` (`None` while the
/// handshake fails).
async fn served(addr: std::net::SocketAddr, name: &str, pebble: &Pebble) -> Option<Vec<u8>> {
    let r = tls_get(addr, Some(name), name, "/", pebble.client())
        .await
        .ok()?;
    (r.reply.status == 200).then_some(r.peer_cert)
}

/// Sum of the series starting with `prefix` and containing `having`.
fn counter(metrics: &str, prefix: &str, having: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(prefix) && l.contains(having))
        .filter_map(|l| l.rsplit(' ').next())
        .filter_map(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

#[tokio::test]
async fn http01_certificate_obtained_served_and_a_second_process_does_not_order_twice() {
    require!(
        have("pebble") && have("pebble-challtestsrv"),
        "pebble is not installed (apt-get install pebble)"
    );
    let app = TestBackend::start("app").await;
    let shared = tempfile::tempdir().unwrap();
    let state = shared.path().join("acme");
    let state = state.display().to_string();
    let name = "www.http01.gatehouse.example.com";
    // Pebble validates HTTP-01 against node A's cleartext port: A "holds the address".
    let http_port = free_port();
    let pebble = Pebble::start(http_port, free_port(), false, 3600 * 24 * 90).await;
    let template = config(
        &app.addr.to_string(),
        &pebble,
        &state,
        &format!("\"{name}\""),
        "",
    );
    let node_a_template = template.replace("{http}", &format!("127.0.0.1:{http_port}"));
    // Both nodes start together, sharing the state directory.
    let (a, mut b) = tokio::join!(TestProxy::start(&node_a_template), async {
        ChildProxy::spawn(&template, |_| {}, &[])
    });
    b.wait_serving().await;
    for (who, addr) in [("A", a.https), ("B", b.https)] {
        eventually(
            &format!("node {who} serving a Pebble certificate"),
            ISSUE,
            || served(addr, name, &pebble),
        )
        .await;
    }
    let a_cert = served(a.https, name, &pebble).await.unwrap();
    let b_cert = served(b.https, name, &pebble).await.unwrap();
    assert_eq!(
        a_cert, b_cert,
        "both nodes serve the one certificate in the shared directory"
    );
    let series = |m: &str| {
        counter(
            m,
            "gatehouse_acme_orders_total{certificate=\"www.http01.gatehouse.example.com-",
            "result=\"ok\"",
        )
    };
    let orders = series(&gatehouse::metrics::render()) + series(&b.metrics().await);
    assert_eq!(
        orders,
        1,
        "one order between the two processes\n{}",
        pebble.log()
    );
    // The key is private, the status says where things stand.
    let status = a.state.tls.acme.list();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].state, "valid", "{status:?}");
    assert!(status[0].not_after_unix.is_some());
    use std::os::unix::fs::PermissionsExt;
    let key = std::path::Path::new(&state)
        .join("certs")
        .join(&status[0].id)
        .join("key.pem");
    assert_eq!(
        std::fs::metadata(key).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[tokio::test]
async fn tls_alpn01_with_eab_renews_and_keeps_serving_while_the_ca_is_down() {
    require!(
        have("pebble") && have("pebble-challtestsrv"),
        "pebble is not installed (apt-get install pebble)"
    );
    let app = TestBackend::start("app").await;
    let shared = tempfile::tempdir().unwrap();
    let state = shared.path().join("acme").display().to_string();
    let name = "www.alpn.gatehouse.example.com";
    let https_port = free_port();
    // Valid an hour; renewal is due a second after issuance (`renew_before`), so the
    // renewal path runs at once and keeps running while the CA is up.
    let mut pebble = Pebble::start(free_port(), https_port, true, 3600).await;
    std::fs::write(shared.path().join("eab.key"), EAB_HMAC).unwrap();
    let extra = format!(
        "challenge = \"tls-alpn-01\"\neab_kid = \"{EAB_KID}\"\neab_hmac_key_file = \"{}\"\nrenew_before = \"3599s\"",
        shared.path().join("eab.key").display()
    );
    let template = config(
        &app.addr.to_string(),
        &pebble,
        &state,
        &format!("\"{name}\""),
        &extra,
    )
    .replace("{https}", &format!("127.0.0.1:{https_port}"));
    let proxy = TestProxy::start(&template).await;
    // The listener Pebble validates against (not the proxy's spare `https` address).
    let https = std::net::SocketAddr::from(([127, 0, 0, 1], https_port));
    let first = eventually("a Pebble certificate over TLS-ALPN-01", ISSUE, || {
        served(https, name, &pebble)
    })
    .await;
    let renewed = eventually("a renewed certificate", ISSUE, || {
        let first = first.clone();
        let pebble = &pebble;
        let addr = https;
        async move { served(addr, name, pebble).await.filter(|c| *c != first) }
    })
    .await;
    pebble.stop();
    // The CA is gone: attempts fail, are counted and shown, and the last certificate stays.
    let status = eventually("a failed renewal in /status", ISSUE, || async {
        proxy
            .state
            .tls
            .acme
            .list()
            .into_iter()
            .find(|s| s.last_error.is_some() && s.state == "failing")
    })
    .await;
    assert!(status.failures >= 1, "{status:?}");
    assert!(status.next_attempt_unix.is_some());
    let still = served(https, name, &pebble).await.expect("still serving");
    assert!(
        still == renewed || still != first,
        "serving the latest certificate"
    );
    let metrics = gatehouse::metrics::render();
    assert!(
        metrics.lines().any(|l| l.starts_with(
            "gatehouse_acme_orders_total{certificate=\"www.alpn.gatehouse.example.com-"
        ) && l.contains("result=\"error\"")),
        "failed orders are counted"
    );
    assert!(metrics.contains(
        "gatehouse_acme_certificate_failing{certificate=\"www.alpn.gatehouse.example.com-"
    ));
}
