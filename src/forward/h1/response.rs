//! The backend's response head: parsed once (httparse, into field spans over the read buffer),
//! judged for framing and reuse, and written on to the client with byte-level edits.
//!
//! Framing follows RFC 9112 §6.3: no body for `HEAD`, 1xx, 204 and 304; `Transfer-Encoding`
//! ending in `chunked` wins over `Content-Length` (which is then dropped); any other coding
//! means the body runs to the close; differing `Content-Length` values are a bad gateway.

use crate::config::model::HeaderRules;
use crate::listener::head::{Field, FieldKind};

/// Most fields accepted in a response head (more is a bad gateway).
const MAX_FIELDS: usize = 128;

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked.
    Chunked,
    /// Until the backend closes.
    Close,
}

/// A parsed response head (spans refer to the buffer it was parsed from).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHead {
    /// Head length, final CRLF included.
    pub len: usize,
    /// Status code.
    pub status: u16,
    /// Reason phrase span.
    pub reason: (u32, u32),
    /// The body's framing.
    pub framing: Framing,
    /// The backend will not keep the connection (`Connection: close`, or HTTP/1.0 without
    /// keep-alive).
    pub close: bool,
    /// The `Upgrade` value span (for 101).
    pub upgrade: Option<(u32, u32)>,
    /// Whether the backend sent `Date`.
    pub has_date: bool,
    /// Whether the backend announced trailers (`Trailer`).
    pub has_trailer_field: bool,
}

/// Why a response head is unusable.
pub type Invalid = &'static str;

/// Parses a response head at the start of `buf`; `Ok(None)` when more bytes are needed.
/// `fields` receives the field spans (cleared first).
///
/// # Errors
/// A head that cannot be forwarded safely.
pub fn parse(
    buf: &[u8],
    request_is_head: bool,
    fields: &mut Vec<Field>,
) -> Result<Option<ResponseHead>, Invalid> {
    // Uninitialised: initialising 128 entries costs more than parsing a typical head.
    let mut headers =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_FIELDS];
    let mut resp = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut resp,
        buf,
        &mut headers,
    );
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err("too many response header fields"),
        Err(_) => return Err("invalid response head"),
    };
    let status = resp.code.unwrap_or(0);
    if !(100..=999).contains(&status) {
        return Err("invalid response status");
    }
    let base = buf.as_ptr() as usize;
    let span = |s: &[u8]| -> (u32, u32) {
        let start = s.as_ptr() as usize - base;
        (start as u32, (start + s.len()) as u32)
    };
    // A reason phrase that is not UTF-8 comes back from httparse as a static "" outside `buf`:
    // it is dropped (clients ignore the phrase, RFC 9112 §4), never given a span.
    let reason = resp
        .reason
        .filter(|r| !r.is_empty())
        .map_or((0, 0), |r| span(r.as_bytes()));
    let http10 = resp.version == Some(0);
    fields.clear();
    fields.reserve(resp.headers.len());
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut other_coding = false;
    let mut close = http10;
    let mut upgrade = None;
    let mut has_date = false;
    let mut has_trailer_field = false;
    for h in resp.headers.iter() {
        let name = h.name.as_bytes();
        let kind = FieldKind::of(name);
        fields.push(Field {
            name: span(name),
            value: span(h.value),
            kind,
        });
        let value = h.value;
        match kind {
            FieldKind::ContentLength => {
                let n = parse_length(value).ok_or("invalid Content-Length in the response")?;
                if length.is_some_and(|l| l != n) {
                    return Err("conflicting Content-Length values in the response");
                }
                length = Some(n);
            }
            FieldKind::TransferEncoding => {
                // Several fields make one list: the final coding is the last field's last
                // element.
                let last = value.rsplit(|&b| b == b',').next().unwrap_or_default();
                chunked = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
                other_coding = !chunked;
            }
            FieldKind::Connection => {
                for token in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                    if token.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") && http10 {
                        close = false;
                    }
                }
            }
            FieldKind::Upgrade => upgrade = Some(span(value)),
            FieldKind::HopByHop if name.eq_ignore_ascii_case(b"trailer") => {
                has_trailer_field = true;
            }
            FieldKind::Other if name.eq_ignore_ascii_case(b"date") => has_date = true,
            _ => {}
        }
    }
    let no_body = request_is_head || (100..200).contains(&status) || status == 204 || status == 304;
    let framing = if no_body {
        Framing::None
    } else if other_coding {
        // A coding the client may not understand as framing: delimit by close.
        Framing::Close
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::Close
    };
    Ok(Some(ResponseHead {
        len,
        status,
        reason,
        framing,
        close: close || framing == Framing::Close,
        upgrade,
        has_date,
        has_trailer_field,
    }))
}

/// Whether a `Connection` value may name a field: anything but `close` / `keep-alive`
/// (the common values, answered without splitting the list).
fn nominates_any(value: &[u8]) -> bool {
    !(value.eq_ignore_ascii_case(b"keep-alive") || value.eq_ignore_ascii_case(b"close"))
}

fn parse_length(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// How the client's copy of the head differs from the backend's.
#[derive(Debug)]
pub struct ClientHead<'a> {
    /// The route's response header rules.
    pub rules: Option<&'a HeaderRules>,
    /// `Strict-Transport-Security` to set (TLS only).
    pub hsts: Option<&'a [u8]>,
    /// A sticky-session `Set-Cookie` value to add.
    pub set_cookie: Option<&'a [u8]>,
    /// `X-Request-Id` to set.
    pub request_id: &'a [u8],
    /// Send `Server: gatehouse` (replacing the backend's).
    pub server_header: bool,
    /// Tell the client the connection closes after this response.
    pub close: bool,
    /// Say `Connection: keep-alive` (an HTTP/1.0 client that asked for it).
    pub keep_alive: bool,
    /// The body is passed on without its chunked framing (an HTTP/1.0 client): drop
    /// `Transfer-Encoding` and `Trailer`, the response then ends with the connection.
    pub dechunk: bool,
}

/// Writes the client's response head for `resp` (parsed from `buf`) into `out` (cleared first).
pub fn write_client_head(
    out: &mut Vec<u8>,
    buf: &[u8],
    resp: &ResponseHead,
    fields: &[Field],
    h: &ClientHead<'_>,
) {
    out.clear();
    out.reserve(resp.len + 256);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa::Buffer::new().format(resp.status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(&buf[resp.reason.0 as usize..resp.reason.1 as usize]);
    out.extend_from_slice(b"\r\n");
    let tunnel = resp.status == 101;
    // Whether the backend's `Connection` nominates fields as hop-by-hop (nearly no response
    // does; only then is each name checked against its options).
    let connection_options = || {
        fields
            .iter()
            .filter(|f| f.kind == FieldKind::Connection)
            .flat_map(|f| f.value(buf).split(|&b| b == b','))
            .map(<[u8]>::trim_ascii)
            .filter(|t| {
                !t.is_empty()
                    && !t.eq_ignore_ascii_case(b"close")
                    && !t.eq_ignore_ascii_case(b"keep-alive")
                    && !t.eq_ignore_ascii_case(b"upgrade")
            })
    };
    let nominates = fields
        .iter()
        .any(|f| f.kind == FieldKind::Connection && nominates_any(f.value(buf)))
        && connection_options().next().is_some();
    let nominated =
        |name: &[u8]| nominates && connection_options().any(|n| n.eq_ignore_ascii_case(name));
    for f in fields {
        let name = f.name(buf);
        let keep = match f.kind {
            FieldKind::Connection => false,
            FieldKind::Upgrade => tunnel,
            FieldKind::HopByHop => {
                resp.framing == Framing::Chunked
                    && !h.dechunk
                    && name.eq_ignore_ascii_case(b"trailer")
            }
            FieldKind::TransferEncoding => !h.dechunk,
            // With chunked framing a Content-Length is wrong (RFC 9112 §6.3).
            FieldKind::ContentLength => resp.framing != Framing::Chunked,
            FieldKind::XRequestId => false,
            _ => {
                let replaced = (h.server_header && name.eq_ignore_ascii_case(b"server"))
                    || (h.hsts.is_some()
                        && name.eq_ignore_ascii_case(b"strict-transport-security"));
                !replaced && !nominated(name)
            }
        };
        if !keep || h.rules.is_some_and(|r| super::request::ruled(r, name)) {
            continue;
        }
        out.extend_from_slice(f.line(buf));
        out.extend_from_slice(b"\r\n");
    }
    if let Some(rules) = h.rules {
        for (name, value) in rules.set.iter().chain(rules.add.iter()) {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    if let Some(hsts) = h.hsts {
        out.extend_from_slice(b"strict-transport-security: ");
        out.extend_from_slice(hsts);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(cookie) = h.set_cookie {
        out.extend_from_slice(b"set-cookie: ");
        out.extend_from_slice(cookie);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"x-request-id: ");
    out.extend_from_slice(h.request_id);
    out.extend_from_slice(b"\r\n");
    if h.server_header {
        out.extend_from_slice(b"server: gatehouse\r\n");
    }
    if !resp.has_date && !(100..200).contains(&resp.status) {
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(pingora::protocols::http::date::get_cached_date().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if tunnel {
        out.extend_from_slice(b"Connection: Upgrade\r\n");
    } else if h.close {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if h.keep_alive {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &[u8], head: bool) -> (ResponseHead, Vec<Field>) {
        let mut fields = Vec::new();
        let r = parse(raw, head, &mut fields).unwrap().unwrap();
        (r, fields)
    }

    #[test]
    fn framing() {
        let (r, _) = parsed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false);
        assert_eq!(
            (r.status, r.framing, r.close, r.len),
            (200, Framing::Length(5), false, 38)
        );
        let (r, _) = parsed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true);
        assert_eq!(r.framing, Framing::None, "HEAD");
        let (r, _) = parsed(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 9\r\n\r\n",
            false,
        );
        assert_eq!(r.framing, Framing::Chunked);
        let (r, _) = parsed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false);
        assert_eq!((r.framing, r.close), (Framing::Close, true));
        let (r, _) = parsed(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false);
        assert!(r.close, "HTTP/1.0 without keep-alive");
        let (r, _) = parsed(
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n",
            false,
        );
        assert!(!r.close);
        let (r, _) = parsed(
            b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
            false,
        );
        assert_eq!((r.framing, r.close), (Framing::None, true));
        let mut f = Vec::new();
        assert!(parse(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            false,
            &mut f
        )
        .is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Le", false, &mut f)
            .unwrap()
            .is_none());
        assert!(parse(b"HTTX/1.1 200 OK\r\n\r\n", false, &mut f).is_err());
    }

    /// Found by `fuzz/` (target `response_head`): httparse hands out a reason phrase that is
    /// not UTF-8 (obs-text, e.g. Latin-1) as a static `""` outside the buffer; its span was
    /// computed by pointer subtraction (an overflow panic, or a bogus span that panicked when
    /// the client head was written).
    #[test]
    fn reason_phrase_with_obs_text() {
        let raw = b"HTTP/1.1 404 N\xe3o Encontrado\r\nContent-Length: 0\r\n\r\n";
        let (r, fields) = parsed(raw, false);
        assert_eq!((r.status, r.reason), (404, (0, 0)));
        let mut out = Vec::new();
        write_client_head(
            &mut out,
            raw,
            &r,
            &fields,
            &ClientHead {
                rules: None,
                hsts: None,
                set_cookie: None,
                request_id: b"rid",
                server_header: false,
                close: false,
                keep_alive: false,
                dechunk: false,
            },
        );
        assert!(out.starts_with(b"HTTP/1.1 404 \r\nContent-Length: 0\r\n"));
    }

    #[test]
    fn client_head_edits() {
        let raw = b"HTTP/1.1 200 Fine\r\nServer: origin\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nX-Request-Id: theirs\r\nContent-Length: 2\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\nok";
        let (r, fields) = parsed(raw, false);
        let mut out = Vec::new();
        write_client_head(
            &mut out,
            raw,
            &r,
            &fields,
            &ClientHead {
                rules: None,
                hsts: Some(b"max-age=60"),
                set_cookie: None,
                request_id: b"rid",
                server_header: true,
                close: true,
                keep_alive: false,
                dechunk: false,
            },
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 Fine\r\nContent-Length: 2\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nstrict-transport-security: max-age=60\r\nx-request-id: rid\r\nserver: gatehouse\r\nConnection: close\r\n\r\n"
        );
    }
}
