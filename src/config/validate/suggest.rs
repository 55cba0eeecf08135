//! "Did you mean …?": the closest valid spelling for a misspelt key or value, as cargo and
//! rustc do, so the fix is in the message instead of in the docs.

use super::Report;

/// The candidate closest to `input`, when it is close enough to be a typo of it.
///
/// Distance is optimal string alignment (Levenshtein plus adjacent transpositions, so
/// `wieght` → `weight` is one edit), compared case-insensitively; at most a third of the
/// input's length (and at least one edit) may differ, like rustc's `find_best_match_for_name`.
/// Failing that, a candidate that the input starts with or abbreviates (`warning` → `warn`,
/// `conn` → `connect`; at least three letters in common) is taken. Anything else is more likely
/// a different word than a typo, and a wrong guess is worse than none.
pub(crate) fn closest<'c>(
    input: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let lower = input.to_lowercase();
    let limit = (input.chars().count() / 3).max(1);
    let candidates: Vec<(&str, String)> = candidates
        .into_iter()
        .filter(|c| *c != input)
        .map(|c| (c, c.to_lowercase()))
        .collect();
    let by_edits = candidates
        .iter()
        .map(|(c, l)| (strsim::osa_distance(&lower, l), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c);
    by_edits.or_else(|| {
        candidates
            .iter()
            .filter(|(_, l)| {
                let (short, long) = if l.len() < lower.len() {
                    (l.as_str(), lower.as_str())
                } else {
                    (lower.as_str(), l.as_str())
                };
                short.len() >= 3 && long.starts_with(short)
            })
            // The one sharing the most letters: `tls_ca` → `tls_ca_file`, not `tls`.
            .min_by_key(|(_, l)| std::cmp::Reverse(l.len().min(lower.len())))
            .map(|(c, _)| *c)
    })
}

/// `"a"`, `"a" or "b"`, `"a", "b" or "c"`: the valid values, quoted as they are written in
/// the file.
pub(crate) fn quoted_list(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// `; did you mean "https"?` when `input` looks like a typo of one of `values`, else nothing.
pub(crate) fn did_you_mean_value(input: &str, values: &[&str]) -> String {
    closest(input, values.iter().copied())
        .map(|v| format!("; did you mean {v:?}?"))
        .unwrap_or_default()
}

/// Looks `value` up in a closed set of `options`. An unknown value is reported at `path` as
/// `unknown <what> "x" (expected "a" or "b")`, with the likely intended value when one is
/// close, and gives `None` so the caller can tell "invalid" from "absent" (and skip checks that
/// depend on the value instead of judging them against a default the file never chose).
pub(crate) fn choice<T: Copy>(
    report: &mut Report<'_>,
    path: &str,
    what: &str,
    value: &str,
    options: &[(&str, T)],
) -> Option<T> {
    if let Some((_, v)) = options.iter().find(|(name, _)| *name == value) {
        return Some(*v);
    }
    let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
    report.error(
        path,
        format!(
            "unknown {what} {value:?} (expected {}){}",
            quoted_list(&names),
            did_you_mean_value(value, &names)
        ),
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_only_close_matches() {
        let keys = ["address", "protocol", "certificates", "h2c"];
        assert_eq!(closest("protcol", keys), Some("protocol"));
        assert_eq!(closest("adress", keys), Some("address"));
        assert_eq!(closest("Address", keys), Some("address"));
        assert_eq!(closest("h2", keys), Some("h2c"));
        assert_eq!(closest("tls", keys), None);
        assert_eq!(closest("certs", keys), None);
        assert_eq!(closest("wieght", ["weight", "backup"]), Some("weight"));
        assert_eq!(closest("htps", ["http", "https"]), Some("https"));
        assert_eq!(
            closest("round-robin", ["round_robin", "active_passive"]),
            Some("round_robin")
        );
        assert_eq!(closest("fastest", ["round_robin", "active_passive"]), None);
        assert_eq!(closest("warning", ["error", "warn", "info"]), Some("warn"));
        assert_eq!(
            closest("information", ["error", "warn", "info"]),
            Some("info")
        );
        assert_eq!(closest("conn", ["connect", "read"]), Some("connect"));
        assert_eq!(closest("re", ["read"]), None);
        assert_eq!(
            closest("tls_ca", ["tls", "tls_sni", "tls_ca_file"]),
            Some("tls_ca_file")
        );
    }

    #[test]
    fn lists_values_as_written() {
        assert_eq!(quoted_list(&["a"]), "\"a\"");
        assert_eq!(quoted_list(&["a", "b"]), "\"a\" or \"b\"");
        assert_eq!(quoted_list(&["a", "b", "c"]), "\"a\", \"b\" or \"c\"");
        assert_eq!(
            did_you_mean_value("tpc", &["http", "tcp"]),
            "; did you mean \"tcp\"?"
        );
        assert_eq!(did_you_mean_value("udp", &["http", "tcp"]), "");
    }
}
