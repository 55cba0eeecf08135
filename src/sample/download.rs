//! `GET /download` and `POST /upload`: bodies of any size (GiBs) streamed without being held in
//! memory, with content the other side can verify ([`super::pattern_byte`]).

use super::routes::{full, Instance};
use super::{pattern_matches, query_param, Body, PATTERN, PATTERN_LEN};
use bytes::{Bytes, BytesMut};
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use serde_json::json;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Default body size of `/download`.
const DEFAULT_SIZE: u64 = 1024 * 1024;
/// Default chunk size of `/download`.
const DEFAULT_CHUNK: usize = 64 * 1024;
/// Largest chunk (the body holds one chunk plus one pattern period).
const MAX_CHUNK: usize = 16 * 1024 * 1024;

/// `size` bytes of the pattern in `chunk`-sized frames, each made when hyper asks for it (so
/// a slow reader holds the sender back instead of growing a buffer). Every frame is a slice
/// of one preallocated run of the pattern: no copy per frame.
struct Pattern {
    run: Bytes,
    offset: u64,
    size: u64,
    chunk: usize,
    /// Announce the exact size (hyper then sends `Content-Length`; otherwise chunked).
    exact: bool,
}

impl Pattern {
    fn new(size: u64, chunk: usize, exact: bool) -> Self {
        let len = chunk + PATTERN.len();
        let mut run = BytesMut::with_capacity(len);
        while run.len() < len {
            let n = (len - run.len()).min(PATTERN.len());
            run.extend_from_slice(&PATTERN[..n]);
        }
        Pattern {
            run: run.freeze(),
            offset: 0,
            size,
            chunk,
            exact,
        }
    }
}

impl HttpBody for Pattern {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let left = this.size - this.offset;
        if left == 0 {
            return Poll::Ready(None);
        }
        let len = usize::try_from(left).map_or(this.chunk, |l| l.min(this.chunk));
        let start = (this.offset % PATTERN_LEN) as usize;
        this.offset += len as u64;
        Poll::Ready(Some(Ok(Frame::data(this.run.slice(start..start + len)))))
    }

    fn is_end_stream(&self) -> bool {
        self.exact && self.offset >= self.size
    }

    fn size_hint(&self) -> SizeHint {
        if self.exact {
            SizeHint::with_exact(self.size - self.offset)
        } else {
            SizeHint::default()
        }
    }
}

/// `GET /download?size=<bytes>&chunk=<bytes>&chunked=1`.
pub(super) fn download(inst: &Instance, query: Option<&str>) -> Response<Body> {
    let size = match query_param(query, "size").map(|v| v.parse::<u64>()) {
        None => DEFAULT_SIZE,
        Some(Ok(size)) => size,
        Some(Err(_)) => return bad_request(inst, "size must be a number of bytes"),
    };
    let chunk = match query_param(query, "chunk").map(|v| v.parse::<usize>()) {
        None => DEFAULT_CHUNK,
        Some(Ok(chunk)) => chunk.clamp(1, MAX_CHUNK),
        Some(Err(_)) => return bad_request(inst, "chunk must be a number of bytes"),
    };
    let chunked = matches!(
        query_param(query, "chunked").as_deref(),
        Some("1" | "true" | "yes")
    );
    let body = Pattern::new(size, chunk, !chunked);
    let mut resp = inst.respond(StatusCode::OK, "application/octet-stream", body.boxed());
    if !chunked {
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    }
    resp
}

fn bad_request(inst: &Instance, why: &str) -> Response<Body> {
    inst.respond(
        StatusCode::BAD_REQUEST,
        "text/plain",
        full(format!("{why}\n")),
    )
}

/// `POST /upload[?verify=pattern]`: counts the body as it streams by (nothing is kept).
pub(super) async fn upload(inst: &Instance, req: Request<Incoming>) -> Response<Body> {
    let verify = query_param(req.uri().query(), "verify").as_deref() == Some("pattern");
    let mut body = req.into_body();
    let mut bytes: u64 = 0;
    let mut pattern_ok = true;
    let mut error = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    if verify && pattern_ok {
                        pattern_ok = pattern_matches(bytes, &data);
                    }
                    bytes += data.len() as u64;
                }
            }
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    let mut doc = json!({ "backend": inst.name, "bytes": bytes });
    if verify {
        doc["pattern_ok"] = json!(pattern_ok);
    }
    let status = match error {
        Some(e) => {
            doc["error"] = json!(e);
            StatusCode::BAD_REQUEST
        }
        None => StatusCode::OK,
    };
    inst.respond(status, "application/json", full(doc.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::pattern_byte;

    #[tokio::test]
    async fn pattern_body_is_lazy_and_exact() {
        let size = 3 * 1000 + 17;
        let body = Pattern::new(size, 1000, true);
        assert_eq!(body.size_hint().exact(), Some(size));
        let mut frames = 0;
        let mut got = Vec::new();
        let mut body = std::pin::pin!(body);
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            assert!(data.len() <= 1000);
            got.extend_from_slice(&data);
            frames += 1;
        }
        assert_eq!(frames, 4);
        assert_eq!(got.len() as u64, size);
        assert!(got
            .iter()
            .enumerate()
            .all(|(i, b)| *b == pattern_byte(i as u64)));
        assert!(body.is_end_stream());
    }

    #[test]
    fn chunked_pattern_has_no_exact_size() {
        let body = Pattern::new(10, 4, false);
        assert_eq!(body.size_hint().exact(), None);
        assert!(!body.is_end_stream());
        assert!(!Pattern::new(0, 4, false).is_end_stream());
        assert!(Pattern::new(0, 4, true).is_end_stream());
    }
}
