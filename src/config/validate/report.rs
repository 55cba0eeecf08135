//! [`Report`]: the issues and warnings found so far, each with its key path and line, and the
//! parsing of sections into their serde types.

use crate::config::error::Issue;
use crate::config::spans::{child, SpanIndex};
use indexmap::IndexMap;
use serde::de::DeserializeOwned;

/// Collects issues and warnings, attaching line numbers as they are recorded.
pub(crate) struct Report<'a> {
    spans: &'a SpanIndex,
    issues: Vec<Issue>,
    warnings: Vec<Issue>,
}

impl<'a> Report<'a> {
    pub(super) fn new(spans: &'a SpanIndex) -> Self {
        Report {
            spans,
            issues: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Records an error at `path`.
    pub(crate) fn error(&mut self, path: &str, message: impl Into<String>) {
        let issue = self.issue(path, message.into());
        self.issues.push(issue);
    }

    /// Records a warning at `path`.
    pub(crate) fn warn(&mut self, path: &str, message: impl Into<String>) {
        let issue = self.issue(path, message.into());
        self.warnings.push(issue);
    }

    fn issue(&self, path: &str, message: String) -> Issue {
        Issue {
            path: path.to_string(),
            message,
            line: self.spans.line_of(path),
        }
    }

    pub(super) fn finish(mut self) -> (Vec<Issue>, Vec<Issue>) {
        // File order, so the list reads top to bottom like the file.
        self.issues.sort_by_key(|i| i.line.unwrap_or(usize::MAX));
        (self.issues, self.warnings)
    }

    /// Deserializes one section, recording a precise issue on failure.
    pub(super) fn parse<T: DeserializeOwned>(
        &mut self,
        value: toml::Value,
        path: &str,
    ) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Some(v),
            Err(err) => {
                let inner = err.path().to_string();
                let message = err.inner().to_string();
                let mut full = if inner == "." {
                    path.to_string()
                } else {
                    format!("{path}.{inner}").replace(".[", "[")
                };
                // Point at the unknown field itself (serde sometimes reports it at its parent).
                if let Some(field) = unknown_field(&message) {
                    if !full.ends_with(&format!(".{field}")) {
                        full = child(&full, field);
                    }
                }
                self.error(&full, tidy_serde_message(&message));
                None
            }
        }
    }

    /// Deserializes a table of named entries (`[pools.<name>]`), each on its own, so that a
    /// mistake in one entry does not hide mistakes in the others.
    pub(super) fn parse_named<T: DeserializeOwned>(
        &mut self,
        value: toml::Value,
        path: &str,
        broken: &mut Vec<String>,
    ) -> IndexMap<String, T> {
        let mut out = IndexMap::new();
        let toml::Value::Table(table) = value else {
            self.error(
                path,
                format!("expected a table of named entries, like [{path}.<name>]"),
            );
            return out;
        };
        for (name, entry) in table {
            let entry_path = child(path, &name);
            if !valid_name(&name) {
                self.error(
                    &entry_path,
                    "names may only contain letters, digits, '_', '-' and '.' (they become metric labels and admin URLs)",
                );
            }
            match self.parse(entry, &entry_path) {
                Some(parsed) => {
                    out.insert(name, parsed);
                }
                None => broken.push(name),
            }
        }
        out
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

fn tidy_serde_message(message: &str) -> String {
    // toml's value deserializer appends its own location hints; ours are better.
    let first = message.lines().next().unwrap_or(message);
    if let Some(field) = unknown_field(first) {
        let expected = first
            .split_once(", expected ")
            .map(|(_, e)| format!(" (expected {e})"))
            .unwrap_or_default();
        return format!("unknown key `{field}`{expected}");
    }
    first.to_string()
}
