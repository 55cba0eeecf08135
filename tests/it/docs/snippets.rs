//! Every TOML block in the docs goes through the real `gatehouse check`.

use super::markdown::{self, Block};
use std::path::Path;
use std::process::{Command, Output};

/// What a `toml fragment` block is merged into: a listener, a route and a pool of its own,
/// named and addressed so that no fragment collides with them.
const BASE: &str = r#"
[listeners.docs_base]
address = "127.0.0.2:65001"

[routes.docs_base]
hosts = ["docs-base.invalid"]
pool = "docs_base"

[pools.docs_base]
backends = [{ address = "127.0.0.2:65002" }]
"#;

#[derive(Debug, PartialEq)]
enum Kind {
    Complete,
    Fragment,
    Invalid,
}

fn kind(block: &Block) -> Option<Kind> {
    let mut words = block.info.split_whitespace();
    if words.next() != Some("toml") {
        return None;
    }
    Some(match words.next() {
        None => Kind::Complete,
        Some("fragment") => Kind::Fragment,
        Some("invalid") => Kind::Invalid,
        Some(other) => panic!(
            "{}: unknown TOML block marker {other:?} (expected none, `fragment` or `invalid`)",
            block.place()
        ),
    })
}

/// Deep merge: tables merge key by key, anything else in `over` replaces.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// The text `check` reads for a block.
fn config_text(block: &Block, kind: &Kind) -> String {
    if *kind != Kind::Fragment {
        return block.text.clone();
    }
    let fragment: toml::Table = toml::from_str(&block.text)
        .unwrap_or_else(|e| panic!("{}: fragment is not TOML: {e}", block.place()));
    let mut merged: toml::Table = toml::from_str(BASE).unwrap();
    merge(&mut merged, fragment);
    toml::to_string(&merged).unwrap()
}

/// Writes the files a snippet names: certificates and CA bundles (`*.crt`, `*.pem`), keys
/// (`*.key`, mode 0600) and the admin token, relative to the config's directory.
fn prepare(dir: &Path, text: &str) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["www.example.com".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let quoted = text.split('"').skip(1).step_by(2);
    for value in quoted.filter(|v| !v.starts_with('/') && !v.contains("..")) {
        let path = dir.join(value);
        let content = if value.ends_with(".crt") || value.ends_with(".pem") {
            cert.pem()
        } else if value.ends_with(".key") {
            key.serialize_pem()
        } else if value.ends_with(".token") {
            "docs-token\n".to_string()
        } else {
            continue;
        };
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// Runs `gatehouse check -c gatehouse.toml` in a fresh directory holding `text`.
fn check(text: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), text);
    std::fs::write(dir.path().join("gatehouse.toml"), text).unwrap();
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .current_dir(dir.path())
        .args(["check", "-c", "gatehouse.toml"])
        .output()
        .unwrap()
}

fn printed(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// For an invalid block followed by a `text` block that shows the check, that block's
/// expected output (without its `$ gatehouse check` line).
fn shown_output(blocks: &[Block], i: usize) -> Option<String> {
    let next = blocks
        .get(i + 1)
        .filter(|b| b.info == "text" && b.file == blocks[i].file)?;
    let rest = next
        .text
        .strip_prefix("$ gatehouse check -c gatehouse.toml\n")?;
    Some(rest.to_string())
}

#[test]
fn every_toml_snippet_in_the_docs_passes_gatehouse_check() {
    let mut failures = Vec::new();
    let mut counts = [0usize; 3];
    for file in markdown::doc_files() {
        let (blocks, _) = markdown::parse(&file, &markdown::read(&file));
        for (i, block) in blocks.iter().enumerate() {
            let Some(kind) = kind(block) else { continue };
            let text = config_text(block, &kind);
            let out = check(&text);
            match kind {
                Kind::Complete | Kind::Fragment => {
                    counts[if kind == Kind::Complete { 0 } else { 1 }] += 1;
                    if !out.status.success() {
                        failures.push(format!(
                            "{} ({kind:?}) is refused by gatehouse check:\n{}\n--- checked text:\n{text}",
                            block.place(),
                            printed(&out)
                        ));
                    }
                }
                Kind::Invalid => {
                    counts[2] += 1;
                    if out.status.success() {
                        failures.push(format!(
                            "{} is marked `toml invalid` but gatehouse check accepts it:\n{}",
                            block.place(),
                            printed(&out)
                        ));
                    } else if let Some(shown) = shown_output(&blocks, i) {
                        if printed(&out) != shown {
                            failures.push(format!(
                                "{}: the output shown after this block is not what gatehouse check prints.\n--- shown:\n{shown}--- printed:\n{}",
                                block.place(),
                                printed(&out)
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // complete, fragment, invalid: the docs have some of each, so the walk cannot be empty.
    assert!(
        counts.iter().all(|&n| n > 0),
        "TOML blocks found (complete, fragment, invalid): {counts:?}"
    );
}

/// The fragment merge keeps the base and lets the fragment add to its tables.
#[test]
fn a_fragment_is_checked_inside_the_base_config() {
    let block = Block {
        file: "t.md".into(),
        line: 1,
        info: "toml fragment".into(),
        text: "[pools.docs_base]\nbalance = \"hash\"\nhash = { key = \"path\" }\n".into(),
    };
    let text = config_text(&block, &Kind::Fragment);
    let merged: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(
        merged["pools"]["docs_base"]["balance"].as_str(),
        Some("hash")
    );
    assert!(merged["pools"]["docs_base"]["backends"].is_array());
    assert!(merged["listeners"]["docs_base"].is_table());
    assert!(check(&text).status.success(), "{}", printed(&check(&text)));
    let broken = config_text(
        &Block {
            text: "[pools.docs_base]\nbalance = \"hash\"\n".into(),
            ..block
        },
        &Kind::Fragment,
    );
    assert!(
        !check(&broken).status.success(),
        "hash without a key must be refused"
    );
}
