//! Parsing a section into its serde type without letting one bad value hide the rest.
//!
//! The raw types deny unknown fields and serde stops at the first error, which used to drop the
//! whole section: its other problems went unreported and later checks misled ("no listeners",
//! "unknown pool" for a pool that exists). Here each error is reported with its key path, the
//! offending key (or array element) is taken out of the TOML value, and deserialization runs
//! again, until the rest parses. Every field of the raw types is optional, so what is left
//! always parses; required keys are checked by the validators, which see the refused ones as
//! absent and whose follow-on messages about them [`Report`] drops.
//!
//! The valid keys offered in "did you mean" come from serde's own "expected one of …" message,
//! i.e. from the raw types, so they cannot drift from what the parser accepts.

use super::suggest::closest;
use super::Report;
use crate::config::spans::{child, index};
use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

/// The entries of a table of named entries (`[pools.<name>]`) as parsed.
pub(super) struct Named<T> {
    /// Entries that parsed (possibly with some keys refused).
    pub(super) entries: IndexMap<String, T>,
    /// Entries present in the file that are not a table at all (already reported): a reference
    /// to one is not "unknown", and the section is not empty.
    pub(super) unreadable: Vec<String>,
}

impl<T> Default for Named<T> {
    fn default() -> Self {
        Named {
            entries: IndexMap::new(),
            unreadable: Vec::new(),
        }
    }
}

impl<T> Named<T> {
    /// Whether the file has no entry at all, readable or not.
    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.unreadable.is_empty()
    }
}

/// Refused values after which a table is given up (see [`Report::parse`]).
const MAX_REFUSED_PER_TABLE: usize = 100;

/// One step of a path into a TOML value.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

impl Report<'_> {
    /// Deserializes one section (or entry) at `path`, reporting every refused value and
    /// leaving it out. `None` only when the value itself is unusable (not a table), or has
    /// more than [`MAX_REFUSED_PER_TABLE`] problems.
    pub(super) fn parse<T: DeserializeOwned>(
        &mut self,
        mut value: toml::Value,
        path: &str,
    ) -> Option<T> {
        // Each round removes one node from `value`, so this ends; the cap keeps a pathological
        // file (thousands of bad elements, each costing a full retry) from taking quadratic
        // time, at the price of one unlisted remainder.
        for _ in 0..MAX_REFUSED_PER_TABLE {
            let err = match serde_path_to_error::deserialize::<_, T>(value.clone()) {
                Ok(parsed) => return Some(parsed),
                Err(err) => err,
            };
            let message = first_line(&err.inner().to_string()).to_string();
            let mut steps: Vec<Step> = Vec::new();
            for segment in err.path() {
                match segment {
                    Segment::Map { key } => steps.push(Step::Key(key.clone())),
                    Segment::Seq { index } => steps.push(Step::Index(*index)),
                    _ => break,
                }
            }
            // serde reports an unknown field at its table; point at the key itself.
            if let Some(field) = unknown_field(&message) {
                if steps.last() != Some(&Step::Key(field.to_string())) {
                    steps.push(Step::Key(field.to_string()));
                }
            }
            let depth = removable_depth(&value, &steps);
            steps.truncate(depth);
            let shown = self.in_file(&render(path, &steps));
            let (tidy, suggestion) = tidy_serde_message(&message);
            if let (Some(key), Some((_, table))) = (suggestion, steps.split_last()) {
                if !has_key(&value, table, key) {
                    let meant = child(&self.in_file(&render(path, table)), key);
                    self.note_misspelt(meant);
                }
            }
            self.refuse(shown, tidy);
            if steps.is_empty() {
                return None;
            }
            self.remove(&mut value, path, &steps);
        }
        if let Ok(parsed) = T::deserialize(value) {
            return Some(parsed);
        }
        self.refuse(
            path.to_string(),
            format!(
                "more than {MAX_REFUSED_PER_TABLE} problems; the rest of this table is not checked"
            ),
        );
        None
    }

    /// Deserializes a table of named entries (`[pools.<name>]`), each on its own, so that a
    /// mistake in one entry does not hide mistakes in the others.
    pub(super) fn parse_named<T: DeserializeOwned>(
        &mut self,
        value: toml::Value,
        path: &str,
    ) -> Named<T> {
        let mut out = Named::default();
        let toml::Value::Table(table) = value else {
            self.refuse(
                path.to_string(),
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
                    out.entries.insert(name, parsed);
                }
                None => out.unreadable.push(name),
            }
        }
        out
    }

    /// Removes the node at `steps` from `value` (the section at `path`), noting a removed array
    /// element so later paths keep the file's indices.
    fn remove(&mut self, value: &mut toml::Value, path: &str, steps: &[Step]) {
        let Some((last, parents)) = steps.split_last() else {
            return;
        };
        let mut node = value;
        for step in parents {
            let next = match (node, step) {
                (toml::Value::Table(t), Step::Key(k)) => t.get_mut(k),
                (toml::Value::Array(a), Step::Index(i)) => a.get_mut(*i),
                _ => None,
            };
            let Some(next) = next else {
                return;
            };
            node = next;
        }
        match (node, last) {
            (toml::Value::Table(t), Step::Key(k)) => {
                t.remove(k);
            }
            (toml::Value::Array(a), Step::Index(i)) if *i < a.len() => {
                a.remove(*i);
                let array = self.in_file(&render(path, parents));
                let original = self.original_index(&array, *i);
                self.note_removed(array, original);
            }
            _ => {}
        }
    }
}

/// The deepest node of `value` along `steps`, and how many steps lead to it.
fn walk<'v>(value: &'v toml::Value, steps: &[Step]) -> (usize, &'v toml::Value) {
    let mut node = value;
    for (depth, step) in steps.iter().enumerate() {
        let next = match (node, step) {
            (toml::Value::Table(t), Step::Key(k)) => t.get(k),
            (toml::Value::Array(a), Step::Index(i)) => a.get(*i),
            _ => None,
        };
        match next {
            Some(next) => node = next,
            None => return (depth, node),
        }
    }
    (steps.len(), node)
}

/// How many of `steps` lead to a node that exists in `value` (a type error inside a value
/// that serde sees as a map, such as a TOML date, is reported at the value itself).
fn removable_depth(value: &toml::Value, steps: &[Step]) -> usize {
    walk(value, steps).0
}

/// Whether the table at `steps` in `value` has `key`.
fn has_key(value: &toml::Value, steps: &[Step], key: &str) -> bool {
    match walk(value, steps) {
        (depth, toml::Value::Table(t)) if depth == steps.len() => t.contains_key(key),
        _ => false,
    }
}

fn render(path: &str, steps: &[Step]) -> String {
    steps.iter().fold(path.to_string(), |acc, step| match step {
        Step::Key(k) => child(&acc, k),
        Step::Index(i) => index(&acc, *i),
    })
}

pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn first_line(message: &str) -> &str {
    // toml's value deserializer appends its own location hints; ours are better.
    message.lines().next().unwrap_or(message)
}

fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// serde's wording, in the file's terms: keys rather than fields, tables and arrays rather
/// than structs and sequences; for an unknown key, the likely intended one (also returned).
fn tidy_serde_message(message: &str) -> (String, Option<&str>) {
    if let Some(field) = unknown_field(message) {
        let Some((_, expected)) = message.split_once(", expected ") else {
            // "there are no fields": nothing to suggest.
            return (format!("unknown key `{field}`"), None);
        };
        // "`a` or `b`" / "one of `a`, `b`, …": the keys the serde type accepts.
        let valid = expected.split('`').skip(1).step_by(2);
        let suggestion = closest(field, valid);
        let hint = suggestion
            .map(|k| format!("; did you mean `{k}`?"))
            .unwrap_or_default();
        return (
            format!("unknown key `{field}` (expected {expected}){hint}"),
            suggestion,
        );
    }
    let message = match message.split_once(", expected struct ") {
        // serde lets an array stand for a struct (fields by position); one of the wrong length
        // is reported as such, which reads as nonsense for a TOML table.
        Some((head, _)) if head.starts_with("invalid length") => {
            "invalid type: array, expected a table".to_string()
        }
        Some((head, _)) => format!("{head}, expected a table"),
        None => message.to_string(),
    };
    let message = message
        .replace("expected a sequence", "expected an array")
        .replace("expected a map", "expected a table");
    // Rust's numeric types, as the ranges they stand for.
    for (rust, file) in [
        ("f64", "a number"),
        ("u16", "a whole number from 0 to 65535"),
        ("u32", "a whole number from 0 to 4294967295"),
        ("u64", "a whole number of at least 0"),
        ("usize", "a whole number of at least 0"),
    ] {
        if let Some(head) = message.strip_suffix(&format!("expected {rust}")) {
            return (format!("{head}expected {file}"), None);
        }
    }
    (message, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::spans::SpanIndex;

    #[test]
    fn a_table_with_too_many_problems_is_given_up_in_bounded_time() {
        let hosts: Vec<String> = (0..5000).map(|i| i.to_string()).collect();
        let text = format!("hosts = [{}]\n", hosts.join(", "));
        let spans = SpanIndex::new(&text);
        let mut report = Report::new(&spans);
        let value: toml::Value = toml::from_str(&text).unwrap();
        let parsed: Option<crate::config::raw::Route> = report.parse(value, "routes.r");
        assert!(parsed.is_none());
        let (issues, _) = report.finish();
        assert_eq!(issues.len(), MAX_REFUSED_PER_TABLE + 1);
        assert_eq!(
            issues[0].to_string(),
            "routes.r.hosts[0]: invalid type: integer `0`, expected a string"
        );
        assert_eq!(
            issues[MAX_REFUSED_PER_TABLE - 1].to_string(),
            "routes.r.hosts[99]: invalid type: integer `99`, expected a string"
        );
    }

    #[test]
    fn serde_messages_speak_toml() {
        assert_eq!(
            tidy_serde_message("unknown field `x`, there are no fields"),
            ("unknown key `x`".to_string(), None)
        );
        assert_eq!(
            tidy_serde_message("unknown field `lvel`, expected `level` or `format`"),
            (
                "unknown key `lvel` (expected `level` or `format`); did you mean `level`?"
                    .to_string(),
                Some("level")
            )
        );
        assert_eq!(
            tidy_serde_message("invalid type: integer `5`, expected struct Backend").0,
            "invalid type: integer `5`, expected a table"
        );
        assert_eq!(
            tidy_serde_message("invalid type: string \"a\", expected a sequence").0,
            "invalid type: string \"a\", expected an array"
        );
        assert_eq!(
            tidy_serde_message("invalid value: integer `70000`, expected u16").0,
            "invalid value: integer `70000`, expected a whole number from 0 to 65535"
        );
    }
}
