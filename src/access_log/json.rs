//! A tiny JSON line writer for the access log: fields are appended to a caller's buffer with
//! minimal escaping and no intermediate values, so a log line allocates nothing once the
//! buffer has grown to size.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A field name as [`Line`] takes it: with the comma before it, quoted, with its colon, built
/// at compile time (one copy per field).
macro_rules! key {
    ($name:literal) => {
        concat!(",\"", $name, "\":")
    };
}
pub(crate) use key;

/// Builds one JSON object, field by field, at the end of `buf`.
///
/// Every field method is `#[inline(always)]`: each call site then copies its key, a constant,
/// with a few moves instead of a `memcpy` call, which was a third of a log line's cost.
pub struct Line<'a> {
    buf: &'a mut String,
}

impl<'a> Line<'a> {
    /// Starts an object with the key of its first field (as [`key!`] writes it; the comma is
    /// dropped). The caller writes that field's value next, with [`Line::buf`].
    #[inline(always)]
    pub fn new(buf: &'a mut String, first_key: &str) -> Self {
        buf.push('{');
        buf.push_str(first_key.get(1..).unwrap_or(first_key));
        Line { buf }
    }

    /// The buffer, to write a value in place (it must be valid JSON).
    #[inline(always)]
    pub fn buf(&mut self) -> &mut String {
        self.buf
    }

    /// A string field (escaped).
    #[inline(always)]
    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.buf.push_str(key);
        self.buf.push('"');
        escape_into(self.buf, value);
        self.buf.push('"');
        self
    }

    /// A string field known to need no escaping (constants, validated tokens).
    #[inline(always)]
    pub fn plain(&mut self, key: &str, value: &str) -> &mut Self {
        debug_assert!(!needs_escape(value.as_bytes()));
        self.buf.push_str(key);
        self.buf.push('"');
        self.buf.push_str(value);
        self.buf.push('"');
        self
    }

    /// [`Line::plain`], omitted when `None`.
    #[inline(always)]
    pub fn opt_plain(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            self.plain(key, v);
        }
        self
    }

    /// A field whose value is written by `value` (which must write valid JSON).
    #[inline(always)]
    pub fn raw(&mut self, key: &str, value: impl FnOnce(&mut String)) -> &mut Self {
        self.buf.push_str(key);
        value(self.buf);
        self
    }

    /// A string field, omitted when `None`.
    #[inline(always)]
    pub fn opt_str(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            self.str(key, v);
        }
        self
    }

    /// An integer field.
    #[inline(always)]
    pub fn num(&mut self, key: &str, value: u64) -> &mut Self {
        self.buf.push_str(key);
        push_u64(self.buf, value);
        self
    }

    /// An integer field, omitted when `None`.
    #[inline(always)]
    pub fn opt_num(&mut self, key: &str, value: Option<u64>) -> &mut Self {
        if let Some(v) = value {
            self.num(key, v);
        }
        self
    }

    /// A duration in milliseconds with three decimals (to the microsecond, rounded), in
    /// integers: the float formatting it replaced was ~240 of a log line's ~2,050 instructions.
    pub fn millis(&mut self, key: &str, value: Duration) -> &mut Self {
        self.buf.push_str(key);
        let micros = value.as_nanos().saturating_add(500) / 1000;
        let micros = u64::try_from(micros).unwrap_or(u64::MAX);
        push_u64(self.buf, micros / 1000);
        self.buf.push('.');
        let frac = micros % 1000;
        for digit in [frac / 100, frac / 10 % 10, frac % 10] {
            self.buf.push(char::from(b'0' + digit as u8));
        }
        self
    }

    /// Ends the object and the line.
    #[inline(always)]
    pub fn finish(self) {
        self.buf.push_str("}\n");
    }
}

// Numbers, dates and addresses are written digit by digit: `core::fmt` machinery was most of
// the cost of a log line (callgrind: ~9 k of its instructions before, see docs/performance.md).

/// An unsigned integer in decimal.
pub fn push_u64(out: &mut String, value: u64) {
    out.push_str(itoa::Buffer::new().format(value));
}

/// `value` with leading zeros to `width` digits (values wider than `width` are written whole).
fn push_padded(out: &mut String, value: u64, width: usize) {
    let mut digits = itoa::Buffer::new();
    let s = digits.format(value);
    for _ in s.len()..width {
        out.push('0');
    }
    out.push_str(s);
}

/// An IP address in its usual text form (IPv4 by hand, IPv6 through `Display`).
pub fn push_ip(out: &mut String, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            // Digit by digit into the string: no `from_utf8` over a scratch copy.
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                if octet >= 100 {
                    out.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    out.push(char::from(b'0' + octet / 10 % 10));
                }
                out.push(char::from(b'0' + octet % 10));
            }
        }
        std::net::IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// An IPv4 address in dotted decimal, written into `buf` (the written part is returned).
/// Digit by digit: a request writes its client's address twice (`X-Forwarded-For`, the log).
pub fn ipv4_text(ip: std::net::Ipv4Addr, buf: &mut [u8; 15]) -> &[u8] {
    let mut n = 0;
    let mut put = |b: u8| {
        if let Some(slot) = buf.get_mut(n) {
            *slot = b;
            n += 1;
        }
    };
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            put(b'.');
        }
        if octet >= 100 {
            put(b'0' + octet / 100);
        }
        if octet >= 10 {
            put(b'0' + octet / 10 % 10);
        }
        put(b'0' + octet % 10);
    }
    &buf[..n]
}

/// JSON string escaping (quotes, backslashes, control characters).
pub fn escape_into(out: &mut String, s: &str) {
    if !needs_escape(s.as_bytes()) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// Whether a JSON string needs escaping: a quote, a backslash or a control byte. Eight bytes
/// at a time (nearly every value needs none, and the byte-by-byte scan was the largest single
/// cost of a log line).
fn needs_escape(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    /// Some byte of `w` is zero (exact as a yes/no answer).
    fn has_zero(w: u64) -> bool {
        w.wrapping_sub(ONES) & !w & HIGHS != 0
    }
    let special = |b: u8| b == b'"' || b == b'\\' || b < 0x20;
    let mut chunks = s.chunks_exact(8);
    for chunk in &mut chunks {
        let Ok(bytes) = <[u8; 8]>::try_from(chunk) else {
            return chunk.iter().any(|&b| special(b));
        };
        let w = u64::from_le_bytes(bytes);
        // A byte below 0x20: subtracting 0x20 borrows into its high bit, which was clear.
        let control = w.wrapping_sub(ONES * 0x20) & !w & HIGHS != 0;
        if control
            || has_zero(w ^ (ONES * u64::from(b'"')))
            || has_zero(w ^ (ONES * u64::from(b'\\')))
        {
            return true;
        }
    }
    chunks.remainder().iter().any(|&b| special(b))
}

/// `2026-11-23T19:11:46.123Z` (RFC 3339, UTC, milliseconds) without a date library.
pub fn rfc3339(t: SystemTime) -> String {
    let mut s = String::with_capacity(24);
    write_rfc3339(&mut s, t);
    s
}

/// [`rfc3339`], appended to `out`. The date and time down to the second are computed once per
/// second per thread (every log line of that second reuses them).
pub fn write_rfc3339(out: &mut String, t: SystemTime) {
    thread_local! {
        static SECOND: std::cell::RefCell<(u64, String)> = const {
            std::cell::RefCell::new((u64::MAX, String::new()))
        };
    }
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let cached = SECOND.with(|c| match c.try_borrow_mut() {
        Ok(mut c) => {
            if c.0 != secs {
                c.1.clear();
                write_date_time(&mut c.1, secs);
                c.0 = secs;
            }
            out.push_str(&c.1);
            true
        }
        Err(_) => false,
    });
    if !cached {
        write_date_time(out, secs);
    }
    out.push('.');
    push_padded(out, u64::from(d.subsec_millis()), 3);
    out.push('Z');
}

/// `2026-11-23T19:11:46` for seconds since the epoch (civil-from-days, UTC).
fn write_date_time(out: &mut String, secs: u64) {
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let field = |v: i64| u64::try_from(v).unwrap_or(0);
    push_padded(out, field(year), 4);
    out.push('-');
    push_padded(out, field(month), 2);
    out.push('-');
    push_padded(out, field(day), 2);
    out.push('T');
    push_padded(out, field(h), 2);
    out.push(':');
    push_padded(out, field(m), 2);
    out.push(':');
    push_padded(out, field(s), 2);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_text_is_display() {
        let mut rng = fastrand::Rng::with_seed(7);
        let fixed = [
            [0, 0, 0, 0],
            [255, 255, 255, 255],
            [10, 0, 9, 99],
            [100, 10, 1, 200],
        ];
        let random = (0..2000).map(|_| rng.u32(..).to_be_bytes());
        for octets in fixed.into_iter().chain(random) {
            let ip = std::net::Ipv4Addr::from(octets);
            let mut buf = [0u8; 15];
            assert_eq!(ipv4_text(ip, &mut buf), ip.to_string().as_bytes());
            let mut text = String::from("x");
            push_ip(&mut text, ip.into());
            assert_eq!(text, format!("x{ip}"));
        }
    }

    #[test]
    fn lines_are_valid_json() {
        let mut text = String::new();
        let mut l = Line::new(&mut text, key!("a"));
        l.buf().push_str("\"plain\"");
        l.str(key!("b"), "quote \" back \\ nl \n ctl \u{1}")
            .num(key!("n"), 42)
            .opt_str(key!("skip"), None)
            .millis(key!("ms"), Duration::from_nanos(1_234_560))
            .millis(key!("zero"), Duration::ZERO)
            .millis(
                key!("long"),
                Duration::from_secs(3600) + Duration::from_nanos(99_499),
            );
        l.finish();
        assert!(text.ends_with("}\n"));
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["b"], "quote \" back \\ nl \n ctl \u{1}");
        assert_eq!(v["n"], 42);
        assert_eq!(v["ms"], 1.235);
        assert!(
            text.contains(r#""zero":0.000,"long":3600000.099}"#),
            "{text}"
        );
        assert!(v.get("skip").is_none());
    }

    #[test]
    fn the_word_at_a_time_scan_finds_every_byte_that_needs_escaping() {
        let special = |b: u8| b == b'"' || b == b'\\' || b < 0x20;
        for len in 0..=17 {
            for at in 0..len {
                for b in 0..=255u8 {
                    // Neighbours that sit next to the borrow boundaries of the tricks.
                    for fill in [b'a', 0x21, 0x7f, 0x80, 0xff] {
                        let mut bytes = vec![fill; len];
                        bytes[at] = b;
                        assert_eq!(
                            needs_escape(&bytes),
                            special(b),
                            "byte {b:#x} at {at} of {len}, fill {fill:#x}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_millis(1_795_464_597_643)),
            "2026-11-23T20:09:57.643Z"
        );
    }
}
