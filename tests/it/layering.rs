//! Imports point one way: every `crate::`, `super::`, `self::` and child-module path in
//! `src/**/*.rs` is checked against the layer table documented in `src/lib.rs` (the table is
//! parsed here, so the documentation and the check cannot drift).
//!
//! A path is mapped to the *unit* it names: the longest module path placed in the table (most
//! units are top-level modules; a few submodules that sit lower or higher than their parent
//! are placed on their own). A unit may use units on lower layers; units on the same layer may
//! use each other only without forming a cycle; nothing may use a unit on a higher layer.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Upward imports tolerated for now, each with the branch that removes it: `(from, to)` units.
const KNOWN_EXCEPTIONS: &[(&str, &str)] = &[];

/// The layer table from `src/lib.rs`: unit path → layer number.
fn layer_table(lib_rs: &str) -> BTreeMap<String, u32> {
    let mut table = BTreeMap::new();
    for line in lib_rs.lines() {
        let Some(row) = line.trim().strip_prefix("//! |") else {
            continue;
        };
        let mut cells = row.split('|');
        let Some(Ok(layer)) = cells.next().map(|c| c.trim().parse::<u32>()) else {
            continue;
        };
        let modules = cells.next().unwrap_or_default();
        for unit in modules.split('`').skip(1).step_by(2) {
            let previous = table.insert(unit.to_string(), layer);
            assert!(previous.is_none(), "`{unit}` is placed twice in src/lib.rs");
        }
    }
    table
}

/// The module path of a source file (`src/listener/head.rs` → `listener::head`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    parts
}

/// Blanks comments, string and char literals (keeping line breaks), so only code is scanned.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, c: u8| out.push(if c == b'\n' { b'\n' } else { b' ' });
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                out.push(b' ');
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
        } else if b[i] == b'r'
            && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
            && (i == 0 || !is_ident(b[i - 1]))
        {
            // Raw string: r"…", r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(b[i]);
                i += 1;
                continue;
            }
            let mut end = vec![b'"'];
            end.extend(std::iter::repeat_n(b'#', hashes));
            let close = b[j + 1..]
                .windows(end.len())
                .position(|w| w == end.as_slice())
                .map_or(b.len(), |p| j + 1 + p + end.len());
            for &c in &b[i..close] {
                blank(&mut out, c);
            }
            i = close;
        } else if b[i] == b'"' {
            out.push(b' ');
            i += 1;
            while i < b.len() && b[i] != b'"' {
                let n = if b[i] == b'\\' { 2 } else { 1 };
                for k in 0..n {
                    if let Some(&c) = b.get(i + k) {
                        blank(&mut out, c);
                    }
                }
                i += n;
            }
            out.push(b' ');
            i += 1;
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '\u{1F}') — not a lifetime ('a).
            let len = if b.get(i + 1) == Some(&b'\\') {
                b[i + 2..].iter().position(|&c| c == b'\'').map(|p| p + 3)
            } else if b.get(i + 2) == Some(&b'\'') {
                Some(3)
            } else {
                None
            };
            match len {
                Some(n) => {
                    for k in 0..n {
                        blank(&mut out, b[i + k]);
                    }
                    i += n;
                }
                None => {
                    out.push(b[i]);
                    i += 1;
                }
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// One path a file uses: where, and the absolute module path it names.
struct Use {
    line: usize,
    text: String,
    target: Vec<String>,
}

/// Every path in `code` that leaves the file's own module: `crate::…` (also in `use crate::{…}`
/// groups, across lines), `super::…`, `self::…` and paths starting with a child module's name.
fn uses(code: &str, module: &[String], children: &BTreeSet<String>) -> Vec<Use> {
    let b = code.as_bytes();
    let mut found = Vec::new();
    // Inline `mod name {` blocks change what `super` and `self` mean.
    let mut inline: Vec<(usize, String)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'{' => {
                depth += 1;
                i += 1;
                continue;
            }
            b'}' => {
                if inline.last().is_some_and(|(d, _)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
                i += 1;
                continue;
            }
            c if is_ident(c) && (i == 0 || !is_ident(b[i - 1])) => {}
            _ => {
                i += 1;
                continue;
            }
        }
        let start = i;
        while i < b.len() && is_ident(b[i]) {
            i += 1;
        }
        let word = &code[start..i];
        let after_colons = start >= 2 && &b[start - 2..start] == b"::";
        let dollar = start >= 1 && b[start - 1] == b'$';
        if word == "mod" {
            let rest = &code[i..];
            let name: String = rest
                .trim_start()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let tail = rest.trim_start()[name.len()..].trim_start();
            if !name.is_empty() && tail.starts_with('{') {
                inline.push((depth + 1, name));
            }
            continue;
        }
        if after_colons || !code[i..].starts_with("::") {
            continue;
        }
        let mut here: Vec<String> = module.to_vec();
        here.extend(inline.iter().map(|(_, n)| n.clone()));
        let mut base: Vec<String> = match word {
            "crate" => Vec::new(),
            "self" if !dollar => here.clone(),
            "super" if !dollar => {
                let mut m = here.clone();
                let mut j = i;
                m.pop();
                while code[j..].starts_with("::super") {
                    m.pop();
                    j += "::super".len();
                }
                i = j;
                m
            }
            w if inline.is_empty() && children.contains(w) && !dollar => {
                i = start; // the child's name is the first segment
                here.clone()
            }
            _ => continue,
        };
        let line = code[..start].matches('\n').count() + 1;
        // Segments after the base: `::ident` repeated, or a `{…}` group.
        let mut j = i;
        let mut segs = Vec::new();
        if base.len() == here.len() && base == here && word != "self" && word != "super" {
            // child-relative: read the child's name itself
            let s = j;
            while j < b.len() && is_ident(b[j]) {
                j += 1;
            }
            segs.push(code[s..j].to_string());
        }
        loop {
            let rest = &code[j..];
            let trimmed = rest.trim_start_matches(|c: char| c.is_whitespace());
            let Some(after) = trimmed.strip_prefix("::") else {
                break;
            };
            let after_ws = after.trim_start();
            j = code.len() - after_ws.len();
            if after_ws.starts_with('{') {
                // A group: each top-level item names its own first segment.
                let mut d = 0;
                let mut item = String::new();
                let mut items = Vec::new();
                for (k, c) in after_ws.char_indices() {
                    match c {
                        '{' => {
                            d += 1;
                            if d == 1 {
                                continue;
                            }
                        }
                        '}' => {
                            d -= 1;
                            if d == 0 {
                                items.push(std::mem::take(&mut item));
                                j += k + 1;
                                break;
                            }
                        }
                        ',' if d == 1 => {
                            items.push(std::mem::take(&mut item));
                            continue;
                        }
                        _ => {}
                    }
                    item.push(c);
                }
                for it in items {
                    let first: String = it
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if first.is_empty() {
                        continue;
                    }
                    let mut target = base.clone();
                    target.extend(segs.iter().cloned());
                    if first != "self" {
                        target.push(first);
                    }
                    found.push(Use {
                        line,
                        text: format!("{word}::{}{{{}}}", join_tail(&segs), it.trim()),
                        target,
                    });
                }
                segs.clear();
                break;
            }
            let s = j;
            while j < b.len() && is_ident(b[j]) {
                j += 1;
            }
            if s == j {
                break;
            }
            segs.push(code[s..j].to_string());
        }
        if !segs.is_empty() {
            let text = if base == here && word != "self" && word != "super" {
                segs.join("::")
            } else {
                format!("{word}::{}", segs.join("::"))
            };
            base.extend(segs);
            found.push(Use {
                line,
                text,
                target: base,
            });
        }
        i = j.max(i);
    }
    found
}

fn join_tail(segs: &[String]) -> String {
    segs.iter().map(|s| format!("{s}::")).collect()
}

/// The placed unit a module path belongs to: its longest prefix in the table.
fn unit_of<'t>(table: &'t BTreeMap<String, u32>, path: &[String]) -> Option<&'t str> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find_map(|p| table.get_key_value(&p).map(|(k, _)| k.as_str()))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Child modules a file can name by a bare first segment: files and directories next to it
/// (for `mod.rs`/`lib.rs`) or in its own directory (for `name.rs`).
fn children_of(file: &Path) -> BTreeSet<String> {
    let dir = match file.file_stem().and_then(|s| s.to_str()) {
        Some("mod") | Some("lib") | Some("main") => file.parent().unwrap().to_path_buf(),
        Some(stem) => file.parent().unwrap().join(stem),
        None => return BTreeSet::new(),
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return BTreeSet::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let p = e.path();
            let name = p.file_stem()?.to_str()?.to_string();
            (p.is_dir() || p.extension().is_some_and(|x| x == "rs")).then_some(name)
        })
        .filter(|n| n != "mod")
        .collect()
}

/// Every violation in the tree under `src`, as `file:line: text` messages.
fn violations(src: &Path, exceptions: &[(&str, &str)]) -> Vec<String> {
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let table = layer_table(&lib);
    let mut problems = Vec::new();
    if table.is_empty() {
        problems.push("src/lib.rs: no layer table (`//! | N | `module`, … |` rows)".to_string());
        return problems;
    }
    // Every top-level module is placed, and every placed unit exists.
    let declared: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_string())
        .collect();
    for m in &declared {
        if !table.contains_key(m) {
            problems.push(format!(
                "src/lib.rs: module `{m}` is not placed in the layer table"
            ));
        }
    }
    for unit in table.keys() {
        let parts: Vec<&str> = unit.split("::").collect();
        let base = src.join(parts.join("/"));
        if !declared.contains(parts[0]) || !(base.with_extension("rs").is_file() || base.is_dir()) {
            problems.push(format!(
                "src/lib.rs: the layer table places `{unit}`, which is not a module"
            ));
        }
    }
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    // unit → unit, with one example import, for the cycle check.
    let mut edges: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut used_exceptions = BTreeSet::new();
    for file in &files {
        let rel = file.strip_prefix(src).unwrap();
        let first = rel.iter().next().unwrap().to_string_lossy();
        // Binaries are their own crates: `crate::` there is not the library.
        if first == "bin" || first == "main.rs" || first == "lib.rs" {
            continue;
        }
        let module = module_of(src, file);
        let Some(from) = unit_of(&table, &module) else {
            continue; // reported above: its top-level module is not placed
        };
        let code = code_only(&std::fs::read_to_string(file).unwrap());
        for u in uses(&code, &module, &children_of(file)) {
            let shown = format!("src/{}:{}: `{}`", rel.display(), u.line, u.text);
            if u.target.is_empty() {
                continue; // `crate::{…}` item at the root: macros exported by lib.rs
            }
            let Some(to) = unit_of(&table, &u.target) else {
                if declared.contains(&u.target[0]) {
                    problems.push(format!("{shown} names an unplaced module"));
                }
                continue; // a macro or item at the crate root
            };
            if to == from {
                continue;
            }
            if exceptions.contains(&(from, to)) {
                used_exceptions.insert((from, to));
                continue;
            }
            let (lf, lt) = (table[from], table[to]);
            if lt > lf {
                problems.push(format!(
                    "{shown}: `{from}` (layer {lf}) uses `{to}` (layer {lt}), a higher layer"
                ));
            } else if lt == lf {
                edges
                    .entry((from.to_string(), to.to_string()))
                    .or_insert(shown);
            }
        }
    }
    for e in exceptions {
        if !used_exceptions.contains(e) {
            problems.push(format!(
                "known exception `{}` → `{}` no longer occurs: delete it from KNOWN_EXCEPTIONS",
                e.0, e.1
            ));
        }
    }
    // Same-layer imports must not form a cycle.
    let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in edges.keys() {
        graph.entry(a).or_default().push(b);
    }
    for start in graph.keys() {
        let mut stack = vec![(*start, vec![*start])];
        let mut seen = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for next in graph.get(node).into_iter().flatten() {
                if next == start {
                    let mut msg = format!("import cycle {} → {start}:", path.join(" → "));
                    let mut ring = path.clone();
                    ring.push(start);
                    for w in ring.windows(2) {
                        let _ = write!(
                            msg,
                            "\n    {}",
                            edges[&(w[0].to_string(), w[1].to_string())]
                        );
                    }
                    if path.iter().min() == Some(start) {
                        problems.push(msg);
                    }
                } else if seen.insert(*next) {
                    let mut p = path.clone();
                    p.push(next);
                    stack.push((next, p));
                }
            }
        }
    }
    problems
}

fn src_dir() -> PathBuf {
    Path::new(option_env!("CARGO_MANIFEST_DIR").unwrap_or(".")).join("src")
}

#[test]
fn imports_point_down_the_documented_layers() {
    let problems = violations(&src_dir(), KNOWN_EXCEPTIONS);
    assert!(
        problems.is_empty(),
        "imports that break the layer order documented in src/lib.rs:\n{}",
        problems.join("\n")
    );
}

/// The check itself catches what it is for: an upward import, an inline upward path, a
/// `super::` climbing out of a unit, a same-layer cycle and an unplaced module.
#[test]
fn the_layer_check_fails_on_upward_imports_and_cycles() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    for d in ["low", "mid", "high", "high/inner", "peer"] {
        std::fs::create_dir_all(src.join(d)).unwrap();
    }
    let write = |p: &str, t: &str| std::fs::write(src.join(p), t).unwrap();
    write(
        "lib.rs",
        "//! | layer | modules |\n//! |---|---|\n//! | 1 | `low`, `peer` |\n//! | 2 | `mid`, `high::inner` |\n//! | 3 | `high` |\npub mod low;\npub mod mid;\npub mod high;\npub mod peer;\npub mod stray;\n",
    );
    write(
        "low/mod.rs",
        "use crate::mid::Thing;\nfn f() { let _ = \"crate::high::x\"; crate::high::run(); }\n// crate::high::comment\nuse crate::peer::P;\n",
    );
    write("peer/mod.rs", "use crate::{\n    low::L,\n};\n");
    write("mid/mod.rs", "use crate::low::L;\n");
    write(
        "high/mod.rs",
        "pub mod inner;\nuse crate::mid::M;\nuse inner::I;\n",
    );
    write(
        "high/inner/mod.rs",
        "use super::Up;\nmod tests { use super::*; }\n",
    );
    write("stray.rs", "");
    let problems = violations(&src, &[]);
    let text = problems.join("\n");
    let expect = [
        "src/low/mod.rs:1: `crate::mid::Thing`: `low` (layer 1) uses `mid` (layer 2)",
        "src/low/mod.rs:2: `crate::high::run`: `low` (layer 1) uses `high` (layer 3)",
        "src/high/inner/mod.rs:1: `super::Up`: `high::inner` (layer 2) uses `high` (layer 3)",
        "import cycle low → peer → low:",
        "module `stray` is not placed",
    ];
    for e in expect {
        assert!(text.contains(e), "missing {e:?} in:\n{text}");
    }
    assert_eq!(
        problems.len(),
        expect.len(),
        "unexpected extra findings:\n{text}"
    );
}
