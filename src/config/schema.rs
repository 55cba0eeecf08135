//! The JSON Schema of `gatehouse.toml` (`gatehouse schema`, shipped as
//! `conf/gatehouse.schema.json`), derived from the [`raw`] types so that it cannot drift from
//! what the parser accepts.
//!
//! It exists for editors: a `#:schema ./gatehouse.schema.json` line at the top of a config gives
//! completion, hover docs (the raw types' doc comments) and validation in taplo / Even Better
//! TOML while the file is typed. `gatehouse check` remains the authority: the schema knows keys,
//! types and duration syntax, not cross-references (a route's pool exists), files or addresses.
//!
//! Draft 7 rather than schemars' default 2020-12, because that is what TOML editors' validators
//! support. Every `Option` is "may be absent", never "may be null": TOML has no null, so the
//! `null` schemars adds for an `Option` is stripped ([`NoNull`]). Keys whose value is one of a
//! closed set (`balance`, `protocol`, …) get an `enum` from [`CHOICES`], which a test keeps equal
//! to what `validate` accepts.

use super::raw;
use indexmap::IndexMap;
use schemars::generate::SchemaSettings;
use schemars::transform::{transform_subschemas, Transform};
use schemars::{JsonSchema, Schema};
use serde::Deserialize;
use serde_json::Value;

/// The whole file: one property per top-level section (see `validate::SECTIONS`). Only the
/// schema is derived from it; `validate` reads each section on its own, leniently.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "gatehouse.toml")]
#[allow(dead_code)] // read by schemars' derive only (and by the tests, which deserialize it)
pub(crate) struct Document {
    /// Process-wide settings, fixed for the life of a process.
    server: Option<raw::Server>,
    /// The loopback admin listener (status, metrics, reload, backend control).
    admin: Option<raw::Admin>,
    /// How configuration changes are picked up.
    reload: Option<raw::Reload>,
    /// The other node of a redundant pair (per node).
    pair: Option<raw::Pair>,
    /// Diagnostic logs (`RUST_LOG` overrides the level).
    logging: Option<raw::Logging>,
    /// One JSON line per request.
    access_log: Option<raw::AccessLog>,
    /// Prometheus metrics on the admin listener (`GET /metrics`).
    metrics: Option<raw::Metrics>,
    /// Protection against slow, huge or abusive clients.
    limits: Option<raw::Limits>,
    /// The addresses the proxy accepts connections on, by name.
    listeners: Option<IndexMap<String, raw::Listener>>,
    /// Which requests go to which pool, by name.
    routes: Option<IndexMap<String, raw::Route>>,
    /// Sets of backends and how to balance over them, by name.
    pools: Option<IndexMap<String, raw::Pool>>,
    /// The ACME account and CA that `acme` certificate entries are obtained from.
    acme: Option<raw::Acme>,
    /// Fetching OCSP responses to staple.
    ocsp: Option<raw::Ocsp>,
}

/// String keys that take one of a closed set of values: (definition, key, values), the values
/// as `validate` lists them in its "expected …" message. They are in the raw types as plain
/// strings (so that a wrong one is reported with a suggestion, not a serde error); here they
/// become an `enum`, for completion and validation in the editor. The test
/// `choices_are_exactly_what_validate_accepts` fails, naming the new set, when a validator
/// gains or loses a value: update the list and bless the shipped schema.
const CHOICES: &[(&str, &str, &[&str])] = &[
    (
        "Logging",
        "level",
        &["error", "warn", "info", "debug", "trace", "off"],
    ),
    ("Logging", "format", &["text", "json"]),
    ("Listener", "protocol", &["http", "https"]),
    ("Listener", "unknown_sni", &["default", "reject"]),
    ("Listener", "tls_profile", &["modern", "intermediate"]),
    ("Listener", "client_auth", &["required", "optional"]),
    ("Route", "client_auth", &["required", "none"]),
    (
        "Pool",
        "balance",
        &[
            "round_robin",
            "active_passive",
            "least_connections",
            "random_two_choices",
            "hash",
        ],
    ),
    ("Sticky", "same_site", &["lax", "strict", "none"]),
    ("Pool", "protocol", &["http/1.1", "h2"]),
    ("HealthCheck", "type", &["http", "tcp", "grpc"]),
    ("HealthCheck", "start", &["unknown", "up", "down"]),
    ("Acme", "challenge", &["http-01", "tls-alpn-01"]),
    ("Certificate", "challenge", &["http-01", "tls-alpn-01"]),
];

/// The schema as a JSON value.
pub fn json_schema() -> Value {
    let settings = SchemaSettings::draft07().with(|s| s.transforms.insert(0, Box::new(NoNull)));
    let schema = settings.into_generator().into_root_schema_for::<Document>();
    let mut value = schema.to_value();
    for (definition, key, values) in CHOICES {
        let pointer = format!("/definitions/{definition}/properties/{key}");
        if let Some(Value::Object(property)) = value.pointer_mut(&pointer) {
            property.insert("enum".to_string(), Value::from(values.to_vec()));
        }
    }
    value
}

/// The schema as `gatehouse schema` prints it and `conf/gatehouse.schema.json` holds it: pretty
/// JSON and a final newline.
pub fn render() -> String {
    let mut text = serde_json::to_string_pretty(&json_schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// Removes the `null` alternative schemars gives every `Option` (TOML cannot write one).
#[derive(Debug, Clone)]
struct NoNull;

impl Transform for NoNull {
    fn transform(&mut self, schema: &mut Schema) {
        if let Some(obj) = schema.as_object_mut() {
            if let Some(Value::Array(types)) = obj.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    obj.insert("type".to_string(), only);
                }
            }
            if let Some(Value::Array(any_of)) = obj.get_mut("anyOf") {
                any_of.retain(|s| s.get("type").and_then(Value::as_str) != Some("null"));
                if any_of.len() == 1 {
                    // `{ "anyOf": [X] }` is X: lift it, keeping this schema's own description.
                    let only = any_of.remove(0);
                    obj.remove("anyOf");
                    if let Value::Object(inner) = only {
                        for (k, v) in inner {
                            obj.entry(k).or_insert(v);
                        }
                    }
                }
            }
        }
        transform_subschemas(self, schema);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate::SECTIONS;

    #[test]
    fn one_property_per_section_and_no_other() {
        let schema = json_schema();
        let mut props: Vec<&str> = schema["properties"]
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        props.sort_unstable();
        let mut sections = SECTIONS.to_vec();
        sections.sort_unstable();
        assert_eq!(
            props, sections,
            "Document and validate::SECTIONS must list the same sections"
        );
        assert_eq!(schema["additionalProperties"], Value::Bool(false));
    }

    #[test]
    fn no_null_anywhere_and_unknown_keys_refused_everywhere() {
        let text = render();
        assert!(!text.contains("\"null\""), "{text}");
        let defs = json_schema()["definitions"].clone();
        let defs = defs.as_object().cloned().unwrap_or_default();
        assert!(defs.len() > 15, "{defs:?}");
        for (name, def) in defs {
            if def.get("properties").is_some() {
                assert_eq!(
                    def["additionalProperties"],
                    Value::Bool(false),
                    "{name} must deny unknown keys like its serde type does"
                );
            }
        }
    }

    #[test]
    fn durations_are_strings_with_their_pattern() {
        let schema = json_schema();
        let d = &schema["definitions"]["Duration"];
        assert_eq!(d["type"], "string");
        assert_eq!(d["pattern"], crate::config::duration::DURATION_PATTERN);
        // A duration key refers to it, with the key's own doc comment as description (draft 7
        // ignores siblings of `$ref`, hence the `allOf`).
        let grace = &schema["definitions"]["Server"]["properties"]["grace_period"];
        assert_eq!(
            grace["allOf"][0]["$ref"], "#/definitions/Duration",
            "{grace}"
        );
        assert!(
            grace["description"]
                .as_str()
                .is_some_and(|d| d.contains("grace"))
                || grace["description"].is_string(),
            "{grace}"
        );
    }

    #[test]
    fn every_shipped_config_deserializes_into_the_document() {
        let conf = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
        let mut read = 0;
        for entry in std::fs::read_dir(&conf).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            if let Err(e) = toml::from_str::<Document>(&text) {
                panic!("{}: {e}", path.display());
            }
            read += 1;
        }
        assert!(read >= 3, "{read}");
    }

    /// A config with `key = "zzz-not-a-value"` in `definition`'s table, and the path at which
    /// `validate` reports it.
    fn with_wrong_value(definition: &str, key: &str) -> (String, String) {
        let bad = "\"zzz-not-a-value\"";
        let listener = "[listeners.x]\naddress = \"127.0.0.1:8080\"\n";
        match definition {
            "Server" | "Logging" | "Acme" => {
                let table = definition.to_lowercase();
                (
                    format!("[{table}]\n{key} = {bad}\n"),
                    format!("{table}.{key}"),
                )
            }
            // An https listener: some keys are only judged there.
            "Listener" if key != "protocol" => (
                format!("{listener}protocol = \"https\"\n{key} = {bad}\n"),
                format!("listeners.x.{key}"),
            ),
            "Listener" => (
                format!("{listener}{key} = {bad}\n"),
                format!("listeners.x.{key}"),
            ),
            "Certificate" => (
                format!(
                    "[acme]\ndirectory = \"https://ca.example.test/dir\"\nstate_dir = \"acme\"\n\
                     {listener}protocol = \"https\"\n[[listeners.x.certificates]]\n\
                     acme = [\"a.example.test\"]\n{key} = {bad}\n"
                ),
                format!("listeners.x.certificates[0].{key}"),
            ),
            "Route" => (
                format!("[routes.x]\npool = \"p\"\n{key} = {bad}\n"),
                format!("routes.x.{key}"),
            ),
            "Pool" => (
                format!("[pools.p]\n{key} = {bad}\n"),
                format!("pools.p.{key}"),
            ),
            "HealthCheck" => (
                format!("[pools.p.health_check]\n{key} = {bad}\n"),
                format!("pools.p.health_check.{key}"),
            ),
            "Sticky" => (
                format!("[pools.p.sticky]\n{key} = {bad}\n"),
                format!("pools.p.sticky.{key}"),
            ),
            other => panic!("no config snippet for {other}: add one to this test"),
        }
    }

    /// The quoted values of `(expected "a", "b" or "c")` in a `validate` message.
    fn expected_values(message: &str) -> Vec<String> {
        let Some(start) = message.find("(expected ") else {
            return Vec::new();
        };
        let list = &message[start..];
        let list = &list[..list.find(')').unwrap_or(list.len())];
        list.split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn choices_are_exactly_what_validate_accepts() {
        let schema = json_schema();
        for (definition, key, values) in CHOICES {
            let pointer = format!("/definitions/{definition}/properties/{key}");
            let property = schema.pointer(&pointer);
            assert!(
                property.is_some_and(|p| p["enum"] == Value::from(values.to_vec())),
                "{pointer}: no such key, or no enum: {property:?}"
            );
            let (text, path) = with_wrong_value(definition, key);
            let issues = match crate::config::validate::validate_text(&text) {
                Ok(_) => Vec::new(),
                Err(e) => e.issues(),
            };
            let Some(issue) = issues.iter().find(|i| i.starts_with(&format!("{path}: "))) else {
                panic!("{path}: a wrong value is not refused, so it is no closed set:\n{text}\n{issues:#?}");
            };
            let accepted = expected_values(issue);
            assert_eq!(
                accepted, *values,
                "{path}: validate accepts {accepted:?} ({issue}); update CHOICES in \
                 src/config/schema.rs and run `GATEHOUSE_BLESS=1 cargo test --test it schema::`"
            );
        }
    }

    #[test]
    fn renamed_keys_keep_their_toml_name() {
        let schema = json_schema();
        let hc = &schema["definitions"]["HealthCheck"]["properties"];
        assert!(hc.get("type").is_some() && hc.get("kind").is_none(), "{hc}");
    }
}
