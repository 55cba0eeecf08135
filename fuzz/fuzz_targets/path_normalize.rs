//! Dot-segment normalisation of request paths (what routing and the backend see).
//!
//! For a path starting with `/` (every origin-form and absolute-form path): the result starts
//! with `/`, has no `.`/`..` segment (plain or percent-encoded), is its own normalisation, and
//! is only borrowed when it equals the input. A path that climbs above the root is refused.
#![no_main]

use gatehouse::proxy::path::normalize;
use libfuzzer_sys::fuzz_target;
use std::borrow::Cow;

fn is_dot_segment(seg: &str) -> bool {
    let lower = seg.to_ascii_lowercase().replace("%2e", ".");
    lower == "." || lower == ".."
}

/// Reference: RFC 3986 remove_dot_segments over a stack, refusing to pop the root.
fn reference(path: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    let mut trailing = false;
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        let lower = seg.to_ascii_lowercase().replace("%2e", ".");
        if lower == "." {
            trailing = last;
        } else if lower == ".." {
            out.pop()?;
            trailing = last;
        } else {
            out.push(seg);
            trailing = false;
        }
    }
    let mut s: String = out.iter().flat_map(|seg| ["/", seg]).collect();
    if s.is_empty() || trailing {
        s.push('/');
    }
    Some(s)
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    // Any string: no panic.
    let _ = normalize(input);
    let path = format!("/{input}");
    let result = normalize(&path);
    assert_eq!(
        result.as_deref().map(str::to_owned),
        reference(&path),
        "{path:?}"
    );
    let Some(n) = result else {
        return;
    };
    assert!(n.starts_with('/'), "{path:?} -> {n:?}");
    assert!(
        !n.split('/').any(is_dot_segment),
        "{path:?} -> {n:?} keeps a dot segment"
    );
    match normalize(&n) {
        Some(Cow::Borrowed(again)) => assert_eq!(again, &*n),
        other => panic!("{path:?} -> {n:?} -> {other:?}: not idempotent"),
    }
    if let Cow::Borrowed(b) = &n {
        assert_eq!(*b, path);
    }
});
