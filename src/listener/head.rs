//! A strict HTTP/1.x request-head checker: the gate every HTTP/1 request passes before the
//! engine or a backend sees it. Anything a lenient parser and a strict one could read differently —
//! the raw material of request smuggling — is refused here, with the right status.
//!
//! Pure function over bytes (fuzzed): `check(buf)` says "need more bytes", "refuse with this
//! status", or "complete head of N bytes, framed like this".

/// The limits live in the config layer, which fills them from `[limits]`.
pub use crate::config::limits::Limits;

mod field;
mod target;

pub use field::{Field, FieldKind};
pub use target::valid_host;
use target::{check_target, same_host};

/// Why a head is refused: the status to answer and a reason for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// 400, 405, 414, 431 or 505.
    pub status: u16,
    /// What was wrong.
    pub reason: &'static str,
}

const fn refuse(status: u16, reason: &'static str) -> Refusal {
    Refusal { status, reason }
}

/// How the request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// No body.
    None,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A complete, valid request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Bytes of the head, the final CRLF CRLF included.
    pub len: usize,
    /// The method: `buf[..method_end]`.
    pub method_end: usize,
    /// The request target: `buf[target.0..target.1]`.
    pub target: (usize, usize),
    /// Where the target's path starts (after `scheme://authority` in absolute form).
    pub path_start: usize,
    /// Absolute-form target (`http://host/path`): the authority is `buf[target.0 + scheme..]`.
    pub absolute: bool,
    /// Body framing.
    pub body: Body,
    /// `Expect: 100-continue` (the client waits before sending the body).
    pub expect_continue: bool,
    /// HTTP/1.0 (no keep-alive unless asked).
    pub http10: bool,
}

/// Result of looking at the bytes received so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Not a whole head yet (and no limit exceeded).
    Incomplete,
    /// Refuse the request.
    Refuse(Refusal),
    /// A valid head.
    Complete(Head),
}

/// `tchar` (RFC 9110 §5.6.2) by table: checked for every byte of every method and field name.
const TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    t
};

fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// Bytes not allowed in a field value: controls other than tab, and DEL.
const VALUE_FORBIDDEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = (b < 0x20 && b != 0x09) || b == 0x7f;
        b += 1;
    }
    t
};

/// Checks a request head at the start of `buf`.
pub fn check(buf: &[u8], limits: &Limits) -> Check {
    check_indexed(buf, limits, &mut Vec::new())
}

/// [`check`], also recording where every header field of a complete head is (cleared first),
/// so that the forwarding engine never parses the head a second time.
pub fn check_indexed(buf: &[u8], limits: &Limits, fields: &mut Vec<Field>) -> Check {
    // Line breaks must be CRLF everywhere: a bare CR or LF is read differently by different
    // parsers. Find the end of the head while checking that.
    let mut end = None;
    let mut i = 0;
    let mut line_start = 0;
    let mut request_line_end = None;
    while i < buf.len() {
        // Jump to the next CR or LF (everything between is checked in the second pass).
        match memchr::memchr2(b'\r', b'\n', &buf[i..]) {
            Some(p) => i += p,
            None => break,
        }
        match buf[i] {
            b'\r' => {
                if i + 1 >= buf.len() {
                    break; // need the next byte to judge
                }
                if buf[i + 1] != b'\n' {
                    return Check::Refuse(refuse(400, "bare CR"));
                }
                if request_line_end.is_none() {
                    request_line_end = Some(i);
                }
                if i == line_start && request_line_end != Some(i) {
                    end = Some(i + 2);
                    break;
                }
                i += 2;
                line_start = i;
                continue;
            }
            b'\n' => return Check::Refuse(refuse(400, "bare LF")),
            _ => {}
        }
        i += 1;
    }
    // Without its CRLF yet, the request line is everything received, less a final CR that
    // may start the CRLF: a line of exactly the limit is not refused because the read ended
    // between its CR and LF.
    let rl_len = request_line_end.unwrap_or(buf.len() - usize::from(buf.ends_with(b"\r")));
    if rl_len > limits.max_request_line {
        return Check::Refuse(refuse(414, "request line too long"));
    }
    let Some(end) = end else {
        if buf.len() > limits.max_request_line + limits.max_header_bytes + 4 {
            return Check::Refuse(refuse(431, "request header section too large"));
        }
        return Check::Incomplete;
    };
    let rl_end = request_line_end.unwrap_or(0);
    if end - rl_end > limits.max_header_bytes + 4 {
        return Check::Refuse(refuse(431, "request header section too large"));
    }
    fields.clear();
    // Sized once (a connection's buffers are released while it idles): no growth steps.
    fields.reserve(24);
    match parse(&buf[..rl_end], buf, rl_end + 2, end - 2, limits, fields) {
        Ok(mut head) => {
            head.len = end;
            Check::Complete(head)
        }
        Err(r) => Check::Refuse(r),
    }
}

/// Parses the request line (`buf[..rl_end]`) and the fields (`buf[fields_start..fields_end]`),
/// recording every field in `out`.
fn parse(
    request_line: &[u8],
    buf: &[u8],
    fields_start: usize,
    fields_end: usize,
    limits: &Limits,
    out: &mut Vec<Field>,
) -> Result<Head, Refusal> {
    // request-line = method SP request-target SP HTTP-version
    let mut parts = request_line.split(|&b| b == b' ');
    let method = parts.next().unwrap_or_default();
    let target = parts.next().ok_or(refuse(400, "malformed request line"))?;
    let version = parts.next().ok_or(refuse(400, "malformed request line"))?;
    if parts.next().is_some() {
        return Err(refuse(400, "malformed request line"));
    }
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(refuse(400, "invalid method"));
    }
    let http10 = match version {
        b"HTTP/1.1" => false,
        b"HTTP/1.0" => true,
        v if v.starts_with(b"HTTP/") => return Err(refuse(505, "unsupported HTTP version")),
        _ => return Err(refuse(400, "malformed request line")),
    };
    if method == b"CONNECT" {
        return Err(refuse(405, "CONNECT is not supported"));
    }
    let target_start = method.len() + 1;
    let target_end = target_start + target.len();
    let checked = check_target(method, target)?;

    let mut host: Option<&[u8]> = None;
    let mut hosts = 0;
    let mut content_length: Option<u64> = None;
    let mut lengths = 0;
    let mut transfer_encodings = 0;
    let mut chunked = false;
    let mut expect_continue = false;
    let mut count = 0;
    let mut pos = fields_start;
    while pos < fields_end {
        // Lines end in CRLF (checked by the caller); the last one ends at `fields_end`.
        let line_end = memchr::memchr(b'\r', &buf[pos..fields_end]).map_or(fields_end, |p| pos + p);
        let line = &buf[pos..line_end];
        let line_start = pos;
        pos = line_end + 2;
        if line.is_empty() {
            continue;
        }
        count += 1;
        if count > limits.max_headers {
            return Err(refuse(431, "too many header fields"));
        }
        if line[0] == b' ' || line[0] == b'\t' {
            return Err(refuse(400, "obsolete line folding"));
        }
        let colon =
            memchr::memchr(b':', line).ok_or(refuse(400, "header field without a colon"))?;
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(refuse(400, "invalid header field name"));
        }
        let (value_offset, value) = trim_ows_at(&line[colon + 1..]);
        if value.iter().any(|&b| VALUE_FORBIDDEN[usize::from(b)]) {
            return Err(refuse(400, "control character in a header value"));
        }
        let kind = FieldKind::of(name);
        let value_start = line_start + colon + 1 + value_offset;
        out.push(Field {
            name: (line_start as u32, (line_start + colon) as u32),
            value: (value_start as u32, (value_start + value.len()) as u32),
            kind,
        });
        match kind {
            FieldKind::Host => {
                hosts += 1;
                host = Some(value);
            }
            FieldKind::ContentLength => {
                lengths += 1;
                content_length = Some(parse_length(value)?);
            }
            FieldKind::TransferEncoding => {
                transfer_encodings += 1;
                // Only a lone "chunked" is unambiguous: lists, repeats and other codings are
                // where parsers disagree.
                if !value.eq_ignore_ascii_case(b"chunked") {
                    return Err(refuse(400, "unsupported or obfuscated Transfer-Encoding"));
                }
                chunked = true;
            }
            FieldKind::Expect if value.eq_ignore_ascii_case(b"100-continue") => {
                expect_continue = true;
            }
            _ => {}
        }
    }
    if hosts == 0 {
        return Err(refuse(400, "missing Host header"));
    }
    if hosts > 1 {
        return Err(refuse(400, "several Host headers"));
    }
    let host = host.unwrap_or_default();
    if !valid_host(host) {
        return Err(refuse(400, "invalid Host header"));
    }
    if let Some(authority) = checked.authority {
        if !same_host(authority, host) {
            return Err(refuse(400, "absolute-form target disagrees with Host"));
        }
    }
    if lengths > 1 {
        return Err(refuse(400, "several Content-Length headers"));
    }
    if transfer_encodings > 1 {
        return Err(refuse(400, "several Transfer-Encoding headers"));
    }
    if chunked && lengths > 0 {
        return Err(refuse(400, "both Content-Length and Transfer-Encoding"));
    }
    if chunked && http10 {
        return Err(refuse(400, "chunked body in HTTP/1.0"));
    }
    let body = if chunked {
        Body::Chunked
    } else {
        match content_length {
            Some(0) | None => Body::None,
            Some(n) => Body::Length(n),
        }
    };
    Ok(Head {
        len: 0,
        method_end: method.len(),
        target: (target_start, target_end),
        path_start: target_start + checked.path_offset,
        absolute: checked.authority.is_some(),
        body,
        expect_continue,
        http10,
    })
}

/// Like [`trim_ows`], also saying how many bytes were trimmed in front.
fn trim_ows_at(v: &[u8]) -> (usize, &[u8]) {
    let trimmed = trim_ows(v);
    let offset = if trimmed.is_empty() {
        0
    } else {
        trimmed.as_ptr() as usize - v.as_ptr() as usize
    };
    (offset, trimmed)
}

fn trim_ows(v: &[u8]) -> &[u8] {
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

fn parse_length(v: &[u8]) -> Result<u64, Refusal> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return Err(refuse(400, "invalid Content-Length"));
    }
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(refuse(400, "invalid Content-Length"))
}

#[cfg(test)]
mod tests;
