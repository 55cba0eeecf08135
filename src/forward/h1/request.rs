//! The request head as the gate left it (bytes plus field spans), read without copying, and the
//! head gatehouse sends to the backend, written with byte-level edits: hop-by-hop fields
//! dropped, forwarding fields replaced, header rules applied, every other line copied as it
//! came (name case and all).
//!
//! What changes on the way (the documented differences from the client's head): absolute-form
//! targets are sent in origin form (the gate already checked that the authority and `Host`
//! agree); the target is normalised and may lose the route's prefix; the version is always
//! HTTP/1.1; `Connection`, the fields it names, `Keep-Alive`, `Proxy-Connection`,
//! `Proxy-Authenticate`, `Proxy-Authorization`, `TE`, `Trailer`, `HTTP2-Settings` and `Upgrade`
//! are dropped (an allowed upgrade is sent again as `Connection: Upgrade` + `Upgrade`);
//! `X-Forwarded-For` is folded into one field ending with the client's address;
//! `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Request-Id` are replaced.

use crate::config::model::HeaderRules;
use crate::listener::head::{Field, FieldKind, Head};
use std::net::IpAddr;

/// Most `Connection` options remembered (more are ignored: they only name fields to drop).
const MAX_OPTIONS: usize = 16;

/// What the `Connection` field(s) of a request say.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConnectionOptions {
    /// `close`.
    pub close: bool,
    /// `keep-alive` (HTTP/1.0 clients ask for it).
    pub keep_alive: bool,
    /// `upgrade`.
    pub upgrade: bool,
    nominated: [(u32, u32); MAX_OPTIONS],
    count: usize,
}

impl ConnectionOptions {
    fn parse(buf: &[u8], fields: &[Field]) -> Self {
        let mut o = ConnectionOptions::default();
        for f in fields.iter().filter(|f| f.kind == FieldKind::Connection) {
            let mut start = f.value.0 as usize;
            let end = f.value.1 as usize;
            while start <= end {
                let stop = buf[start..end]
                    .iter()
                    .position(|&b| b == b',')
                    .map_or(end, |p| start + p);
                let (s, e) = trim_span(buf, start, stop);
                let token = &buf[s..e];
                if token.eq_ignore_ascii_case(b"close") {
                    o.close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    o.keep_alive = true;
                } else if token.eq_ignore_ascii_case(b"upgrade") {
                    o.upgrade = true;
                } else if !token.is_empty() && o.count < MAX_OPTIONS {
                    o.nominated[o.count] = (s as u32, e as u32);
                    o.count += 1;
                }
                start = stop + 1;
            }
        }
        o
    }

    /// Whether `name` was named as hop-by-hop. The fields gatehouse sets or relies on (`Host`,
    /// `X-Forwarded-*`) cannot be removed this way.
    fn names(&self, buf: &[u8], name: &[u8]) -> bool {
        self.nominated[..self.count]
            .iter()
            .any(|&(s, e)| buf[s as usize..e as usize].eq_ignore_ascii_case(name))
    }
}

fn trim_span(buf: &[u8], mut s: usize, mut e: usize) -> (usize, usize) {
    while s < e && matches!(buf[s], b' ' | b'\t') {
        s += 1;
    }
    while e > s && matches!(buf[e - 1], b' ' | b'\t') {
        e -= 1;
    }
    (s, e)
}

impl crate::runtime::balance::key::Fields for RequestView<'_> {
    fn each(&self, name: &str, visit: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.fields
            .iter()
            .filter(|f| f.name(self.buf).eq_ignore_ascii_case(name.as_bytes()))
            .any(|f| visit(f.value(self.buf)))
    }
}

/// A request head, read in place.
#[derive(Debug)]
pub struct RequestView<'a> {
    /// The head's bytes.
    pub buf: &'a [u8],
    /// Where its fields are.
    pub fields: &'a [Field],
    /// The gate's verdict on it.
    pub head: Head,
    /// Method.
    pub method: &'a str,
    /// Path as received (for absolute form, the part after the authority; `/` if empty).
    pub path: &'a str,
    /// Query, without `?`.
    pub query: Option<&'a str>,
    /// The host the client addressed (absolute-form authority, else `Host`), port included.
    pub host: &'a str,
    /// What `Connection` says.
    pub connection: ConnectionOptions,
    /// The `Upgrade` value, if any.
    pub upgrade: Option<&'a [u8]>,
    /// `User-Agent`.
    pub user_agent: Option<&'a str>,
    /// `X-Request-Id` as received.
    pub request_id: Option<&'a [u8]>,
    /// `Content-Type` is `application/grpc…`.
    pub grpc: bool,
}

fn text(b: &[u8]) -> &str {
    // The gate only lets visible ASCII through in the places read as text.
    std::str::from_utf8(b).unwrap_or("")
}

impl<'a> RequestView<'a> {
    /// Reads the head the gate checked.
    pub fn new(buf: &'a [u8], head: Head, fields: &'a [Field]) -> Self {
        let method = text(&buf[..head.method_end]);
        let path_and_query = &buf[head.path_start..head.target.1];
        let (path, query) = match path_and_query.iter().position(|&b| b == b'?') {
            Some(q) => (&path_and_query[..q], Some(text(&path_and_query[q + 1..]))),
            None => (path_and_query, None),
        };
        let path = if path.is_empty() { "/" } else { text(path) };
        let mut host = "";
        let mut upgrade = None;
        let mut user_agent = None;
        let mut request_id = None;
        let mut grpc = false;
        for f in fields {
            match f.kind {
                FieldKind::Host => host = text(f.value(buf)),
                FieldKind::Upgrade => upgrade = Some(f.value(buf)),
                FieldKind::UserAgent => user_agent = Some(text(f.value(buf))),
                FieldKind::XRequestId if request_id.is_none() => request_id = Some(f.value(buf)),
                FieldKind::ContentType => {
                    let v = f.value(buf);
                    grpc = v.len() >= 16 && v[..16].eq_ignore_ascii_case(b"application/grpc");
                }
                _ => {}
            }
        }
        if head.absolute {
            // scheme "://" authority: the gate checked it agrees with Host.
            let target = &buf[head.target.0..head.path_start];
            if let Some(p) = target.windows(3).position(|w| w == b"://") {
                host = text(&target[p + 3..]);
            }
        }
        RequestView {
            buf,
            fields,
            head,
            method,
            path,
            query,
            host,
            connection: ConnectionOptions::parse(buf, fields),
            upgrade,
            user_agent,
            request_id,
            grpc,
        }
    }

    /// `GET`, `HEAD`, `OPTIONS`, `TRACE`, `PUT`, `DELETE`: a retry cannot do harm twice.
    pub fn idempotent(&self) -> bool {
        matches!(
            self.method,
            "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
        )
    }

    /// `HEAD`: the response has no body whatever its framing says.
    pub fn is_head(&self) -> bool {
        self.method == "HEAD"
    }

    /// Whether the client wants the connection kept after this exchange.
    pub fn wants_keepalive(&self) -> bool {
        if self.head.http10 {
            self.connection.keep_alive && !self.connection.close
        } else {
            !self.connection.close
        }
    }

    /// Values of `X-Forwarded-For` as received, in order.
    pub fn forwarded_for(&self) -> impl Iterator<Item = &'a str> + '_ {
        let buf = self.buf;
        self.fields
            .iter()
            .filter(|f| f.kind == FieldKind::XForwardedFor)
            .map(move |f| text(f.value(buf)))
    }

    /// The upgrade token to pass on, if the client asked for one the route allows. Never
    /// `h2c` (HTTP/2 is served as such, not tunnelled), never from an HTTP/1.0 client.
    pub fn allowed_upgrade(&self, allowed: &crate::config::model::Upgrades) -> Option<&'a [u8]> {
        if self.head.http10 || !self.connection.upgrade {
            return None;
        }
        let value = self.upgrade?;
        value
            .split(|&b| b == b',')
            .map(|t| {
                let (s, e) = trim_span(t, 0, t.len());
                &t[s..e]
            })
            .find(|t| !t.eq_ignore_ascii_case(b"h2c") && allowed.allows(protocol_name(t)))
    }
}

/// `websocket` of `websocket/13`: routes allow protocols by name.
fn protocol_name(token: &[u8]) -> &[u8] {
    token.split(|&b| b == b'/').next().unwrap_or(token)
}

/// The edits that make the backend's head.
#[derive(Debug)]
pub struct Forwarding<'a> {
    /// The path to send (normalised, perhaps without the route's prefix).
    pub path: &'a [u8],
    /// The query to send, without `?`.
    pub query: Option<&'a [u8]>,
    /// The client's address, appended to `X-Forwarded-For`.
    pub client: Option<IpAddr>,
    /// Whether the client connection is TLS (`X-Forwarded-Proto`).
    pub tls: bool,
    /// The request id to send.
    pub request_id: &'a [u8],
    /// The route's request header rules.
    pub rules: &'a HeaderRules,
    /// The upgrade token to request from the backend.
    pub upgrade: Option<&'a [u8]>,
    /// Client-certificate headers only gatehouse may send: dropped from the client's head.
    pub strip: &'a [http::HeaderName],
    /// The verified client certificate's fields, written instead.
    pub client_cert: Option<[(&'a http::HeaderName, &'a str); 3]>,
}

/// Writes the backend's request head into `out` (cleared first).
pub fn write_upstream_head(out: &mut Vec<u8>, req: &RequestView<'_>, f: &Forwarding<'_>) {
    out.clear();
    out.reserve(req.buf.len() + 256);
    let buf = req.buf;
    out.extend_from_slice(req.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(f.path);
    if let Some(q) = f.query {
        out.push(b'?');
        out.extend_from_slice(q);
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let mut forwarded_for = 0;
    for field in req.fields {
        match field.kind {
            FieldKind::Connection
            | FieldKind::HopByHop
            | FieldKind::Upgrade
            | FieldKind::XForwardedProto
            | FieldKind::XForwardedHost
            | FieldKind::XRequestId => continue,
            FieldKind::XForwardedFor => {
                forwarded_for += 1;
                continue;
            }
            FieldKind::Host | FieldKind::ContentLength | FieldKind::TransferEncoding => {}
            _ => {
                if req.connection.names(buf, field.name(buf)) {
                    continue;
                }
            }
        }
        let name = field.name(buf);
        if !f.rules.is_empty() && ruled(f.rules, name) {
            continue;
        }
        if !f.strip.is_empty() && crate::tls::client_auth::is_stripped(f.strip, name) {
            continue;
        }
        out.extend_from_slice(field.line(buf));
        out.extend_from_slice(b"\r\n");
    }
    // The forwarding fields gatehouse writes, unless a rule removes or sets them (then the
    // rule's value is the only one). X-Forwarded-For: every received value, folded, then the
    // client.
    let own = |name: &[u8]| f.rules.is_empty() || !ruled(f.rules, name);
    if (forwarded_for > 0 || f.client.is_some()) && own(b"x-forwarded-for") {
        out.extend_from_slice(b"x-forwarded-for: ");
        let mut first = true;
        for v in req.forwarded_for() {
            if !first {
                out.extend_from_slice(b", ");
            }
            out.extend_from_slice(v.as_bytes());
            first = false;
        }
        if let Some(ip) = f.client {
            if !first {
                out.extend_from_slice(b", ");
            }
            write_ip(out, ip);
        }
        out.extend_from_slice(b"\r\n");
    }
    if own(b"x-forwarded-proto") {
        out.extend_from_slice(if f.tls {
            b"x-forwarded-proto: https\r\n"
        } else {
            b"x-forwarded-proto: http\r\n"
        });
    }
    if !req.host.is_empty() && own(b"x-forwarded-host") {
        out.extend_from_slice(b"x-forwarded-host: ");
        out.extend_from_slice(req.host.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if own(b"x-request-id") {
        out.extend_from_slice(b"x-request-id: ");
        out.extend_from_slice(f.request_id);
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in f.client_cert.iter().flatten() {
        if own(name.as_str().as_bytes()) {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    for (name, value) in f.rules.set.iter().chain(f.rules.add.iter()) {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(token) = f.upgrade {
        out.extend_from_slice(b"Connection: Upgrade\r\nUpgrade: ");
        out.extend_from_slice(token);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Whether a header rule removes or replaces the field `name`.
pub(crate) fn ruled(rules: &HeaderRules, name: &[u8]) -> bool {
    rules
        .remove
        .iter()
        .chain(rules.set.iter().map(|(n, _)| n))
        .any(|n| n.as_str().as_bytes().eq_ignore_ascii_case(name))
}

/// An IP address in text form, without `core::fmt` for IPv4.
pub(crate) fn write_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let mut buf = itoa::Buffer::new();
            for (i, octet) in v4.octets().iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(buf.format(*octet).as_bytes());
            }
        }
        IpAddr::V6(v6) => {
            use std::io::Write as _;
            let _ = write!(out, "{v6}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Upgrades;
    use crate::listener::head::{check_indexed, Check, Limits};
    use http::{HeaderName, HeaderValue};

    fn view<'a>(raw: &'a [u8], fields: &'a mut Vec<Field>) -> RequestView<'a> {
        let Check::Complete(head) = check_indexed(raw, &Limits::default(), fields) else {
            panic!("not a complete head");
        };
        RequestView::new(&raw[..head.len], head, fields)
    }

    fn forward(raw: &[u8], rules: &HeaderRules, upgrade_allowed: &Upgrades) -> String {
        let mut fields = Vec::new();
        let v = view(raw, &mut fields);
        let mut out = Vec::new();
        write_upstream_head(
            &mut out,
            &v,
            &Forwarding {
                path: v.path.as_bytes(),
                query: v.query.map(str::as_bytes),
                client: Some("192.0.2.7".parse().unwrap()),
                tls: false,
                request_id: b"rid",
                rules,
                upgrade: v.allowed_upgrade(upgrade_allowed),
                strip: &[],
                client_cert: None,
            },
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn forwarding_fields_and_hop_by_hop() {
        let raw = b"GET /a?b=1 HTTP/1.1\r\nHost: www.example.test\r\nX-Custom:  kept as is\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\nX-Forwarded-For: 10.0.0.1\r\nx-forwarded-for: 10.0.0.2\r\nX-Forwarded-Proto: https\r\nX-Request-Id: client\r\nProxy-Authorization: x\r\n\r\n";
        let out = forward(raw, &HeaderRules::default(), &Upgrades::listed(Vec::new()));
        assert_eq!(
            out,
            "GET /a?b=1 HTTP/1.1\r\nHost: www.example.test\r\nX-Custom:  kept as is\r\nx-forwarded-for: 10.0.0.1, 10.0.0.2, 192.0.2.7\r\nx-forwarded-proto: http\r\nx-forwarded-host: www.example.test\r\nx-request-id: rid\r\n\r\n"
        );
    }

    #[test]
    fn rules_remove_then_set_then_add() {
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
        let raw =
            b"POST / HTTP/1.1\r\nHost: a\r\nX-Drop: 1\r\nX-Set: old\r\nContent-Length: 2\r\n\r\n";
        let out = forward(raw, &rules, &Upgrades::listed(Vec::new()));
        assert!(!out.contains("X-Drop") && !out.contains("old"), "{out}");
        assert!(out.contains("Content-Length: 2\r\n"), "{out}");
        assert!(out.contains("x-set: new\r\nx-set: extra\r\n"), "{out}");
    }

    #[test]
    fn upgrades_only_when_allowed_and_never_h2c() {
        let ws = b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n";
        let out = forward(ws, &HeaderRules::default(), &Upgrades::WEBSOCKET);
        assert!(
            out.ends_with("Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n"),
            "{out}"
        );
        assert!(out.contains("Sec-WebSocket-Key: k"), "{out}");
        let none = Upgrades::listed(Vec::new());
        let out = forward(ws, &HeaderRules::default(), &none);
        assert!(!out.contains("pgrade"), "not allowed: {out}");
        let h2c = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAA\r\n\r\n";
        let out = forward(
            h2c,
            &HeaderRules::default(),
            &Upgrades::listed(vec!["h2c".to_string()]),
        );
        assert!(
            !out.contains("pgrade") && !out.contains("HTTP2"),
            "h2c is never tunnelled: {out}"
        );
    }

    #[test]
    fn absolute_form_and_views() {
        let raw = b"GET http://Example.test:8080?x HTTP/1.0\r\nHost: example.test:8080\r\nConnection: Keep-Alive\r\nUser-Agent: t/1\r\n\r\n";
        let mut fields = Vec::new();
        let v = view(raw, &mut fields);
        assert_eq!(v.host, "Example.test:8080");
        assert_eq!(v.path, "/");
        assert_eq!(v.query, Some("x"));
        assert_eq!(v.user_agent, Some("t/1"));
        assert!(v.wants_keepalive());
        assert!(v.idempotent());
    }
}
