//! The backend's response head, as the HTTP/1 engine reads and rewrites it
//! (`forward::h1::response::{parse, write_client_head}`).
//!
//! Input: one byte of options (bit 0: the request was `HEAD`; bits 1-7: how the client's head
//! is written), then the response bytes.
//!
//! - never panics;
//! - `Ok(Some(h))`: `h.len <= input`; the head alone parses the same (the bytes after it, body
//!   or next response, change nothing); every proper prefix is `Ok(None)` or the same verdict;
//!   a refused input has no complete prefix;
//! - differential against plain `httparse::Response` (what the engine wraps): complete at the
//!   same length with the same status and field count; partial and invalid alike;
//! - framing (RFC 9112 §6.3): `HEAD`, 1xx, 204 and 304 have no body; a `Transfer-Encoding`
//!   list ending in `chunked` is chunked; differing `Content-Length` values are refused;
//! - `write_client_head` writes a complete response head that `httparse` reads with the same
//!   status, without a bare CR or LF, without `Keep-Alive`, `Proxy-Connection` or a field the
//!   backend's `Connection` named, with one `x-request-id` and at most the one `Connection`
//!   gatehouse adds.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use gatehouse::config::model::HeaderRules;
use gatehouse::forward::h1::response::{parse, write_client_head, ClientHead, Framing};
use gatehouse::listener::head::Field;
use http::{HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&options, buf)) = data.split_first() else {
        return;
    };
    let head_request = options & 1 != 0;
    let mut fields = Vec::new();
    let whole = parse(buf, head_request, &mut fields);
    differential(buf, &whole);
    match whole {
        Ok(Some(h)) => {
            assert!(h.len <= buf.len(), "{} > {}", h.len, buf.len());
            let mut alone = Vec::new();
            assert_eq!(parse(&buf[..h.len], head_request, &mut alone), whole);
            assert_eq!(alone, fields, "fields of the head alone");
            for k in common::proper_prefixes(h.len) {
                let p = parse(&buf[..k], head_request, &mut Vec::new());
                assert!(
                    p == Ok(None) || p == whole,
                    "prefix {k} of a {}-byte head: {p:?}",
                    h.len
                );
            }
            framing(buf, head_request, h.status, h.framing);
            client_head(buf, &h, &fields, options >> 1);
        }
        Ok(None) => {
            for k in common::proper_prefixes(buf.len()) {
                assert_eq!(
                    parse(&buf[..k], head_request, &mut Vec::new()),
                    Ok(None),
                    "prefix {k}"
                );
            }
        }
        Err(_) => {
            for k in common::proper_prefixes(buf.len()) {
                assert!(
                    !matches!(parse(&buf[..k], head_request, &mut Vec::new()), Ok(Some(_))),
                    "prefix {k} complete, whole refused"
                );
            }
        }
    }
});

/// Plain httparse, with the engine's field limit.
fn differential(
    buf: &[u8],
    ours: &Result<Option<gatehouse::forward::h1::response::ResponseHead>, &str>,
) {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut resp = httparse::Response::new(&mut headers);
    match (resp.parse(buf), ours) {
        (Ok(httparse::Status::Complete(n)), Ok(Some(h))) => {
            assert_eq!(n, h.len, "head length");
            assert_eq!(resp.code, Some(h.status), "status");
            let count = resp.headers.len();
            let mut fields = Vec::new();
            let _ = parse(buf, false, &mut fields);
            assert_eq!(fields.len(), count, "field count");
        }
        // The engine refuses more than httparse: a status under 100, bad or differing
        // Content-Length values.
        (Ok(httparse::Status::Complete(_)), Err(_)) => {}
        (Ok(httparse::Status::Partial), Ok(None)) => {}
        (Err(_), Err(_)) => {}
        (theirs, ours) => panic!("httparse {theirs:?}, engine {ours:?}"),
    }
}

/// The framing, derived independently from httparse's fields.
fn framing(buf: &[u8], head_request: bool, status: u16, got: Framing) {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut resp = httparse::Response::new(&mut headers);
    let _ = resp.parse(buf);
    let lengths: Vec<u64> = values(resp.headers, "content-length")
        .iter()
        .map(|v| {
            std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse().ok())
                .expect("accepted Content-Length values are numbers")
        })
        .collect();
    assert!(
        lengths.windows(2).all(|w| w[0] == w[1]),
        "differing Content-Length values accepted: {lengths:?}"
    );
    let codings = values(resp.headers, "transfer-encoding");
    // The codings of all fields, as one list (RFC 9110 §5.3).
    let list: Vec<&[u8]> = codings
        .iter()
        .flat_map(|v| v.split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .collect();
    let last_is_chunked = list
        .last()
        .is_some_and(|c| c.eq_ignore_ascii_case(b"chunked"));
    if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
        assert_eq!(got, Framing::None, "no body");
    } else if !codings.is_empty() {
        // The final coding of the whole list decides (a list over several fields included).
        let expected = if last_is_chunked {
            Framing::Chunked
        } else {
            Framing::Close
        };
        assert_eq!(got, expected, "Transfer-Encoding {list:?}");
    } else if let Some(&n) = lengths.first() {
        assert_eq!(got, Framing::Length(n));
    } else {
        assert_eq!(got, Framing::Close);
    }
}

/// The trimmed values of the fields called `name`.
fn values<'a>(headers: &[httparse::Header<'a>], name: &str) -> Vec<&'a [u8]> {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.trim_ascii())
        .collect()
}

fn rules(which: u8) -> HeaderRules {
    let name = HeaderName::from_static;
    let value = HeaderValue::from_static;
    match which % 4 {
        0 => HeaderRules::default(),
        1 => HeaderRules {
            remove: vec![name("server"), name("x-custom")],
            set: vec![(name("x-set"), value("set"))],
            add: vec![(name("x-added"), value("added"))],
        },
        2 => HeaderRules {
            remove: vec![name("set-cookie")],
            set: vec![(name("cache-control"), value("no-store"))],
            add: Vec::new(),
        },
        _ => HeaderRules {
            remove: Vec::new(),
            set: Vec::new(),
            add: vec![(name("x-hop"), value("added by a rule"))],
        },
    }
}

fn client_head(
    buf: &[u8],
    h: &gatehouse::forward::h1::response::ResponseHead,
    fields: &[Field],
    options: u8,
) {
    let rules = rules(options >> 4);
    let spec = ClientHead {
        rules: (options >> 4 != 0).then_some(&rules),
        hsts: (options & 1 != 0).then_some(b"max-age=60".as_slice()),
        request_id: b"rid-1",
        server_header: options & 2 != 0,
        close: options & 4 != 0,
        keep_alive: options & 8 != 0,
        dechunk: options & 8 == 0 && h.framing == Framing::Chunked && options & 4 != 0,
    };
    let mut out = Vec::new();
    write_client_head(&mut out, buf, h, fields, &spec);
    common::assert_crlf_only(&out);
    let mut headers = vec![httparse::EMPTY_HEADER; fields.len() + 16];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(&out) {
        Ok(httparse::Status::Complete(n)) => assert_eq!(n, out.len(), "one head, nothing after"),
        other => panic!(
            "client head does not parse: {other:?}\n{}",
            String::from_utf8_lossy(&out)
        ),
    }
    assert_eq!(resp.code, Some(h.status));
    let nominated: Vec<Vec<u8>> = resp_connection_options(buf, fields);
    let mut connection = 0;
    let mut request_ids = 0;
    for f in resp.headers.iter() {
        let name = f.name.as_bytes();
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        assert!(
            !is("keep-alive") && !is("proxy-connection"),
            "hop-by-hop {}",
            f.name
        );
        if is("connection") {
            connection += 1;
            assert!(
                [&b"close"[..], &b"keep-alive"[..], &b"Upgrade"[..]].contains(&f.value),
                "Connection: {:?}",
                String::from_utf8_lossy(f.value)
            );
        }
        if is("x-request-id") {
            request_ids += 1;
            assert_eq!(f.value, b"rid-1");
        }
        if is("upgrade") {
            assert_eq!(h.status, 101, "Upgrade outside a 101");
        }
        let added_by_gatehouse = spec.rules.is_some_and(|r| {
            r.set
                .iter()
                .chain(r.add.iter())
                .any(|(n, _)| is(n.as_str()))
        }) || [
            "x-request-id",
            "server",
            "date",
            "strict-transport-security",
            "connection",
        ]
        .iter()
        .any(|n| is(n));
        let framing_field = is("content-length") || is("transfer-encoding");
        if !added_by_gatehouse && !framing_field {
            assert!(
                !nominated.iter().any(|n| n.eq_ignore_ascii_case(name)),
                "{} was named by the backend's Connection",
                f.name
            );
        }
    }
    assert!(connection <= 1, "{connection} Connection fields");
    assert_eq!(request_ids, 1, "one x-request-id");
}

/// The field names the backend's `Connection` fields name (`close`, `keep-alive` and
/// `upgrade` are options, not names: `Upgrade` is kept in a 101).
fn resp_connection_options(buf: &[u8], fields: &[Field]) -> Vec<Vec<u8>> {
    fields
        .iter()
        .filter(|f| f.name(buf).eq_ignore_ascii_case(b"connection"))
        .flat_map(|f| f.value(buf).split(|&b| b == b','))
        .map(|t| t.trim_ascii().to_vec())
        .filter(|t| {
            !t.is_empty()
                && !t.eq_ignore_ascii_case(b"close")
                && !t.eq_ignore_ascii_case(b"keep-alive")
                && !t.eq_ignore_ascii_case(b"upgrade")
        })
        .collect()
}
