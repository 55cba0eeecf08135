//! The streaming chunked framer (`forward::chunked::Framer`) that follows chunked bodies as
//! the HTTP/1 engine forwards them, against the gate's whole-buffer check
//! (`listener::chunked::check`) and a plain reference decoder.
//!
//! Input: one byte `n` (the low 3 bits: how many split bytes follow), `n` bytes of read sizes
//! (used in turn; 0 means "the rest"), then the body bytes, fed to the framer in reads of
//! those sizes.
//!
//! - never panics;
//! - the same verdict as the gate, whatever the reads: complete at the same length, still
//!   incomplete, or refused. The one documented exception: the framer refuses a bad byte as
//!   soon as it arrives, where the gate waits for the end of its line; then the gate refuses
//!   too once that line ends (`\r\n` appended);
//! - a complete body: the payload handed out equals the reference decoder's, and the sum of
//!   chunk sizes equals the gate's; bytes after the body are not consumed.
#![no_main]

use gatehouse::forward::chunked::Framer;
use gatehouse::listener::chunked::{check, check_sized, Chunks};
use libfuzzer_sys::fuzz_target;

/// The framer's verdict on `body` fed in reads of the given sizes, and the payload.
fn follow(body: &[u8], sizes: &[u8]) -> (Chunks, Vec<u8>, u64) {
    let mut framer = Framer::new();
    let mut payload = Vec::new();
    let mut offset = 0;
    let mut turn = 0;
    while offset < body.len() {
        let size = match sizes.get(turn % sizes.len().max(1)) {
            Some(&s) if s > 0 => usize::from(s),
            _ => body.len() - offset,
        };
        turn += 1;
        let piece = &body[offset..(offset + size).min(body.len())];
        match framer.feed(piece, |s, e| {
            assert!(
                s <= e && e <= piece.len(),
                "payload run {s}..{e} of {}",
                piece.len()
            );
            payload.extend_from_slice(&piece[s..e]);
        }) {
            Err(why) => return (Chunks::Invalid(why), payload, framer.payload()),
            Ok(p) if p.done => {
                assert!(framer.is_done());
                assert!(p.consumed <= piece.len());
                // Nothing more is taken once the body is done.
                let more = framer.feed(b"0\r\n\r\n", |_, _| panic!("payload after the end"));
                assert_eq!(more.map(|p| (p.consumed, p.done)), Ok((0, true)));
                return (
                    Chunks::Complete(offset + p.consumed),
                    payload,
                    framer.payload(),
                );
            }
            Ok(p) => {
                assert_eq!(
                    p.consumed,
                    piece.len(),
                    "an unfinished body takes every byte"
                );
                offset += piece.len();
            }
        }
    }
    (Chunks::Incomplete, payload, framer.payload())
}

/// A plain decoder of a body the gate found complete: chunk sizes in hex (extensions after
/// `;` ignored), data, CRLF, until the zero-size chunk.
fn reference(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let line_end = pos
            + body[pos..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("complete");
        let line = &body[pos..line_end];
        let size_text = line.split(|&b| b == b';').next().unwrap_or_default();
        let size = usize::from_str_radix(std::str::from_utf8(size_text).expect("hex"), 16)
            .expect("a size");
        pos = line_end + 2;
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[pos..pos + size]);
        pos += size + 2;
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n & 7).min(rest.len());
    let (sizes, body) = rest.split_at(n);
    let expected = check(body);
    let (got, payload, sizes_sum) = follow(body, sizes);
    match (expected, got) {
        (Chunks::Complete(a), Chunks::Complete(b)) => {
            assert_eq!(a, b, "body length");
            assert_eq!(payload, reference(&body[..a]), "payload");
            assert_eq!(check_sized(body).1, sizes_sum, "sum of chunk sizes");
        }
        (Chunks::Incomplete, Chunks::Incomplete) | (Chunks::Invalid(_), Chunks::Invalid(_)) => {}
        (Chunks::Incomplete, Chunks::Invalid(why)) => {
            let mut ended = body.to_vec();
            ended.extend_from_slice(b"\r\n");
            assert!(
                matches!(check(&ended), Chunks::Invalid(_)),
                "the framer refused early ({why}) what the gate accepts once the line ends"
            );
        }
        (a, b) => panic!("gate {a:?}, framer {b:?}"),
    }
});
