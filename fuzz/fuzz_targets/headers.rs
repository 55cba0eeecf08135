//! Header rewriting: forwarding headers, header rules, prefix stripping and request ids.
//!
//! Checks against plain `http::HeaderMap` semantics: forwarding headers are set exactly once
//! (X-Forwarded-For appended to what came in), rules act as remove → set → add and touch
//! nothing else, Pingora's case-preserving name map stays in step with the headers (its wire
//! form re-parses to the same fields), and prefix stripping keeps the query and the rest of
//! the URI.
#![no_main]

use arbitrary::Arbitrary;
use gatehouse::config::model::HeaderRules;
use gatehouse::proxy::headers::{
    apply_request_rules, apply_response_rules, set_forwarding_headers, strip_prefix,
    valid_request_id, X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PROTO, X_REQUEST_ID,
};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use pingora_http::{RequestHeader, ResponseHeader};
use std::net::IpAddr;

/// A header name: one of a few common ones (so rules and headers collide), or raw bytes.
#[derive(Arbitrary, Debug)]
enum Name {
    Known(u8),
    Raw(Vec<u8>),
}

const KNOWN: &[&str] = &[
    "Host",
    "X-Forwarded-For",
    "x-forwarded-for",
    "X-Forwarded-Proto",
    "X-Forwarded-Host",
    "X-Request-Id",
    "X-Custom",
    "x-custom",
    "Cookie",
    "Via",
];

impl Name {
    /// As the client spelled it (case kept).
    fn text(&self) -> Option<String> {
        match self {
            Name::Known(i) => Some(KNOWN[usize::from(*i) % KNOWN.len()].to_string()),
            Name::Raw(b) => {
                let s = String::from_utf8(b.clone()).ok()?;
                HeaderName::from_bytes(s.as_bytes()).ok()?;
                Some(s)
            }
        }
    }

    fn name(&self) -> Option<HeaderName> {
        HeaderName::from_bytes(self.text()?.as_bytes()).ok()
    }
}

#[derive(Arbitrary, Debug)]
struct Rules {
    remove: Vec<Name>,
    set: Vec<(Name, Vec<u8>)>,
    add: Vec<(Name, Vec<u8>)>,
}

impl Rules {
    fn build(&self) -> HeaderRules {
        let pair = |(n, v): &(Name, Vec<u8>)| Some((n.name()?, HeaderValue::from_bytes(v).ok()?));
        HeaderRules {
            remove: self.remove.iter().filter_map(Name::name).collect(),
            set: self.set.iter().filter_map(pair).collect(),
            add: self.add.iter().filter_map(pair).collect(),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    method: u8,
    target: Vec<u8>,
    headers: Vec<(Name, Vec<u8>)>,
    client: Option<IpAddr>,
    tls: bool,
    request_id: Vec<u8>,
    request_rules: Rules,
    response_rules: Rules,
    status: u16,
    prefix: String,
}

fn expected_after_rules(before: &HeaderMap, rules: &HeaderRules) -> HeaderMap {
    let mut m = before.clone();
    for n in &rules.remove {
        m.remove(n);
    }
    for (n, v) in &rules.set {
        m.insert(n.clone(), v.clone());
    }
    for (n, v) in &rules.add {
        m.append(n.clone(), v.clone());
    }
    m
}

/// The header block as Pingora writes it, parsed back.
fn wire_fields(write: impl FnOnce(&mut Vec<u8>)) -> HeaderMap {
    let mut wire = b"GET / HTTP/1.1\r\n".to_vec();
    write(&mut wire);
    wire.extend_from_slice(b"\r\n");
    let mut storage = vec![httparse::EMPTY_HEADER; 4096];
    let mut req = httparse::Request::new(&mut storage);
    match req.parse(&wire) {
        Ok(httparse::Status::Complete(n)) => assert_eq!(n, wire.len()),
        other => panic!("Pingora's wire form does not parse: {other:?}"),
    }
    let mut m = HeaderMap::new();
    for h in req.headers.iter() {
        m.append(
            HeaderName::from_bytes(h.name.as_bytes()).expect("name"),
            HeaderValue::from_bytes(h.value).expect("value"),
        );
    }
    m
}

/// Values compare after trimming: the wire form cannot carry leading or trailing blanks.
fn same_fields(a: &HeaderMap, b: &HeaderMap) -> bool {
    let norm = |m: &HeaderMap| {
        let mut v: Vec<(String, Vec<u8>)> = m
            .iter()
            .map(|(n, v)| {
                let t = v.as_bytes();
                let s = t
                    .iter()
                    .position(|&c| c != b' ' && c != b'\t')
                    .unwrap_or(t.len());
                let e = t
                    .iter()
                    .rposition(|&c| c != b' ' && c != b'\t')
                    .map_or(s, |p| p + 1);
                (n.as_str().to_string(), t[s..e].to_vec())
            })
            .collect();
        v.sort();
        v
    };
    norm(a) == norm(b)
}

const METHODS: &[&str] = &["GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"];

fuzz_target!(|input: Input| {
    // valid_request_id: 1-128 bytes of a conservative token set.
    if let Ok(v) = HeaderValue::from_bytes(&input.request_id) {
        let expected = (1..=128).contains(&input.request_id.len())
            && input
                .request_id
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:+/=".contains(b));
        assert_eq!(valid_request_id(&v), expected);
    }

    let method = METHODS[usize::from(input.method) % METHODS.len()];
    let Ok(mut req) = RequestHeader::build(method, &input.target, None) else {
        return;
    };
    for (n, v) in &input.headers {
        if let (Some(n), Ok(v)) = (n.text(), HeaderValue::from_bytes(v)) {
            let _ = req.append_header(n, v);
        }
    }

    // Forwarding headers.
    let before = req.headers.clone();
    let request_id = HeaderValue::from_bytes(&input.request_id)
        .ok()
        .filter(valid_request_id)
        .unwrap_or_else(gatehouse::proxy::headers::new_request_id);
    let original_host = before.get(http::header::HOST).cloned();
    set_forwarding_headers(
        &mut req,
        input.client,
        input.tls,
        original_host.as_ref(),
        &request_id,
    );
    let one =
        |n: &HeaderName| -> Vec<HeaderValue> { req.headers.get_all(n).iter().cloned().collect() };
    assert_eq!(
        one(&X_FORWARDED_PROTO),
        [HeaderValue::from_static(if input.tls {
            "https"
        } else {
            "http"
        })]
    );
    assert_eq!(one(&X_REQUEST_ID), [request_id.clone()]);
    match &original_host {
        Some(h) => assert_eq!(one(&X_FORWARDED_HOST), [h.clone()]),
        None => assert_eq!(
            one(&X_FORWARDED_HOST),
            before
                .get_all(&X_FORWARDED_HOST)
                .iter()
                .cloned()
                .collect::<Vec<_>>()
        ),
    }
    let xff_before: Vec<&[u8]> = before
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    match input.client {
        Some(ip) => {
            // Folded: every incoming value (an empty one too: empty list elements are legal,
            // RFC 9110 5.6.1), then this hop's client.
            let mut expected = xff_before.join(&b", "[..]);
            if !xff_before.is_empty() {
                expected.extend_from_slice(b", ");
            }
            expected.extend_from_slice(ip.to_string().as_bytes());
            assert_eq!(
                one(&X_FORWARDED_FOR),
                [HeaderValue::from_bytes(&expected).unwrap()]
            );
        }
        None => assert_eq!(
            one(&X_FORWARDED_FOR)
                .iter()
                .map(HeaderValue::as_bytes)
                .collect::<Vec<_>>(),
            xff_before
        ),
    }
    for (n, v) in &before {
        if ![
            &X_FORWARDED_FOR,
            &X_FORWARDED_PROTO,
            &X_FORWARDED_HOST,
            &X_REQUEST_ID,
        ]
        .contains(&n)
        {
            assert!(req.headers.get_all(n).iter().any(|x| x == v), "{n} lost");
        }
    }
    assert!(same_fields(
        &wire_fields(|b| req.header_to_h1_wire(b)),
        &req.headers
    ));

    // Request rules: remove → set → add, nothing else touched.
    let rules = input.request_rules.build();
    let before = req.headers.clone();
    let authority_before = req.uri.authority().cloned();
    apply_request_rules(&mut req, &rules);
    assert_eq!(req.headers, expected_after_rules(&before, &rules));
    assert!(same_fields(
        &wire_fields(|b| req.header_to_h1_wire(b)),
        &req.headers
    ));
    // Setting Host keeps an absolute-form authority in step (when it is a valid authority).
    if let (Some(_), Some((_, host))) = (
        &authority_before,
        rules
            .set
            .iter()
            .rev()
            .find(|(n, _)| *n == http::header::HOST),
    ) {
        if let Ok(a) = http::uri::Authority::try_from(host.as_bytes()) {
            assert_eq!(req.uri.authority(), Some(&a));
        }
    }

    // Response rules.
    let Ok(mut resp) = ResponseHeader::build(input.status.clamp(100, 999), None) else {
        return;
    };
    for (n, v) in &input.headers {
        if let (Some(n), Ok(v)) = (n.text(), HeaderValue::from_bytes(v)) {
            let _ = resp.append_header(n, v);
        }
    }
    let rules = input.response_rules.build();
    let before = resp.headers.clone();
    apply_response_rules(&mut resp, &rules);
    assert_eq!(resp.headers, expected_after_rules(&before, &rules));
    assert!(same_fields(
        &wire_fields(|b| resp.header_to_h1_wire(b)),
        &resp.headers
    ));

    // Prefix stripping (prefixes are normalised like the validator does).
    let prefix = {
        let p = format!("/{}", input.prefix.trim_start_matches('/'));
        let t = p.trim_end_matches('/');
        if t.is_empty() {
            "/".to_string()
        } else {
            t.to_string()
        }
    };
    let uri = req.uri.clone();
    let stripped = strip_prefix(&uri, &prefix);
    if prefix == "/" {
        assert!(stripped.is_none());
        return;
    }
    let path = uri.path();
    let on_boundary = path == prefix
        || (path.starts_with(&prefix) && path.as_bytes().get(prefix.len()) == Some(&b'/'));
    if !on_boundary {
        return;
    }
    let new = stripped.expect("a route's prefix always strips");
    assert_eq!(new.query(), uri.query());
    assert_eq!(new.scheme(), uri.scheme());
    assert_eq!(new.authority(), uri.authority());
    if path == prefix {
        assert_eq!(new.path(), "/");
    } else {
        assert_eq!(format!("{prefix}{}", new.path()), path);
    }
});
