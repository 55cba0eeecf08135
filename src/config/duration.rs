//! Human-readable durations in the config file (`"250ms"`, `"5s"`, `"2m"`, `"365d"`).
//!
//! Parsed at the edge so the rest of the crate only ever sees `std::time::Duration`.

use serde::de::{Deserialize, Deserializer, Error as _};
use std::fmt;
use std::time::Duration;

/// A duration as written in the config; deserializes from `"<number><unit>"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigDuration(pub Duration);

impl ConfigDuration {
    /// Shorthand for tests and defaults.
    pub const fn from_millis(ms: u64) -> Self {
        ConfigDuration(Duration::from_millis(ms))
    }
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_duration(&text)
            .map(ConfigDuration)
            .map_err(D::Error::custom)
    }
}

/// What [`parse_duration`] accepts, as a regular expression for the JSON Schema (editors flag a
/// bad duration while it is typed; `gatehouse check` stays the authority).
pub const DURATION_PATTERN: &str = r"^\s*([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*(ms|s|m|h|d)\s*$";

/// A string with a unit, never a bare number: the schema says so, so that an editor does not
/// offer `5` where `"5s"` is meant.
impl schemars::JsonSchema for ConfigDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A number and a unit: ms, s, m, h or d (\"250ms\", \"5s\", \"1.5s\", \"2m\", \"365d\").",
            "examples": ["250ms", "5s", "2m", "1h", "365d"]
        })
    }
}

impl fmt::Display for ConfigDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

/// Parses `"<number><unit>"` where unit is one of `ms`, `s`, `m`, `h`, `d`.
///
/// # Errors
/// Returns a message naming the accepted units, suitable for showing to an operator.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let bad = || {
        format!("invalid duration {text:?} (expected a number and a unit: ms, s, m, h or d, e.g. \"250ms\" or \"5s\")")
    };
    if number.is_empty() {
        return Err(bad());
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let unit_secs = match unit.trim() {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return Err(bad()),
    };
    let secs = value * unit_secs;
    if !secs.is_finite() || secs > 10.0 * 365.0 * 86400.0 {
        return Err(format!("duration {text:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Renders a duration the way an operator would write it in the config.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0s".to_string()
    } else if ms.is_multiple_of(86_400_000) {
        format!("{}d", ms / 86_400_000)
    } else if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(
            parse_duration("365d").unwrap(),
            Duration::from_secs(365 * 86400)
        );
    }

    #[test]
    fn rejects_garbage_with_a_helpful_message() {
        for bad in ["", "5", "s", "5 parsecs", "-1s", "1e3s"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains("duration"), "{bad}: {err}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for text in ["250ms", "5s", "2m", "1h", "365d", "0s"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }
}
