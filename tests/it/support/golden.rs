//! Golden files of exact bytes, readable in a diff: one file per case, sections of bytes in an
//! escaped text form that round-trips exactly ([`encode`] / [`decode`]).
//!
//! The form: CRLF is a line break; a bare CR or LF, a tab, a backslash and any byte outside
//! printable ASCII are escaped (`\r`, `\n`, `\t`, `\\`, `\xHH`). Each section starts with a
//! `=== title` line and its text is followed by one line break before the next marker (so a
//! head ending in CRLF CRLF shows as a blank line, then the break, then the marker).
//!
//! `GATEHOUSE_BLESS=1` rewrites the files instead of comparing (and deletes the stale ones of
//! the same prefix), so a deliberate change is one run plus a reviewed diff.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Whether this run rewrites golden files.
pub fn blessing() -> bool {
    std::env::var_os("GATEHOUSE_BLESS").is_some_and(|v| v == "1")
}

/// `tests/it/golden/<name>` in the source tree.
pub fn dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/golden")
        .join(name)
}

/// The escaped text form of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + bytes.len() / 8);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                out.push('\n');
                i += 1;
            }
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
        i += 1;
    }
    out
}

/// The bytes of an [`encode`]d text.
pub fn decode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.bytes();
    while let Some(c) = chars.next() {
        match c {
            b'\n' => out.extend_from_slice(b"\r\n"),
            b'\\' => match chars.next() {
                Some(b'r') => out.push(b'\r'),
                Some(b'n') => out.push(b'\n'),
                Some(b't') => out.push(b'\t'),
                Some(b'\\') => out.push(b'\\'),
                Some(b'x') => {
                    let hex = [chars.next().unwrap(), chars.next().unwrap()];
                    let hex = std::str::from_utf8(&hex).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                }
                other => panic!("bad escape {other:?} in a golden file"),
            },
            c => out.push(c),
        }
    }
    out
}

/// A golden file's text: each `(title, bytes)` as a section.
pub fn render(sections: &[(&str, &[u8])]) -> String {
    let mut out = String::new();
    for (title, bytes) in sections {
        out.push_str("=== ");
        out.push_str(title);
        out.push('\n');
        out.push_str(&encode(bytes));
        out.push('\n');
    }
    out.push_str("=== end\n");
    out
}

/// The sections of a golden file's text, decoded (the inverse of [`render`]).
pub fn parse(text: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(after) = rest.strip_prefix("=== ") {
        let (title, body) = after.split_once('\n').unwrap_or((after, ""));
        if title == "end" {
            break;
        }
        let end = body.find("\n=== ").expect("a section ends before a marker");
        out.push((title.to_string(), decode(&body[..end])));
        rest = &body[end + 1..];
    }
    out
}

/// The `Date` a scripted backend sends: kept as is (it is not the proxy's clock).
pub const FIXED_DATE: &str = "Mon, 01 Jan 2024 00:00:00 GMT";

/// Replaces what differs from run to run: a generated 32-hex `x-request-id` value, `Date`
/// values (but [`FIXED_DATE`]), and the given ephemeral addresses (by their labels).
pub fn normalise_run(bytes: &[u8], addrs: &[(SocketAddr, &str)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let replaced = placeholder(line, "x-request-id:", "<generated-request-id>", |v| {
            v.len() == 32 && v.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
        .or_else(|| placeholder(line, "date:", "<date>", |v| v != FIXED_DATE.as_bytes()));
        match replaced {
            Some(l) => out.extend_from_slice(&l),
            None => out.extend_from_slice(line),
        }
    }
    let mut text = out;
    for (addr, label) in addrs {
        text = replace_all(&text, addr.to_string().as_bytes(), label.as_bytes());
    }
    text
}

/// `line` (ending in CRLF) with its value replaced when its name is `name` (any case) and
/// `matches` accepts the trimmed value. The name's case and the spacing are kept.
fn placeholder(
    line: &[u8],
    name: &str,
    label: &str,
    matches: impl Fn(&[u8]) -> bool,
) -> Option<Vec<u8>> {
    let body = line.strip_suffix(b"\r\n")?;
    if body.len() < name.len() || !body[..name.len()].eq_ignore_ascii_case(name.as_bytes()) {
        return None;
    }
    let value = &body[name.len()..];
    let trimmed = value.trim_ascii();
    if !matches(trimmed) || trimmed.is_empty() {
        return None;
    }
    let lead = value.len() - value.trim_ascii_start().len();
    let mut out = body[..name.len() + lead].to_vec();
    out.extend_from_slice(label.as_bytes());
    out.extend_from_slice(b"\r\n");
    Some(out)
}

fn replace_all(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// Compares (or, when blessing, writes) the golden files of one test: `cases` are
/// `(file stem, text)`; every stem starts with `prefix`. Returns the mismatches, described.
pub fn check_all(dir: &Path, prefix: &str, cases: &[(String, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    let stems: BTreeSet<&str> = cases.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(stems.len(), cases.len(), "case names are unique");
    if blessing() {
        std::fs::create_dir_all(dir).unwrap();
    }
    for (stem, text) in cases {
        assert!(stem.starts_with(prefix), "{stem} starts with {prefix}");
        let path = dir.join(format!("{stem}.txt"));
        if blessing() {
            std::fs::write(&path, text).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(golden) if golden == *text => {}
            Ok(golden) => problems.push(format!(
                "{stem}: differs from {}\n--- golden\n{golden}--- now\n{text}",
                path.display()
            )),
            Err(e) => problems.push(format!(
                "{stem}: no golden file {} ({e}); run with GATEHOUSE_BLESS=1 and review it",
                path.display()
            )),
        }
    }
    // Files of this prefix that no case writes any more.
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".txt") else {
            continue;
        };
        if stem.starts_with(prefix) && !stems.contains(stem) {
            if blessing() {
                std::fs::remove_file(entry.path()).unwrap();
            } else {
                problems.push(format!("{name}: stale golden file (no such case)"));
            }
        }
    }
    problems
}
