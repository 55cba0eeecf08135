//! Every deadline and wall-clock upper bound in these tests goes through the patience factor
//! ([`crate::support::patient`], `GATEHOUSE_TEST_PATIENCE`): a bound that does not is flagged
//! here, by file and line, so a slow machine never meets one that was forgotten.
//!
//! The check reads the test sources with comments and string literals blanked out and flags
//! a duration (`Duration::from_*(..)` or a `const ..: Duration`) that is not wrapped in
//! `patient(..)` where it is:
//! - the limit of a `timeout(..)`/`recv_timeout(..)`,
//! - the right-hand side of `<`/`<=` (or the left-hand side of `>`/`>=`): an upper bound,
//! - added to `Instant::now()`: a deadline,
//! - the `sleep(..)` of a `select!` arm that panics: a deadline,
//! - the last argument of `ctl::call(..)`: its timeout.
//!
//! A `timeout(..)` whose limit is a name passes only if that name is bound with `let` to an
//! expression through `patient(..)` in the same file. Lower bounds, pacing sleeps and
//! durations written into a config are not bounds and are left alone. Bounds on plain numbers
//! (`duration_ms < 10_000.0`) are out of its reach: write them through `patient(..)` too.

use std::path::{Path, PathBuf};

/// Bounds known to be unscaled in files another branch is rewriting, as (file, rule, the bound's
/// text with whitespace collapsed). An entry that no longer matches anything fails the check, so
/// the list only shrinks.
const KNOWN: &[(&str, &str, &str)] = &[];

/// One flagged bound.
#[derive(Debug, PartialEq)]
struct Finding {
    line: usize,
    rule: &'static str,
    text: String,
}

/// `source` with the contents of comments and of string and char literals replaced by spaces
/// (newlines kept, so offsets keep their line numbers).
fn blank_comments_and_strings(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                out.push(blank(chars[i]));
                i += 1;
            }
            out.push_str("  ");
            i += 2;
        } else if c == 'r' && (next == Some('#') || next == Some('"')) && !ident(prev(&chars, i)) {
            // A raw string: r"..." or r#"..."#, as many # as opened it.
            let mut j = i + 1;
            while chars.get(j) == Some(&'#') {
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let hashes = j - i - 1;
            out.push('"');
            j += 1;
            while j < chars.len() {
                if chars[j] == '"' && (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) {
                    break;
                }
                out.push(blank(chars[j]));
                j += 1;
            }
            out.push('"');
            i = j + 1 + hashes;
        } else if c == '"' {
            out.push('"');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if let Some(&c) = chars.get(i) {
                    out.push(blank(c));
                }
                i += 1;
            }
            out.push('"');
            i += 1;
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            out.push_str("' '");
            i += 3;
        } else if c == '\'' && next == Some('\\') {
            // '\n', '\'', '\x00', '\u{..}': up to the closing quote.
            out.push_str("' ");
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                out.push(' ');
                i += 1;
            }
            out.push('\'');
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn prev(chars: &[char], i: usize) -> char {
    if i == 0 {
        ' '
    } else {
        chars[i - 1]
    }
}

fn ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The names of `const NAME: Duration` items in `code`.
fn duration_consts(code: &str) -> Vec<String> {
    code.match_indices("const ")
        .filter_map(|(at, _)| {
            let rest = &code[at + 6..];
            let (name, ty) = rest.split_once(':')?;
            let ty = ty.trim_start();
            (ty.starts_with("Duration") || ty.starts_with("std::time::Duration"))
                .then(|| name.trim().to_string())
        })
        .collect()
}

/// The expression that starts at `from` and runs forward to the first delimiter outside any
/// brackets (`,` `;` `&&` `||` or a closing bracket of an enclosing expression).
fn forward_operand(code: &str, from: usize) -> &str {
    let bytes = code.as_bytes();
    let mut depth = 0i32;
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' if depth == 0 => break,
            b')' | b']' | b'}' => depth -= 1,
            b',' | b';' if depth == 0 => break,
            b'&' | b'|' if depth == 0 && bytes.get(i + 1) == Some(&bytes[i]) => break,
            b'=' if depth == 0 && bytes.get(i + 1) == Some(&b'>') => break,
            _ => {}
        }
        i += 1;
    }
    &code[from..i]
}

/// The expression that ends at `to`, read backwards to the first delimiter outside brackets.
fn backward_operand(code: &str, to: usize) -> &str {
    let bytes = code.as_bytes();
    let mut depth = 0i32;
    let mut i = to;
    while i > 0 {
        let b = bytes[i - 1];
        match b {
            // A `}` at depth 0 ends the previous statement or block.
            b'}' if depth == 0 => break,
            b')' | b']' | b'}' => depth += 1,
            b'(' | b'[' | b'{' if depth == 0 => break,
            b'(' | b'[' | b'{' => depth -= 1,
            b',' | b';' | b'!' | b'=' if depth == 0 => break,
            b'&' | b'|' if depth == 0 && i >= 2 && bytes[i - 2] == b => break,
            _ => {}
        }
        i -= 1;
    }
    &code[i..to]
}

fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back().unwrap_or(' ');
        let after = text[at + word.len()..].chars().next().unwrap_or(' ');
        !ident(before) && !ident(after)
    })
}

struct Checker {
    consts: Vec<String>,
}

impl Checker {
    /// A duration is spelt out in `expr`.
    fn is_duration(&self, expr: &str) -> bool {
        ["from_secs", "from_millis", "from_micros", "from_nanos"]
            .iter()
            .any(|f| expr.contains(f))
            || self.consts.iter().any(|c| has_word(expr, c))
    }

    /// Every unscaled bound in one file's source.
    fn check(&self, source: &str) -> Vec<Finding> {
        let code = blank_comments_and_strings(source);
        let line = |at: usize| code[..at].matches('\n').count() + 1;
        let scaled_names: Vec<&str> = code
            .match_indices("let ")
            .filter(|(at, _)| *at == 0 || !ident(code.as_bytes()[at - 1] as char))
            .filter_map(|(at, _)| {
                let rest = &code[at + 4..];
                let (name, value) = rest.split_once('=')?;
                let name = name.trim().trim_start_matches("mut ").trim();
                let value = forward_operand(rest, rest.len() - value.len());
                (name.chars().all(ident) && value.contains("patient(")).then_some(name)
            })
            .collect();
        let scaled = |expr: &str| {
            let e = expr.trim();
            e.contains("patient(") || scaled_names.contains(&e)
        };
        let mut found = Vec::new();
        let mut flag = |at: usize, rule: &'static str, expr: &str| {
            found.push(Finding {
                line: line(at),
                rule,
                text: expr.split_whitespace().collect::<Vec<_>>().join(" "),
            });
        };
        let bytes = code.as_bytes();
        for (at, _) in code.match_indices("timeout(") {
            if at > 0 && ident(bytes[at - 1] as char) && !code[..at].ends_with("recv_") {
                continue;
            }
            let limit = forward_operand(&code, at + "timeout(".len());
            if !scaled(limit) {
                flag(at, "timeout limit", limit);
            }
        }
        for (at, op) in code.match_indices(['<', '>']) {
            let prev_ws = at > 0 && (bytes[at - 1] as char).is_whitespace();
            let eq = bytes.get(at + 1) == Some(&b'=');
            let after = at + 1 + usize::from(eq);
            let next_ws = bytes
                .get(after)
                .is_some_and(|b| (*b as char).is_whitespace());
            if !(prev_ws && next_ws) {
                continue;
            }
            if op == "<" {
                let bound = forward_operand(&code, after);
                if self.is_duration(bound) && !scaled(bound) {
                    flag(at, "upper bound", bound);
                }
            } else {
                let bound = backward_operand(&code, at);
                if self.is_duration(bound) && !scaled(bound) {
                    flag(at, "upper bound", bound);
                }
            }
        }
        for (at, m) in code.match_indices("Instant::now()") {
            let rest = code[at + m.len()..].trim_start();
            if let Some(added) = rest.strip_prefix('+') {
                let start = code.len() - added.len();
                let limit = forward_operand(&code, start);
                if !scaled(limit) {
                    flag(at, "deadline", limit);
                }
            }
        }
        for (at, m) in code.match_indices("sleep(") {
            let start = at + m.len();
            let limit = forward_operand(&code, start);
            let rest = code[start + limit.len()..]
                .trim_start_matches(')')
                .trim_start();
            let panics = rest
                .strip_prefix("=>")
                .map(|r| r.trim_start().trim_start_matches('{').trim_start())
                .is_some_and(|r| r.starts_with("panic!"));
            if panics && !scaled(limit) {
                flag(at, "select deadline", limit);
            }
        }
        for (at, m) in code.match_indices("ctl::call(") {
            // The last argument that is not empty (rustfmt may leave a trailing comma).
            let mut from = at + m.len();
            let mut last = "";
            loop {
                let arg = forward_operand(&code, from);
                if !arg.trim().is_empty() {
                    last = arg;
                }
                from += arg.len();
                if bytes.get(from) != Some(&b',') {
                    break;
                }
                from += 1;
            }
            if !scaled(last) {
                flag(at, "ctl::call timeout", last);
            }
        }
        found.sort_by_key(|f| f.line);
        found
    }
}

/// Every `.rs` file under `dir`, recursively.
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

#[test]
fn every_deadline_and_upper_bound_in_the_tests_goes_through_patient() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    let this = Path::new(file!()).file_name().unwrap();
    let sources: Vec<(String, String)> = files
        .iter()
        .filter(|p| !(p.parent() == Some(&root) && p.file_name() == Some(this)))
        .map(|p| {
            let name = p.strip_prefix(&root).unwrap().display().to_string();
            (name, std::fs::read_to_string(p).unwrap())
        })
        .collect();
    assert!(sources.len() > 20, "found the test sources under {root:?}");
    let checker = Checker {
        consts: sources
            .iter()
            .flat_map(|(_, s)| duration_consts(&blank_comments_and_strings(s)))
            .collect(),
    };
    assert!(
        checker.consts.iter().any(|c| c == "WAIT"),
        "{:?}",
        checker.consts
    );
    let mut unscaled = Vec::new();
    let mut known_seen = vec![false; KNOWN.len()];
    for (name, source) in &sources {
        for f in checker.check(source) {
            let key = (name.as_str(), f.rule, f.text.as_str());
            match KNOWN.iter().position(|k| *k == key) {
                Some(k) => known_seen[k] = true,
                None => unscaled.push(format!("{name}:{}: {}: `{}`", f.line, f.rule, f.text)),
            }
        }
    }
    assert!(
        unscaled.is_empty(),
        "bounds that do not scale with {} (wrap them in `patient(..)`):\n  {}",
        crate::support::patience::VAR,
        unscaled.join("\n  ")
    );
    for (k, seen) in KNOWN.iter().zip(known_seen) {
        assert!(seen, "{k:?} is scaled now: remove it from KNOWN");
    }
}

#[test]
fn the_check_flags_unscaled_bounds_and_nothing_else() {
    let checker = Checker {
        consts: vec!["SECOND".into(), "WAIT".into()],
    };
    let flagged = r#"
async fn t() {
    let _ = tokio::time::timeout(Duration::from_secs(1), f).await;
    assert!(started.elapsed() < Duration::from_secs(3), "slow");
    assert!(
        took
            < 2 * SECOND,
        "slow: {took:?}"
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs(10)) => panic!("never"),
    }
    gatehouse::ctl::call(&e, "GET", "/", Duration::from_secs(2));
    assert!(Duration::from_millis(500) >= took);
    let _ = rx.recv_timeout(WAIT);
    gatehouse::ctl::call(
        &endpoint,
        "GET",
        std::time::Duration::from_secs(2),
    )
}
"#;
    let found: Vec<(usize, &str)> = checker
        .check(flagged)
        .iter()
        .map(|f| (f.line, f.rule))
        .collect();
    assert_eq!(
        found,
        [
            (3, "timeout limit"),
            (4, "upper bound"),
            (7, "upper bound"),
            (10, "deadline"),
            (12, "select deadline"),
            (14, "ctl::call timeout"),
            (15, "upper bound"),
            (16, "timeout limit"),
            (17, "ctl::call timeout"),
        ]
    );
    let fine = r##"
async fn idle_connections_are_closed_after_the_keepalive_timeout() -> Vec<Duration> {
    let limit = crate::support::patient(WAIT);
    let _ = tokio::time::timeout(limit, f).await;
    let _ = tokio::time::timeout(patient(Duration::from_secs(1)), f).await;
    assert!(e >= Duration::from_millis(900) && e < patient(4 * SECOND), "cut");
    assert!(started.elapsed() > Duration::from_secs(5), "a lower bound");
    let deadline = tokio::time::Instant::now() + crate::support::patient(WAIT);
    let since = Instant::now() - Duration::from_millis(400);
    tokio::time::sleep(Duration::from_millis(200)).await;
    tokio::select! {
        _ = tokio::time::sleep(patient(Duration::from_secs(10))) => panic!("never"),
        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
    }
    // assert!(e < Duration::from_secs(1)); in a comment
    let s = "e < Duration::from_secs(1), timeout(WAIT)";
    let r = r#"timeout(SECOND, x)"#;
    let x = 16 << 20;
    let c = '<';
    gatehouse::ctl::call(&e, "GET", "/", patient(Duration::from_secs(2)));
    assert!(n < 50 && sent < 16 << 20);
    let cut = loop {
        match tokio::time::timeout(patient(SECOND), c.write_all(&cont)).await {
            Ok(Ok(())) => sent += cont.len(),
            other => break format!("{other:?}"),
        }
        if sent > 16 << 20 {
            break;
        }
    };
}
"##;
    assert_eq!(checker.check(fine), []);
}
