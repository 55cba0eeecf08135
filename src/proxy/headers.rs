//! Header names both engines add, and request ids: unique without a random number per request.

use http::header::{HeaderName, HeaderValue};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// `X-Forwarded-For`.
pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `X-Forwarded-Proto`.
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `X-Forwarded-Host`.
pub static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
/// `X-Request-Id`.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Keeps an incoming request id when it is a sane token (1-128 visible ASCII characters from a
/// conservative set), so ids survive across proxies; anything else is replaced.
pub fn valid_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && bytes.iter().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'+' | b'/' | b'=')
        })
}

/// A new request id: a random per-process prefix and a counter, so ids are unique without a
/// random number per request. 32 hex digits, the shape of a UUID without dashes.
pub fn new_request_id() -> HeaderValue {
    let buf = new_request_id_bytes();
    // Only hex digits: always a valid header value.
    HeaderValue::from_bytes(&buf).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

/// [`new_request_id`] as bytes, for callers that keep it in their own buffer (no allocation).
pub fn new_request_id_bytes() -> [u8; 32] {
    // The process's random half, in hex once (it never changes).
    static PREFIX: OnceLock<[u8; 16]> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        let mut hex = [0u8; 16];
        hex_into(&mut hex, fastrand::u64(..));
        hex
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut buf = [0u8; 32];
    buf[..16].copy_from_slice(prefix);
    hex_into(&mut buf[16..], n);
    buf
}

fn hex_into(out: &mut [u8], mut v: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(v & 0xf) as usize];
        v >>= 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(valid_request_id(&a));
        assert!(valid_request_id(&HeaderValue::from_static(
            "req-1234_abc.def"
        )));
        assert!(!valid_request_id(&HeaderValue::from_static("")));
        assert!(!valid_request_id(&HeaderValue::from_static("has space")));
        assert!(!valid_request_id(
            &HeaderValue::from_str(&"x".repeat(129)).unwrap()
        ));
    }
}
