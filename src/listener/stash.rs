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
    static SETS: RefCell<Vec<Set>> = const { RefCell::new(Vec::new()) };
}

/// The buffers an HTTP/1 request in progress uses, taken from the stash and given back
/// together: one thread-local access each way instead of one per buffer (they were ~40 % of
/// the stash's cost per request; callgrind).
#[derive(Debug, Default)]
pub struct Set {
    /// The request head, copied out of the read-ahead buffer.
    pub head: Vec<u8>,
    /// Where heads are written before they are sent.
    pub out: Vec<u8>,
    /// Field spans of the request head.
    pub fields: Vec<Field>,
    /// Field spans of the response head.
    pub resp_fields: Vec<Field>,
}

impl Set {
    /// Whether this set was given back (an idle connection holds none).
    pub fn is_released(&self) -> bool {
        self.fields.capacity() == 0
    }
}

/// A set of request buffers, empty, with room for a typical request.
pub fn set() -> Set {
    SETS.with(|s| s.borrow_mut().pop()).unwrap_or_else(|| Set {
        head: Vec::with_capacity(SET_HEAD),
        out: Vec::with_capacity(SET_HEAD),
        fields: Vec::with_capacity(32),
        resp_fields: Vec::with_capacity(32),
    })
}

/// Room a set's head buffers start with: most request and response heads fit.
const SET_HEAD: usize = 1024;

/// Gives a set back (a buffer grown past [`MAX_KEPT_BYTES`] is freed, and comes back new).
pub fn put_set(mut set: Set) {
    if set.is_released() {
        return;
    }
    for v in [&mut set.head, &mut set.out] {
        if v.capacity() > MAX_KEPT_BYTES {
            *v = Vec::with_capacity(SET_HEAD);
        }
        v.clear();
    }
    for v in [&mut set.fields, &mut set.resp_fields] {
        if v.capacity() * std::mem::size_of::<Field>() > MAX_KEPT_BYTES {
            *v = Vec::with_capacity(32);
        }
        v.clear();
    }
    SETS.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < MAX_KEPT {
            s.push(set);
        }
    });
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

/// What goes back to the stash: how a buffer of that kind is given back.
pub trait Stashable: Default {
    /// Gives `self` back to this thread's stash.
    fn put_back(self);
}

impl Stashable for BytesMut {
    fn put_back(self) {
        put_bytes(self);
    }
}

impl Stashable for Set {
    fn put_back(self) {
        put_set(self);
    }
}

/// A buffer (or set of buffers) from the stash that goes back to it when dropped, whichever way
/// the code holding it returns.
#[derive(Debug)]
pub struct Stashed<T: Stashable>(T);

/// A byte buffer from the stash (the engines' upstream reads).
pub type StashedBytes = Stashed<BytesMut>;

/// A set of request buffers from the stash (the HTTP/2 engine's exchanges with HTTP/1
/// backends).
pub type StashedSet = Stashed<Set>;

impl Stashed<BytesMut> {
    /// An empty buffer with room for at least `min` bytes.
    pub fn new(min: usize) -> Self {
        Stashed(bytes(min))
    }
}

impl Default for Stashed<Set> {
    /// An empty set with room for a typical request.
    fn default() -> Self {
        Stashed(set())
    }
}

impl<T: Stashable> std::ops::Deref for Stashed<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Stashable> std::ops::DerefMut for Stashed<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: Stashable> Drop for Stashed<T> {
    fn drop(&mut self) {
        std::mem::take(&mut self.0).put_back();
    }
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

        let mut taken = set();
        taken.head.extend_from_slice(&[0; 100_000]);
        taken.fields.push(Field {
            name: (0, 1),
            value: (2, 3),
            kind: crate::listener::head::FieldKind::Other,
        });
        put_set(taken);
        let again = set();
        assert!(again.fields.is_empty() && again.head.is_empty());
        assert!(again.fields.capacity() >= 32, "the field list was kept");
        assert!(
            again.head.capacity() < 100_000,
            "a head buffer grown past the limit is not kept"
        );
        put_set(again);
        put_set(Set::default());
        assert!(
            !set().is_released(),
            "a released (empty) set is never stashed"
        );
    }
}
