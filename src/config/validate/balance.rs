//! `[pools.<name>.hash]` (the key a hashing pool hashes, its load bound and its default) and
//! `[pools.<name>.sticky]` (the sticky-session cookie's attributes).

use super::suggest::choice;
use super::Report;
use crate::config::model::{Balance, HashKey, HashSettings, StickySettings};
use crate::config::raw;
use crate::config::spans::child;

/// The key forms, for messages.
const KEYS: &str = "\"client_ip\", \"path\", \"uri\", \"header:<name>\" or \"cookie:<name>\"";

/// Largest bound accepted: beyond it the bound never binds and only costs a comparison.
const MAX_BOUND: f64 = 100.0;

/// Checks the hash table against the balance; `balance` is `None` when it was refused.
pub(super) fn hash(
    path: &str,
    raw: Option<&raw::Hash>,
    balance: Option<Balance>,
    report: &mut Report<'_>,
) -> Option<HashSettings> {
    let hpath = child(path, "hash");
    let Some(raw) = raw else {
        if balance == Some(Balance::Hash) && !report.refused(&hpath) {
            report.error(
                &child(path, "balance"),
                format!("balance = \"hash\" needs a key: add [{hpath}] with key = {KEYS}"),
            );
        }
        return None;
    };
    if balance.is_some() && balance != Some(Balance::Hash) {
        report.error(&hpath, "has no effect unless balance = \"hash\"");
    }
    let kpath = child(&hpath, "key");
    let key = match raw.key.as_deref() {
        None => {
            if !report.refused(&kpath) {
                report.error(&kpath, format!("is required (one of {KEYS})"));
            }
            None
        }
        Some(text) => parse_key(text)
            .map_err(|why| report.error(&kpath, why))
            .ok(),
    };
    let bound = raw.bound.and_then(|b| {
        if b.is_finite() && (1.0..=MAX_BOUND).contains(&b) {
            Some(b)
        } else {
            report.error(
                &child(&hpath, "bound"),
                format!(
                    "must be between 1.0 and {MAX_BOUND} (1.25: no backend takes more than 125 % of its share)"
                ),
            );
            None
        }
    });
    if raw.default.as_deref() == Some("") {
        report.error(
            &child(&hpath, "default"),
            "must not be empty (leave it out to send requests without the key round robin)",
        );
    }
    Some(HashSettings {
        key: key?,
        bound,
        default: raw.default.clone().filter(|d| !d.is_empty()),
    })
}

/// Checks the sticky cookie's attributes.
pub(super) fn sticky(
    path: &str,
    raw: Option<&raw::Sticky>,
    report: &mut Report<'_>,
) -> Option<StickySettings> {
    let raw = raw?;
    let spath = child(path, "sticky");
    let cookie = raw
        .cookie
        .clone()
        .unwrap_or_else(|| "gatehouse_sticky".into());
    if !cookie_name(&cookie) {
        report.error(
            &child(&spath, "cookie"),
            format!("{cookie:?} is not a valid cookie name"),
        );
    }
    let cookie_path = raw.path.clone().unwrap_or_else(|| "/".into());
    if !cookie_path.starts_with('/')
        || !cookie_path
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b';')
    {
        report.error(
            &child(&spath, "path"),
            format!("{cookie_path:?} must start with '/' and hold no ';' or control characters"),
        );
    }
    let same_site = match raw.same_site.as_deref() {
        None => Some("Lax"),
        Some(v) => choice(
            report,
            &child(&spath, "same_site"),
            "same_site",
            v,
            &[("lax", "Lax"), ("strict", "Strict"), ("none", "None")],
        ),
    };
    if same_site == Some("None") {
        report.warn(
            &child(&spath, "same_site"),
            "browsers drop SameSite=None cookies without Secure, which gatehouse adds only on TLS connections",
        );
    }
    let max_age = raw.max_age.map(|d| d.0);
    if max_age.is_some_and(|d| d.is_zero()) {
        report.error(
            &child(&spath, "max_age"),
            "must be positive (leave it out for a session cookie)",
        );
    }
    Some(StickySettings {
        cookie,
        path: cookie_path,
        http_only: raw.http_only.unwrap_or(true),
        same_site: same_site.unwrap_or("Lax"),
        max_age: max_age.filter(|d| !d.is_zero()),
    })
}

/// A cookie name is an RFC 6265 token.
fn cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

fn parse_key(text: &str) -> Result<HashKey, String> {
    match text {
        "client_ip" => return Ok(HashKey::ClientIp),
        "path" => return Ok(HashKey::Path),
        "uri" => return Ok(HashKey::Uri),
        _ => {}
    }
    match text.split_once(':') {
        Some(("header", name)) => http::HeaderName::from_bytes(name.as_bytes())
            .map(HashKey::Header)
            .map_err(|_| format!("{name:?} is not a valid header name")),
        Some(("cookie", name)) => {
            if cookie_name(name) {
                Ok(HashKey::Cookie(name.to_string()))
            } else {
                Err(format!("{name:?} is not a valid cookie name"))
            }
        }
        _ => Err(format!(
            "unknown key {text:?} (expected {KEYS}){}",
            super::suggest::did_you_mean_value(text, &["client_ip", "path", "uri"])
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::validate_text;

    fn pool(extra: &str) -> String {
        format!(
            "[listeners.http]\naddress = \"127.0.0.1:8080\"\n[routes.default]\npool = \"web\"\n[pools.web]\n{extra}\nbackends = [{{ address = \"127.0.0.1:9001\" }}]\n"
        )
    }

    fn errors(extra: &str) -> Vec<String> {
        match validate_text(&pool(extra)) {
            Ok(_) => Vec::new(),
            Err(e) => e.to_string().lines().map(str::to_string).collect(),
        }
    }

    #[test]
    fn algorithms_are_accepted() {
        for b in ["least_connections", "random_two_choices", "round_robin"] {
            assert!(errors(&format!("balance = \"{b}\"")).is_empty(), "{b}");
        }
        let v = validate_text(&pool(
            "balance = \"hash\"\nhash = { key = \"header:X-User\", bound = 1.25, default = \"anon\" }",
        ))
        .unwrap();
        let h = v.config.pools[0].hash.clone().unwrap();
        assert_eq!(h.key.to_string(), "header:x-user");
        assert_eq!(h.bound, Some(1.25));
        assert_eq!(h.default.as_deref(), Some("anon"));
    }

    #[test]
    fn sticky_cookie_attributes() {
        let v = validate_text(&pool("sticky = { cookie = \"srv\", max_age = \"1h\" }")).unwrap();
        let s = v.config.pools[0].sticky.clone().unwrap();
        assert_eq!(
            (s.cookie.as_str(), s.path.as_str(), s.same_site),
            ("srv", "/", "Lax")
        );
        assert!(s.http_only);
        assert_eq!(s.max_age, Some(std::time::Duration::from_secs(3600)));
        let e = errors("sticky = { cookie = \"a b\", path = \"x\", same_site = \"loose\" }");
        for want in [
            "pools.web.sticky.cookie: \"a b\" is not a valid cookie name at line 6",
            "pools.web.sticky.path: \"x\" must start with '/'",
            "pools.web.sticky.same_site: unknown same_site \"loose\"",
        ] {
            assert!(e.iter().any(|l| l.contains(want)), "{want}: {e:?}");
        }
    }

    #[test]
    fn mistakes_name_the_key_and_line() {
        let e = errors("balance = \"hash\"");
        assert!(
            e.iter().any(
                |l| l.contains("pools.web.balance: balance = \"hash\" needs a key")
                    && l.ends_with("at line 6")
            ),
            "{e:?}"
        );
        let e = errors("balance = \"hash\"\nhash = { key = \"cookie:\" }");
        assert!(
            e.iter().any(
                |l| l.contains("pools.web.hash.key: \"\" is not a valid cookie name")
                    && l.ends_with("at line 7")
            ),
            "{e:?}"
        );
        let e = errors("balance = \"hash\"\nhash = { key = \"client-ip\" }");
        assert!(
            e.iter().any(|l| l.contains("unknown key \"client-ip\"")
                && l.contains("did you mean \"client_ip\"")),
            "{e:?}"
        );
        let e = errors("balance = \"hash\"\nhash = { key = \"path\", bound = 0.5 }");
        assert!(
            e.iter()
                .any(|l| l.contains("pools.web.hash.bound: must be between 1.0")),
            "{e:?}"
        );
        let e = errors("balance = \"round_robin\"\nhash = { key = \"path\" }");
        assert!(
            e.iter()
                .any(|l| l.contains("pools.web.hash: has no effect unless balance = \"hash\"")),
            "{e:?}"
        );
        let e = errors("balance = \"least_conections\"");
        assert!(
            e.iter()
                .any(|l| l.contains("did you mean \"least_connections\"")),
            "{e:?}"
        );
    }
}
