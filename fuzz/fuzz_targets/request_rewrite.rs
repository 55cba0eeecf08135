//! The request head gatehouse sends to a backend (`forward::h1::request::write_upstream_head`)
//! for every head the strict gate accepts (`listener::head::check_indexed`).
//!
//! Input: one byte of options (bits 0-1: header rules from a small fixed set of valid ones;
//! bit 2: the route allows WebSocket; bit 3: TLS; bit 4: an IPv6 client; bit 5: strip the
//! route prefix `/a`), then the request bytes.
//!
//! - never panics;
//! - the head written parses with `httparse` as one complete request, and passes the gate
//!   again (gatehouse only sends what it would accept itself), with the same body framing;
//! - exactly one `Host`; no hop-by-hop field (`Connection`, what the client's `Connection`
//!   named, `Keep-Alive`, `Proxy-*`, `TE`, `Trailer`, `HTTP2-Settings`, `Upgrade`), except
//!   `Connection: Upgrade` + `Upgrade: <token>` when an upgrade was allowed;
//! - exactly one `x-forwarded-for`, whose last element is the client's address, one
//!   `x-forwarded-proto` saying the listener's scheme, one `x-request-id`;
//! - no bare CR or LF.
//!
//! The rule sets leave the forwarding fields alone: rules that set or remove them are a known
//! bug (the field gatehouse writes is not replaced; `tests/it/differential.rs`).
#![no_main]

#[path = "common/mod.rs"]
mod common;

use gatehouse::config::model::{HeaderRules, Upgrades};
use gatehouse::forward::h1::request::{write_upstream_head, Forwarding, RequestView};
use gatehouse::listener::head::{check_indexed, Body, Check, Limits};
use gatehouse::proxy::headers::valid_request_id;
use http::{HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;

/// Room for what gatehouse adds when the head is checked again.
const RECHECK: Limits = Limits {
    max_request_line: 8 * 1024,
    max_header_bytes: 64 * 1024,
    max_headers: 200,
};

fn rules(which: u8) -> HeaderRules {
    let name = HeaderName::from_static;
    let value = HeaderValue::from_static;
    match which % 4 {
        0 => HeaderRules::default(),
        1 => HeaderRules {
            remove: vec![name("x-custom"), name("cookie")],
            set: vec![(name("x-set"), value("set"))],
            add: vec![(name("x-added"), value("added"))],
        },
        2 => HeaderRules {
            remove: Vec::new(),
            set: vec![(name("host"), value("backend.internal:9000"))],
            add: Vec::new(),
        },
        _ => HeaderRules {
            remove: vec![name("user-agent")],
            set: vec![(name("x-custom"), value("ruled"))],
            add: vec![(name("x-custom"), value("again"))],
        },
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&options, input)) = data.split_first() else {
        return;
    };
    let mut fields = Vec::new();
    let Check::Complete(head) = check_indexed(input, &Limits::default(), &mut fields) else {
        return;
    };
    let view = RequestView::new(&input[..head.len], head, &fields);
    let Some(path) = gatehouse::proxy::path::normalize(view.path) else {
        return; // above the root: the engine answers 400 itself
    };
    let path = if options & 32 != 0 && (path == "/a" || path.starts_with("/a/")) {
        if path.len() == 2 {
            "/"
        } else {
            &path[2..]
        }
    } else {
        &path[..]
    };
    let rules = rules(options);
    let allowed = if options & 4 != 0 {
        Upgrades::WEBSOCKET
    } else {
        Upgrades::listed(Vec::new())
    };
    let upgrade = view.allowed_upgrade(&allowed);
    let client: IpAddr = if options & 16 != 0 {
        "2001:db8::7".parse().expect("literal")
    } else {
        "192.0.2.7".parse().expect("literal")
    };
    let request_id = match view
        .request_id
        .and_then(|v| HeaderValue::from_bytes(v).ok())
    {
        Some(v) if valid_request_id(&v) => v.as_bytes().to_vec(),
        _ => b"0123456789abcdef0123456789abcdef".to_vec(),
    };
    let tls = options & 8 != 0;
    let mut out = Vec::new();
    write_upstream_head(
        &mut out,
        &view,
        &Forwarding {
            path: path.as_bytes(),
            query: view.query.map(str::as_bytes),
            client: Some(client),
            tls,
            request_id: &request_id,
            rules: &rules,
            upgrade,
            strip: &[],
            client_cert: None,
        },
    );
    let shown = || String::from_utf8_lossy(&out).into_owned();
    common::assert_crlf_only(&out);

    // httparse reads one complete request.
    let mut storage = vec![httparse::EMPTY_HEADER; fields.len() + 16];
    let mut req = httparse::Request::new(&mut storage);
    match req.parse(&out) {
        Ok(httparse::Status::Complete(n)) => assert_eq!(n, out.len(), "{}", shown()),
        other => panic!("httparse: {other:?}\n{}", shown()),
    }
    assert_eq!(req.version, Some(1), "HTTP/1.1 upstream");
    assert_eq!(req.method, Some(view.method));

    // The gate accepts it again, with the same framing.
    let mut again = Vec::new();
    match check_indexed(&out, &RECHECK, &mut again) {
        Check::Complete(h) => {
            assert_eq!(h.len, out.len());
            assert_eq!(h.body, head.body, "body framing changed\n{}", shown());
            assert!(!h.absolute, "origin form upstream");
        }
        other => panic!(
            "the gate refuses what gatehouse sends: {other:?}\n{}",
            shown()
        ),
    }

    let count = |n: &str| {
        req.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(n))
            .count()
    };
    assert_eq!(count("host"), 1, "{}", shown());
    for hop in [
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "http2-settings",
    ] {
        assert_eq!(count(hop), 0, "{hop}\n{}", shown());
    }
    match upgrade {
        Some(token) => {
            let connection = values(req.headers, "connection");
            assert_eq!(connection, vec![&b"Upgrade"[..]], "{}", shown());
            assert_eq!(values(req.headers, "upgrade"), vec![token], "{}", shown());
            assert!(!head.http10);
        }
        None => {
            assert_eq!(count("connection"), 0, "{}", shown());
            assert_eq!(count("upgrade"), 0, "{}", shown());
        }
    }
    // Fields the client's Connection named are gone, but those gatehouse keeps or writes.
    for nominated in connection_options(input, &fields) {
        let n = String::from_utf8_lossy(&nominated).to_ascii_lowercase();
        let kept = matches!(
            n.as_str(),
            "host"
                | "content-length"
                | "transfer-encoding"
                | "x-forwarded-for"
                | "x-forwarded-proto"
                | "x-forwarded-host"
                | "x-request-id"
                | "connection"
                | "upgrade"
        ) || rules
            .set
            .iter()
            .chain(rules.add.iter())
            .any(|(r, _)| r.as_str() == n);
        if !kept {
            assert_eq!(count(&n), 0, "{n} was nominated\n{}", shown());
        }
    }

    // Forwarding fields: one each, the client last in X-Forwarded-For.
    assert_eq!(count("x-forwarded-for"), 1, "{}", shown());
    assert_eq!(count("x-forwarded-proto"), 1, "{}", shown());
    assert_eq!(count("x-request-id"), 1, "{}", shown());
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("x-forwarded-for") {
            let last = h.value.rsplit(|&b| b == b',').next().unwrap_or_default();
            assert_eq!(
                last.trim_ascii(),
                client.to_string().as_bytes(),
                "{}",
                shown()
            );
        }
        if h.name.eq_ignore_ascii_case("x-forwarded-proto") {
            assert_eq!(h.value, if tls { &b"https"[..] } else { &b"http"[..] });
        }
        if h.name.eq_ignore_ascii_case("x-request-id") {
            assert_eq!(h.value, &request_id[..]);
        }
    }
    if head.body == Body::None {
        assert_eq!(count("transfer-encoding"), 0);
    }
});

/// The values of the fields called `name`.
fn values<'a>(headers: &[httparse::Header<'a>], name: &str) -> Vec<&'a [u8]> {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
        .collect()
}

/// The field names the client's `Connection` fields nominate: the first 16 (the engine
/// documents that it remembers no more; Pingora refuses such a request instead).
fn connection_options(buf: &[u8], fields: &[gatehouse::listener::head::Field]) -> Vec<Vec<u8>> {
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
        .take(16)
        .collect()
}
