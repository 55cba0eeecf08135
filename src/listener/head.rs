//! A strict HTTP/1.x request-head checker: the gate every HTTP/1 request passes before the
//! engine or a backend sees it. Anything a lenient parser and a strict one could read differently —
//! the raw material of request smuggling — is refused here, with the right status.
//!
//! Pure function over bytes (fuzzed): `check(buf)` says "need more bytes", "refuse with this
//! status", or "complete head of N bytes, framed like this".

/// Size limits (HAProxy/nginx-like defaults come from the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line (414 beyond).
    pub max_request_line: usize,
    /// Largest header section, request line excluded (431 beyond).
    pub max_header_bytes: usize,
    /// Most header fields (431 beyond).
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: 8 * 1024,
            max_header_bytes: 32 * 1024,
            max_headers: 100,
        }
    }
}

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

struct Target<'a> {
    authority: Option<&'a [u8]>,
    /// Offset of the path within the target.
    path_offset: usize,
}

/// What a header field is to a proxy: the names the forwarding engine treats specially,
/// classified once while the gate checks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Anything else: forwarded as it came.
    Other,
    /// `Host`.
    Host,
    /// `Content-Length`.
    ContentLength,
    /// `Transfer-Encoding`.
    TransferEncoding,
    /// `Connection` (hop-by-hop; may nominate more).
    Connection,
    /// `Upgrade`.
    Upgrade,
    /// `Keep-Alive`, `Proxy-Connection`, `Proxy-Authenticate`, `Proxy-Authorization`, `TE`,
    /// `Trailer`, `HTTP2-Settings`: hop-by-hop, never forwarded (RFC 9110 §7.6.1, and what
    /// Pingora strips).
    HopByHop,
    /// `X-Forwarded-For` (folded into the value gatehouse sends).
    XForwardedFor,
    /// `X-Forwarded-Proto` (replaced).
    XForwardedProto,
    /// `X-Forwarded-Host` (replaced).
    XForwardedHost,
    /// `X-Request-Id` (kept when valid, else replaced).
    XRequestId,
    /// `Expect`.
    Expect,
    /// `User-Agent` (for the access log).
    UserAgent,
    /// `Content-Type` (gRPC detection).
    ContentType,
}

impl FieldKind {
    /// Classifies a field name (any case).
    pub fn of(name: &[u8]) -> FieldKind {
        let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
        match name.len() {
            2 if is(b"te") => FieldKind::HopByHop,
            4 if is(b"host") => FieldKind::Host,
            6 if is(b"expect") => FieldKind::Expect,
            7 if is(b"upgrade") => FieldKind::Upgrade,
            7 if is(b"trailer") => FieldKind::HopByHop,
            10 if is(b"connection") => FieldKind::Connection,
            10 if is(b"keep-alive") => FieldKind::HopByHop,
            10 if is(b"user-agent") => FieldKind::UserAgent,
            12 if is(b"content-type") => FieldKind::ContentType,
            12 if is(b"x-request-id") => FieldKind::XRequestId,
            14 if is(b"content-length") => FieldKind::ContentLength,
            14 if is(b"http2-settings") => FieldKind::HopByHop,
            15 if is(b"x-forwarded-for") => FieldKind::XForwardedFor,
            16 if is(b"x-forwarded-host") => FieldKind::XForwardedHost,
            16 if is(b"proxy-connection") => FieldKind::HopByHop,
            17 if is(b"transfer-encoding") => FieldKind::TransferEncoding,
            17 if is(b"x-forwarded-proto") => FieldKind::XForwardedProto,
            18 if is(b"proxy-authenticate") => FieldKind::HopByHop,
            19 if is(b"proxy-authorization") => FieldKind::HopByHop,
            _ => FieldKind::Other,
        }
    }
}

/// Where one header field is in the head: `buf[name.0..name.1]`, `buf[value.0..value.1]`
/// (value without surrounding whitespace). The raw line is `buf[name.0..value.1]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Name span.
    pub name: (u32, u32),
    /// Value span (trimmed).
    pub value: (u32, u32),
    /// What the name is.
    pub kind: FieldKind,
}

impl Field {
    /// The name's bytes in `buf`.
    pub fn name<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.name.0 as usize..self.name.1 as usize)
            .unwrap_or_default()
    }

    /// The value's bytes in `buf`.
    pub fn value<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.value.0 as usize..self.value.1 as usize)
            .unwrap_or_default()
    }

    /// The whole `name: value` line as received, without its CRLF.
    pub fn line<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.name.0 as usize..self.value.1.max(self.name.1 + 1) as usize)
            .unwrap_or_default()
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

fn check_target<'a>(method: &[u8], target: &'a [u8]) -> Result<Target<'a>, Refusal> {
    if target == b"*" {
        return if method == b"OPTIONS" {
            Ok(Target {
                authority: None,
                path_offset: 0,
            })
        } else {
            Err(refuse(400, "asterisk-form target outside OPTIONS"))
        };
    }
    let (authority, path, path_offset) = if target.starts_with(b"/") {
        (None, target, 0)
    } else {
        let scheme = if target.len() > 7 && target[..7].eq_ignore_ascii_case(b"http://") {
            7
        } else if target.len() > 8 && target[..8].eq_ignore_ascii_case(b"https://") {
            8
        } else {
            return Err(refuse(400, "invalid request target"));
        };
        let rest = &target[scheme..];
        let split = rest
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .unwrap_or(rest.len());
        let (auth, path) = rest.split_at(split);
        if auth.is_empty() || auth.contains(&b'@') {
            return Err(refuse(400, "invalid request target"));
        }
        (Some(auth), path, scheme + split)
    };
    // Visible ASCII only, and every '%' starts a valid escape.
    let mut i = 0;
    while i < path.len() {
        let b = path[i];
        if b <= 0x20 || b >= 0x7f || b == b'#' {
            return Err(refuse(400, "invalid character in the request target"));
        }
        if b == b'%' {
            let ok = path.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && path.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return Err(refuse(400, "invalid percent-encoding"));
            }
            i += 3;
            continue;
        }
        i += 1;
    }
    Ok(Target {
        authority,
        path_offset,
    })
}

/// `host [":" port]` with a reg-name or an IP literal, RFC 3986.
pub fn valid_host(h: &[u8]) -> bool {
    if h.is_empty() || h.len() > 255 {
        return false;
    }
    let (name, port) = if h[0] == b'[' {
        let Some(close) = h.iter().position(|&b| b == b']') else {
            return false;
        };
        let inside = &h[1..close];
        if inside.is_empty()
            || !inside
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return false;
        }
        (&h[..=close], &h[close + 1..])
    } else {
        match h.iter().rposition(|&b| b == b':') {
            Some(c) => (&h[..c], &h[c..]),
            None => (h, &h[h.len()..]),
        }
    };
    let port_ok = port.is_empty()
        || (port[0] == b':' && port.len() <= 6 && port[1..].iter().all(u8::is_ascii_digit));
    let name_ok = name.starts_with(b"[")
        || (!name.is_empty()
            && name
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b)));
    port_ok && name_ok
}

fn same_host(authority: &[u8], host: &[u8]) -> bool {
    let strip = |a: &[u8]| -> Vec<u8> {
        let a = match a.iter().rposition(|&b| b == b':') {
            Some(c) if !a.ends_with(b"]") && a[c + 1..].iter().all(u8::is_ascii_digit) => &a[..c],
            _ => a,
        };
        a.to_ascii_lowercase()
    };
    strip(authority) == strip(host)
}

#[cfg(test)]
mod tests;
