//! `scripts/install` into a temporary root (DESTDIR): the layout and modes, that a second run
//! keeps the operator's config and token, that the installed config is the production example
//! and validates once certificates are in place, and that the logrotate snippet parses.

use super::{have, install_into, repo, require, run, text, write_cert};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[tokio::test]
async fn install_lays_out_a_destdir_with_the_right_modes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let out = install_into(&root).await;
    assert!(
        text(&out).contains("skipped creating the gatehouse user"),
        "a DESTDIR install must say what it left for the target:\n{}",
        text(&out)
    );

    let expected: [(&str, u32); 16] = [
        ("usr/local/bin", 0o755),
        ("usr/local/bin/gatehouse", 0o755),
        ("usr/local/bin/sample-app", 0o755),
        ("etc/gatehouse", 0o750),
        ("etc/gatehouse/certs", 0o750),
        ("etc/gatehouse/gatehouse.toml", 0o640),
        ("etc/gatehouse/admin.token", 0o640),
        ("etc/systemd/system/gatehouse.service", 0o644),
        ("etc/systemd/system/gatehouse-sample-app@.service", 0o644),
        ("etc/logrotate.d/gatehouse", 0o644),
        ("var/log/gatehouse", 0o750),
        ("usr/local/share/doc/gatehouse/README.md", 0o644),
        ("usr/local/share/doc/gatehouse/keepalived/node1.conf", 0o644),
        ("usr/local/share/doc/gatehouse/keepalived/node2.conf", 0o644),
        ("etc/systemd/system", 0o755),
        ("etc/logrotate.d", 0o755),
    ];
    for (path, want) in expected {
        let got = mode(&root.join(path));
        assert_eq!(got, want, "{path}: mode {got:o}, want {want:o}");
    }

    // What was installed is what was built and shipped.
    for bin in ["gatehouse", "sample-app"] {
        let built = std::fs::read(super::bin_dir().join(bin)).unwrap();
        let installed = std::fs::read(root.join("usr/local/bin").join(bin)).unwrap();
        assert!(
            built == installed,
            "{bin} differs from the binary under test"
        );
    }
    let shipped = |p: &str| std::fs::read_to_string(repo().join(p)).unwrap();
    let installed = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    assert_eq!(
        installed("etc/gatehouse/gatehouse.toml"),
        shipped("conf/production.toml")
    );
    assert_eq!(
        installed("etc/systemd/system/gatehouse.service"),
        shipped("systemd/gatehouse.service")
    );
    assert_eq!(
        installed("usr/local/share/doc/gatehouse/README.md"),
        shipped("README.md"),
        "the README is installed as the documentation"
    );
    assert_eq!(
        installed("usr/local/share/doc/gatehouse/docs/operations.md"),
        shipped("docs/operations.md"),
        "the book (with the operations guide) is installed next to the README"
    );
    assert_eq!(
        installed("etc/gatehouse/gatehouse.schema.json"),
        shipped("conf/gatehouse.schema.json"),
        "the schema the config's #:schema line names sits next to it"
    );
    assert_eq!(
        mode(&root.join("etc/gatehouse/gatehouse.schema.json")),
        0o644
    );
    let token = installed("etc/gatehouse/admin.token");
    assert!(
        token.trim().len() >= 32 && token.trim().chars().all(|c| c.is_ascii_alphanumeric()),
        "admin token {token:?}"
    );

    // The installed config refuses to start without the site certificate, and validates
    // once it is there (as `ExecStartPre` runs it).
    let gatehouse = root.join("usr/local/bin/gatehouse");
    let conf = root.join("etc/gatehouse/gatehouse.toml");
    let check = || async {
        run(
            gatehouse.to_str().unwrap(),
            &["check", "-c", conf.to_str().unwrap()],
            Duration::from_secs(30),
        )
        .await
    };
    let out = check().await;
    assert!(!out.status.success());
    assert!(text(&out).contains("certs/site.crt"), "{}", text(&out));
    let certs = root.join("etc/gatehouse/certs");
    write_cert(
        &certs.join("site.crt"),
        &certs.join("site.key"),
        &["www.example.test"],
    );
    let out = check().await;
    assert!(out.status.success(), "{}", text(&out));

    // A second run (an upgrade) keeps the operator's config and token, and puts the new
    // example next to the config.
    std::fs::write(&conf, "# edited by the operator\n").unwrap();
    let out = install_into(&root).await;
    assert!(text(&out).contains("kept the existing"), "{}", text(&out));
    assert_eq!(
        installed("etc/gatehouse/gatehouse.toml"),
        "# edited by the operator\n"
    );
    assert_eq!(installed("etc/gatehouse/admin.token"), token);
    assert_eq!(
        installed("etc/gatehouse/gatehouse.toml.dist"),
        shipped("conf/production.toml")
    );
    assert_eq!(mode(&root.join("etc/gatehouse/gatehouse.toml.dist")), 0o640);
}

#[tokio::test]
async fn logrotate_snippet_parses_and_signals_gatehouse() {
    let snippet = repo().join("packaging/logrotate.d/gatehouse");
    let body = std::fs::read_to_string(&snippet).unwrap();
    assert!(body.contains("/var/log/gatehouse/*.log {"), "{body}");
    assert!(
        body.contains("systemctl kill -s USR1 gatehouse.service"),
        "gatehouse reopens its logs on SIGUSR1: {body}"
    );
    // The production config's access log is one of the files it rotates, in the directory the
    // unit creates (LogsDirectory=gatehouse → /var/log/gatehouse).
    let prod: toml::Value =
        toml::from_str(&std::fs::read_to_string(repo().join("conf/production.toml")).unwrap())
            .unwrap();
    let access_log = prod["access_log"]["path"].as_str().unwrap();
    let name = access_log.strip_prefix("/var/log/gatehouse/").unwrap();
    assert!(
        name.ends_with(".log") && !name.contains('/'),
        "{access_log}"
    );
    require!(
        have("logrotate"),
        "logrotate not found (Debian package logrotate)"
    );
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // --debug parses and plans without touching any file.
    let out = run(
        "logrotate",
        &[
            "--debug",
            "--state",
            state.to_str().unwrap(),
            snippet.to_str().unwrap(),
        ],
        Duration::from_secs(30),
    )
    .await;
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(!all.contains("error:"), "{all}");
    assert!(
        all.contains("rotating pattern: /var/log/gatehouse/*.log"),
        "{all}"
    );
}
