//! The Debian package (`scripts/deb`, `[package.metadata.deb]`): what it installs and where,
//! that /etc/gatehouse is conffiles, that postinst makes the `gatehouse` user, that the units
//! name the package's paths (/usr/bin, not scripts/install's /usr/local), and that the packaged
//! binary runs, and that lintian finds no error or warning in it (its overrides say why for the
//! two it would raise). Built from the debug binaries under test (`--profile dev --no-build`),
//! so no release build is needed. Needs cargo-deb (`cargo install --locked cargo-deb`),
//! dpkg-deb, dpkg-dev, binutils and lintian.

use super::{have, repo, require, run, run_with, text};
use std::path::Path;
use std::time::Duration;

/// Whether `cargo deb` is installed.
fn cargo_deb_present() -> bool {
    std::process::Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// What `dpkg-deb -c` lists, as absolute paths (`/usr/bin/gatehouse`), directories included.
async fn contents(deb: &Path) -> Vec<String> {
    let out = run(
        "dpkg-deb",
        &["-c", deb.to_str().unwrap()],
        Duration::from_secs(60),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .map(|p| p.trim_start_matches('.').trim_end_matches('/').to_string())
        .collect()
}

async fn control_file(deb: &Path, name: &str) -> String {
    let out = run(
        "dpkg-deb",
        &["-I", deb.to_str().unwrap(), name],
        Duration::from_secs(60),
    )
    .await;
    assert!(out.status.success(), "{name}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn the_deb_installs_binary_units_config_man_pages_and_completions() {
    require!(
        cargo_deb_present(),
        "cargo-deb is not installed (cargo install --locked cargo-deb)"
    );
    require!(have("dpkg-deb"), "dpkg-deb is not installed");
    require!(have("lintian"), "lintian is not installed");
    // What scripts/deb would otherwise install itself (dpkg-dev, binutils), which needs root.
    require!(
        have("dpkg-shlibdeps") && have("strip"),
        "dpkg-dev or binutils is not installed"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = run_with(
        tokio::process::Command::new("bash")
            .arg(repo().join("scripts/deb"))
            .args(["--profile", "dev", "--no-build", "--output"])
            .arg(dir.path()),
        Duration::from_secs(300),
    )
    .await;
    assert!(out.status.success(), "scripts/deb failed:\n{}", text(&out));
    let deb = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .unwrap_or_else(|| panic!("no .deb in {}:\n{}", dir.path().display(), text(&out)));

    let listing = contents(&deb).await;
    let has = |path: &str| listing.iter().any(|p| p == path);
    for path in [
        "/usr/bin/gatehouse",
        "/usr/lib/gatehouse/sample-app",
        "/etc/gatehouse/gatehouse.toml",
        "/etc/gatehouse/gatehouse.schema.json",
        "/etc/logrotate.d/gatehouse",
        "/usr/share/man/man1/gatehouse.1.gz",
        "/usr/share/man/man1/gatehouse-check.1.gz",
        "/usr/share/bash-completion/completions/gatehouse",
        "/usr/share/zsh/vendor-completions/_gatehouse",
        "/usr/share/fish/vendor_completions.d/gatehouse.fish",
        "/usr/share/doc/gatehouse/README.md",
        "/usr/share/doc/gatehouse/docs/operations.md",
        "/usr/share/doc/gatehouse/docs/configuration.md",
        "/usr/share/doc/gatehouse/copyright",
        "/usr/share/doc/gatehouse/examples/production.toml",
        "/usr/share/doc/gatehouse/keepalived/node1.conf",
    ] {
        assert!(has(path), "{path} is not in the package:\n{listing:#?}");
    }
    let unit = |name: &str| {
        listing
            .iter()
            .find(|p| p.ends_with(&format!("/systemd/system/{name}")))
            .cloned()
            .unwrap_or_else(|| panic!("{name} is not in the package:\n{listing:#?}"))
    };
    let service = unit("gatehouse.service");
    let template = unit("gatehouse-sample-app@.service");
    assert!(
        !listing.iter().any(|p| p.starts_with("/usr/local")),
        "a package installs nothing under /usr/local:\n{listing:#?}"
    );

    let conffiles = control_file(&deb, "conffiles").await;
    assert!(
        conffiles.contains("/etc/gatehouse/gatehouse.toml")
            && conffiles.contains("/etc/logrotate.d/gatehouse"),
        "{conffiles}"
    );
    let postinst = control_file(&deb, "postinst").await;
    assert!(postinst.contains("useradd --system"), "{postinst}");
    assert!(!postinst.contains("#DEBHELPER#"), "{postinst}");
    // Known to systemd after install, but neither enabled nor started (the example config needs
    // a certificate), and never restarted by an upgrade.
    assert!(postinst.contains("daemon-reload"), "{postinst}");
    assert!(
        !postinst.contains("deb-systemd-invoke restart"),
        "{postinst}"
    );

    let root = dir.path().join("root");
    let out = run(
        "dpkg-deb",
        &["-x", deb.to_str().unwrap(), root.to_str().unwrap()],
        Duration::from_secs(120),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let service_text = std::fs::read_to_string(root.join(service.trim_start_matches('/'))).unwrap();
    assert!(
        service_text.contains("ExecStart=/usr/bin/gatehouse run -c /etc/gatehouse/gatehouse.toml"),
        "{service_text}"
    );
    let template_text =
        std::fs::read_to_string(root.join(template.trim_start_matches('/'))).unwrap();
    assert!(
        template_text.contains("ExecStart=/usr/lib/gatehouse/sample-app "),
        "{template_text}"
    );
    for text in [&service_text, &template_text] {
        assert!(!text.contains("/usr/local"), "{text}");
    }
    let config = std::fs::read_to_string(root.join("etc/gatehouse/gatehouse.toml")).unwrap();
    assert_eq!(
        config.lines().next(),
        Some("#:schema ./gatehouse.schema.json"),
        "the schema the config names sits next to it"
    );
    let version = run(
        root.join("usr/bin/gatehouse").to_str().unwrap(),
        &["--version"],
        Duration::from_secs(30),
    )
    .await;
    assert!(
        version.status.success() && text(&version).starts_with("gatehouse "),
        "{}",
        text(&version)
    );

    let lint = run(
        "lintian",
        &[
            "--tag-display-limit",
            "0",
            "--fail-on",
            "error,warning",
            deb.to_str().unwrap(),
        ],
        Duration::from_secs(300),
    )
    .await;
    assert!(lint.status.success(), "lintian:\n{}", text(&lint));
}
