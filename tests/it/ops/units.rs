//! The systemd units in `systemd/`: `systemd-analyze verify` accepts them as installed (with the
//! binaries they start in place), their offline security exposure is at most 2.0, and
//! `gatehouse.service` keeps the settings the rest of the design relies on.

use super::{have, install_into, repo, require, run, run_with, text};
use std::path::Path;
use std::time::Duration;

const UNITS: [&str; 2] = ["gatehouse.service", "gatehouse-sample-app@.service"];

/// The hardening bar: `systemd-analyze security` rates 0 (locked down) to 10 (exposed).
const MAX_EXPOSURE: f64 = 2.0;

#[tokio::test]
async fn units_pass_systemd_analyze_verify_as_installed() {
    require!(
        have("systemd-analyze"),
        "systemd-analyze not found (Debian package systemd)"
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    install_into(&root).await;
    // With --root, verify resolves everything under the root, including the distribution's
    // own units ours refer to (sysinit.target, network-online.target…): bring those along.
    let Some(system) = ["/usr/lib/systemd/system", "/lib/systemd/system"]
        .into_iter()
        .find(|d| Path::new(d).join("sysinit.target").exists())
    else {
        super::skipped("no systemd unit directory with sysinit.target on this machine");
        return;
    };
    std::fs::create_dir_all(root.join("usr/lib/systemd")).unwrap();
    let copied = run(
        "cp",
        &[
            "-a",
            system,
            root.join("usr/lib/systemd/system").to_str().unwrap(),
        ],
        Duration::from_secs(30),
    )
    .await;
    assert!(copied.status.success(), "{}", text(&copied));

    let root_arg = format!("--root={}", root.display());
    let verify = || async {
        run(
            "systemd-analyze",
            &[
                "verify",
                &root_arg,
                "gatehouse.service",
                "gatehouse-sample-app@9001.service",
            ],
            Duration::from_secs(60),
        )
        .await
    };
    let out = verify().await;
    assert!(
        out.status.success() && text(&out).trim().is_empty(),
        "systemd-analyze verify must pass without a single warning:\n{}",
        text(&out)
    );

    // The pass means something: verify does check that the commands exist.
    std::fs::remove_file(root.join("usr/local/bin/sample-app")).unwrap();
    let out = verify().await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("/usr/local/bin/sample-app is not executable"),
        "{}",
        text(&out)
    );
}

/// The number in "→ Overall exposure level for gatehouse.service: 1.6 OK 🙂".
fn exposure(output: &str) -> Option<f64> {
    let line = output
        .lines()
        .find(|l| l.contains("Overall exposure level for"))?;
    line.rsplit_once(": ")?
        .1
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[tokio::test]
async fn units_exposure_is_at_most_2() {
    require!(
        have("systemd-analyze"),
        "systemd-analyze not found (Debian package systemd)"
    );
    for unit in UNITS {
        let path = repo().join("systemd").join(unit);
        let out = run_with(
            tokio::process::Command::new("systemd-analyze")
                .args(["security", "--offline=yes", "--no-pager"])
                .arg(&path)
                .env("SYSTEMD_COLORS", "0"),
            Duration::from_secs(60),
        )
        .await;
        let all = text(&out);
        let score = exposure(&all)
            .unwrap_or_else(|| panic!("no exposure level in the output for {unit}:\n{all}"));
        eprintln!("{unit}: systemd-analyze security exposure {score}");
        assert!(
            score <= MAX_EXPOSURE,
            "{unit}: exposure {score} > {MAX_EXPOSURE}:\n{all}"
        );
    }
}

#[test]
fn exposure_is_read_from_the_summary_line() {
    assert_eq!(
        exposure(
            "✗ UMask= ...  0.1\n\n→ Overall exposure level for gatehouse.service: 1.6 OK 🙂\n"
        ),
        Some(1.6)
    );
    assert_eq!(exposure("nothing here"), None);
}

/// `[Service]` settings of a unit file as `Key=Value` lines (comments and blanks dropped).
fn service_settings(unit: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repo().join("systemd").join(unit)).unwrap();
    let mut in_service = false;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
        } else if in_service && !line.is_empty() && !line.starts_with('#') {
            out.push(line.to_string());
        }
    }
    out
}

#[test]
fn gatehouse_unit_keeps_the_settings_the_design_relies_on() {
    let settings = service_settings("gatehouse.service");
    let config = "-c /etc/gatehouse/gatehouse.toml";
    for required in [
        // readiness from src/notify.rs; MAINPID= + READY=1 from an upgrade successor
        "Type=notify".to_string(),
        "NotifyAccess=all".to_string(),
        format!("ExecStartPre=/usr/local/bin/gatehouse check {config}"),
        format!("ExecStart=/usr/local/bin/gatehouse run {config}"),
        // reports a refused reload, unlike kill -HUP
        format!("ExecReload=/usr/local/bin/gatehouse reload {config}"),
        "KillSignal=SIGTERM".to_string(),
        "Restart=on-failure".to_string(),
        "RuntimeDirectory=gatehouse".to_string(),
        "LogsDirectory=gatehouse".to_string(),
        "User=gatehouse".to_string(),
        "AmbientCapabilities=CAP_NET_BIND_SERVICE".to_string(),
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE".to_string(),
        "NoNewPrivileges=yes".to_string(),
        "ProtectSystem=strict".to_string(),
        "PrivateTmp=yes".to_string(),
        "ReadOnlyPaths=/etc/gatehouse".to_string(),
        "SystemCallFilter=@system-service".to_string(),
    ] {
        assert!(
            settings.contains(&required),
            "gatehouse.service lacks {required}"
        );
    }
    let value = |key: &str| {
        settings
            .iter()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("gatehouse.service lacks {key}="))
            .to_string()
    };
    // A stop must be allowed to outlast the shipped config's drain: grace_period plus
    // shutdown_timeout; and stay bounded.
    let prod: toml::Value =
        toml::from_str(&std::fs::read_to_string(repo().join("conf/production.toml")).unwrap())
            .unwrap();
    let secs = |key: &str| -> u64 {
        let v = prod["server"][key].as_str().unwrap();
        v.strip_suffix('s').unwrap().parse().unwrap()
    };
    let drain = secs("grace_period") + secs("shutdown_timeout");
    let stop: u64 = value("TimeoutStopSec").parse().unwrap();
    assert!(
        stop > drain && stop <= 120,
        "TimeoutStopSec={stop}, drain takes up to {drain} s"
    );
    let nofile: u64 = value("LimitNOFILE").parse().unwrap();
    assert!(nofile >= 65536, "LimitNOFILE={nofile}");
    assert!(!settings.iter().any(|l| l.contains("kill -HUP")));

    let sample = service_settings("gatehouse-sample-app@.service");
    assert!(sample.contains(
        &"ExecStart=/usr/local/bin/sample-app --listen 127.0.0.1:%i --name backend-%i".to_string()
    ));
    assert!(sample.contains(&"CapabilityBoundingSet=".to_string()));
}
