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
    ///
    /// Called for every field of every request and response head, so each candidate is
    /// compared as a fixed-size array against a constant (the compiler folds it into a few
    /// wide operations); a byte-by-byte `eq_ignore_ascii_case` was ~75 instructions a field
    /// (callgrind).
    pub fn of(name: &[u8]) -> FieldKind {
        match name.len() {
            2 if is(name, b"te") => FieldKind::HopByHop,
            4 if is(name, b"host") => FieldKind::Host,
            6 if is(name, b"expect") => FieldKind::Expect,
            7 if is(name, b"upgrade") => FieldKind::Upgrade,
            7 if is(name, b"trailer") => FieldKind::HopByHop,
            10 if is(name, b"connection") => FieldKind::Connection,
            10 if is(name, b"keep-alive") => FieldKind::HopByHop,
            10 if is(name, b"user-agent") => FieldKind::UserAgent,
            12 if is(name, b"content-type") => FieldKind::ContentType,
            12 if is(name, b"x-request-id") => FieldKind::XRequestId,
            14 if is(name, b"content-length") => FieldKind::ContentLength,
            14 if is(name, b"http2-settings") => FieldKind::HopByHop,
            15 if is(name, b"x-forwarded-for") => FieldKind::XForwardedFor,
            16 if is(name, b"x-forwarded-host") => FieldKind::XForwardedHost,
            16 if is(name, b"proxy-connection") => FieldKind::HopByHop,
            17 if is(name, b"transfer-encoding") => FieldKind::TransferEncoding,
            17 if is(name, b"x-forwarded-proto") => FieldKind::XForwardedProto,
            18 if is(name, b"proxy-authenticate") => FieldKind::HopByHop,
            19 if is(name, b"proxy-authorization") => FieldKind::HopByHop,
            _ => FieldKind::Other,
        }
    }
}

/// `name` equals `lower` (a lowercase constant) ignoring ASCII case: exactly
/// `eq_ignore_ascii_case`, as 0x20 is folded in over letters only (`-` or a digit must match
/// as is).
#[inline(always)]
fn is<const N: usize>(name: &[u8], lower: &[u8; N]) -> bool {
    let Ok(name) = <&[u8; N]>::try_from(name) else {
        return false;
    };
    let mut diff = 0u8;
    for (&b, &l) in name.iter().zip(lower.iter()) {
        let fold = if l.is_ascii_lowercase() { 0x20 } else { 0 };
        diff |= (b | fold) ^ l;
    }
    diff == 0
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

#[cfg(test)]
mod tests {
    use super::FieldKind;

    /// The word-wise comparison is exactly `eq_ignore_ascii_case`: every case mix matches, and
    /// a byte that only differs by 0x20 outside letters (`\r` for `-`, `\x12` for `2`) does not.
    #[test]
    fn classification_is_exactly_case_insensitive() {
        let known: &[(&[u8], FieldKind)] = &[
            (b"Host", FieldKind::Host),
            (b"CONTENT-LENGTH", FieldKind::ContentLength),
            (b"content-Type", FieldKind::ContentType),
            (b"Connection", FieldKind::Connection),
            (b"Keep-Alive", FieldKind::HopByHop),
            (b"HTTP2-Settings", FieldKind::HopByHop),
            (b"X-Forwarded-Proto", FieldKind::XForwardedProto),
            (b"Proxy-Authorization", FieldKind::HopByHop),
            (b"tE", FieldKind::HopByHop),
            (b"User-Agent", FieldKind::UserAgent),
            (b"x-request-id", FieldKind::XRequestId),
        ];
        for (name, kind) in known {
            assert_eq!(
                FieldKind::of(name),
                *kind,
                "{}",
                String::from_utf8_lossy(name)
            );
        }
        for other in [
            &b"Keep\rAlive"[..],
            b"http\x12-settings",
            b"Hosu",
            b"Date",
            b"Server",
            b"X-Forwarded-Fo",
            b"",
            b"a-name-of-no-known-length",
        ] {
            assert_eq!(FieldKind::of(other), FieldKind::Other);
        }
    }
}
