//! A streaming chunked-body framer: it follows `Transfer-Encoding: chunked` framing byte by byte
//! as bodies are forwarded, so the engine knows where a body ends (to reuse both connections)
//! without buffering it, and can pass the chunks on unchanged or hand out only the payload
//! (for an HTTP/1.0 client, which cannot read chunked).
//!
//! The rules are the gate's ([`crate::listener::chunked`]): a strict reading that a lenient
//! parser behind gatehouse could not disagree with. The property test below holds the two to
//! the same verdict on every input, however the bytes are split.

/// Largest chunk size accepted (1 TiB): larger sizes are an overflow attempt.
const MAX_CHUNK: u64 = 1 << 40;
/// Longest chunk-size or trailer line.
const MAX_LINE: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading hex digits of a chunk size.
    Size,
    /// After the size: a `;` extension, up to CR.
    Extension,
    /// Expecting the LF of the size line.
    SizeLf,
    /// Inside chunk data, this many bytes left.
    Data(u64),
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    /// Inside a trailer line; whether its colon was seen.
    Trailer { colon: bool },
    /// Expecting the LF of a trailer line; whether the line was empty (the end).
    TrailerLf { last: bool },
    /// The body is complete.
    Done,
}

/// Follows one chunked body.
#[derive(Debug, Clone)]
pub struct Framer {
    state: State,
    size: u64,
    digits: u8,
    line: usize,
    payload: u64,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new()
    }
}

/// Progress over one piece of input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Input bytes that belong to the body (all of it unless `done`).
    pub consumed: usize,
    /// The body ended within this input (after `consumed` bytes).
    pub done: bool,
}

impl Framer {
    /// At the start of a chunked body.
    pub fn new() -> Self {
        Framer {
            state: State::Size,
            size: 0,
            digits: 0,
            line: 0,
            payload: 0,
        }
    }

    /// Payload bytes (sum of chunk sizes) seen so far.
    pub fn payload(&self) -> u64 {
        self.payload
    }

    /// Whether the whole body has been seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Follows `input`. `data(start, end)` is called for every run of payload bytes in it.
    ///
    /// # Errors
    /// Broken framing, with the reason.
    pub fn feed(
        &mut self,
        input: &[u8],
        mut data: impl FnMut(usize, usize),
    ) -> Result<Progress, &'static str> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                State::Done => break,
                State::Data(left) => {
                    let take = left.min((input.len() - i) as u64) as usize;
                    data(i, i + take);
                    i += take;
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data(left)
                    };
                    continue;
                }
                State::Size => {
                    self.count_line()?;
                    if let Some(d) = hex(b) {
                        self.digits += 1;
                        if self.digits > 16 {
                            return Err("invalid chunk size");
                        }
                        self.size = (self.size << 4) | u64::from(d);
                    } else if self.digits == 0 {
                        return Err(if b == b'\n' {
                            "bare LF"
                        } else {
                            "invalid chunk size"
                        });
                    } else if b == b';' {
                        self.state = State::Extension;
                    } else if b == b'\r' {
                        self.state = State::SizeLf;
                    } else if b == b'\n' {
                        return Err("bare LF");
                    } else {
                        return Err("invalid chunk size");
                    }
                }
                State::Extension => {
                    self.count_line()?;
                    if b == b'\r' {
                        self.state = State::SizeLf;
                    } else if b == b'\n' {
                        return Err("bare LF");
                    } else if b < 0x20 && b != b'\t' {
                        return Err("control character in a chunk extension");
                    }
                }
                State::SizeLf => {
                    if b != b'\n' {
                        return Err("bare CR");
                    }
                    if self.size > MAX_CHUNK {
                        return Err("chunk size too large");
                    }
                    let size = self.size;
                    self.size = 0;
                    self.digits = 0;
                    self.line = 0;
                    self.payload += size;
                    self.state = if size == 0 {
                        State::TrailerStart
                    } else {
                        State::Data(size)
                    };
                }
                State::DataCr => {
                    if b != b'\r' {
                        return Err("chunk data not followed by CRLF");
                    }
                    self.state = State::DataLf;
                }
                State::DataLf => {
                    if b != b'\n' {
                        return Err("chunk data not followed by CRLF");
                    }
                    self.state = State::Size;
                }
                State::TrailerStart => {
                    self.line = 0;
                    match b {
                        b'\r' => self.state = State::TrailerLf { last: true },
                        b'\n' => return Err("bare LF"),
                        b' ' | b'\t' | b':' => return Err("malformed trailer"),
                        b if b < 0x20 || b == 0x7f => return Err("control character in a trailer"),
                        _ => {
                            self.line = 1;
                            self.state = State::Trailer { colon: false };
                        }
                    }
                }
                State::Trailer { colon } => {
                    // No length limit here, as in the gate: nothing is buffered.
                    match b {
                        b'\r' if colon => self.state = State::TrailerLf { last: false },
                        b'\r' => return Err("malformed trailer"),
                        b'\n' => return Err("bare LF"),
                        b':' => self.state = State::Trailer { colon: true },
                        b'\t' => {}
                        b if b < 0x20 || b == 0x7f => return Err("control character in a trailer"),
                        _ => {}
                    }
                }
                State::TrailerLf { last } => {
                    if b != b'\n' {
                        return Err("bare CR");
                    }
                    if last {
                        self.state = State::Done;
                        return Ok(Progress {
                            consumed: i + 1,
                            done: true,
                        });
                    }
                    self.state = State::TrailerStart;
                }
            }
            i += 1;
        }
        Ok(Progress {
            consumed: i,
            done: self.state == State::Done,
        })
    }

    /// Counts one more byte of a size (or trailer) line, its CR included: a line of up to
    /// `MAX_LINE - 1` bytes plus its CR passes, as in the gate (which refuses a line of
    /// `MAX_LINE` bytes, CRLF excluded).
    fn count_line(&mut self) -> Result<(), &'static str> {
        self.line += 1;
        if self.line > MAX_LINE {
            return Err("chunk-size line too long");
        }
        Ok(())
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listener::chunked::{self, Chunks};
    use proptest::prelude::*;

    /// The framer's verdict on `input` fed in pieces of `split` bytes.
    fn follow(input: &[u8], split: usize) -> (Chunks, Vec<u8>) {
        let mut f = Framer::new();
        let mut payload = Vec::new();
        let mut offset = 0;
        for piece in input.chunks(split.max(1)) {
            match f.feed(piece, |s, e| payload.extend_from_slice(&piece[s..e])) {
                Err(why) => return (Chunks::Invalid(why), payload),
                Ok(p) if p.done => return (Chunks::Complete(offset + p.consumed), payload),
                Ok(p) => offset += p.consumed,
            }
        }
        (Chunks::Incomplete, payload)
    }

    #[test]
    fn bodies_and_payload() {
        let body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Check: 1\r\n\r\nNEXT";
        for split in 1..body.len() {
            let (verdict, payload) = follow(body, split);
            assert_eq!(verdict, Chunks::Complete(body.len() - 4), "split {split}");
            assert_eq!(payload, b"hello world");
        }
        assert_eq!(follow(b"0\r\n\r\n", 1).0, Chunks::Complete(5));
        assert_eq!(follow(b"5\r\nhel", 2).0, Chunks::Incomplete);
        assert!(matches!(follow(b"5\nhello", 2).0, Chunks::Invalid(_)));
        assert!(matches!(follow(b"5\r\nhelloX", 9).0, Chunks::Invalid(_)));
        assert!(matches!(
            follow(b"ffffffffffffffffff\r\n", 4).0,
            Chunks::Invalid(_)
        ));
    }

    /// Found by `fuzz/` (target `chunked_stream`): the framer counted a line's CR against the
    /// 1024-byte limit, so a chunk-size line of 1023 bytes that the gate accepts was refused
    /// (a request body the gate let through, cut while it was forwarded).
    #[test]
    fn chunk_size_line_limit_is_the_gates() {
        for len in [1022, 1023, 1024, 1025] {
            let mut body = b"5;".to_vec();
            body.resize(len, b'x');
            body.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
            for split in [1, 7, body.len()] {
                assert_eq!(
                    follow(&body, split).0,
                    chunked::check(&body),
                    "{len}/{split}"
                );
            }
        }
    }

    fn chunked_like() -> impl Strategy<Value = Vec<u8>> {
        let token = prop_oneof![
            Just(b"0".to_vec()),
            Just(b"3".to_vec()),
            Just(b"a".to_vec()),
            Just(b"F".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\r".to_vec()),
            Just(b"\n".to_vec()),
            Just(b";x=y".to_vec()),
            Just(b"abc".to_vec()),
            Just(b"0123456789".to_vec()),
            Just(b"X-T: v".to_vec()),
            Just(b":".to_vec()),
            Just(b" ".to_vec()),
            Just(b"\t".to_vec()),
            Just(vec![0u8]),
            Just(b"z".to_vec()),
        ];
        proptest::collection::vec(token, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        /// Same verdict as the gate's whole-buffer check, whatever the read boundaries.
        #[test]
        fn agrees_with_the_gate(input in chunked_like(), split in 1usize..9) {
            let expected = chunked::check(&input);
            let (got, _) = follow(&input, split);
            match (expected, got) {
                (Chunks::Invalid(_), Chunks::Invalid(_)) => {}
                // The gate judges a line once its CRLF is in; the framer rejects a bad byte
                // as soon as it arrives.
                (Chunks::Incomplete, Chunks::Invalid(_)) => {}
                (a, b) => prop_assert_eq!(a, b),
            }
        }
    }
}
