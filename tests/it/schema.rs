//! `gatehouse schema`: the output is the shipped `conf/gatehouse.schema.json`, every shipped
//! config points at it and passes it, and it refuses what `gatehouse check` refuses for keys,
//! types and durations.
//!
//! After changing `src/config/raw.rs`, rewrite the shipped file with
//! `GATEHOUSE_BLESS=1 cargo test --test it schema::` (or
//! `cargo run -q -- schema > conf/gatehouse.schema.json`).

use std::path::{Path, PathBuf};
use std::process::Command;

const DIRECTIVE: &str = "#:schema ./gatehouse.schema.json";

fn conf_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conf")
}

fn printed_schema() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("schema")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The shipped schema, compiled; while blessing, the printed one (the shipped file is being
/// rewritten by another test at the same time).
fn validator() -> jsonschema::Validator {
    let text = if std::env::var_os("GATEHOUSE_BLESS").is_some() {
        printed_schema()
    } else {
        std::fs::read_to_string(conf_dir().join("gatehouse.schema.json")).unwrap()
    };
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::draft7::new(&schema).unwrap()
}

/// A TOML document as the JSON instance an editor's validator sees.
fn instance(toml_text: &str) -> serde_json::Value {
    let value: toml::Value = toml::from_str(toml_text).unwrap();
    serde_json::to_value(value).unwrap()
}

fn errors(v: &jsonschema::Validator, toml_text: &str) -> Vec<String> {
    let doc = instance(toml_text);
    v.iter_errors(&doc)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect()
}

#[test]
fn the_shipped_schema_is_what_gatehouse_schema_prints() {
    let printed = printed_schema();
    let path = conf_dir().join("gatehouse.schema.json");
    if std::env::var_os("GATEHOUSE_BLESS").is_some() {
        std::fs::write(&path, &printed).unwrap();
    }
    let shipped = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        shipped == printed,
        "{} is out of date: run `GATEHOUSE_BLESS=1 cargo test --test it schema::`",
        path.display()
    );
}

#[test]
fn every_shipped_config_names_the_schema_and_passes_it() {
    let v = validator();
    let mut checked = 0;
    for entry in std::fs::read_dir(conf_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.lines().next(),
            Some(DIRECTIVE),
            "{}: the first line points editors at the schema",
            path.display()
        );
        let problems = errors(&v, &text);
        assert!(problems.is_empty(), "{}: {problems:#?}", path.display());
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} configs found");
}

#[test]
fn the_schema_refuses_unknown_keys_wrong_types_and_bad_durations() {
    let v = validator();
    for (bad, why) in [
        ("[listeners.web]\nprotcol = \"http\"\n", "misspelt key"),
        ("[serverr]\n", "unknown section"),
        (
            "[pools.p]\nbackends = [{ address = \"a:1\", wieght = 2 }]\n",
            "key in an array of tables",
        ),
        ("[server]\nthreads = \"four\"\n", "string for a number"),
        ("[server]\ngrace_period = 5\n", "bare number for a duration"),
        ("[server]\ngrace_period = \"-1s\"\n", "negative duration"),
        ("[server]\ngrace_period = \"5 parsecs\"\n", "unknown unit"),
        (
            "[pools.p.health_check]\nkind = \"http\"\n",
            "the Rust name of a renamed key",
        ),
        (
            "[pools.p]\nbalance = \"round-robin\"\n",
            "a value outside a closed set",
        ),
        (
            "[logging]\nlevel = \"warning\"\n",
            "a log level outside the set",
        ),
    ] {
        assert!(
            !errors(&v, bad).is_empty(),
            "{why} passed the schema: {bad}"
        );
    }
    let good = "[server]\ngrace_period = \"1.5s\"\n[pools.p]\nbalance = \"active_passive\"\nprotocol = \"h2\"\n[pools.p.health_check]\ntype = \"grpc\"\ninterval = \"250ms\"\n";
    assert_eq!(errors(&v, good), Vec::<String>::new());
}

#[test]
fn the_duration_pattern_accepts_what_the_parser_accepts() {
    use gatehouse::config::duration::{parse_duration, DURATION_PATTERN};
    let schema = serde_json::json!({ "type": "string", "pattern": DURATION_PATTERN });
    let v = jsonschema::draft7::new(&schema).unwrap();
    for text in [
        "250ms",
        "5s",
        "1.5s",
        "2m",
        "1h",
        "365d",
        "0s",
        " 5s ",
        "5 s",
        ".5s",
        "5.s",
        "",
        "5",
        "s",
        "-1s",
        "1e3s",
        "5 parsecs",
        "5sec",
        "1.2.3s",
        "5ms5",
    ] {
        assert_eq!(
            v.is_valid(&serde_json::json!(text)),
            parse_duration(text).is_ok(),
            "{text:?}"
        );
    }
}
