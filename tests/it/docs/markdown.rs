//! Just enough Markdown for the doc checks: the files, fenced blocks, prose lines, headings
//! and their anchors (GitHub's and mdBook's slugs agree for the headings the book uses).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `README.md` and every page of the book, as paths relative to the repository.
pub fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("README.md")];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| p.strip_prefix(root()).unwrap().to_path_buf())
        .collect();
    pages.sort();
    assert!(pages.len() >= 10, "docs/ has only {pages:?}");
    files.extend(pages);
    files
}

pub fn read(rel: &Path) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{}: {e}", rel.display()))
}

/// One fenced code block.
#[derive(Debug, Clone)]
pub struct Block {
    pub file: PathBuf,
    /// 1-based line of the opening fence.
    pub line: usize,
    /// The info string (`toml fragment`), trimmed.
    pub info: String,
    /// The content, with the fence's indentation removed.
    pub text: String,
}

impl Block {
    pub fn place(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
}

/// A line outside code blocks.
pub struct Prose<'a> {
    pub line: usize,
    pub text: &'a str,
}

/// Splits a page into its fenced blocks and its prose lines. Fences may be indented (a block
/// inside a list item); the content loses that indentation.
pub fn parse<'a>(file: &Path, text: &'a str) -> (Vec<Block>, Vec<Prose<'a>>) {
    let mut blocks = Vec::new();
    let mut prose = Vec::new();
    let mut open: Option<(usize, usize, String, Vec<&str>)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match &mut open {
            None if trimmed.starts_with("```") => {
                open = Some((i + 1, indent, trimmed[3..].trim().to_string(), Vec::new()));
            }
            None => prose.push(Prose {
                line: i + 1,
                text: line,
            }),
            Some((start, fence_indent, info, body)) => {
                if trimmed.starts_with("```") && trimmed.trim() == "```" {
                    blocks.push(Block {
                        file: file.to_path_buf(),
                        line: *start,
                        info: std::mem::take(info),
                        text: body.iter().map(|l| format!("{l}\n")).collect(),
                    });
                    open = None;
                } else {
                    let cut = line.len() - line.trim_start().len();
                    body.push(&line[cut.min(*fence_indent)..]);
                }
            }
        }
    }
    assert!(
        open.is_none(),
        "{}: a code block is never closed",
        file.display()
    );
    (blocks, prose)
}

/// A heading's anchor as GitHub (and mdBook) make it: lower case, punctuation other than `-`
/// and `_` dropped, spaces as `-`.
pub fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Headings of a page: (level, text, line).
pub fn headings<'a>(prose: &[Prose<'a>]) -> Vec<(usize, &'a str, usize)> {
    prose
        .iter()
        .filter_map(|p| {
            let level = p.text.chars().take_while(|&c| c == '#').count();
            let rest = p.text.get(level..)?;
            (1..=6)
                .contains(&level)
                .then(|| rest.strip_prefix(' '))
                .flatten()
                .map(|t| (level, t.trim(), p.line))
        })
        .collect()
}

/// Every anchor of a page, with GitHub's `-1`, `-2` suffixes for repeated headings.
pub fn anchors(prose: &[Prose<'_>]) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    headings(prose)
        .into_iter()
        .map(|(_, text, _)| {
            let s = slug(text);
            let n = seen.entry(s.clone()).or_insert(0);
            *n += 1;
            if *n == 1 {
                s
            } else {
                format!("{s}-{}", *n - 1)
            }
        })
        .collect()
}

#[test]
fn slugs_are_githubs() {
    assert_eq!(slug("[pools.NAME]"), "poolsname");
    assert_eq!(
        slug("[[listeners.NAME.certificates]]"),
        "listenersnamecertificates"
    );
    assert_eq!(
        slug("Long-lived traffic: WebSocket, SSE, streaming, gRPC"),
        "long-lived-traffic-websocket-sse-streaming-grpc"
    );
    assert_eq!(slug("`scripts/test`"), "scriptstest");
    let (blocks, prose) = parse(
        Path::new("x.md"),
        "# A\n\n- item\n\n  ```toml fragment\n  a = 1\n  ```\n# A\n",
    );
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].info, "toml fragment");
    assert_eq!(blocks[0].text, "a = 1\n");
    assert_eq!(blocks[0].line, 5);
    assert_eq!(anchors(&prose), ["a", "a-1"]);
}
