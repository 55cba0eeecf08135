use super::*;

fn run(raw: &[u8]) -> Check {
    check(raw, &Limits::default())
}

fn status(raw: &[u8]) -> u16 {
    match run(raw) {
        Check::Refuse(r) => r.status,
        Check::Complete(_) => 200,
        Check::Incomplete => 0,
    }
}

#[test]
fn accepts_ordinary_requests() {
    let h = match run(
        b"GET /a?b=c HTTP/1.1\r\nHost: www.example.test:8080\r\nUser-Agent: x\r\n\r\nrest",
    ) {
        Check::Complete(h) => h,
        other => panic!("{other:?}"),
    };
    assert_eq!(h.len, 67);
    assert_eq!(h.body, Body::None);
    assert_eq!(
        status(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"),
        200
    );
    assert_eq!(
        status(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked \r\n\r\n"),
        200
    );
    assert_eq!(status(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
    assert_eq!(
        status(b"GET http://a:80/x HTTP/1.1\r\nHost: A\r\n\r\n"),
        200
    );
    assert_eq!(status(b"GET / HTTP/1.0\r\nHost: [::1]:8080\r\n\r\n"), 200);
}

#[test]
fn waits_for_the_rest() {
    assert_eq!(run(b"GET / HTTP/1.1\r\nHost: a\r\n"), Check::Incomplete);
    assert_eq!(run(b"GET / HTTP/1.1\r"), Check::Incomplete);
    assert_eq!(run(b""), Check::Incomplete);
}

#[test]
fn refuses_smuggling_material() {
    let cases: &[(&[u8], u16)] = &[
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
        (b"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 3\r\n\r\n", 400),
        (b"GET / HTTP/1.1\nHost: a\n\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: b\x00c\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: b\x7fc\r\n\r\n", 400),
        (b"GET /a\x00b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET http://evil/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.0\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a:port\r\n\r\n", 400),
        (b"GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET /a%2 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        (b"GET / HTTX/1.1\r\nHost: a\r\n\r\n", 400),
        (b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 405),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ];
    for (raw, expected) in cases {
        assert_eq!(status(raw), *expected, "{}", String::from_utf8_lossy(raw));
    }
}

#[test]
fn enforces_size_limits() {
    let limits = Limits {
        max_request_line: 100,
        max_header_bytes: 200,
        max_headers: 5,
    };
    let long_line = [
        b"GET /".as_slice(),
        &[b'a'; 200],
        b" HTTP/1.1\r\nHost: a\r\n\r\n",
    ]
    .concat();
    assert_eq!(
        check(&long_line, &limits),
        Check::Refuse(Refusal {
            status: 414,
            reason: "request line too long"
        })
    );
    // Refused as soon as the line is too long, without waiting for the rest.
    assert!(matches!(
        check(&long_line[..150], &limits),
        Check::Refuse(Refusal { status: 414, .. })
    ));
    let big = [
        b"GET / HTTP/1.1\r\nHost: a\r\nX: ".as_slice(),
        &[b'b'; 300],
        b"\r\n\r\n",
    ]
    .concat();
    assert!(matches!(
        check(&big, &limits),
        Check::Refuse(Refusal { status: 431, .. })
    ));
    assert!(matches!(
        check(&big[..big.len() - 4], &limits),
        Check::Refuse(Refusal { status: 431, .. })
    ));
    let many: Vec<u8> = [
        b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec(),
        (0..6)
            .flat_map(|i| format!("X{i}: v\r\n").into_bytes())
            .collect(),
        b"\r\n".to_vec(),
    ]
    .concat();
    assert!(matches!(
        check(&many, &limits),
        Check::Refuse(Refusal { status: 431, .. })
    ));
}

/// Found by `fuzz/` (target head, smallest limits): a request line of exactly
/// `max_request_line` bytes was accepted whole but refused with 414 when the read ended
/// between its CR and LF.
#[test]
fn request_line_at_the_limit_whatever_the_reads() {
    let limits = Limits {
        max_request_line: 64,
        max_header_bytes: 256,
        max_headers: 8,
    };
    let crash = b"OET / HTo\x141\x14\x14\x14\x14\x14\x14\x14\x14\x14\x14\x14\x14\x14\x14\x14\x14\x14\x14\x14\x14\x14\x14\x14\x14\x14\x0e\x14\x14\x14\x14\x14\x14\x14\x14\x14\x14\x14Z\x14\x14s\x01\x00tb=\x89\x89\x89\x89\x89\x89c\x0d\x0a:\x0d\x0a";
    assert_eq!(crash.windows(2).position(|w| w == b"\r\n"), Some(64));
    for k in 0..=crash.len() {
        assert_eq!(check(&crash[..k], &limits), Check::Incomplete, "prefix {k}");
    }
    let at_limit = [
        b"GET /".as_slice(),
        &[b'a'; 50],
        b" HTTP/1.1\r\nHost: a\r\n\r\n",
    ]
    .concat();
    assert!(matches!(check(&at_limit, &limits), Check::Complete(_)));
    for k in 0..at_limit.len() {
        assert_eq!(
            check(&at_limit[..k], &limits),
            Check::Incomplete,
            "prefix {k}"
        );
    }
    let over = [
        b"GET /".as_slice(),
        &[b'a'; 51],
        b" HTTP/1.1\r\nHost: a\r\n\r\n",
    ]
    .concat();
    assert!(matches!(
        check(&over, &limits),
        Check::Refuse(Refusal { status: 414, .. })
    ));
    assert!(matches!(
        check(&over[..65], &limits),
        Check::Refuse(Refusal { status: 414, .. })
    ));
}

#[test]
fn hosts() {
    for ok in [
        &b"a"[..],
        b"www.example.test",
        b"a:1",
        b"127.0.0.1:8080",
        b"[::1]",
        b"[2001:db8::1]:443",
        b"xn--bcher-kva.test",
    ] {
        assert!(valid_host(ok), "{}", String::from_utf8_lossy(ok));
    }
    for bad in [
        &b""[..],
        b"a b",
        b"a:b",
        b"a:1234567",
        b"u@a",
        b"[zz]",
        b"[::1",
        b"a/b",
    ] {
        assert!(!valid_host(bad), "{}", String::from_utf8_lossy(bad));
    }
}

mod prefix_stability {
    //! The checker runs on every read of a growing buffer, so its verdict must not depend on
    //! how the bytes were split: a complete head's proper prefixes all wait for more, and a
    //! refused input has no complete prefix. (`fuzz/` checks the same on arbitrary bytes.)
    use super::*;
    use proptest::prelude::*;

    /// Mostly valid pieces, so that many cases are complete heads; the rest are the ways
    /// heads go wrong.
    fn piece() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            4 => Just(b"Content-Length: 3".to_vec()),
            2 => Just(b"Content-Length: 0".to_vec()),
            3 => Just(b"Transfer-Encoding: chunked".to_vec()),
            2 => Just(b"Expect: 100-continue".to_vec()),
            6 => "[A-Za-z-]{1,8}: [ -~]{0,12}".prop_map(String::into_bytes),
            1 => Just(b"Host: www.example.test:8080".to_vec()),
            1 => Just(b" folded".to_vec()),
            1 => Just(b"".to_vec()),
            1 => proptest::collection::vec(any::<u8>(), 0..12),
        ]
    }

    fn line_end() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            30 => Just(b"\r\n".to_vec()),
            1 => Just(b"\n".to_vec()),
            1 => Just(b"\r".to_vec()),
        ]
    }

    fn request() -> impl Strategy<Value = Vec<u8>> {
        let method = prop_oneof![
            4 => Just("GET"),
            4 => Just("POST"),
            1 => Just("OPTIONS"),
            1 => Just("CONNECT"),
            1 => Just("G T"),
        ];
        let target = prop_oneof![
            4 => Just("/".to_string()),
            2 => Just("/a?b=c".to_string()),
            1 => Just("*".to_string()),
            1 => Just("http://a/x".to_string()),
            1 => Just("/%zz".to_string()),
            4 => "/[!-~]{0,10}",
        ];
        let version = prop_oneof![
            6 => Just("HTTP/1.1"),
            2 => Just("HTTP/1.0"),
            1 => Just("HTTP/2.0"),
        ];
        (
            method,
            target,
            version,
            line_end(),
            proptest::bool::weighted(0.9),
            proptest::collection::vec((piece(), line_end()), 0..5),
            line_end(),
            proptest::collection::vec(any::<u8>(), 0..8),
        )
            .prop_map(|(m, t, v, rl_end, host, fields, end, tail)| {
                let mut b = format!("{m} {t} {v}").into_bytes();
                b.extend_from_slice(&rl_end);
                if host {
                    // Most heads name their host, so that many cases are complete heads.
                    b.extend_from_slice(b"Host: a\r\n");
                }
                for (f, e) in fields {
                    b.extend_from_slice(&f);
                    b.extend_from_slice(&e);
                }
                b.extend_from_slice(&end);
                b.extend_from_slice(&tail);
                b
            })
    }

    fn assert_stable(buf: &[u8], limits: &Limits) -> Result<(), TestCaseError> {
        match check(buf, limits) {
            Check::Complete(h) => {
                prop_assert!(h.len <= buf.len());
                prop_assert_eq!(check(&buf[..h.len], limits), Check::Complete(h));
                for k in 0..h.len {
                    prop_assert_eq!(check(&buf[..k], limits), Check::Incomplete, "prefix {}", k);
                }
            }
            Check::Incomplete => {
                for k in 0..buf.len() {
                    prop_assert_eq!(check(&buf[..k], limits), Check::Incomplete, "prefix {}", k);
                }
            }
            Check::Refuse(_) => {
                for k in 0..buf.len() {
                    prop_assert!(
                        !matches!(check(&buf[..k], limits), Check::Complete(_)),
                        "prefix {} complete",
                        k
                    );
                }
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn verdict_does_not_depend_on_segmentation(buf in request()) {
            assert_stable(&buf, &Limits::default())?;
            let small = Limits { max_request_line: 16, max_header_bytes: 48, max_headers: 3 };
            assert_stable(&buf, &small)?;
        }
    }
}
