//! The configuration reference against the JSON Schema: every key documented, every documented
//! key real, every row saying whether a reload applies it.

use super::markdown;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

const REFERENCE: &str = "docs/configuration.md";
const HEADER: &str = "| key | type | default | reload | meaning |";

/// Every dotted key path of the schema: properties, nested objects, the items of arrays of
/// tables (`listeners.NAME.certificates.cert`), and maps of named entries as `NAME`
/// (`pools.NAME.balance`). Objects are listed as well as their keys.
fn schema_keys() -> BTreeSet<String> {
    let text =
        std::fs::read_to_string(markdown::root().join("conf/gatehouse.schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    let mut keys = BTreeSet::new();
    walk(&schema, &schema, "", &mut keys, 0);
    assert!(
        keys.len() > 150,
        "the schema walk found only {} keys: {keys:?}",
        keys.len()
    );
    keys
}

fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap();
            let defs = root
                .get("definitions")
                .or_else(|| root.get("$defs"))
                .unwrap();
            resolve(root, &defs[name])
        }
        None => node,
    }
}

fn walk(root: &Value, node: &Value, prefix: &str, keys: &mut BTreeSet<String>, depth: usize) {
    assert!(depth < 20, "schema recursion at {prefix}");
    let node = resolve(root, node);
    for combinator in ["allOf", "anyOf", "oneOf"] {
        for sub in node
            .get(combinator)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            walk(root, sub, prefix, keys, depth + 1);
        }
    }
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        for (name, sub) in props {
            let path = join(prefix, name);
            keys.insert(path.clone());
            walk(root, sub, &path, keys, depth + 1);
        }
    }
    if let Some(entry) = node.get("additionalProperties").filter(|v| v.is_object()) {
        let named = join(prefix, "NAME");
        // Named tables (`[pools.NAME]`) are keys of their own; a map of plain values
        // (`request_headers.set`) is documented as the map.
        if resolve(root, entry).get("properties").is_some() {
            keys.insert(named.clone());
        }
        walk(root, entry, &named, keys, depth + 1);
    }
    if let Some(items) = node.get("items").filter(|v| v.is_object()) {
        walk(root, items, prefix, keys, depth + 1);
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// A section heading of the reference: `## [pools.NAME]`, `### [[pools.NAME.backends]]`.
fn section_of(heading: &str) -> Option<&str> {
    let inner = heading
        .strip_prefix("[[")
        .and_then(|h| h.strip_suffix("]]"))
        .or_else(|| heading.strip_prefix('[').and_then(|h| h.strip_suffix(']')))?;
    inner
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        .then_some(inner)
}

/// Keys a row's first cell names, in backticks: `` `a`, `b.c` ``.
fn cell_keys(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// The documented keys (full paths, with where they are documented), and the problems found
/// on the way (rows outside a section, a missing or malformed reload cell, a wrong header).
fn documented_keys(file: &Path, text: &str) -> (Vec<(String, String)>, Vec<String>) {
    let (_, prose) = markdown::parse(file, text);
    let mut keys = Vec::new();
    let mut problems = Vec::new();
    let mut section: Option<String> = None;
    let mut in_table = false;
    for p in &prose {
        let place = format!("{}:{}", file.display(), p.line);
        let line = p.text.trim_end();
        if line.starts_with('#') {
            let text = line.trim_start_matches('#').trim();
            section = section_of(text).map(str::to_string);
            if let Some(s) = &section {
                keys.push((s.clone(), place));
            }
            in_table = false;
            continue;
        }
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        if line.starts_with("| key |") {
            if line != HEADER {
                problems.push(format!(
                    "{place}: table header {line:?}, expected {HEADER:?}"
                ));
            }
            if section.is_none() {
                problems.push(format!("{place}: a key table under no `[section]` heading"));
            }
            in_table = true;
            continue;
        }
        let Some(section) = section.as_deref().filter(|_| in_table) else {
            continue;
        };
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        if cells
            .iter()
            .all(|c| c.chars().all(|ch| ch == '-' || ch == ' '))
        {
            continue;
        }
        if cells.len() < 5 {
            problems.push(format!("{place}: row with {} cells: {line}", cells.len()));
            continue;
        }
        if !matches!(cells[3], "hot" | "cold") {
            problems.push(format!(
                "{place}: reload cell is {:?}, expected `hot` or `cold`",
                cells[3]
            ));
        }
        let named = cell_keys(cells[0]);
        if named.is_empty() {
            problems.push(format!("{place}: no key in backticks in {:?}", cells[0]));
        }
        for key in named {
            keys.push((join(section, key), place.clone()));
        }
    }
    (keys, problems)
}

/// What is missing from the reference and what it documents that does not exist.
fn compare(
    schema: &BTreeSet<String>,
    documented: &[(String, String)],
) -> (Vec<String>, Vec<String>) {
    let written: BTreeSet<&str> = documented.iter().map(|(k, _)| k.as_str()).collect();
    // An object is documented by its section heading or through its keys.
    let covered = |key: &str| {
        written.contains(key)
            || written.iter().any(|w| {
                w.len() > key.len() && w.starts_with(key) && w.as_bytes()[key.len()] == b'.'
            })
    };
    let missing = schema.iter().filter(|k| !covered(k)).cloned().collect();
    let extra = documented
        .iter()
        .filter(|(k, _)| !schema.contains(k))
        .map(|(k, place)| format!("{k} ({place})"))
        .collect();
    (missing, extra)
}

#[test]
fn the_configuration_reference_documents_exactly_the_schemas_keys() {
    let file = Path::new(REFERENCE);
    let (documented, problems) = documented_keys(file, &markdown::read(file));
    assert!(
        problems.is_empty(),
        "malformed reference tables:\n  {}",
        problems.join("\n  ")
    );
    let (missing, extra) = compare(&schema_keys(), &documented);
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{REFERENCE} and conf/gatehouse.schema.json disagree.\n\
         Keys the config accepts but the reference does not document ({}):\n  {}\n\
         Keys the reference documents but the config does not have ({}):\n  {}",
        missing.len(),
        missing.join("\n  "),
        extra.len(),
        extra.join("\n  "),
    );
}

/// The checker itself: a forgotten key, an invented one and a row without its reload column
/// are each caught (so the test above cannot pass by reading nothing).
#[test]
fn the_reference_check_catches_missing_extra_and_malformed_rows() {
    let schema: BTreeSet<String> = [
        "server",
        "server.threads",
        "server.user",
        "pools",
        "pools.NAME",
        "pools.NAME.hash",
        "pools.NAME.hash.key",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let text = "## [server]\n\n| key | type | default | reload | meaning |\n| --- | --- | --- | --- | --- |\n\
                | `threads` | int | 1 | cold | x |\n| `treads` | int | 1 | cold | x |\n\n\
                ## [pools.NAME]\n\n| key | type | default | reload | meaning |\n| --- | --- | --- | --- | --- |\n\
                | `hash.key` | s | - | maybe | x |\n";
    let (documented, problems) = documented_keys(Path::new("t.md"), text);
    assert_eq!(
        problems,
        ["t.md:12: reload cell is \"maybe\", expected `hot` or `cold`"]
    );
    let (missing, extra) = compare(&schema, &documented);
    assert_eq!(missing, ["server.user"]);
    assert_eq!(extra, ["server.treads (t.md:6)"]);
}
