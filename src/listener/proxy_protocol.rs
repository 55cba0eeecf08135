//! Receiving the PROXY protocol (v1 text and v2 binary, HAProxy's spec) on listeners behind an
//! L4 balancer: the real client address arrives before the first HTTP (or TLS) byte.
//!
//! The parser is a pure function over bytes (fuzzed). Pingora 0.9.1 offers a hook only before
//! TLS; gatehouse reads the header itself for every listener that enables it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The v2 signature.
pub const V2_SIGNATURE: [u8; 12] = [
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
];
/// Longest v1 header (spec: 107 bytes).
const V1_MAX: usize = 107;

/// What a PROXY header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// The connection was proxied for this client (and to this destination).
    Proxied {
        /// Client.
        source: SocketAddr,
        /// Address the client connected to.
        destination: SocketAddr,
    },
    /// A health check or unknown protocol from the balancer itself: keep the socket's address.
    Local,
}

/// Result of looking at the bytes received so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parse {
    /// Need more bytes.
    Incomplete,
    /// Not a valid PROXY header.
    Invalid(&'static str),
    /// A header of `len` bytes.
    Complete(Header, usize),
}

/// Parses a PROXY header at the start of `buf`.
pub fn parse(buf: &[u8]) -> Parse {
    if buf.is_empty() {
        return Parse::Incomplete;
    }
    if buf[0] == b'P' {
        return parse_v1(buf);
    }
    if buf[0] == V2_SIGNATURE[0] {
        return parse_v2(buf);
    }
    Parse::Invalid("no PROXY protocol header")
}

fn parse_v1(buf: &[u8]) -> Parse {
    let prefix = b"PROXY ";
    let n = buf.len().min(prefix.len());
    if buf[..n] != prefix[..n] {
        return Parse::Invalid("no PROXY protocol header");
    }
    // The CRLF must end by byte V1_MAX, so it starts at index V1_MAX - 2 at the latest: the
    // verdict on a header then never depends on how its bytes were split into reads.
    let Some(end) = buf.windows(2).take(V1_MAX - 1).position(|w| w == b"\r\n") else {
        return if buf.len() >= V1_MAX {
            Parse::Invalid("PROXY v1 header too long")
        } else {
            Parse::Incomplete
        };
    };
    let Ok(line) = std::str::from_utf8(&buf[prefix.len()..end]) else {
        return Parse::Invalid("PROXY v1 header is not text");
    };
    let fields: Vec<&str> = line.split(' ').collect();
    let header = match fields.as_slice() {
        ["UNKNOWN", ..] => Header::Local,
        [proto @ ("TCP4" | "TCP6"), src, dst, sport, dport] => {
            let v6 = *proto == "TCP6";
            let ip = |s: &str| -> Option<IpAddr> {
                if v6 {
                    s.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
                } else {
                    s.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
                }
            };
            let port = |s: &str| -> Option<u16> {
                // Decimal digits only (`u16::from_str` also takes a leading '+'), and no
                // leading zero.
                let digits = !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit());
                (digits && !s.starts_with('0') || s == "0")
                    .then(|| s.parse().ok())
                    .flatten()
            };
            match (ip(src), ip(dst), port(sport), port(dport)) {
                (Some(s), Some(d), Some(sp), Some(dp)) => Header::Proxied {
                    source: SocketAddr::new(s, sp),
                    destination: SocketAddr::new(d, dp),
                },
                _ => return Parse::Invalid("malformed PROXY v1 addresses"),
            }
        }
        _ => return Parse::Invalid("malformed PROXY v1 header"),
    };
    Parse::Complete(header, end + 2)
}

fn parse_v2(buf: &[u8]) -> Parse {
    let n = buf.len().min(12);
    if buf[..n] != V2_SIGNATURE[..n] {
        return Parse::Invalid("no PROXY protocol header");
    }
    if buf.len() < 16 {
        return Parse::Incomplete;
    }
    let version_command = buf[12];
    if version_command >> 4 != 2 {
        return Parse::Invalid("unsupported PROXY protocol version");
    }
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let total = 16 + len;
    if buf.len() < total {
        return Parse::Incomplete;
    }
    let body = &buf[16..total];
    let header = match version_command & 0x0F {
        0x0 => Header::Local,
        0x1 => match buf[13] {
            // TCP over IPv4
            0x11 if body.len() >= 12 => Header::Proxied {
                source: SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::new(body[0], body[1], body[2], body[3])),
                    u16::from_be_bytes([body[8], body[9]]),
                ),
                destination: SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::new(body[4], body[5], body[6], body[7])),
                    u16::from_be_bytes([body[10], body[11]]),
                ),
            },
            // TCP over IPv6
            0x21 if body.len() >= 36 => {
                let mut s = [0u8; 16];
                let mut d = [0u8; 16];
                s.copy_from_slice(&body[0..16]);
                d.copy_from_slice(&body[16..32]);
                Header::Proxied {
                    source: SocketAddr::new(
                        IpAddr::V6(Ipv6Addr::from(s)),
                        u16::from_be_bytes([body[32], body[33]]),
                    ),
                    destination: SocketAddr::new(
                        IpAddr::V6(Ipv6Addr::from(d)),
                        u16::from_be_bytes([body[34], body[35]]),
                    ),
                }
            }
            0x11 | 0x21 => return Parse::Invalid("PROXY v2 address block too short"),
            // UNSPEC, UDP or UNIX: nothing usable for an HTTP client address.
            _ => Header::Local,
        },
        _ => return Parse::Invalid("unsupported PROXY v2 command"),
    };
    Parse::Complete(header, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1() {
        let raw = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n";
        match parse(raw) {
            Parse::Complete(
                Header::Proxied {
                    source,
                    destination,
                },
                len,
            ) => {
                assert_eq!(source, "192.0.2.1:56324".parse().unwrap());
                assert_eq!(destination, "198.51.100.2:443".parse().unwrap());
                assert_eq!(&raw[len..], b"GET / HTTP/1.1\r\n");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n"),
            Parse::Complete(Header::Proxied { .. }, _)
        ));
        assert_eq!(
            parse(b"PROXY UNKNOWN\r\n"),
            Parse::Complete(Header::Local, 15)
        );
        assert_eq!(parse(b"PROXY TCP4 1.2.3.4"), Parse::Incomplete);
        assert_eq!(parse(b"PRO"), Parse::Incomplete);
        for bad in [
            &b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n"[..],
            b"PROXY TCP4 ::1 ::1 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
            b"PROXY FOO\r\n",
            b"GET / HTTP/1.1\r\n",
        ] {
            assert!(
                matches!(parse(bad), Parse::Invalid(_)),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(matches!(parse(&[b'P'; 200]), Parse::Invalid(_)));
    }

    /// Found by `fuzz/` (target proxy_protocol): `u16::from_str` accepts a leading '+', so a
    /// port of "+3" was read as 3.
    #[test]
    fn v1_ports_are_digits_only() {
        for bad in [
            &b"PROXY TCP4 19.0.2.1 198.50.10.2 6324 +3\r\n"[..],
            b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
            b"PROXY TCP6 ::1 ::1 1 +2\r\n",
        ] {
            assert!(
                matches!(parse(bad), Parse::Invalid(_)),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(matches!(
            parse(b"PROXY TCP4 19.0.2.1 198.50.10.2 6324 3\r\n"),
            Parse::Complete(Header::Proxied { .. }, 40)
        ));
    }

    /// Found by `fuzz/` (target proxy_protocol): a 108-byte v1 header was accepted when it
    /// arrived in one read but refused as too long when its first 107 bytes came first.
    #[test]
    fn v1_length_limit_does_not_depend_on_reads() {
        let crash = b"PROXY UNKNOWN f======================================================================================#!!ff\r\n\r\n\x00\r\nQUIT\nP4 \r\n";
        assert!(matches!(parse(crash), Parse::Invalid(_)));
        assert!(matches!(parse(&crash[..107]), Parse::Invalid(_)));
        // The longest header the spec allows: 107 bytes, CRLF included.
        let longest = [b"PROXY UNKNOWN ".as_slice(), &[b'x'; 91], b"\r\n"].concat();
        assert_eq!(longest.len(), 107);
        assert_eq!(parse(&longest), Parse::Complete(Header::Local, 107));
        for k in 0..107 {
            assert_eq!(parse(&longest[..k]), Parse::Incomplete, "prefix {k}");
        }
        let too_long = [b"PROXY UNKNOWN ".as_slice(), &[b'x'; 92], b"\r\n"].concat();
        for k in 107..=too_long.len() {
            assert!(
                matches!(parse(&too_long[..k]), Parse::Invalid(_)),
                "prefix {k}"
            );
        }
    }

    #[test]
    fn v2() {
        let mut raw = V2_SIGNATURE.to_vec();
        raw.extend([
            0x21, 0x11, 0x00, 12, 192, 0, 2, 1, 198, 51, 100, 2, 0xDC, 0x04, 0x01, 0xBB,
        ]);
        raw.extend(b"GET");
        match parse(&raw) {
            Parse::Complete(
                Header::Proxied {
                    source,
                    destination,
                },
                28,
            ) => {
                assert_eq!(source, "192.0.2.1:56324".parse().unwrap());
                assert_eq!(destination, "198.51.100.2:443".parse().unwrap());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(parse(&raw[..20]), Parse::Incomplete);
        let mut local = V2_SIGNATURE.to_vec();
        local.extend([0x20, 0x00, 0x00, 0x00]);
        assert_eq!(parse(&local), Parse::Complete(Header::Local, 16));
        let mut bad = V2_SIGNATURE.to_vec();
        bad.extend([0x11, 0x11, 0x00, 0x00]);
        assert!(matches!(parse(&bad), Parse::Invalid(_)));
        let mut short = V2_SIGNATURE.to_vec();
        short.extend([0x21, 0x11, 0x00, 0x04, 1, 2, 3, 4]);
        assert!(matches!(parse(&short), Parse::Invalid(_)));
    }
}
