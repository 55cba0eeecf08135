//! Header fields as the gate indexes them: where each is in the buffer and which ones the
//! engines must look at.

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
