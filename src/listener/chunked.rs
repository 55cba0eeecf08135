//! Strict validation of a chunked request body's framing, done on the bytes received before
//! the request is forwarded, so that a backend never receives the head of a request whose body
//! framing is broken (Pingora, left alone, forwards the head first and fails later).

/// What the bytes received so far show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunks {
    /// Valid so far; more bytes needed to reach the end.
    Incomplete,
    /// The whole body (last chunk and trailers included) is `n` bytes.
    Complete(usize),
    /// Broken framing.
    Invalid(&'static str),
}

/// Largest chunk size accepted (1 TiB): larger sizes are an overflow attempt.
const MAX_CHUNK: u64 = 1 << 40;

/// Validates the chunked body at the start of `buf`.
pub fn check(buf: &[u8]) -> Chunks {
    check_sized(buf).0
}

/// Like [`check`], also returning the payload bytes seen (the sum of chunk sizes, complete
/// chunks only).
pub fn check_sized(buf: &[u8]) -> (Chunks, u64) {
    let mut payload = 0u64;
    let verdict = scan(buf, &mut payload);
    (verdict, payload)
}

fn scan(buf: &[u8], payload: &mut u64) -> Chunks {
    let mut pos = 0;
    loop {
        let Some(line_end) = find_crlf(&buf[pos..]) else {
            if buf.len() - pos > 1024 {
                return Chunks::Invalid("chunk-size line too long");
            }
            return if buf[pos..].contains(&b'\n') {
                Chunks::Invalid("bare LF")
            } else {
                Chunks::Incomplete
            };
        };
        // The same limit as above, on a line whose CRLF has arrived: a line that is refused
        // while its CR is the last byte received must be refused when whole too.
        if line_end >= 1024 {
            return Chunks::Invalid("chunk-size line too long");
        }
        let line = &buf[pos..pos + line_end];
        let size_end = line.iter().position(|&b| b == b';').unwrap_or(line.len());
        let size_text = &line[..size_end];
        if size_text.is_empty()
            || size_text.len() > 16
            || !size_text.iter().all(u8::is_ascii_hexdigit)
        {
            return Chunks::Invalid("invalid chunk size");
        }
        if line[size_end..].iter().any(|&b| b < 0x20 && b != b'\t') {
            return Chunks::Invalid("control character in a chunk extension");
        }
        let size = u64::from_str_radix(std::str::from_utf8(size_text).unwrap_or("x"), 16)
            .unwrap_or(u64::MAX);
        if size > MAX_CHUNK {
            return Chunks::Invalid("chunk size too large");
        }
        pos += line_end + 2;
        if size == 0 {
            // trailer-section CRLF
            loop {
                let Some(end) = find_crlf(&buf[pos..]) else {
                    return if buf[pos..].contains(&b'\n') {
                        Chunks::Invalid("bare LF")
                    } else {
                        Chunks::Incomplete
                    };
                };
                let trailer = &buf[pos..pos + end];
                pos += end + 2;
                if trailer.is_empty() {
                    return Chunks::Complete(pos);
                }
                let Some(colon) = trailer.iter().position(|&b| b == b':') else {
                    return Chunks::Invalid("malformed trailer");
                };
                if colon == 0 || trailer[0] == b' ' || trailer[0] == b'\t' {
                    return Chunks::Invalid("malformed trailer");
                }
                // A bare LF or CR inside a trailer line is a line end to a lenient parser,
                // which would end the body where this check does not.
                if trailer
                    .iter()
                    .any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
                {
                    return Chunks::Invalid("control character in a trailer");
                }
            }
        }
        let size = size as usize;
        if buf.len() < pos + size + 2 {
            return Chunks::Incomplete;
        }
        if &buf[pos + size..pos + size + 2] != b"\r\n" {
            return Chunks::Invalid("chunk data not followed by CRLF");
        }
        *payload += size as u64;
        pos += size + 2;
    }
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_bodies() {
        assert_eq!(check(b"3\r\nabc\r\n0\r\n\r\n"), Chunks::Complete(13));
        assert_eq!(
            check(b"3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\nNEXT"),
            Chunks::Complete(27)
        );
        assert_eq!(check(b"A\r\n0123456789\r\n0\r\n\r\n"), Chunks::Complete(20));
        assert_eq!(check(b"3\r\nab"), Chunks::Incomplete);
        assert_eq!(check(b"3\r\nabc\r\n0\r\n"), Chunks::Incomplete);
        assert_eq!(check(b""), Chunks::Incomplete);
    }

    /// Found by `fuzz/` (target chunked): a trailer line with NULs and a bare LF was accepted
    /// when its CRLF arrived in the same read, and refused ("bare LF") when it did not.
    #[test]
    fn control_characters_in_trailers() {
        let crash = b"0;a=\"b\"\r\n\x00\x00\x00\x00\x00\x00 \x00\x00:\x00\x00\x000=\n\r\n:\xedh";
        assert!(matches!(check(crash), Chunks::Invalid(_)));
        assert!(matches!(check(&crash[..25]), Chunks::Invalid(_)));
        // What a lenient parser would read as the end of the body, then a second request.
        let smuggle = b"0\r\nX: a\n\r\nGET /x:y HTTP/1.1\r\nHost: h\r\n\r\n";
        assert!(matches!(check(smuggle), Chunks::Invalid(_)));
        assert_eq!(check(b"0\r\nX: a\tb\r\n\r\n"), Chunks::Complete(13));
    }

    /// The property the chunked fuzz target checks, on an input written for it: a chunk-size
    /// line over the limit (a long extension) was refused while incomplete but accepted when it
    /// arrived whole.
    #[test]
    fn long_chunk_size_line_is_refused_whatever_the_reads() {
        let body =
            |ext: usize| [b"1;".as_slice(), &vec![b'a'; ext], b"\r\nx\r\n0\r\n\r\n"].concat();
        let long = body(1100);
        assert!(matches!(check(&long), Chunks::Invalid(_)));
        assert!(matches!(check(&long[..1025]), Chunks::Invalid(_)));
        // At the limit: a 1023-byte line is fine in every read pattern, 1024 bytes never is.
        let ok = body(1021);
        assert_eq!(check(&ok), Chunks::Complete(ok.len()));
        assert!((0..ok.len()).all(|k| check(&ok[..k]) == Chunks::Incomplete));
        let over = body(1022);
        assert!(matches!(check(&over), Chunks::Invalid(_)));
        assert!(matches!(check(&over[..1025]), Chunks::Invalid(_)));
    }

    #[test]
    fn payload_sizes() {
        assert_eq!(
            check_sized(b"3\r\nabc\r\n5\r\nhello\r\n0\r\n\r\n"),
            (Chunks::Complete(23), 8)
        );
    }

    #[test]
    fn invalid_bodies() {
        for bad in [
            &b"zz\r\nabc\r\n0\r\n\r\n"[..],
            b"-3\r\nabc\r\n0\r\n\r\n",
            b"ffffffffffffffffffff\r\nabc\r\n",
            b"fffffffffff\r\n",
            b"3\r\nabcX\r\n0\r\n\r\n",
            b"3\nabc\n0\n\n",
            b" 3\r\nabc\r\n0\r\n\r\n",
            b"3\r\nabc\r\n0\r\nbad trailer\r\n\r\n",
        ] {
            assert!(
                matches!(check(bad), Chunks::Invalid(_)),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
