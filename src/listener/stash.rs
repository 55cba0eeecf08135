//! Buffers a connection needs only while a request is in progress, kept warm per thread.
//!
//! An idle keep-alive connection holds no buffer: edge nodes hold far more idle connections
//! than busy ones, and each would otherwise keep its read-ahead, upstream, head and field
//! buffers. Without a stash every request then allocates them again, and grows the `Vec`s a
//! doubling at a time: six to eight allocations and a few copies per request (callgrind). This
//! per-thread stash hands warm buffers back instead, as HAProxy's pools do. It is bounded in
//! count and in the size of what it keeps, so a burst cannot pin much memory: at most
//! [`MAX_KEPT`] buffers of each kind, none over [`MAX_KEPT_BYTES`].

use super::head::Field;
use bytes::BytesMut;
use std::cell::RefCell;

/// Buffers of each kind kept per thread.
const MAX_KEPT: usize = 32;
/// A buffer grown past this (a big head, a streamed body) goes back to the allocator.
const MAX_KEPT_BYTES: usize = 32 * 1024;

thread_local! {
    static BYTES: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
    static HEADS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static FIELDS: RefCell<Vec<Vec<Field>>> = const { RefCell::new(Vec::new()) };
}

/// An empty byte buffer with room for at least `min` bytes.
pub fn bytes(min: usize) -> BytesMut {
    let mut b = BYTES
        .with(|s| s.borrow_mut().pop())
        .unwrap_or_else(|| BytesMut::with_capacity(min));
    // What a buffer gave away with `split_to` is no longer its own: make room again (no copy,
    // it is empty; the allocation is reused when nothing else holds it).
    b.reserve(min);
    b
}

/// Gives a byte buffer back (its contents are dropped).
pub fn put_bytes(mut b: BytesMut) {
    if b.capacity() == 0 || b.capacity() > MAX_KEPT_BYTES {
        return;
    }
    b.clear();
    BYTES.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < MAX_KEPT {
            s.push(b);
        }
    });
}

/// A byte buffer from the stash that goes back to it when dropped, whichever way the code
/// holding it returns.
#[derive(Debug)]
pub struct StashedBytes(BytesMut);

impl StashedBytes {
    /// An empty buffer with room for at least `min` bytes.
    pub fn new(min: usize) -> Self {
        StashedBytes(bytes(min))
    }
}

impl std::ops::Deref for StashedBytes {
    type Target = BytesMut;
    fn deref(&self) -> &BytesMut {
        &self.0
    }
}

impl std::ops::DerefMut for StashedBytes {
    fn deref_mut(&mut self) -> &mut BytesMut {
        &mut self.0
    }
}

impl Drop for StashedBytes {
    fn drop(&mut self) {
        put_bytes(std::mem::take(&mut self.0));
    }
}

/// An empty buffer for a head being written (`capacity` ≥ `min`).
pub fn head(min: usize) -> Vec<u8> {
    let mut v = HEADS.with(|s| s.borrow_mut().pop()).unwrap_or_default();
    v.reserve(min);
    v
}

/// Gives a head buffer back.
pub fn put_head(mut v: Vec<u8>) {
    if v.capacity() == 0 || v.capacity() > MAX_KEPT_BYTES {
        return;
    }
    v.clear();
    HEADS.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < MAX_KEPT {
            s.push(v);
        }
    });
}

/// An empty list of field spans, with room for a typical head's fields.
pub fn fields() -> Vec<Field> {
    FIELDS
        .with(|s| s.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(32))
}

/// Gives a list of field spans back.
pub fn put_fields(mut v: Vec<Field>) {
    if v.capacity() == 0 || v.capacity() * std::mem::size_of::<Field>() > MAX_KEPT_BYTES {
        return;
    }
    v.clear();
    FIELDS.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < MAX_KEPT {
            s.push(v);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_empty_with_their_room_and_big_ones_are_not_kept() {
        let mut b = bytes(4096);
        b.extend_from_slice(b"GET / HTTP/1.1\r\n\r\nbody");
        let head = b.split_to(18).freeze();
        put_bytes(b);
        let again = bytes(4096);
        assert!(again.is_empty());
        assert!(again.capacity() >= 4096);
        drop(head);
        put_bytes(again);

        let mut v = head_buffer_with(100_000);
        v.extend_from_slice(&[0; 100_000]);
        let kept_before = HEADS.with(|s| s.borrow().len());
        put_head(v);
        assert_eq!(HEADS.with(|s| s.borrow().len()), kept_before);

        let mut f = fields();
        assert!(f.capacity() >= 32);
        f.clear();
        put_fields(f);
        assert!(fields().is_empty());
    }

    fn head_buffer_with(n: usize) -> Vec<u8> {
        head(n)
    }
}
