//! `gatehouse completions SHELL` and `gatehouse man`: generated from the clap definitions, so
//! every subcommand and option appears in them (a new subcommand cannot be forgotten).

use std::process::Command;

fn gatehouse(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "gatehouse {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

const SUBCOMMANDS: &[&str] = &[
    "run",
    "check",
    "upgrade",
    "reload",
    "rollout",
    "demo-certs",
    "schema",
    "completions",
    "man",
];

#[test]
fn completions_name_every_subcommand_in_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let script = gatehouse(&["completions", shell]);
        assert!(script.contains("gatehouse"), "{shell}: {script}");
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "{shell} completion lacks `{sub}`");
        }
        // `--config` (bash, zsh) or `-l config` (fish).
        assert!(
            script.contains("--config") || script.contains("-l config"),
            "{shell} completion lacks --config"
        );
    }
    // bash parses its script (syntax only) when bash is there.
    if let Ok(out) = Command::new("bash")
        .args(["-n", "-c", &gatehouse(&["completions", "bash"])])
        .output()
    {
        assert!(out.status.success(), "{out:?}");
    }
}

#[test]
fn an_unknown_shell_is_refused_with_the_known_ones() {
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bash") && stderr.contains("fish"),
        "{stderr}"
    );
}

#[test]
fn the_man_page_is_roff_naming_every_subcommand() {
    let page = gatehouse(&["man"]);
    assert!(page.contains(".TH gatehouse 1"), "{page}");
    assert!(page.contains(".SH SUBCOMMANDS"), "{page}");
    for sub in SUBCOMMANDS {
        assert!(
            page.contains(&format!("gatehouse\\-{}", sub.replace('-', "\\-"))),
            "man lacks {sub}: {page}"
        );
    }
    render_with_man(&page);
}

#[test]
fn man_out_writes_one_page_per_subcommand_with_its_options() {
    let dir = tempfile::tempdir().unwrap();
    gatehouse(&["man", "--out", dir.path().to_str().unwrap()]);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut expected: Vec<String> = SUBCOMMANDS
        .iter()
        .map(|s| format!("gatehouse-{s}.1"))
        .chain(["gatehouse.1".to_string()])
        .collect();
    expected.sort();
    assert_eq!(names, expected);
    let check = std::fs::read_to_string(dir.path().join("gatehouse-check.1")).unwrap();
    assert!(check.contains("\\-\\-config"), "{check}");
    render_with_man(&check);
}

/// man(1) renders the page without a warning, when man is installed.
fn render_with_man(page: &str) {
    let Ok(which) = Command::new("sh").args(["-c", "command -v man"]).output() else {
        return;
    };
    if !which.status.success() {
        return;
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), page).unwrap();
    let out = Command::new("man")
        .arg("-l")
        .arg(file.path())
        .env("MANWIDTH", "80")
        .env("MAN_KEEP_STDERR", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("gatehouse"), "{text}");
}
