//! The bounded ring of recent request facts the reload preview replays.
//!
//! Both request engines record one entry per request at the point where they route it. The
//! ring is allocated once, at start: recording copies a few hundred bytes into a fixed slot
//! (no allocation), and a slot another thread holds is skipped rather than waited for, so the
//! request path never blocks on it. Only what routing reads is kept — listener, TLS, whether a
//! verified client certificate was presented, client address, method, host and the normalised
//! path. Never a cookie, an `Authorization` value or any other header: routes match on host
//! and path only, and access rules on the client address.

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many requests the ring remembers.
pub const CAPACITY: usize = 5000;
/// Host bytes kept (longer hosts are cut at a character boundary).
const HOST_MAX: usize = 96;
/// Path bytes kept: route prefixes are far shorter, so a cut path still routes the same.
const PATH_MAX: usize = 192;
/// Method bytes kept.
const METHOD_MAX: usize = 12;

/// One request as the engines see it when they route it.
#[derive(Debug, Clone, Copy)]
pub struct Fact<'a> {
    /// Index of the bound listener.
    pub listener: usize,
    /// TLS terminated here.
    pub tls: bool,
    /// A verified client certificate was presented.
    pub client_cert: bool,
    /// The client address routes' allow/deny lists see (after trusted proxies).
    pub client: Option<IpAddr>,
    /// Request method.
    pub method: &'a str,
    /// `Host` (or `:authority`) as sent.
    pub host: &'a str,
    /// Normalised path.
    pub path: &'a str,
}

/// An owned copy of a recorded request, for replay and for `GET /preview/samples`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// Index of the bound listener (see the export's `listeners`).
    pub listener: usize,
    /// TLS terminated here.
    pub tls: bool,
    /// A verified client certificate was presented.
    pub client_cert: bool,
    /// Client address.
    pub client: Option<IpAddr>,
    /// Request method.
    pub method: String,
    /// Host as sent.
    pub host: String,
    /// Normalised path (possibly cut, see [`PATH_MAX`]).
    pub path: String,
}

struct Slot {
    /// Order of recording; 0 for a slot never written.
    seq: u64,
    listener: u16,
    tls: bool,
    client_cert: bool,
    client: Option<IpAddr>,
    method: Text<METHOD_MAX>,
    host: Text<HOST_MAX>,
    path: Text<PATH_MAX>,
}

/// A string in a fixed buffer.
struct Text<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> Text<N> {
    const EMPTY: Self = Text {
        len: 0,
        bytes: [0; N],
    };

    fn set(&mut self, s: &str) {
        let mut n = s.len().min(N).min(usize::from(u8::MAX));
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        if let (Some(dst), Some(src)) = (self.bytes.get_mut(..n), s.as_bytes().get(..n)) {
            dst.copy_from_slice(src);
            self.len = n as u8;
        }
    }

    fn get(&self) -> String {
        let bytes = self.bytes.get(..usize::from(self.len)).unwrap_or_default();
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// The ring (one per process, in [`crate::runtime::SharedState`]).
pub struct SampleRing {
    slots: Box<[Mutex<Slot>]>,
    next: AtomicU64,
}

impl std::fmt::Debug for SampleRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SampleRing")
            .field("recorded", &self.next.load(Ordering::Relaxed))
            .finish()
    }
}

impl Default for SampleRing {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl SampleRing {
    /// A ring of `capacity` slots (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        let slots = (0..capacity.max(1))
            .map(|_| {
                Mutex::new(Slot {
                    seq: 0,
                    listener: 0,
                    tls: false,
                    client_cert: false,
                    client: None,
                    method: Text::EMPTY,
                    host: Text::EMPTY,
                    path: Text::EMPTY,
                })
            })
            .collect();
        SampleRing {
            slots,
            next: AtomicU64::new(0),
        }
    }

    /// Records one request, overwriting the oldest. Never waits: if another thread holds the
    /// slot, this request is not sampled.
    pub fn record(&self, fact: &Fact<'_>) {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let index = (seq % self.slots.len() as u64) as usize;
        let Some(mut slot) = self.slots.get(index).and_then(|s| s.try_lock()) else {
            return;
        };
        slot.seq = seq + 1;
        slot.listener = u16::try_from(fact.listener).unwrap_or(u16::MAX);
        slot.tls = fact.tls;
        slot.client_cert = fact.client_cert;
        slot.client = fact.client;
        slot.method.set(fact.method);
        slot.host.set(fact.host);
        slot.path.set(fact.path);
    }

    /// The recorded requests, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        let mut out: Vec<(u64, Sample)> = self
            .slots
            .iter()
            .filter_map(|s| {
                let slot = s.lock();
                (slot.seq != 0).then(|| {
                    (
                        slot.seq,
                        Sample {
                            listener: usize::from(slot.listener),
                            tls: slot.tls,
                            client_cert: slot.client_cert,
                            client: slot.client,
                            method: slot.method.get(),
                            host: slot.host.get(),
                            path: slot.path.get(),
                        },
                    )
                })
            })
            .collect();
        out.sort_by_key(|(seq, _)| *seq);
        out.into_iter().map(|(_, s)| s).collect()
    }

    /// Forgets everything recorded (tests build an exact sample this way).
    pub fn clear(&self) {
        for s in self.slots.iter() {
            s.lock().seq = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(path: &str) -> Fact<'_> {
        Fact {
            listener: 1,
            tls: true,
            client_cert: false,
            client: Some([10, 0, 0, 1].into()),
            method: "GET",
            host: "www.example.test",
            path,
        }
    }

    #[test]
    fn keeps_the_newest_in_order() {
        let ring = SampleRing::with_capacity(3);
        for p in ["/a", "/b", "/c", "/d"] {
            ring.record(&fact(p));
        }
        let paths: Vec<String> = ring.samples().into_iter().map(|s| s.path).collect();
        assert_eq!(paths, ["/b", "/c", "/d"]);
        let s = &ring.samples()[0];
        assert_eq!(s.listener, 1);
        assert!(s.tls);
        assert_eq!(s.host, "www.example.test");
        assert_eq!(s.method, "GET");
    }

    #[test]
    fn cuts_long_values_at_a_character_boundary() {
        let ring = SampleRing::with_capacity(1);
        let long = format!("/{}", "é".repeat(200));
        ring.record(&fact(&long));
        let path = &ring.samples()[0].path;
        assert!(path.len() <= PATH_MAX && long.starts_with(path.as_str()));
    }

    #[test]
    fn clear_empties_it() {
        let ring = SampleRing::with_capacity(4);
        ring.record(&fact("/a"));
        ring.clear();
        assert!(ring.samples().is_empty());
    }
}
