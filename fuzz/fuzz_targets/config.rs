//! Config parser and validator: any text gives `Ok` or a list of issues, never a panic; a
//! valid config compiles into a router.
//!
//! Hermetic: the config "lives" in a fixture directory created once per process (a demo
//! certificate and key, a CA, an admin token, under the names the shipped configs use), so
//! relative paths reach only those files. Validation reads the files a config names; an input
//! naming any existing file outside the fixture directory (an absolute path such as
//! `/dev/zero`, or `../..` out of it) is skipped, so the fuzzer never reads the machine's
//! files, never blocks on a device or FIFO and never slurps an endless one. Directories are
//! allowed (reading one is an error). Names are resolved by a static table, never by DNS.
#![no_main]

use gatehouse::config::resolve::StaticResolver;
use gatehouse::config::Context;
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

fn fixture_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        use std::os::unix::fs::PermissionsExt;
        let dir =
            std::env::temp_dir().join(format!("gatehouse-fuzz-config-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("certs")).expect("fixture dir");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec![
            "www.example.test".to_string(),
            "*.example.test".to_string(),
        ])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
        for name in ["demo", "site", "ca", "client"] {
            std::fs::write(dir.join(format!("certs/{name}.crt")), cert.pem()).expect("crt");
            let key_path = dir.join(format!("certs/{name}.key"));
            std::fs::write(&key_path, key.serialize_pem()).expect("key");
            std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600))
                .expect("mode");
        }
        std::fs::write(dir.join("admin.token"), "fuzz-token\n").expect("token");
        std::fs::write(dir.join("empty.token"), "").expect("token");
        dir.canonicalize().expect("canonical")
    })
}

/// True when every string in the document that names an existing file names one of the
/// fixtures (or a directory).
fn hermetic(value: &toml::Value, base: &Path) -> bool {
    match value {
        toml::Value::String(s) => {
            let p = base.join(s); // an absolute `s` replaces `base`, as in validation
            match std::fs::metadata(&p) {
                Err(_) => true,
                Ok(m) if m.is_dir() => true,
                Ok(_) => p.canonicalize().is_ok_and(|c| {
                    c.starts_with(base) && std::fs::metadata(&c).is_ok_and(|m| m.is_file())
                }),
            }
        }
        toml::Value::Array(a) => a.iter().all(|v| hermetic(v, base)),
        toml::Value::Table(t) => t.values().all(|v| hermetic(v, base)),
        _ => true,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let base = fixture_dir();
    if let Ok(doc) = toml::from_str::<toml::Table>(text) {
        if !doc.values().all(|v| hermetic(v, base)) {
            return;
        }
    }
    let resolver = StaticResolver::default()
        .with("app.test", &[IpAddr::V4(Ipv4Addr::LOCALHOST)])
        .with("localhost", &[IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    let ctx = Context {
        resolver: &resolver,
        now: SystemTime::now(),
        in_service: None,
    };
    let path = base.join("gatehouse.toml");
    let result = gatehouse::config::validate::validate(&path, text, &ctx);
    if std::env::var_os("FUZZ_CONFIG_VERBOSE").is_some() {
        match &result {
            Ok(v) => eprintln!(
                "valid: {} routes, {} warnings",
                v.config.routes.len(),
                v.warnings.len()
            ),
            Err(e) => eprintln!("{e}"),
        }
    }
    match result {
        Ok(v) => {
            let router = gatehouse::runtime::Router::build(&v.config.routes);
            let _ = router.lookup(
                "www.example.test",
                "/",
                &gatehouse::runtime::router::RequestFacts::bare("GET"),
            );
            // The report of a valid config is printable.
            for w in &v.warnings {
                let _ = w.to_string();
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
