//! Helpers shared by the targets (each target includes this file with `#[path]`).
#![allow(dead_code)]

/// Proper prefix lengths of an `n`-byte input to re-check: all of them for short inputs, a
/// sample (both ends and an even spread) for long ones, so a run stays fast.
pub fn proper_prefixes(n: usize) -> Vec<usize> {
    if n <= 512 {
        return (0..n).collect();
    }
    let mut out: Vec<usize> = (0..128).collect();
    out.extend((128..n - 128).step_by((n / 128).max(1)));
    out.extend(n - 128..n);
    out
}

/// Fails on a CR not followed by LF or an LF not preceded by CR: whatever gatehouse writes on
/// the wire must not give a lenient parser another line break to read.
pub fn assert_crlf_only(out: &[u8]) {
    for (i, &b) in out.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(out.get(i + 1), Some(&b'\n'), "bare CR at {i}"),
            b'\n' => assert!(i > 0 && out[i - 1] == b'\r', "bare LF at {i}"),
            _ => {}
        }
    }
}
