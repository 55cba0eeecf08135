//! Just enough DER to read and write OCSP messages (RFC 6960): tag-length-value walking, a few
//! primitive types and GeneralizedTime. Every read is bounds-checked; malformed input is an
//! `Err`, never a panic (responses come from the network).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// DER tags used by OCSP.
pub mod tag {
    /// SEQUENCE.
    pub const SEQUENCE: u8 = 0x30;
    /// INTEGER.
    pub const INTEGER: u8 = 0x02;
    /// BIT STRING.
    pub const BIT_STRING: u8 = 0x03;
    /// OCTET STRING.
    pub const OCTET_STRING: u8 = 0x04;
    /// NULL.
    pub const NULL: u8 = 0x05;
    /// OBJECT IDENTIFIER.
    pub const OID: u8 = 0x06;
    /// ENUMERATED.
    pub const ENUMERATED: u8 = 0x0a;
    /// GeneralizedTime.
    pub const GENERALIZED_TIME: u8 = 0x18;
    /// Context-specific constructed `[n]`.
    pub const fn context(n: u8) -> u8 {
        0xa0 | n
    }
    /// Context-specific primitive `[n]` (IMPLICIT primitive types).
    pub const fn context_primitive(n: u8) -> u8 {
        0x80 | n
    }
}

/// A malformed DER message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed DER: {0}")]
pub struct DerError(pub &'static str);

/// One element: its tag, its contents, and its whole encoding (for hashing and signatures).
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    /// The tag byte (single-byte tags only: all OCSP uses).
    pub tag: u8,
    /// The contents.
    pub value: &'a [u8],
    /// Tag, length and contents.
    pub raw: &'a [u8],
}

/// Reads elements one after another from a buffer.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Reader { rest: input }
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next element's tag, without reading it.
    pub fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next element, whatever its tag.
    pub fn any(&mut self) -> Result<Tlv<'a>, DerError> {
        let input = self.rest;
        let tag = *input.first().ok_or(DerError("truncated"))?;
        if tag & 0x1f == 0x1f {
            return Err(DerError("multi-byte tag"));
        }
        let first = *input.get(1).ok_or(DerError("truncated length"))?;
        let (len, header) = if first < 0x80 {
            (usize::from(first), 2)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return Err(DerError("unsupported length"));
            }
            let bytes = input.get(2..2 + n).ok_or(DerError("truncated length"))?;
            let len = bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, 2 + n)
        };
        let end = header.checked_add(len).ok_or(DerError("length overflow"))?;
        let raw = input.get(..end).ok_or(DerError("truncated value"))?;
        self.rest = &input[end..];
        Ok(Tlv {
            tag,
            value: &raw[header..],
            raw,
        })
    }

    /// The next element, which must have tag `tag`.
    pub fn expect(&mut self, tag: u8) -> Result<Tlv<'a>, DerError> {
        let tlv = self.any()?;
        if tlv.tag != tag {
            return Err(DerError("unexpected tag"));
        }
        Ok(tlv)
    }

    /// The next element if it has tag `tag`.
    pub fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, DerError> {
        if self.peek_tag() == Some(tag) {
            self.any().map(Some)
        } else {
            Ok(None)
        }
    }

    /// The contents of the next element (tag `tag`) as a reader.
    pub fn nested(&mut self, tag: u8) -> Result<Reader<'a>, DerError> {
        self.expect(tag).map(|t| Reader::new(t.value))
    }
}

/// Encodes one element.
pub fn write(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
}

/// Encodes one element whose contents are built by `f`.
pub fn write_with(out: &mut Vec<u8>, tag: u8, f: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    f(&mut inner);
    write(out, tag, &inner);
}

/// Reads `YYYYMMDDHHMMSS[.fff]Z`.
pub fn generalized_time(value: &[u8]) -> Result<SystemTime, DerError> {
    let digits = |range: std::ops::Range<usize>| -> Result<i64, DerError> {
        let s = value.get(range).ok_or(DerError("short time"))?;
        if !s.iter().all(u8::is_ascii_digit) {
            return Err(DerError("bad time digit"));
        }
        Ok(s.iter().fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
    };
    if value.last() != Some(&b'Z') || value.len() < 15 {
        return Err(DerError("time not in UTC"));
    }
    let (y, mo, d) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (h, mi, s) = (digits(8..10)?, digits(10..12)?, digits(12..14)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return Err(DerError("time out of range"));
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + s;
    let secs = u64::try_from(secs).map_err(|_| DerError("time before 1970"))?;
    Ok(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_lengths_and_reads_times() {
        for len in [0usize, 5, 127, 128, 300, 70_000] {
            let mut out = Vec::new();
            write(&mut out, tag::OCTET_STRING, &vec![7u8; len]);
            let mut r = Reader::new(&out);
            let t = r.expect(tag::OCTET_STRING).unwrap();
            assert_eq!(t.value.len(), len);
            assert!(r.is_empty());
        }
        let t = generalized_time(b"20000229120000Z").unwrap();
        assert_eq!(t.duration_since(UNIX_EPOCH).unwrap().as_secs(), 951_825_600);
        assert!(generalized_time(b"2000022912000Z").is_err());
        assert!(Reader::new(&[0x30, 0x05, 1]).any().is_err());
    }
}
