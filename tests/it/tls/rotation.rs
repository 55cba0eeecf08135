//! Live certificate rotation: a replaced certificate is served to new connections while old
//! ones keep working; bad files are refused and the old certificate keeps serving.

use super::{certs, tls_config, write_certs};
use crate::support::client::tls_get;
use crate::support::tlsutil::unsupported_key_pem;
use crate::support::{bounded, TestBackend, TestProxy};
use gatehouse::reload::Trigger;

#[tokio::test]
async fn a_certificate_replaced_on_disk_is_served_to_new_connections_while_old_ones_keep_working() {
    let app = TestBackend::start("app").await;
    let c = certs();
    let proxy = TestProxy::start_with(&tls_config(&app.addr.to_string(), "", "default"), |d| {
        write_certs(&c, d)
    })
    .await;

    // An existing keep-alive connection, established with the old certificate.
    let tcp = tokio::net::TcpStream::connect(proxy.https).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("www.example.test").unwrap();
    let tls = tokio_rustls::TlsConnector::from(c.ca.client_config(&[]))
        .connect(name, tcp)
        .await
        .unwrap();
    assert!(tls.get_ref().1.peer_certificates().unwrap()[0].as_ref() == c.www.der.as_slice());
    let (mut old, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let get = || {
        http::Request::get("/")
            .header("host", "www.example.test")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap()
    };
    assert_eq!(old.send_request(get()).await.unwrap().status(), 200);

    // Rotate: write the new pair next to the old and rename over it (how tools deploy certs).
    let rotated = c.ca.leaf(&["www.example.test"]);
    let mut generations = proxy.state.subscribe();
    let before = *generations.borrow();
    let dir = proxy.dir.path();
    rotated.write(dir, "www-new");
    std::fs::rename(dir.join("www-new.key"), dir.join("www.key")).unwrap();
    std::fs::rename(dir.join("www-new.crt"), dir.join("www.crt")).unwrap();
    bounded(
        "reload after the certificate changed on disk",
        generations.wait_for(|g| *g > before),
    )
    .await
    .unwrap();

    let r = tls_get(
        proxy.https,
        Some("www.example.test"),
        "www.example.test",
        "/",
        c.ca.client_config(&[]),
    )
    .await
    .unwrap();
    assert!(
        r.peer_cert == rotated.der,
        "new connections get the new certificate"
    );
    assert_eq!(
        old.send_request(get()).await.unwrap().status(),
        200,
        "the old connection keeps working"
    );
}

#[tokio::test]
async fn bad_certificate_files_are_refused_and_the_old_certificate_keeps_serving() {
    let app = TestBackend::start("app").await;
    let c = certs();
    let proxy = TestProxy::start_with(&tls_config(&app.addr.to_string(), "", "default"), |d| {
        write_certs(&c, d)
    })
    .await;
    let dir = proxy.dir.path().to_path_buf();
    let good_crt = std::fs::read(dir.join("www.crt")).unwrap();
    let good_key = std::fs::read(dir.join("www.key")).unwrap();
    let other = c.ca.leaf(&["www.example.test"]);
    let expired =
        c.ca.leaf_valid(&["www.example.test"], (2020, 1, 1), (2021, 1, 1));
    let wrong_order = format!("{}{}", c.ca.cert.cert_pem, other.cert_pem);
    type Case<'a> = (&'a str, Option<Vec<u8>>, Option<Vec<u8>>, &'a str);
    let cases: Vec<Case<'_>> = vec![
        ("missing file", None, Some(good_key.clone()), "cannot read"),
        (
            "no certificate",
            Some(b"not a certificate\n".to_vec()),
            Some(good_key.clone()),
            "no PEM certificate found",
        ),
        (
            "key mismatch",
            Some(other.cert_pem.clone().into_bytes()),
            Some(good_key.clone()),
            "does not match certificate",
        ),
        (
            "unsupported key",
            Some(good_crt.clone()),
            Some(unsupported_key_pem().into_bytes()),
            "unsupported private key type",
        ),
        (
            "chain out of order",
            Some(wrong_order.into_bytes()),
            Some(other.key_pem.clone().into_bytes()),
            "chain out of order",
        ),
        (
            "expired",
            Some(expired.cert_pem.clone().into_bytes()),
            Some(expired.key_pem.clone().into_bytes()),
            "refusing to add an expired certificate",
        ),
    ];
    for (what, crt, key, message) in cases {
        match &crt {
            Some(bytes) => std::fs::write(dir.join("www.crt"), bytes).unwrap(),
            None => std::fs::remove_file(dir.join("www.crt")).unwrap(),
        }
        if let Some(k) = &key {
            std::fs::write(dir.join("www.key"), k).unwrap();
        }
        let generation = proxy.generation();
        let r = proxy.reloader.clone();
        let err = tokio::task::spawn_blocking(move || r.reload(Trigger::Api))
            .await
            .unwrap()
            .err();
        let err = err.unwrap_or_else(|| panic!("{what}: reload should be refused"));
        let text = err.issues().join("\n");
        assert!(text.contains(message), "{what}: {text}");
        let key_path = if matches!(what, "unsupported key") {
            "certificates[0].key"
        } else {
            "certificates[0]."
        };
        assert!(
            text.contains(&format!("listeners.https.{key_path}")),
            "{what}: error names the config key: {text}"
        );
        assert_eq!(proxy.generation(), generation, "{what}: old config kept");
        let r = tls_get(
            proxy.https,
            Some("www.example.test"),
            "www.example.test",
            "/",
            c.ca.client_config(&[]),
        )
        .await
        .unwrap();
        assert!(
            r.peer_cert == c.www.der,
            "{what}: old certificate still served"
        );
        // restore for the next case
        std::fs::write(dir.join("www.crt"), &good_crt).unwrap();
        std::fs::write(dir.join("www.key"), &good_key).unwrap();
    }
}
