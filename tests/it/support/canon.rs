//! Canonical forms of HTTP/1 messages for the engine differential: what two proxies may
//! legitimately write differently is mapped to one form, so that what remains is a real
//! difference. Each mapping here is one of the documented differences listed at the top of
//! `tests/it/differential.rs`; nothing else is forgiven.

use super::recorder::{chunked, decode_chunked, head_len};

/// How a message body was delimited (kept in the canonical form: re-framing is a difference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(usize),
    Chunked,
    Close,
}

/// A message reduced to what must not differ between the engines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canon {
    /// Request: method and origin-form target. Response: the status code.
    pub start: String,
    /// Fields: names lowercased, values trimmed, stable-sorted by name (the relative order of
    /// repeated fields is kept), framing fields left out.
    pub fields: Vec<(String, String)>,
    pub framing: Framing,
    /// The payload (chunked framing decoded; trailers left out).
    pub body: Vec<u8>,
}

impl std::fmt::Display for Canon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", self.start)?;
        for (n, v) in &self.fields {
            writeln!(f, "{n}: {v}")?;
        }
        writeln!(f, "framing: {:?}", self.framing)?;
        write!(f, "body: {:?}", String::from_utf8_lossy(&self.body))
    }
}

fn fields(head: &str) -> Vec<(String, String)> {
    head.split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap_or((l, ""));
            (
                n.to_ascii_lowercase(),
                v.trim_matches([' ', '\t']).to_string(),
            )
        })
        .collect()
}

/// The body after a head, by the head's framing: `(framing, payload)`.
fn body(
    head: &[u8],
    fields: &[(String, String)],
    rest: &[u8],
    no_body: bool,
) -> (Framing, Vec<u8>) {
    let get = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    if no_body {
        return (Framing::None, Vec::new());
    }
    if chunked(head) {
        let d = decode_chunked(rest).expect("a complete chunked body");
        return (Framing::Chunked, d.payload);
    }
    match get("content-length").map(|v| v.parse::<usize>().expect("a length")) {
        Some(0) => (Framing::None, Vec::new()),
        Some(n) => (Framing::Length(n), rest[..n].to_vec()),
        None => (Framing::Close, rest.to_vec()),
    }
}

/// `http://host/p?q` → `/p?q`, `http://host?q` → `/?q`; origin form unchanged.
fn origin_form(target: &str) -> String {
    let lower = target.to_ascii_lowercase();
    let Some(rest) = ["http://", "https://"]
        .iter()
        .find_map(|s| lower.starts_with(s).then(|| &target[s.len()..]))
    else {
        return target.to_string();
    };
    match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => rest[i..].to_string(),
        Some(i) => format!("/{}", &rest[i..]),
        None => "/".to_string(),
    }
}

fn sorted(mut f: Vec<(String, String)>) -> Vec<(String, String)> {
    f.retain(|(n, _)| n != "content-length" && n != "transfer-encoding");
    f.sort_by(|a, b| a.0.cmp(&b.0)); // stable: repeated fields keep their order
    f
}

/// The canonical form of a request a backend received. The version is kept as sent: both
/// engines send HTTP/1.1, whatever the client spoke.
pub fn request(bytes: &[u8]) -> Canon {
    let end = head_len(bytes).expect("a complete head");
    let head = String::from_utf8_lossy(&bytes[..end - 4]);
    let line = head.split("\r\n").next().unwrap_or_default();
    let mut parts = line.splitn(3, ' ');
    let (method, target, version) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let f = fields(&head);
    let (framing, payload) = body(&bytes[..end], &f, &bytes[end..], false);
    Canon {
        start: format!("{method} {} {version}", origin_form(target)),
        fields: sorted(f),
        framing,
        body: payload,
    }
}

/// Response fields left out: the hop-by-hop ones (Pingora forwards some) and `Date` (Pingora
/// replaces the backend's; the new engine keeps it and adds its own only when there is none).
const HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "trailer",
    "date",
];

/// The canonical form of a response a client received: status code, end-to-end fields (less
/// `nominated`, the fields the backend's `Connection` named), payload. Framing is reduced to
/// "has a body or not": re-framing a response is one of the documented differences.
pub fn response(bytes: &[u8], head_request: bool, nominated: &[&str]) -> Canon {
    let end = head_len(bytes).expect("a complete head");
    let head = String::from_utf8_lossy(&bytes[..end - 4]);
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let f = fields(&head);
    let no_body = head_request || status == 204 || status == 304 || status < 200;
    let (framing, payload) = body(&bytes[..end], &f, &bytes[end..], no_body);
    let mut f = sorted(f);
    f.retain(|(n, _)| {
        !HOP.contains(&n.as_str()) && !nominated.iter().any(|x| x.eq_ignore_ascii_case(n))
    });
    Canon {
        start: status.to_string(),
        fields: f,
        framing: if framing == Framing::None {
            Framing::None
        } else {
            Framing::Close
        },
        body: payload,
    }
}
