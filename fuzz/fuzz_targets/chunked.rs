//! Chunked-body framing checker: never panics, `Complete(n)` stays within the input, and the
//! verdict does not depend on how the body was split into reads (the checker runs on every
//! read of a growing buffer).
#![no_main]

#[path = "common/mod.rs"]
mod common;

use gatehouse::listener::chunked::{check, Chunks};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let whole = check(data);
    match whole {
        Chunks::Complete(n) => {
            assert!(n >= 5 && n <= data.len(), "{n} of {}", data.len());
            assert_eq!(check(&data[..n]), whole);
            for k in common::proper_prefixes(n) {
                assert_eq!(check(&data[..k]), Chunks::Incomplete, "prefix {k} of {n}");
            }
            // The framing really is chunked: the body ends with the last chunk's empty line.
            assert!(data[..n].ends_with(b"\r\n"));
        }
        Chunks::Incomplete => {
            for k in common::proper_prefixes(data.len()) {
                assert_eq!(check(&data[..k]), Chunks::Incomplete, "prefix {k}");
            }
        }
        Chunks::Invalid(_) => {
            for k in common::proper_prefixes(data.len()) {
                assert!(
                    !matches!(check(&data[..k]), Chunks::Complete(_)),
                    "prefix {k} complete, whole invalid"
                );
            }
        }
    }
});
