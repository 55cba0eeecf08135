//! Maps key paths (`pools.public.backends[1].address`) to line numbers, so validation can point
//! at the line without carrying spans through every typed value.

use std::collections::HashMap;
use toml::de::{DeTable, DeValue};

/// Line lookup for one config text.
///
/// Built on first use: a config with no issue never asks for a line, and indexing every key
/// of a 100,000-route file was a third of `gatehouse check` and of every reload.
#[derive(Debug, Default)]
pub struct SpanIndex {
    text: String,
    built: std::sync::OnceLock<Index>,
}

#[derive(Debug, Default)]
struct Index {
    line_starts: Vec<usize>,
    offsets: HashMap<String, usize>,
}

impl SpanIndex {
    /// Indexes `text` (when first asked). A text that does not parse yields an index that
    /// knows no keys.
    pub fn new(text: &str) -> Self {
        SpanIndex {
            text: text.to_string(),
            built: std::sync::OnceLock::new(),
        }
    }

    fn index(&self) -> &Index {
        self.built.get_or_init(|| Index::new(&self.text))
    }

    /// Line of `path`, or of its nearest ancestor present in the file.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        self.offset_of(path).map(|offset| self.line_at(offset))
    }

    /// Byte offset of `path`, or of its nearest ancestor present in the file: orders issues
    /// that share a line (several keys of one inline table) as they are written.
    pub fn offset_of(&self, path: &str) -> Option<usize> {
        let offsets = &self.index().offsets;
        let mut current = path;
        loop {
            if let Some(&offset) = offsets.get(current) {
                return Some(offset);
            }
            current = parent(current)?;
        }
    }

    /// 1-based line of a byte offset.
    pub fn line_at(&self, offset: usize) -> usize {
        match self.index().line_starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }
}

impl Index {
    fn new(text: &str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let mut index = Index {
            line_starts,
            offsets: HashMap::new(),
        };
        if let Ok(root) = DeTable::parse(text) {
            index.walk_table("", root.get_ref());
        }
        index
    }

    fn walk_table(&mut self, prefix: &str, table: &DeTable<'_>) {
        for (key, value) in table.iter() {
            let path = child(prefix, key.get_ref());
            self.offsets.entry(path.clone()).or_insert(key.span().start);
            self.walk_value(&path, value.get_ref());
        }
    }

    fn walk_value(&mut self, path: &str, value: &DeValue<'_>) {
        match value {
            DeValue::Table(t) => self.walk_table(path, t),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let item_path = index(path, i);
                    self.offsets
                        .entry(item_path.clone())
                        .or_insert(item.span().start);
                    self.walk_value(&item_path, item.get_ref());
                }
            }
            _ => {}
        }
    }
}

/// `parent.key`, quoting keys that are not bare TOML keys.
pub fn child(parent: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    // Pushed, not formatted: validation builds a few of these per route, with or without issue.
    let quoted;
    let key = if bare {
        key
    } else {
        quoted = format!("{key:?}");
        quoted.as_str()
    };
    let mut out = String::with_capacity(parent.len() + 1 + key.len());
    if !parent.is_empty() {
        out.push_str(parent);
        out.push('.');
    }
    out.push_str(key);
    out
}

/// `parent[i]`.
pub fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(&path[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_lines_of_nested_keys_and_falls_back_to_ancestors() {
        let text = "[server]\nthreads = 2\n\n[pools.public]\nbalance = \"round_robin\"\n\n[[pools.public.backends]]\naddress = \"a\"\n\n[[pools.public.backends]]\naddress = \"b\"\n";
        let idx = SpanIndex::new(text);
        assert_eq!(idx.line_of("server.threads"), Some(2));
        assert_eq!(idx.line_of("pools.public.balance"), Some(5));
        assert_eq!(idx.line_of("pools.public.backends[1].address"), Some(11));
        // missing key: nearest ancestor
        assert_eq!(
            idx.line_of("pools.public.backends[1].weight"),
            idx.line_of("pools.public.backends[1]")
        );
        assert_eq!(idx.line_of("pools.public.max_retries"), Some(4));
    }

    #[test]
    fn quotes_keys_that_are_not_bare() {
        assert_eq!(child("pools", "a.b"), "pools.\"a.b\"");
        assert_eq!(child("", "server"), "server");
        assert_eq!(index("x", 3), "x[3]");
    }
}
