//! [`Report`]: the issues and warnings found so far, each with its key path and line.
//!
//! Parsing ([`super::lenient`]) leaves refused values out and carries on, so the validators
//! see a section with those keys absent. The report remembers what was left out for two
//! reasons: to keep paths true to the file (an array element left out shifts the indices of
//! the ones after it), and to drop follow-on messages about a value that is absent only
//! because it was refused (`address` "missing" after `address = 5` was reported).

use crate::config::error::Issue;
use crate::config::spans::SpanIndex;
use std::collections::HashMap;
use std::fmt::Write as _;

/// Collects issues and warnings, attaching line numbers as they are recorded.
pub(crate) struct Report<'a> {
    spans: &'a SpanIndex,
    /// With the byte offset of their key, to list them in file order.
    issues: Vec<(Option<usize>, Issue)>,
    warnings: Vec<Issue>,
    /// Paths (as in the file) of values refused while parsing and left out, and of absent keys
    /// that a misspelt key was probably meant to be.
    refused: Vec<String>,
    /// Array elements left out while parsing: array path (as in the file) → their indices in
    /// the file, ascending.
    removed: HashMap<String, Vec<usize>>,
}

impl<'a> Report<'a> {
    pub(super) fn new(spans: &'a SpanIndex) -> Self {
        Report {
            spans,
            issues: Vec::new(),
            warnings: Vec::new(),
            refused: Vec::new(),
            removed: HashMap::new(),
        }
    }

    /// Records an error at `path`, unless it is about a value already refused while parsing.
    pub(crate) fn error(&mut self, path: &str, message: impl Into<String>) {
        if let Some(issue) = self.follow_up(path, message.into()) {
            self.issues.push((self.spans.offset_of(&issue.path), issue));
        }
    }

    /// Records a warning at `path`, unless it is about a value already refused while parsing.
    pub(crate) fn warn(&mut self, path: &str, message: impl Into<String>) {
        if let Some(issue) = self.follow_up(path, message.into()) {
            self.warnings.push(issue);
        }
    }

    /// Whether a value at, under or above `path` was refused while parsing: a check that
    /// depends on it would judge a default the file never chose, so it is skipped.
    pub(crate) fn refused(&self, path: &str) -> bool {
        let path = self.in_file(path);
        self.refused
            .iter()
            .any(|r| within(r, &path) || within(&path, r))
    }

    /// `path` with array indices as they are in the file (validators see arrays with refused
    /// elements left out). Used for paths inside messages, e.g. "already pools.x.backends[2]".
    pub(crate) fn in_file(&self, path: &str) -> String {
        if self.removed.is_empty() {
            return path.to_string();
        }
        let mut out = String::with_capacity(path.len());
        let mut rest = path;
        while let Some(open) = rest.find('[') {
            let Some(len) = rest[open..].find(']') else {
                break;
            };
            out.push_str(&rest[..open]);
            match rest[open + 1..open + len].parse::<usize>() {
                Ok(i) => {
                    let i = self.original_index(&out, i);
                    let _ = write!(out, "[{i}]");
                }
                Err(_) => out.push_str(&rest[open..=open + len]),
            }
            rest = &rest[open + len + 1..];
        }
        out.push_str(rest);
        out
    }

    /// Records a value refused while parsing; `path` is as in the file.
    pub(super) fn refuse(&mut self, path: String, message: String) {
        let issue = Issue {
            line: self.spans.line_of(&path),
            path: path.clone(),
            message,
        };
        self.issues.push((self.spans.offset_of(&path), issue));
        self.refused.push(path);
    }

    /// Notes that an unknown key, reported with "did you mean", was probably meant to be the
    /// absent key at `path` (as in the file): its value counts as refused, so `adress = …` is
    /// not followed by "`address` is missing", nor `protcol = "https"` by checks that assume
    /// the default protocol.
    pub(super) fn note_misspelt(&mut self, path: String) {
        self.refused.push(path);
    }

    /// Notes that element `index` (as in the file) of the array at `array` (as in the file)
    /// was left out.
    pub(super) fn note_removed(&mut self, array: String, index: usize) {
        let removed = self.removed.entry(array).or_default();
        let at = removed.partition_point(|&r| r < index);
        removed.insert(at, index);
    }

    /// The index in the file of element `i` of the parsed array at `array` (as in the file).
    pub(super) fn original_index(&self, array: &str, i: usize) -> usize {
        let mut original = i;
        for &r in self.removed.get(array).into_iter().flatten() {
            if r <= original {
                original += 1;
            } else {
                break;
            }
        }
        original
    }

    fn follow_up(&self, path: &str, message: String) -> Option<Issue> {
        let path = self.in_file(path);
        if self.refused.iter().any(|r| within(&path, r)) {
            return None;
        }
        Some(Issue {
            line: self.spans.line_of(&path),
            path,
            message,
        })
    }

    pub(super) fn finish(mut self) -> (Vec<Issue>, Vec<Issue>) {
        // File order, so the list reads top to bottom like the file.
        self.issues
            .sort_by_key(|(offset, _)| offset.unwrap_or(usize::MAX));
        let issues = self.issues.into_iter().map(|(_, i)| i).collect();
        (issues, self.warnings)
    }
}

/// Whether `path` is `ancestor` or lies under it.
fn within(path: &str, ancestor: &str) -> bool {
    path.strip_prefix(ancestor)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_keep_file_indices_after_elements_are_left_out() {
        let spans = SpanIndex::default();
        let mut report = Report::new(&spans);
        report.note_removed("p.b".into(), 0);
        report.note_removed("p.b".into(), 2);
        // File: b[0] (out), b[1], b[2] (out), b[3]; parsed: b[0] = file b[1], b[1] = file b[3].
        assert_eq!(report.in_file("p.b[0].x"), "p.b[1].x");
        assert_eq!(report.in_file("p.b[1]"), "p.b[3]");
        report.note_removed("p.b[3].h".into(), 0);
        assert_eq!(report.in_file("p.b[1].h[0]"), "p.b[3].h[1]");
        assert_eq!(report.in_file("p.c[0]"), "p.c[0]");
    }

    #[test]
    fn follow_ups_of_refused_values_are_dropped() {
        let spans = SpanIndex::default();
        let mut report = Report::new(&spans);
        report.refuse("l.a.address".into(), "invalid type".into());
        report.error("l.a.address", "missing key `address`");
        report.error("l.a.address2", "unrelated");
        report.warn("l.a.address.x", "under it");
        assert!(report.refused("l.a"));
        assert!(!report.refused("l.b"));
        let (issues, warnings) = report.finish();
        let paths: Vec<&str> = issues.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(paths, ["l.a.address", "l.a.address2"]);
        assert!(warnings.is_empty());
    }
}
