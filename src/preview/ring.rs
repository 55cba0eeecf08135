//! The bounded ring of recent request facts the reload preview replays.
//!
//! Both request engines record one entry per request at the point where they route it. The
//! ring is allocated once, at start: recording copies a few hundred bytes into a fixed slot
//! (no allocation), and a slot another thread holds is skipped rather than waited for, so the
//! request path never blocks on it. Only what routing reads is kept — listener, TLS, whether a
//! verified client certificate was presented, client address, method, host, the normalised
//! path, the query (bounded) and the values of the headers the serving config's routes match on
//! ([`super::headers`], bounded per sample). Never a cookie, an `Authorization` value or any
//! other header routes do not look at.

use super::sampled::SampledHeaders;
use crate::runtime::balance::key::Fields;
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
/// Query bytes kept: a longer query is cut after its last whole parameter that fits.
pub const QUERY_MAX: usize = 160;
/// Header bytes kept per sample (names and values of the sampled headers, see [`HeaderBuf`]).
pub const HEADERS_MAX: usize = 192;

/// One request as the engines see it when they route it.
#[derive(Clone, Copy)]
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
    /// Query, without `?`.
    pub query: Option<&'a str>,
    /// The request's header fields.
    pub fields: &'a dyn Fields,
    /// Which of them to keep (the serving snapshot's set).
    pub headers: &'a SampledHeaders,
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
    /// Query, without `?` (possibly cut after a whole parameter, see `query_cut`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// The query was longer than the ring keeps.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub query_cut: bool,
    /// The headers looked for when it was recorded, with their values or as absent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<SampledHeader>,
}

/// One header of a sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampledHeader {
    /// Name, lowercase.
    pub name: String,
    /// One value as sent (a field sent twice gives two entries); `None`: the request had no
    /// such field.
    pub value: Option<String>,
}

impl Sample {
    /// Whether the sample recorded header `name` (lowercase), present or absent: if not, what
    /// a route matching on it would do with this request is unknown.
    pub fn looked_for(&self, name: &str) -> bool {
        self.headers.iter().any(|h| h.name == name)
    }
}

/// A sample's header fields as the route matcher reads them.
impl Fields for Sample {
    fn each(&self, name: &str, visit: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.headers
            .iter()
            .filter(|h| h.name == name)
            .filter_map(|h| h.value.as_deref())
            .any(|v| visit(v.as_bytes()))
    }
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
    query: Option<Text<QUERY_MAX>>,
    query_cut: bool,
    headers: HeaderBuf,
}

/// The sampled headers of one request, packed in a fixed buffer: per entry the name's length
/// and bytes, then `0` (absent) or `1`, the value's length and bytes. A name whose values do
/// not all fit (or are not UTF-8) is left out whole, so the sample says it was not looked for
/// rather than keep a part that could match differently.
struct HeaderBuf {
    len: u16,
    bytes: [u8; HEADERS_MAX],
}

impl HeaderBuf {
    const EMPTY: Self = HeaderBuf {
        len: 0,
        bytes: [0; HEADERS_MAX],
    };

    fn push(&mut self, parts: &[&[u8]]) -> bool {
        let start = usize::from(self.len);
        let end = start + parts.iter().map(|p| p.len()).sum::<usize>();
        let Some(dst) = self.bytes.get_mut(start..end) else {
            return false;
        };
        let mut at = 0;
        for p in parts {
            dst[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        }
        self.len = end as u16;
        true
    }

    /// Records `name`'s values in `fields`, or its absence; nothing if they do not fit.
    fn record(&mut self, name: &str, fields: &dyn Fields) {
        let mark = self.len;
        let Ok(name_len) = u8::try_from(name.len()) else {
            return;
        };
        let mut complete = true;
        let mut any = false;
        fields.each(name, &mut |value| {
            any = true;
            let fits = std::str::from_utf8(value).is_ok()
                && u8::try_from(value.len())
                    .is_ok_and(|len| self.push(&[&[name_len], name.as_bytes(), &[1, len], value]));
            complete &= fits;
            !fits
        });
        if !complete || (!any && !self.push(&[&[name_len], name.as_bytes(), &[0]])) {
            self.len = mark;
        }
    }

    fn entries(&self) -> Vec<SampledHeader> {
        let mut out = Vec::new();
        let mut rest = self.bytes.get(..usize::from(self.len)).unwrap_or_default();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        while let Some((&name_len, tail)) = rest.split_first() {
            let Some((name, tail)) = tail.split_at_checked(usize::from(name_len)) else {
                break;
            };
            let Some((&kind, tail)) = tail.split_first() else {
                break;
            };
            if kind == 0 {
                out.push(SampledHeader {
                    name: text(name),
                    value: None,
                });
                rest = tail;
                continue;
            }
            let Some((&value_len, tail)) = tail.split_first() else {
                break;
            };
            let Some((value, tail)) = tail.split_at_checked(usize::from(value_len)) else {
                break;
            };
            out.push(SampledHeader {
                name: text(name),
                value: Some(text(value)),
            });
            rest = tail;
        }
        out
    }
}

/// `query` cut after its last whole parameter within `max` bytes; whether it was cut.
fn cut_query(query: &str, max: usize) -> (&str, bool) {
    if query.len() <= max {
        return (query, false);
    }
    let keep = query
        .get(..=max)
        .and_then(|head| head.rfind('&'))
        .unwrap_or(0);
    (query.get(..keep).unwrap_or_default(), true)
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
                    query: None,
                    query_cut: false,
                    headers: HeaderBuf::EMPTY,
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
        match fact.query {
            Some(q) => {
                let (kept, cut) = cut_query(q, QUERY_MAX);
                slot.query.get_or_insert(Text::EMPTY).set(kept);
                slot.query_cut = cut;
            }
            None => {
                slot.query = None;
                slot.query_cut = false;
            }
        }
        slot.headers.len = 0;
        for name in fact.headers.names() {
            slot.headers.record(name, fact.fields);
        }
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
                            query: slot.query.as_ref().map(Text::get),
                            query_cut: slot.query_cut,
                            headers: slot.headers.entries(),
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
mod tests;
