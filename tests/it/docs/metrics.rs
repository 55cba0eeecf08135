//! Metric names in the docs against `src/metrics/names.rs`, both ways.

use super::markdown;
use std::collections::BTreeSet;
use std::path::Path;

const OBSERVABILITY: &str = "docs/observability.md";

/// `gatehouse_…` words in the docs that are not metrics: the sticky-session cookie's default
/// name.
const NOT_METRICS: &[&str] = &["gatehouse_sticky"];

/// Every metric name `names.rs` defines: its string literals that start with `gatehouse_`
/// (label keys and values there do not).
fn defined() -> BTreeSet<String> {
    let text = std::fs::read_to_string(markdown::root().join("src/metrics/names.rs")).unwrap();
    let names: BTreeSet<String> = text
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with("gatehouse_"))
        .map(String::from)
        .collect();
    assert!(names.len() > 40, "names.rs yielded only {names:?}");
    names
}

/// `gatehouse_` words in a text, each as written (a family written `gatehouse_route_*` keeps
/// its `*`). A word must start there: `…_active_gatehouse_dies` is not one.
fn words(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("gatehouse_") {
        let start = from + at;
        let mut end = start + "gatehouse_".len();
        while end < bytes.len()
            && (bytes[end].is_ascii_lowercase()
                || bytes[end].is_ascii_digit()
                || bytes[end] == b'_')
        {
            end += 1;
        }
        let glued =
            start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let letter = bytes
            .get(start + "gatehouse_".len())
            .is_some_and(u8::is_ascii_lowercase);
        if !glued && letter {
            let star = bytes.get(end) == Some(&b'*');
            out.push(format!(
                "{}{}",
                &text[start..end],
                if star { "*" } else { "" }
            ));
        }
        from = end;
    }
    out
}

/// Whether a word from the docs names something `names.rs` defines: a metric, one of a
/// histogram's series, or a family prefix.
fn exists(word: &str, names: &BTreeSet<String>) -> bool {
    if let Some(prefix) = word.strip_suffix('*') {
        return names.iter().any(|n| n.starts_with(prefix));
    }
    names.contains(word)
        || ["_bucket", "_sum", "_count"].iter().any(|s| {
            word.strip_suffix(s)
                .is_some_and(|base| names.contains(base))
        })
        || NOT_METRICS.contains(&word)
}

/// Metric names in the first cell of the table rows of a page.
fn table_rows(text: &str) -> BTreeSet<String> {
    let (_, prose) = markdown::parse(Path::new(OBSERVABILITY), text);
    prose
        .iter()
        .filter(|p| p.text.starts_with("| `gatehouse_"))
        .flat_map(|p| {
            words(
                p.text
                    .trim_start_matches('|')
                    .split(" | ")
                    .next()
                    .unwrap_or(""),
            )
        })
        .collect()
}

#[test]
fn every_metric_has_a_row_in_the_observability_chapter() {
    let names = defined();
    let rows = table_rows(&markdown::read(Path::new(OBSERVABILITY)));
    let missing: Vec<&String> = names.iter().filter(|n| !rows.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "metrics defined in src/metrics/names.rs without a row in {OBSERVABILITY}'s tables:\n  {}",
        missing
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

#[test]
fn every_metric_the_docs_name_exists() {
    let names = defined();
    let mut unknown = Vec::new();
    let mut seen = 0;
    for file in markdown::doc_files() {
        for (i, line) in markdown::read(&file).lines().enumerate() {
            for word in words(line) {
                seen += 1;
                if !exists(&word, &names) {
                    unknown.push(format!("{}:{}: {word}", file.display(), i + 1));
                }
            }
        }
    }
    assert!(seen > 100, "only {seen} metric names found in the docs");
    assert!(
        unknown.is_empty(),
        "metric names in the docs that src/metrics/names.rs does not define:\n  {}",
        unknown.join("\n  ")
    );
}

#[test]
fn the_metric_word_scanner_finds_what_it_should() {
    assert_eq!(
        words("`gatehouse_backend_up == 0`, the_active_gatehouse_dies, gatehouse_0.1.0.deb, `gatehouse_route_*`"),
        ["gatehouse_backend_up", "gatehouse_route_*"]
    );
    let names: BTreeSet<String> = ["gatehouse_request_duration_seconds".to_string()].into();
    assert!(exists("gatehouse_request_duration_seconds_bucket", &names));
    assert!(!exists("gatehouse_request_duration", &names));
    let rows =
        table_rows("| `gatehouse_a_total`, `gatehouse_b_total` | counter | `gatehouse_c` |\n");
    assert_eq!(
        rows,
        [
            "gatehouse_a_total".to_string(),
            "gatehouse_b_total".to_string()
        ]
        .into()
    );
}
