//! The balancing key of a request (`[pools.<name>.hash] key`), hashed in place: header and
//! cookie values are read from the request's own buffers, never copied.

use super::hash::KeyHasher;
use crate::config::model::HashKey;
use std::net::IpAddr;

/// Read access to a request's header fields, implemented by each protocol engine over its own
/// representation (the HTTP/1 gate's spans, the HTTP/2 `HeaderMap`).
pub trait Fields: Sync {
    /// Calls `visit` with each value of the field `name` (lowercase), in order, until it
    /// returns `true`; says whether it did.
    fn each(&self, name: &str, visit: &mut dyn FnMut(&[u8]) -> bool) -> bool;
}

impl Fields for http::HeaderMap {
    fn each(&self, name: &str, visit: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.get_all(name).iter().any(|v| visit(v.as_bytes()))
    }
}

/// What a key can be taken from.
pub struct KeyInput<'a> {
    /// The client's address (after `trusted_proxies`).
    pub client: Option<IpAddr>,
    /// The normalised path.
    pub path: &'a str,
    /// The query, without `?`.
    pub query: Option<&'a str>,
    /// The header fields.
    pub fields: &'a dyn Fields,
}

/// The hash of the request's key, `None` when the request has none (no such header, cookie
/// or client address).
pub fn key_hash(key: &HashKey, input: &KeyInput<'_>) -> Option<u64> {
    let mut h = KeyHasher::default();
    match key {
        HashKey::ClientIp => match input.client? {
            IpAddr::V4(a) => h.write(&a.octets()),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => h.write(&v4.octets()),
                None => h.write(&a.octets()),
            },
        },
        HashKey::Path => h.write(input.path.as_bytes()),
        HashKey::Uri => {
            h.write(input.path.as_bytes());
            if let Some(q) = input.query {
                h.write(b"?");
                h.write(q.as_bytes());
            }
        }
        HashKey::Header(name) => {
            let found = input.fields.each(name.as_str(), &mut |v| {
                h.write(v);
                true
            });
            if !found {
                return None;
            }
        }
        HashKey::Cookie(name) => {
            with_cookie(input.fields, name, |v| h.write(v))?;
        }
    }
    Some(h.finish())
}

/// Runs `f` on the value of cookie `name` (the first one sent), if any.
pub fn with_cookie<R>(fields: &dyn Fields, name: &str, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    let mut f = Some(f);
    let mut out = None;
    fields.each("cookie", &mut |header| match find_cookie(header, name) {
        Some(v) => {
            out = f.take().map(|f| f(v));
            true
        }
        None => false,
    });
    out
}

/// The value of cookie `name` in one `Cookie` field value (`a=1; b=2`), quotes removed.
pub fn find_cookie<'v>(header: &'v [u8], name: &str) -> Option<&'v [u8]> {
    for pair in header.split(|&b| b == b';') {
        let pair = trim(pair);
        let Some(eq) = pair.iter().position(|&b| b == b'=') else {
            continue;
        };
        if trim(&pair[..eq]) == name.as_bytes() {
            let v = trim(&pair[eq + 1..]);
            let v = v
                .strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
                .unwrap_or(v);
            return Some(v);
        }
    }
    None
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Map(Vec<(&'static str, &'static str)>);

    impl Fields for Map {
        fn each(&self, name: &str, visit: &mut dyn FnMut(&[u8]) -> bool) -> bool {
            self.0
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .any(|(_, v)| visit(v.as_bytes()))
        }
    }

    fn input<'a>(fields: &'a Map, path: &'a str, query: Option<&'a str>) -> KeyInput<'a> {
        KeyInput {
            client: Some("10.0.0.1".parse().unwrap()),
            path,
            query,
            fields,
        }
    }

    #[test]
    fn cookies_are_found_in_any_field() {
        assert_eq!(
            find_cookie(b"a=1; sid=\"xy\"; b=2", "sid"),
            Some(&b"xy"[..])
        );
        assert_eq!(find_cookie(b"a=1;sid=7", "sid"), Some(&b"7"[..]));
        assert_eq!(find_cookie(b"asid=1", "sid"), None);
        let m = Map(vec![("cookie", "a=1"), ("Cookie", "sid=9")]);
        assert_eq!(with_cookie(&m, "sid", <[u8]>::to_vec), Some(b"9".to_vec()));
    }

    #[test]
    fn keys() {
        let m = Map(vec![("x-user", "alice"), ("cookie", "sid=1")]);
        let i = input(&m, "/p", Some("q=1"));
        let header = key_hash(
            &HashKey::Header(http::HeaderName::from_static("x-user")),
            &i,
        );
        assert!(header.is_some());
        assert_eq!(
            key_hash(
                &HashKey::Header(http::HeaderName::from_static("x-other")),
                &i
            ),
            None
        );
        assert!(key_hash(&HashKey::Cookie("sid".into()), &i).is_some());
        assert_eq!(key_hash(&HashKey::Cookie("nope".into()), &i), None);
        assert_ne!(key_hash(&HashKey::Path, &i), key_hash(&HashKey::Uri, &i));
        let no_query = input(&m, "/p", None);
        assert_eq!(
            key_hash(&HashKey::Path, &i),
            key_hash(&HashKey::Uri, &no_query)
        );
        let mapped = KeyInput {
            client: Some("::ffff:10.0.0.1".parse().unwrap()),
            ..input(&m, "/", None)
        };
        assert_eq!(
            key_hash(&HashKey::ClientIp, &i),
            key_hash(&HashKey::ClientIp, &mapped)
        );
    }
}
