//! OCSP stapling with a real responder: `openssl ocsp -index …` signs each response (behind a
//! small loopback HTTP front, so nothing listens beyond 127.0.0.1), gatehouse fetches, staples
//! (seen by a rustls client and by `openssl s_client -status`) and refreshes it; a revoked
//! certificate, and a response file about another certificate, are never stapled; an expired
//! response is refused.

use crate::ops::{have, require};
use crate::support::{eventually, TestBackend, TestProxy, WAIT};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rcgen::{BasicConstraints, CertificateParams, CustomExtension, DnType, IsCa, Issuer, KeyPair};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// An AuthorityInfoAccess extension naming `url` as the OCSP responder.
fn aia(url: &str) -> CustomExtension {
    let mut desc = vec![
        0x06,
        0x08,
        0x2b,
        0x06,
        0x01,
        0x05,
        0x05,
        0x07,
        0x30,
        0x01,
        0x86,
        url.len() as u8,
    ];
    desc.extend_from_slice(url.as_bytes());
    let mut seq = vec![0x30, desc.len() as u8];
    seq.extend(desc);
    let mut outer = vec![0x30, seq.len() as u8];
    outer.extend(seq);
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], outer)
}

/// Serves `openssl ocsp` responses for the index in `dir` on a loopback port.
async fn responder(dir: PathBuf) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut n = 0u64;
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            n += 1;
            let dir = dir.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let dir = dir.clone();
                        async move {
                            let body = req.into_body().collect().await?.to_bytes();
                            let (rq, rs) = (
                                dir.join(format!("req{n}.der")),
                                dir.join(format!("resp{n}.der")),
                            );
                            std::fs::write(&rq, &body).unwrap();
                            let out = tokio::process::Command::new("openssl")
                                .current_dir(&dir)
                                .args([
                                    "ocsp",
                                    "-index",
                                    "index.txt",
                                    "-CA",
                                    "ca.pem",
                                    "-rsigner",
                                    "ca.pem",
                                    "-rkey",
                                    "ca.key",
                                    "-nmin",
                                    "1",
                                    "-reqin",
                                ])
                                .arg(&rq)
                                .arg("-respout")
                                .arg(&rs)
                                .output()
                                .await
                                .unwrap();
                            assert!(
                                out.status.success(),
                                "{}",
                                String::from_utf8_lossy(&out.stderr)
                            );
                            let der = std::fs::read(&rs).unwrap();
                            Ok::<_, hyper::Error>(http::Response::new(Full::new(Bytes::from(der))))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    addr
}

/// Accepts any server certificate and records the stapled OCSP response.
#[derive(Debug)]
struct Capture(Arc<Mutex<Vec<u8>>>, Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for Capture {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        ocsp: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        *self.0.lock().unwrap() = ocsp.to_vec();
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.1.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.1.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.1.signature_verification_algorithms.supported_schemes()
    }
}

/// The staple served for `name` (empty: none).
async fn staple(addr: SocketAddr, name: &str) -> Vec<u8> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let provider = gatehouse::tls::provider();
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Capture(seen.clone(), provider)))
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let server = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(server, tcp)
        .await
        .unwrap();
    let v = seen.lock().unwrap().clone();
    v
}

struct Leaf {
    der: Vec<u8>,
}

fn leaf(
    dir: &Path,
    tag: &str,
    serial: u8,
    url: &str,
    issuer: &Issuer<'static, KeyPair>,
    ca_pem: &str,
) -> Leaf {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec![format!("{tag}.ocsp.test")]).unwrap();
    params.serial_number = Some(rcgen::SerialNumber::from(vec![0x10, serial]));
    params.custom_extensions.push(aia(url));
    let cert = params.signed_by(&key, issuer).unwrap();
    std::fs::write(
        dir.join(format!("{tag}.crt")),
        format!("{}{}", cert.pem(), ca_pem),
    )
    .unwrap();
    let kp = dir.join(format!("{tag}.key"));
    std::fs::write(&kp, key.serialize_pem()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&kp, std::fs::Permissions::from_mode(0o600)).unwrap();
    Leaf {
        der: cert.der().to_vec(),
    }
}

#[tokio::test]
async fn staples_fetched_responses_refreshes_them_and_never_staples_revoked_or_mismatched_ones() {
    require!(have("openssl"), "openssl is not installed");
    let app = TestBackend::start("app").await;
    let pki = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "OCSP test CA");
    let ca = ca_params.clone().self_signed(&ca_key).unwrap();
    std::fs::write(pki.path().join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(pki.path().join("ca.key"), ca_key.serialize_pem()).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let addr = responder(pki.path().to_path_buf()).await;
    let url = format!("http://{addr}/");
    let (a, b, c) = {
        let d = pki.path();
        (
            leaf(d, "a", 1, &url, &issuer, &ca.pem()),
            leaf(d, "b", 2, &url, &issuer, &ca.pem()),
            leaf(d, "c", 3, &url, &issuer, &ca.pem()),
        )
    };
    leaf(pki.path(), "d", 4, &url, &issuer, &ca.pem());
    // a and c are good, b is revoked.
    std::fs::write(
        pki.path().join("index.txt"),
        "V\t301231235959Z\t\t1001\tunknown\t/CN=a\nR\t301231235959Z\t240101000000Z\t1002\tunknown\t/CN=b\nV\t301231235959Z\t\t1003\tunknown\t/CN=c\n",
    )
    .unwrap();
    // c staples a response file fetched ahead; d is given c's (about another certificate).
    let request = gatehouse::tls::ocsp::request::build(&c.der, ca.der()).unwrap();
    let c_response =
        gatehouse::tls::ocsp::fetch::post(&url, request, crate::support::patient(WAIT))
            .await
            .unwrap();
    let ca_der = ca.der().to_vec();
    let template = format!(
        r#"
[ocsp]
refresh = "1s"
[admin]
address = "{{admin}}"
[listeners.https]
address = "{{https}}"
protocol = "https"
certificates = [
  {{ cert = "{p}/a.crt", key = "{p}/a.key", ocsp_fetch = true }},
  {{ cert = "{p}/b.crt", key = "{p}/b.key", ocsp_fetch = true }},
  {{ cert = "{p}/c.crt", key = "{p}/c.key", ocsp_file = "{p}/c.ocsp" }},
  {{ cert = "{p}/d.crt", key = "{p}/d.key", ocsp_file = "{p}/c.ocsp" }},
]
[routes.all]
pool = "p"
[pools.p]
backends = [{{ address = "{}" }}]
"#,
        app.addr,
        p = pki.path().display()
    );
    std::fs::write(pki.path().join("c.ocsp"), &c_response).unwrap();
    let proxy = TestProxy::start(&template).await;

    let first = eventually("a stapled response for a", WAIT, || async {
        Some(staple(proxy.https, "a.ocsp.test").await).filter(|s| !s.is_empty())
    })
    .await;
    let now = SystemTime::now();
    gatehouse::tls::ocsp::validate(&first, &a.der, &ca_der, now).expect("a valid staple");
    // Refreshed: a newer response (thisUpdate moves on) replaces it.
    eventually("a refreshed staple", WAIT, || {
        let first = first.clone();
        async move {
            Some(staple(proxy.https, "a.ocsp.test").await).filter(|s| !s.is_empty() && *s != first)
        }
    })
    .await;
    // The same check openssl's client does.
    let out = tokio::process::Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &proxy.https.to_string(),
            "-servername",
            "a.ocsp.test",
            "-status",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("OCSP Response Status: successful") && text.contains("Cert Status: good"),
        "{text}"
    );
    // Revoked: fetched (and refused) at least twice by now, never stapled.
    eventually("b's responses refused", WAIT, || async {
        let m = gatehouse::metrics::render();
        m.lines()
            .any(|l| {
                l.starts_with("gatehouse_ocsp_fetches_total")
                    && l.contains("/b.crt")
                    && l.contains("result=\"error\"")
            })
            .then_some(())
    })
    .await;
    assert!(
        staple(proxy.https, "b.ocsp.test").await.is_empty(),
        "a revoked certificate is never stapled"
    );
    assert_eq!(
        staple(proxy.https, "c.ocsp.test").await,
        c_response,
        "the file's response is stapled"
    );
    assert!(
        staple(proxy.https, "d.ocsp.test").await.is_empty(),
        "a response about another certificate is not"
    );
    // Expired: the same response a minute and more later is refused (openssl -nmin 1).
    let later = now + Duration::from_secs(120);
    assert_eq!(
        gatehouse::tls::ocsp::validate(&first, &a.der, &ca_der, later).unwrap_err(),
        gatehouse::tls::ocsp::OcspError::Expired
    );
    assert_eq!(
        gatehouse::tls::ocsp::validate(&c_response, &a.der, &ca_der, now).unwrap_err(),
        gatehouse::tls::ocsp::OcspError::Mismatch
    );
    let _ = b;
}
