//! TLS termination: versions, the most specific certificate by SNI, clients without SNI.

use super::{certs, tls_config, write_certs};
use crate::support::client::tls_get;
use crate::support::tlsutil::insecure_client_config;
use crate::support::{TestBackend, TestProxy};

#[tokio::test]
async fn serves_tls13_and_tls12() {
    let app = TestBackend::start("app").await;
    let c = certs();
    let proxy = TestProxy::start_with(&tls_config(&app.addr.to_string(), "", "default"), |d| {
        write_certs(&c, d)
    })
    .await;
    for (version, expected) in [
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
    ] {
        let r = tls_get(
            proxy.https,
            Some("www.example.test"),
            "www.example.test",
            "/",
            c.ca.client_config_version(version),
        )
        .await
        .unwrap();
        assert_eq!(r.protocol, Some(expected));
        assert_eq!(r.reply.status, 200);
        assert_eq!(r.reply.backend(), "app");
    }
    let metrics = gatehouse::metrics::render();
    for v in ["TLSv1.2", "TLSv1.3"] {
        assert!(
            metrics.contains(&format!("version=\"{v}\"")),
            "handshake counter for {v}"
        );
    }
}

#[tokio::test]
async fn sni_picks_the_most_specific_certificate() {
    let app = TestBackend::start("app").await;
    let c = certs();
    let proxy = TestProxy::start_with(&tls_config(&app.addr.to_string(), "", "default"), |d| {
        write_certs(&c, d)
    })
    .await;
    let insecure = insecure_client_config(&[]);
    for (sni, expected) in [
        ("www.example.test", &c.www),
        ("api.example.test", &c.wild),
        ("deep.api.example.test", &c.default),
        ("other.test", &c.default),
    ] {
        let r = tls_get(proxy.https, Some(sni), sni, "/", insecure.clone())
            .await
            .unwrap();
        assert!(r.peer_cert == expected.der, "wrong certificate for {sni}");
    }
    // Verified end to end with the CA for the two names the certificates cover.
    for sni in ["www.example.test", "shop.example.test"] {
        let r = tls_get(proxy.https, Some(sni), sni, "/", c.ca.client_config(&[]))
            .await
            .unwrap();
        assert_eq!(r.reply.status, 200);
    }
}

#[tokio::test]
async fn clients_without_sni_get_the_default_or_are_refused() {
    let app = TestBackend::start("app").await;
    let c = certs();
    let serving = TestProxy::start_with(&tls_config(&app.addr.to_string(), "", "default"), |d| {
        write_certs(&c, d)
    })
    .await;
    let r = tls_get(
        serving.https,
        None,
        "default.test",
        "/",
        insecure_client_config(&[]),
    )
    .await
    .unwrap();
    assert!(r.peer_cert == c.default.der);
    assert_eq!(r.reply.status, 200);

    let strict = TestProxy::start_with(&tls_config(&app.addr.to_string(), "", "reject"), |d| {
        write_certs(&c, d)
    })
    .await;
    let err = tls_get(strict.https, None, "x", "/", insecure_client_config(&[]))
        .await
        .err()
        .expect("no-SNI refused");
    assert!(err.contains("TLS handshake"), "{err}");
    let err = tls_get(
        strict.https,
        Some("unknown.test"),
        "x",
        "/",
        insecure_client_config(&[]),
    )
    .await
    .err()
    .expect("unknown SNI refused");
    assert!(err.contains("TLS handshake"), "{err}");
    // Known names still work on the strict listener.
    let r = tls_get(
        strict.https,
        Some("www.example.test"),
        "www.example.test",
        "/",
        c.ca.client_config(&[]),
    )
    .await
    .unwrap();
    assert_eq!(r.reply.status, 200);
}
