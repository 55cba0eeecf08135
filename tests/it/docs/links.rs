//! Relative links in `README.md` and `docs/` point at files that exist and at headings that
//! exist; the book's index lists every page; the load kit's insertion point is in place.

use super::markdown;
use std::path::{Component, Path, PathBuf};

/// `[text](target)` targets in a prose line (inline code spans are skipped).
fn targets(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for (i, part) in line.split('`').enumerate() {
        if i % 2 == 1 {
            continue;
        }
        let mut rest = part;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(&after[..end]);
            rest = &after[end..];
        }
    }
    out
}

/// `a/../b` → `b`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

fn broken_links() -> Vec<String> {
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in markdown::doc_files() {
        let text = markdown::read(&file);
        let (_, prose) = markdown::parse(&file, &text);
        for p in &prose {
            for target in targets(p.text) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                checked += 1;
                let (path, anchor) = target.split_once('#').unwrap_or((target, ""));
                let dest = if path.is_empty() {
                    file.clone()
                } else {
                    normalize(&file.parent().unwrap().join(path))
                };
                let place = format!("{}:{}", file.display(), p.line);
                if !markdown::root().join(&dest).exists() {
                    broken.push(format!("{place}: {target}: no file {}", dest.display()));
                    continue;
                }
                if anchor.is_empty() {
                    continue;
                }
                if dest.extension().is_none_or(|e| e != "md") {
                    broken.push(format!(
                        "{place}: {target}: an anchor into a file that is not Markdown"
                    ));
                    continue;
                }
                let dest_text = markdown::read(&dest);
                let (_, dest_prose) = markdown::parse(&dest, &dest_text);
                if !markdown::anchors(&dest_prose).iter().any(|a| a == anchor) {
                    broken.push(format!(
                        "{place}: {target}: no heading #{anchor} in {}",
                        dest.display()
                    ));
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} links found");
    broken
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let broken = broken_links();
    assert!(
        broken.is_empty(),
        "broken links:\n  {}",
        broken.join("\n  ")
    );
}

#[test]
fn the_book_index_lists_every_page() {
    let summary = markdown::read(Path::new("docs/SUMMARY.md"));
    let listed: Vec<&str> = targets(&summary);
    let missing: Vec<String> = markdown::doc_files()
        .into_iter()
        .filter(|f| f.starts_with("docs") && !f.ends_with("SUMMARY.md"))
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|name| !listed.contains(&name.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "pages not in docs/SUMMARY.md: {missing:?}"
    );
}

#[test]
fn the_readme_stays_short() {
    let lines = markdown::read(Path::new("README.md")).lines().count();
    assert!(
        lines <= 200,
        "README.md has {lines} lines; move detail into docs/"
    );
}

/// `benches/load/run --publish` puts its report into the performance page, newest first.
#[test]
fn the_load_kit_publishes_into_the_performance_page() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("performance.md");
    std::fs::copy(markdown::root().join("docs/performance.md"), &page).unwrap();
    let report = dir.path().join("report.md");
    std::fs::write(
        &report,
        "| test | req/s |\n|---|---:|\n| h1 | 1 |\n\nMachine: test.\n",
    )
    .unwrap();
    let out = std::process::Command::new(markdown::root().join("benches/load/publish"))
        .arg(&page)
        .arg(&report)
        .arg("## 2099-01-01 — side by side (test)")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&page).unwrap();
    let new = text
        .find("## 2099-01-01")
        .expect("the report is in the page");
    let first_dated = text.find("\n## 20").expect("a dated section") + 1;
    assert_eq!(
        new, first_dated,
        "the new report is not the first dated section"
    );
    assert!(text[new..].contains("| h1 | 1 |\n\nMachine: test.\n"));
}

#[test]
fn the_link_scanner_reads_links_and_skips_code() {
    assert_eq!(
        targets("see [a](x.md#y) and `[b](not-a-link)` and [c](../d)"),
        ["x.md#y", "../d"]
    );
    assert_eq!(
        normalize(Path::new("docs/../conf/a.toml")),
        PathBuf::from("conf/a.toml")
    );
}
