//! Guard: every label key given to a `metrics` macro comes from [`super::names::label`], so
//! `names.rs` stays the one list of what gatehouse exports. Scans `src/` for `counter!`,
//! `gauge!` and `histogram!` invocations and fails, with file:line, on a string-literal key
//! (`"pool" => …`).

use std::path::{Path, PathBuf};

/// Where a macro invocation in `text` uses a string literal as a label key: 1-based line
/// numbers.
fn literal_keys(text: &str) -> Vec<usize> {
    let key = regex::Regex::new(r#""[^"\\]*"\s*=>"#).expect("a valid pattern");
    let mut found = Vec::new();
    for name in ["counter!(", "gauge!(", "histogram!("] {
        let mut from = 0;
        while let Some(at) = text[from..].find(name) {
            let start = from + at + name.len();
            let body = &text[start..start + invocation_len(&text[start..])];
            if let Some(m) = key.find(body) {
                found.push(text[..start + m.start()].matches('\n').count() + 1);
            }
            from = start;
        }
    }
    found.sort_unstable();
    found
}

/// Length of a macro's arguments up to its closing parenthesis (strings skipped).
fn invocation_len(args: &str) -> usize {
    let mut depth = 1usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in args.char_indices() {
        match (in_string, c) {
            (true, _) if escaped => escaped = false,
            (true, '\\') => escaped = true,
            (true, '"') => in_string = false,
            (true, _) => {}
            (false, '"') => in_string = true,
            (false, '(') => depth += 1,
            (false, ')') => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            (false, _) => {}
        }
    }
    args.len()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_scanner_finds_literal_keys_and_accepts_constants() {
    let bad = concat!(
        "fn f() {\n    counter!(names::X, label::POOL => p,\n        \"",
        "kind\" => k).increment(1);\n}\n"
    );
    assert_eq!(literal_keys(bad), vec![3]);
    let good = "gauge!(names::X, label::POOL => p, label::STATE => \"up => down\").set(1.0);";
    assert!(literal_keys(good).is_empty(), "a value is not a key");
}

#[test]
fn label_keys_come_only_from_names_rs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() > 50, "src/ not found from {}", root.display());
    let this = Path::new(file!());
    let mut offenders = Vec::new();
    for path in files {
        if path.ends_with("metrics/names.rs") || path.ends_with(this) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for line in literal_keys(&text) {
            offenders.push(format!("{}:{line}", path.display()));
        }
    }
    assert!(
        offenders.is_empty(),
        "label keys must be constants from src/metrics/names.rs (names::label), not string literals:\n{}",
        offenders.join("\n")
    );
}
