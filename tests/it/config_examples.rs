//! Every `conf/*.toml` shipped must validate (River's habit), so examples cannot rot.
//! Files they reference that are generated on first run or put in place at install (demo or
//! site certificate, admin token) are generated here too, in a temp copy.

use std::path::Path;

#[test]
fn every_shipped_config_validates() {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("certs")).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![
        "www.example.test".to_string(),
        "*.example.test".to_string(),
    ])
    .unwrap()
    .self_signed(&key)
    .unwrap();
    // demo.* for the demo config, site.* for conf/production.toml.
    for name in ["demo", "site"] {
        std::fs::write(dir.path().join(format!("certs/{name}.crt")), cert.pem()).unwrap();
        let key_path = dir.path().join(format!("certs/{name}.key"));
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    std::fs::write(dir.path().join("admin.token"), "test-token\n").unwrap();
    // conf/acme.toml's client CA bundle (any certificate parses as a trust anchor).
    std::fs::write(dir.path().join("certs/clients-ca.pem"), cert.pem()).unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(&conf).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let copy = dir.path().join(path.file_name().unwrap());
        std::fs::copy(&path, &copy).unwrap();
        if let Err(e) = gatehouse::config::load_initial(&copy) {
            panic!("{} does not validate:\n{e}", path.display());
        }
        checked += 1;
    }
    assert!(checked >= 1, "no configs found in conf/");
}
