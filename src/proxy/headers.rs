//! Pure request/response header decisions: forwarding headers, request ids, header rules and
//! prefix stripping. Kept free of Pingora sessions so each rule is unit-tested on its own.

use crate::config::model::HeaderRules;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::uri::{PathAndQuery, Uri};
use pingora::http::{RequestHeader, ResponseHeader};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// `X-Forwarded-For`.
pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `X-Forwarded-Proto`.
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `X-Forwarded-Host`.
pub static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
/// `X-Request-Id`.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's host as the client sent it: the URI authority (HTTP/2 `:authority`,
/// absolute-form) or else the `Host` header. Includes any port.
pub fn request_host(req: &RequestHeader) -> Option<&str> {
    if let Some(authority) = req.uri.authority() {
        return Some(authority.as_str());
    }
    req.headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
}

/// Keeps an incoming request id when it is a sane token (1-128 visible ASCII characters from a
/// conservative set), so ids survive across proxies; anything else is replaced.
pub fn valid_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && bytes.iter().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'+' | b'/' | b'=')
        })
}

/// A new request id: a random per-process prefix and a counter, so ids are unique without a
/// random number per request. 32 hex digits, the shape of a UUID without dashes.
pub fn new_request_id() -> HeaderValue {
    let buf = new_request_id_bytes();
    // Only hex digits: always a valid header value.
    HeaderValue::from_bytes(&buf).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

/// [`new_request_id`] as bytes, for callers that keep it in their own buffer (no allocation).
pub fn new_request_id_bytes() -> [u8; 32] {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| fastrand::u64(..));
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut buf = [0u8; 32];
    hex_into(&mut buf[..16], prefix);
    hex_into(&mut buf[16..], n);
    buf
}

fn hex_into(out: &mut [u8], mut v: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(v & 0xf) as usize];
        v >>= 4;
    }
}

/// Sets the forwarding headers on the upstream request: appends the client to
/// `X-Forwarded-For` (folding repeated headers into one), and sets `X-Forwarded-Proto`,
/// `X-Forwarded-Host` and `X-Request-Id`.
///
/// Names are given to Pingora as static strings: from a `HeaderName` it would first copy the
/// name into a new buffer for its case map (a measurable share of a request's instructions).
pub fn set_forwarding_headers(
    req: &mut RequestHeader,
    client: Option<IpAddr>,
    tls: bool,
    original_host: Option<&HeaderValue>,
    request_id: &HeaderValue,
) {
    if let Some(ip) = client {
        let existing: Vec<&[u8]> = req
            .headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        let ip = ip.to_string();
        let value = if existing.is_empty() {
            HeaderValue::from_str(&ip).ok()
        } else {
            let mut joined = existing.join(&b", "[..]);
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(ip.as_bytes());
            HeaderValue::from_bytes(&joined).ok()
        };
        if let Some(v) = value {
            let _ = req.insert_header("x-forwarded-for", v);
        }
    }
    let proto = if tls { "https" } else { "http" };
    let _ = req.insert_header("x-forwarded-proto", HeaderValue::from_static(proto));
    if let Some(host) = original_host {
        let _ = req.insert_header("x-forwarded-host", host.clone());
    }
    let _ = req.insert_header("x-request-id", request_id.clone());
}

/// Applies header rules to a request: remove, then set, then add. Setting `Host` also updates
/// the URI authority when there is one (HTTP/2), so the two never disagree.
pub fn apply_request_rules(req: &mut RequestHeader, rules: &HeaderRules) {
    for name in &rules.remove {
        req.remove_header(name);
    }
    for (name, value) in &rules.set {
        if *name == http::header::HOST {
            set_authority(req, value);
        }
        let _ = req.insert_header(name.clone(), value.clone());
    }
    for (name, value) in &rules.add {
        let _ = req.append_header(name.clone(), value.clone());
    }
}

fn set_authority(req: &mut RequestHeader, host: &HeaderValue) {
    if req.uri.authority().is_none() {
        return;
    }
    let Ok(authority) = http::uri::Authority::try_from(host.as_bytes()) else {
        return;
    };
    let mut parts = req.uri.clone().into_parts();
    parts.authority = Some(authority);
    if let Ok(uri) = Uri::from_parts(parts) {
        req.set_uri(uri);
    }
}

/// Applies header rules to a response.
pub fn apply_response_rules(resp: &mut ResponseHeader, rules: &HeaderRules) {
    for name in &rules.remove {
        resp.remove_header(name);
    }
    for (name, value) in &rules.set {
        let _ = resp.insert_header(name.clone(), value.clone());
    }
    for (name, value) in &rules.add {
        let _ = resp.append_header(name.clone(), value.clone());
    }
}

/// `/admin/x?q` with prefix `/admin` → `/x?q`; `/admin` → `/`. Returns `None` when the path does
/// not start with the prefix (cannot happen for a matched route) or the prefix is `/`.
pub fn strip_prefix(uri: &Uri, prefix: &str) -> Option<Uri> {
    if prefix == "/" {
        return None;
    }
    let rest = uri.path().strip_prefix(prefix)?;
    let new_path = if rest.is_empty() { "/" } else { rest };
    let pq = match uri.query() {
        Some(q) => format!("{new_path}?{q}"),
        None => new_path.to_string(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(pq).ok()?);
    Uri::from_parts(parts).ok()
}

/// Folds all values of a header for logging/inspection.
pub fn header_text<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(path: &str) -> RequestHeader {
        let mut r = RequestHeader::build("GET", path.as_bytes(), None).unwrap();
        r.insert_header("host", "www.example.test:8080").unwrap();
        r
    }

    #[test]
    fn forwarding_headers_append_and_set() {
        let mut r = req("/");
        r.append_header("x-forwarded-for", "10.0.0.1").unwrap();
        r.append_header("x-forwarded-for", "10.0.0.2").unwrap();
        r.insert_header("x-forwarded-proto", "https").unwrap();
        let host = r.headers.get("host").cloned();
        let id = HeaderValue::from_static("abc");
        set_forwarding_headers(
            &mut r,
            Some("192.0.2.7".parse().unwrap()),
            false,
            host.as_ref(),
            &id,
        );
        let xff: Vec<_> = r.headers.get_all("x-forwarded-for").iter().collect();
        assert_eq!(xff, vec!["10.0.0.1, 10.0.0.2, 192.0.2.7"]);
        assert_eq!(
            r.headers["x-forwarded-proto"], "http",
            "overwritten: this hop was cleartext"
        );
        assert_eq!(r.headers["x-forwarded-host"], "www.example.test:8080");
        assert_eq!(r.headers["x-request-id"], "abc");
    }

    #[test]
    fn request_ids() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(valid_request_id(&a));
        assert!(valid_request_id(&HeaderValue::from_static(
            "req-1234_abc.def"
        )));
        assert!(!valid_request_id(&HeaderValue::from_static("")));
        assert!(!valid_request_id(&HeaderValue::from_static("has space")));
        assert!(!valid_request_id(
            &HeaderValue::from_str(&"x".repeat(129)).unwrap()
        ));
    }

    #[test]
    fn rules_remove_then_set_then_add() {
        let mut r = req("/");
        r.insert_header("x-drop", "1").unwrap();
        r.insert_header("x-set", "old").unwrap();
        let rules = HeaderRules {
            remove: vec![HeaderName::from_static("x-drop")],
            set: vec![(
                HeaderName::from_static("x-set"),
                HeaderValue::from_static("new"),
            )],
            add: vec![(
                HeaderName::from_static("x-set"),
                HeaderValue::from_static("extra"),
            )],
        };
        apply_request_rules(&mut r, &rules);
        assert!(r.headers.get("x-drop").is_none());
        let set: Vec<_> = r.headers.get_all("x-set").iter().collect();
        assert_eq!(set, vec!["new", "extra"]);
    }

    #[test]
    fn strips_prefixes_keeping_the_query() {
        let u: Uri = "/admin/users?id=7".parse().unwrap();
        assert_eq!(strip_prefix(&u, "/admin").unwrap(), "/users?id=7");
        let u: Uri = "/admin".parse().unwrap();
        assert_eq!(strip_prefix(&u, "/admin").unwrap(), "/");
        let u: Uri = "https://www.example.test/admin/x".parse().unwrap();
        assert_eq!(
            strip_prefix(&u, "/admin").unwrap().to_string(),
            "https://www.example.test/x"
        );
        assert!(strip_prefix(&u, "/").is_none());
    }
}
