//! The request id a request is known by: the client's `X-Request-Id` when it is a sane token
//! (so ids survive across proxies), else a new one; kept inline, no allocation.

use crate::proxy::headers::new_request_id_bytes;

/// A request id: the client's when valid, else a new one (no allocation either way).
pub(crate) struct RequestId {
    buf: [u8; 128],
    len: usize,
}

impl RequestId {
    /// The client's id if it is a sane token, else a new one.
    pub(crate) fn new(incoming: Option<&[u8]>) -> Self {
        let mut id = RequestId {
            buf: [0; 128],
            len: 0,
        };
        match incoming {
            Some(v) if valid_request_id(v) => {
                id.buf[..v.len()].copy_from_slice(v);
                id.len = v.len();
            }
            _ => {
                let fresh = new_request_id_bytes();
                id.buf[..fresh.len()].copy_from_slice(&fresh);
                id.len = fresh.len();
            }
        }
        id
    }

    /// The id's bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The id as text (it is always ASCII).
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("-")
    }
}

fn valid_request_id(v: &[u8]) -> bool {
    !v.is_empty()
        && v.len() <= 128
        && v.iter().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'+' | b'/' | b'=')
        })
}
