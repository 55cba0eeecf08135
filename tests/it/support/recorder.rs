//! Byte-exact HTTP/1 plumbing for the differential tests: a backend that records every request
//! it receives (head and body, exactly as the bytes arrived, one request at a time, whatever
//! the connection reuse) and answers with scripted bytes; a client exchange that sends exact
//! bytes and reads exactly one response back, by its framing.
//!
//! Unlike [`super::raw::RawBackend`], requests are delimited by their own framing (chunked
//! bodies included), so that each case's recording is that case's request and nothing else.

use super::WAIT;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// `200`, `Content-Length: 2`, `ok`, connection kept: what the backend answers unless told
/// (without the body to `HEAD`).
pub const DEFAULT_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Scripted {
    /// The exact response bytes.
    pub bytes: Vec<u8>,
    /// Close the connection once they are written (a close-delimited body, or HTTP/1.0).
    pub close: bool,
}

/// A recording backend on 127.0.0.1.
pub struct Recorder {
    pub addr: SocketAddr,
    requests: tokio::sync::Mutex<mpsc::UnboundedReceiver<Vec<u8>>>,
    script: Arc<Mutex<VecDeque<Scripted>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let script: Arc<Mutex<VecDeque<Scripted>>> = Arc::default();
        let s = script.clone();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, tx.clone(), s.clone()));
            }
        });
        Recorder {
            addr,
            requests: tokio::sync::Mutex::new(rx),
            script,
            task,
        }
    }

    /// The answer to the next request received (instead of [`DEFAULT_RESPONSE`]).
    pub fn answer_next(&self, bytes: &[u8], close: bool) {
        self.script.lock().unwrap().push_back(Scripted {
            bytes: bytes.to_vec(),
            close,
        });
    }

    /// The next complete request received (bounded wait).
    pub async fn next_request(&self, what: &str) -> Vec<u8> {
        let mut rx = self.requests.lock().await;
        super::bounded(what, rx.recv())
            .await
            .unwrap_or_else(|| panic!("{what}: recorder stopped"))
    }

    /// The next complete request if one has arrived. A request the backend answered has
    /// arrived before its response left: after a client read a backend's response, this is
    /// that request (no wait needed).
    pub async fn take(&self) -> Option<Vec<u8>> {
        self.requests.lock().await.try_recv().ok()
    }

    /// Whatever complete requests have arrived and not been taken (none expected).
    pub async fn leftover(&self) -> Vec<Vec<u8>> {
        let mut rx = self.requests.lock().await;
        let mut out = Vec::new();
        while let Ok(r) = rx.try_recv() {
            out.push(r);
        }
        out
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut conn: TcpStream,
    requests: mpsc::UnboundedSender<Vec<u8>>,
    script: Arc<Mutex<VecDeque<Scripted>>>,
) {
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let len = loop {
            if let Some(len) = request_len(&pending) {
                break len;
            }
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
        };
        let request: Vec<u8> = pending.drain(..len).collect();
        let _ = requests.send(request.clone());
        let default = if request.starts_with(b"HEAD ") {
            &DEFAULT_RESPONSE[..DEFAULT_RESPONSE.len() - 2] // the head, without the body
        } else {
            DEFAULT_RESPONSE
        };
        let answer = script.lock().unwrap().pop_front().unwrap_or(Scripted {
            bytes: default.to_vec(),
            close: false,
        });
        if conn.write_all(&answer.bytes).await.is_err() || answer.close {
            return;
        }
    }
}

/// Where a head ends (after its CRLF CRLF).
pub fn head_len(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// The value of the first field `name` (any case) in a head, trimmed.
pub fn field<'a>(head: &'a [u8], name: &str) -> Option<&'a [u8]> {
    head.split(|&b| b == b'\n').skip(1).find_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line.iter().position(|&b| b == b':')?;
        line[..colon]
            .eq_ignore_ascii_case(name.as_bytes())
            .then(|| line[colon + 1..].trim_ascii())
    })
}

/// The values of every field `name` (any case) in a head, trimmed, in order.
pub fn fields<'a>(head: &'a [u8], name: &str) -> Vec<&'a [u8]> {
    head.split(|&b| b == b'\n')
        .skip(1)
        .filter_map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let colon = line.iter().position(|&b| b == b':')?;
            line[..colon]
                .eq_ignore_ascii_case(name.as_bytes())
                .then(|| line[colon + 1..].trim_ascii())
        })
        .collect()
}

/// Whether the head's `Transfer-Encoding` list (all its fields, RFC 9110 §5.3) ends in
/// `chunked`.
pub fn chunked(head: &[u8]) -> bool {
    fields(head, "transfer-encoding").last().is_some_and(|v| {
        v.rsplit(|&b| b == b',')
            .next()
            .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"))
    })
}

fn content_length(head: &[u8]) -> Option<usize> {
    std::str::from_utf8(field(head, "content-length")?)
        .ok()?
        .parse()
        .ok()
}

/// The length of the complete request at the start of `buf`, if it is all there.
fn request_len(buf: &[u8]) -> Option<usize> {
    let head = head_len(buf)?;
    if chunked(&buf[..head]) {
        return Some(head + decode_chunked(&buf[head..])?.len);
    }
    let n = content_length(&buf[..head]).unwrap_or(0);
    (buf.len() >= head + n).then_some(head + n)
}

/// A decoded chunked body.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Dechunked {
    /// Bytes of the framed body, last chunk and trailer section included.
    pub len: usize,
    /// The payload.
    pub payload: Vec<u8>,
    /// The trailer lines, as sent.
    pub trailers: Vec<Vec<u8>>,
}

/// Decodes the chunked body at the start of `buf`; `None` while incomplete (the tests only
/// see valid framing: anything else panics).
pub fn decode_chunked(buf: &[u8]) -> Option<Dechunked> {
    let mut out = Dechunked::default();
    let mut pos = 0;
    let line = |pos: usize| -> Option<(usize, usize)> {
        let end = buf[pos..].windows(2).position(|w| w == b"\r\n")?;
        Some((pos + end, pos + end + 2))
    };
    loop {
        let (end, next) = line(pos)?;
        let size_text = buf[pos..end].split(|&b| b == b';').next().unwrap();
        let size_text = std::str::from_utf8(size_text).unwrap().trim();
        let size = usize::from_str_radix(size_text, 16)
            .unwrap_or_else(|_| panic!("bad chunk size {size_text:?}"));
        pos = next;
        if size == 0 {
            loop {
                let (end, next) = line(pos)?;
                if end == pos {
                    out.len = next;
                    return Some(out);
                }
                out.trailers.push(buf[pos..end].to_vec());
                pos = next;
            }
        }
        if buf.len() < pos + size + 2 {
            return None;
        }
        out.payload.extend_from_slice(&buf[pos..pos + size]);
        assert_eq!(&buf[pos + size..pos + size + 2], b"\r\n", "chunk data CRLF");
        pos += size + 2;
    }
}

/// The status of a response head.
pub fn status(head: &[u8]) -> u16 {
    std::str::from_utf8(head)
        .ok()
        .and_then(|h| h.split(' ').nth(1))
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Sends `request` on a new connection to `addr` and reads one response to it: by its
/// framing (no body for `HEAD`, 1xx, 204 and 304), else until the connection closes. The
/// bytes are returned as received; the connection is dropped afterwards.
pub async fn exchange(addr: SocketAddr, request: &[u8], head_request: bool) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 16384];
    let read = async {
        // Where the current response starts: interim 1xx heads (not 101) are skipped over.
        let mut start = 0;
        loop {
            if let Some(head) = head_len(&out[start..]).map(|h| start + h) {
                let st = status(&out[start..head]);
                let body = &out[head..];
                if (100..200).contains(&st) && st != 101 {
                    start = head;
                    continue;
                }
                let done = if head_request || st == 101 || st == 204 || st == 304 {
                    true
                } else if chunked(&out[start..head]) {
                    decode_chunked(body).is_some()
                } else if let Some(n) = content_length(&out[start..head]) {
                    body.len() >= n
                } else {
                    false
                };
                if done {
                    return;
                }
            }
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    let limit = super::patient(WAIT);
    if tokio::time::timeout(limit, read).await.is_err() {
        panic!(
            "no complete response within {limit:?}; got {:?}",
            String::from_utf8_lossy(&out)
        );
    }
    out
}
