//! PROXY protocol v1/v2 parser: never panics, never claims more bytes than it was given, and
//! its verdict does not depend on how the bytes were split into reads.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use gatehouse::listener::proxy_protocol::{parse, Header, Parse};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;

fuzz_target!(|data: &[u8]| {
    let whole = parse(data);
    match whole {
        Parse::Complete(header, len) => {
            assert!(len > 0 && len <= data.len(), "{len} > {}", data.len());
            // Nothing after the header was looked at.
            assert_eq!(parse(&data[..len]), whole);
            assert_eq!(parse(&data[len..len]), Parse::Incomplete);
            // Every shorter read waits for more: the same bytes are never refused when they
            // arrive in pieces and accepted when they arrive at once.
            for k in common::proper_prefixes(len) {
                assert_eq!(parse(&data[..k]), Parse::Incomplete, "prefix {k} of {len}");
            }
            // A v1 TCP4 header is canonical: printing what was parsed gives back its bytes.
            if data.starts_with(b"PROXY TCP4 ") {
                let Header::Proxied {
                    source: SocketAddr::V4(s),
                    destination: SocketAddr::V4(d),
                } = header
                else {
                    panic!("TCP4 header parsed as {header:?}");
                };
                let printed = format!(
                    "PROXY TCP4 {} {} {} {}\r\n",
                    s.ip(),
                    d.ip(),
                    s.port(),
                    d.port()
                );
                assert_eq!(printed.as_bytes(), &data[..len]);
            }
            // The spec's limit for v1 is 107 bytes, CRLF included.
            if data[0] == b'P' {
                assert!(len <= 107, "v1 header of {len} bytes");
            }
        }
        Parse::Incomplete => {
            for k in common::proper_prefixes(data.len()) {
                assert_eq!(parse(&data[..k]), Parse::Incomplete, "prefix {k}");
            }
        }
        Parse::Invalid(_) => {
            // Once invalid, more bytes never make it valid; a prefix may still be waiting.
            for k in common::proper_prefixes(data.len()) {
                assert!(
                    !matches!(parse(&data[..k]), Parse::Complete(..)),
                    "prefix {k} complete, whole invalid"
                );
            }
        }
    }
});
