//! Secure defaults: what a file that says nothing about them gets.

use super::*;
use crate::config::resolve::StaticResolver;

const MINIMAL: &str = r#"
[listeners.http]
address = "127.0.0.1:8080"
[routes.default]
pool = "web"
[pools.web]
backends = [{ address = "127.0.0.1:9001" }]
"#;

fn run(text: &str) -> Result<Validated, ConfigError> {
    validate_text(text)
}

#[test]
fn unconfigured_admin_listens_on_loopback_and_no_banner_is_sent() {
    let v = run(MINIMAL).unwrap();
    let admin = v.config.admin.address.unwrap();
    assert!(admin.ip().is_loopback(), "{admin}");
    assert!(!v.config.server.server_header);
    assert!(v.config.server.user.is_none());
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
}

#[test]
fn an_exposed_admin_listener_without_a_token_is_flagged() {
    let v = run(&format!("[admin]\naddress = \"0.0.0.0:9901\"\n{MINIMAL}")).unwrap();
    let w: Vec<String> = v.warnings.iter().map(ToString::to_string).collect();
    assert!(
        w.iter().any(|w| w.starts_with("admin.address: ")
            && w.contains("no token_file")
            && w.ends_with("at line 2")),
        "{w:?}"
    );
}

#[test]
fn relative_server_paths_are_relative_to_the_config_file() {
    let v = run(&format!(
        "[server]\npid_file = \"run/gatehouse.pid\"\nupgrade_socket = \"run/upgrade.sock\"\n{MINIMAL}"
    ))
    .unwrap();
    assert_eq!(
        v.config.server.pid_file.as_deref(),
        Some(Path::new("/nonexistent/run/gatehouse.pid"))
    );
    assert_eq!(
        v.config.server.upgrade_socket,
        Path::new("/nonexistent/run/upgrade.sock")
    );
    let v = run(&format!("[server]\npid_file = \"/run/g.pid\"\n{MINIMAL}")).unwrap();
    assert_eq!(
        v.config.server.pid_file.as_deref(),
        Some(Path::new("/run/g.pid"))
    );
}

#[test]
fn a_user_or_group_that_does_not_exist_is_an_error() {
    let err = run(&format!(
        "[server]\nuser = \"no-such-user-gh\"\ngroup = \"no-such-group-gh\"\n{MINIMAL}"
    ))
    .unwrap_err();
    assert_eq!(
        err.issues(),
        [
            "server.user: no such user \"no-such-user-gh\" on this machine at line 2",
            "server.group: no such group \"no-such-group-gh\" on this machine at line 3",
        ]
    );
    assert!(run(&format!("[server]\nuser = \"root\"\n{MINIMAL}")).is_ok());
}

/// A backend named by a host name becomes one backend per address the name resolves to, each
/// with the configured weight, and the name is looked up again by the next validation.
#[test]
fn a_name_with_several_addresses_becomes_several_backends() {
    let text = MINIMAL.replace(
        r#"backends = [{ address = "127.0.0.1:9001" }]"#,
        r#"backends = [{ address = "app.internal:9001", weight = 3 }]"#,
    );
    let validate_with = |ips: &[std::net::IpAddr]| {
        let resolver = StaticResolver::default().with("app.internal", ips);
        let ctx = Context {
            resolver: &resolver,
            now: SystemTime::now(),
            in_service: None,
        };
        validate(Path::new("/nonexistent/gatehouse.toml"), &text, &ctx)
    };
    let two = validate_with(&["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()]).unwrap();
    let backends = &two.config.pools[0].backends;
    let addrs: Vec<String> = backends.iter().map(|b| b.address.to_string()).collect();
    assert_eq!(addrs, ["10.0.0.1:9001", "10.0.0.2:9001"]);
    assert!(backends.iter().all(|b| b.weight == 3));
    // The next reload sees what the name resolves to then.
    let three = validate_with(&[
        "10.0.0.1".parse().unwrap(),
        "10.0.0.2".parse().unwrap(),
        "10.0.0.3".parse().unwrap(),
    ])
    .unwrap();
    assert_eq!(three.config.pools[0].backends.len(), 3);
}

/// Expiry never takes a node down: a certificate already expired is refused only when it is
/// being added (not serving yet); one that expired or is about to while serving is a warning.
#[test]
fn expired_certificates_are_refused_only_when_new() {
    use std::collections::HashSet;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["site.test".to_string()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2026, 1, 1);
    params.not_after = rcgen::date_time_ymd(2026, 3, 1);
    let cert = params.self_signed(&key).unwrap();
    let cert_path = dir.path().join("site.crt");
    let key_path = dir.path().join("site.key");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = format!(
        "[listeners.https]\naddress = \"127.0.0.1:8443\"\nprotocol = \"https\"\ncertificates = [{{ cert = \"{}\", key = \"{}\" }}]\n[routes.default]\npool = \"web\"\n[pools.web]\nbackends = [{{ address = \"127.0.0.1:9001\" }}]\n",
        cert_path.display(),
        key_path.display()
    );
    let fingerprint = crate::tls::certs::load_pair(&cert_path, &key_path)
        .unwrap()
        .fingerprint;
    let resolver = StaticResolver::default();
    let at = |y, m, d| {
        SystemTime::UNIX_EPOCH
            + Duration::from_secs(
                rcgen::date_time_ymd(y, m, d)
                    .unix_timestamp()
                    .try_into()
                    .unwrap(),
            )
    };
    let check = |now: SystemTime, serving: Option<&HashSet<String>>| {
        let ctx = Context {
            resolver: &resolver,
            now,
            in_service: serving,
        };
        validate(Path::new("/nonexistent/gatehouse.toml"), &text, &ctx)
    };
    let warnings =
        |v: Validated| -> Vec<String> { v.warnings.iter().map(ToString::to_string).collect() };
    // 10 days left: valid, with a warning naming the file and the key.
    let w = warnings(check(at(2026, 2, 19), None).unwrap());
    assert!(
        w.iter()
            .any(|w| w.starts_with("listeners.https.certificates[0].cert: ")
                && w.contains("site.crt expires in 10 days")),
        "{w:?}"
    );
    // Expired while serving (a reload of the same certificate): a loud warning, not a refusal.
    let serving: HashSet<String> = [fingerprint].into_iter().collect();
    let w = warnings(check(at(2026, 4, 1), Some(&serving)).unwrap());
    assert!(
        w.iter().any(|w| w.contains("EXPIRED on 2026-03-01")),
        "{w:?}"
    );
    // Expired and new to this process: refused, naming the file and the key.
    let none = HashSet::new();
    let e = check(at(2026, 4, 1), Some(&none)).unwrap_err().to_string();
    assert!(
        e.contains("listeners.https.certificates[0].cert: ")
            && e.contains("expired on 2026-03-01; refusing to add an expired certificate"),
        "{e}"
    );
}
