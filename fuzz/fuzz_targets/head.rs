//! Strict HTTP/1 request-head checker (the smuggling boundary).
//!
//! - never panics;
//! - `Complete(head)` has `head.len <= input.len()`, and the head alone checks the same;
//! - the verdict does not depend on how the bytes were split into reads: every proper prefix of
//!   a complete head is `Incomplete`, a refused input has no complete prefix;
//! - differential: every head the strict gate accepts is read by `httparse` (the lenient parser
//!   Pingora uses next) as the same number of bytes, with the same method, target, version,
//!   header fields and body framing.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use gatehouse::listener::head::{check, Body, Check, Head, Limits};
use libfuzzer_sys::fuzz_target;

/// The defaults, and the smallest limits the config accepts (so the limit paths are reached
/// with short inputs).
const LIMITS: [Limits; 2] = [
    Limits {
        max_request_line: 8 * 1024,
        max_header_bytes: 32 * 1024,
        max_headers: 100,
    },
    Limits {
        max_request_line: 64,
        max_header_bytes: 256,
        max_headers: 8,
    },
];

fuzz_target!(|data: &[u8]| {
    for limits in &LIMITS {
        let whole = check(data, limits);
        match whole {
            Check::Complete(head) => {
                assert!(head.len <= data.len(), "{} > {}", head.len, data.len());
                assert_eq!(check(&data[..head.len], limits), whole);
                for k in common::proper_prefixes(head.len) {
                    assert_eq!(
                        check(&data[..k], limits),
                        Check::Incomplete,
                        "prefix {k} of a {}-byte head",
                        head.len
                    );
                }
                differential(&data[..head.len], &head, limits);
            }
            Check::Incomplete => {
                for k in common::proper_prefixes(data.len()) {
                    assert_eq!(check(&data[..k], limits), Check::Incomplete, "prefix {k}");
                }
            }
            Check::Refuse(r) => {
                assert!(
                    [400, 405, 414, 431, 505].contains(&r.status),
                    "status {}",
                    r.status
                );
                for k in common::proper_prefixes(data.len()) {
                    assert!(
                        !matches!(check(&data[..k], limits), Check::Complete(_)),
                        "prefix {k} complete, whole refused"
                    );
                }
            }
        }
    }
});

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |p| p + 1);
    &v[start..end]
}

fn differential(raw: &[u8], head: &Head, limits: &Limits) {
    let mut storage = vec![httparse::EMPTY_HEADER; limits.max_headers + 1];
    let mut req = httparse::Request::new(&mut storage);
    let parsed = match req.parse(raw) {
        Ok(httparse::Status::Complete(n)) => n,
        other => panic!("strict gate accepted, httparse says {other:?}"),
    };
    assert_eq!(
        parsed, head.len,
        "the two parsers disagree on where the head ends"
    );

    // The request line, split the strict way: exactly three fields separated by single spaces.
    let line_end = raw
        .windows(2)
        .position(|w| w == b"\r\n")
        .expect("a complete head has a CRLF");
    let mut parts = raw[..line_end].split(|&b| b == b' ');
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    assert_eq!(req.method.map(str::as_bytes), method);
    assert_eq!(req.path.map(str::as_bytes), target);
    assert_eq!(
        req.version,
        Some(if head.http10 { 0 } else { 1 }),
        "{:?}",
        version.map(String::from_utf8_lossy)
    );

    // The same header fields, in the same order, with the same (trimmed) values.
    let fields: Vec<(&[u8], &[u8])> = raw[line_end + 2..raw.len() - 2]
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
        .map(|l| {
            let colon = l
                .iter()
                .position(|&b| b == b':')
                .expect("field has a colon");
            (&l[..colon], trim(&l[colon + 1..]))
        })
        .collect();
    assert_eq!(req.headers.len(), fields.len(), "header count");
    for (h, (name, value)) in req.headers.iter().zip(&fields) {
        assert_eq!(h.name.as_bytes(), *name);
        assert_eq!(trim(h.value), *value, "value of {}", h.name);
    }

    // Body framing as a lenient reader would derive it from httparse's fields.
    let named = |n: &'static str| {
        req.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(n))
    };
    assert_eq!(named("host").count(), 1);
    let te: Vec<_> = named("transfer-encoding").collect();
    let cl: Vec<_> = named("content-length").collect();
    let lenient = if !te.is_empty() {
        assert_eq!(te.len(), 1);
        assert!(cl.is_empty(), "both Transfer-Encoding and Content-Length");
        assert!(trim(te[0].value).eq_ignore_ascii_case(b"chunked"));
        Body::Chunked
    } else if let Some(h) = cl.first() {
        assert_eq!(cl.len(), 1);
        let n: u64 = std::str::from_utf8(trim(h.value))
            .ok()
            .and_then(|s| s.parse().ok())
            .expect("Content-Length is a number");
        if n == 0 {
            Body::None
        } else {
            Body::Length(n)
        }
    } else {
        Body::None
    };
    assert_eq!(head.body, lenient);
}
