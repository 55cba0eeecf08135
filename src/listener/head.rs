//! A strict HTTP/1.x request-head checker: the gate every HTTP/1 request passes before Pingora
//! (or a backend) sees it. Anything a lenient parser and a strict one could read differently —
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

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Checks a request head at the start of `buf`.
pub fn check(buf: &[u8], limits: &Limits) -> Check {
    // Line breaks must be CRLF everywhere: a bare CR or LF is read differently by different
    // parsers. Find the end of the head while checking that.
    let mut end = None;
    let mut i = 0;
    let mut line_start = 0;
    let mut request_line_end = None;
    while i < buf.len() {
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
    match parse(&buf[..rl_end], &buf[rl_end + 2..end - 2], limits) {
        Ok(mut head) => {
            head.len = end;
            Check::Complete(head)
        }
        Err(r) => Check::Refuse(r),
    }
}

struct Target<'a> {
    authority: Option<&'a [u8]>,
}

fn parse(request_line: &[u8], fields: &[u8], limits: &Limits) -> Result<Head, Refusal> {
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
    let target = check_target(method, target)?;

    let mut host: Option<&[u8]> = None;
    let mut hosts = 0;
    let mut content_length: Option<u64> = None;
    let mut lengths = 0;
    let mut transfer_encodings = 0;
    let mut chunked = false;
    let mut expect_continue = false;
    let mut count = 0;
    if !fields.is_empty() {
        for line in fields.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
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
            let colon = line
                .iter()
                .position(|&b| b == b':')
                .ok_or(refuse(400, "header field without a colon"))?;
            let name = &line[..colon];
            if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
                return Err(refuse(400, "invalid header field name"));
            }
            let value = trim_ows(&line[colon + 1..]);
            if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
                return Err(refuse(400, "control character in a header value"));
            }
            if name.eq_ignore_ascii_case(b"host") {
                hosts += 1;
                host = Some(value);
            } else if name.eq_ignore_ascii_case(b"content-length") {
                lengths += 1;
                content_length = Some(parse_length(value)?);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                transfer_encodings += 1;
                // Only a lone "chunked" is unambiguous: lists, repeats and other codings are
                // where parsers disagree.
                if !value.eq_ignore_ascii_case(b"chunked") {
                    return Err(refuse(400, "unsupported or obfuscated Transfer-Encoding"));
                }
                chunked = true;
            } else if name.eq_ignore_ascii_case(b"expect")
                && value.eq_ignore_ascii_case(b"100-continue")
            {
                expect_continue = true;
            }
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
    if let Some(authority) = target.authority {
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
        body,
        expect_continue,
        http10,
    })
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
            Ok(Target { authority: None })
        } else {
            Err(refuse(400, "asterisk-form target outside OPTIONS"))
        };
    }
    let (authority, path) = if target.starts_with(b"/") {
        (None, target)
    } else {
        let rest = if target.len() > 7 && target[..7].eq_ignore_ascii_case(b"http://") {
            &target[7..]
        } else if target.len() > 8 && target[..8].eq_ignore_ascii_case(b"https://") {
            &target[8..]
        } else {
            return Err(refuse(400, "invalid request target"));
        };
        let split = rest
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .unwrap_or(rest.len());
        let (auth, path) = rest.split_at(split);
        if auth.is_empty() || auth.contains(&b'@') {
            return Err(refuse(400, "invalid request target"));
        }
        (Some(auth), path)
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
    Ok(Target { authority })
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
