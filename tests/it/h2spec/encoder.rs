//! The HPACK encoder h2spec's connection keeps (Go's `golang.org/x/net/http2/hpack.Encoder`),
//! with the same choices: a field found whole in the static or the dynamic table is sent as an
//! index; any other is a literal *with incremental indexing* (its name indexed where a table
//! has it) and enters the dynamic table, unless it is larger than the table; a table size
//! change is announced at the start of the next block. The context lives as long as the
//! connection, so a later block may refer to an entry an earlier one added, as h2spec's do.
//!
//! One difference: Go Huffman-codes a string when that is shorter; this encoder never does.
//! The server decodes both the same way, and the cases that are about Huffman coding
//! (`generic/5/*`, `hpack/5.2/*`) send their own hand-written bytes, copied verbatim.

use std::collections::VecDeque;

/// RFC 7541 Appendix A.
const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// The default (and Go's maximum) dynamic table size.
const DEFAULT_TABLE_SIZE: usize = 4096;

pub struct Encoder {
    /// Newest first: entry `i` has index `62 + i`.
    table: VecDeque<(String, String)>,
    size: usize,
    max_size: usize,
    /// The smallest size set since the last block (Go's `minSize`), when a change is pending.
    pending_min: Option<usize>,
}

impl Encoder {
    pub fn new() -> Self {
        Encoder {
            table: VecDeque::new(),
            size: 0,
            max_size: DEFAULT_TABLE_SIZE,
            pending_min: None,
        }
    }

    /// Go's `SetMaxDynamicTableSize`: the table shrinks now; the next block starts with the
    /// size update (the smallest size set meanwhile first, if it is smaller than the last).
    pub fn set_max_table_size(&mut self, size: usize) {
        let size = size.min(DEFAULT_TABLE_SIZE);
        self.pending_min = Some(self.pending_min.map_or(size, |m| m.min(size)));
        self.max_size = size;
        self.evict(0);
    }

    /// One header block for `fields`, in order.
    pub fn encode(&mut self, fields: &[(String, String)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, value) in fields {
            if let Some(min) = self.pending_min.take() {
                if min < self.max_size {
                    integer(&mut out, 0x20, 5, min);
                }
                integer(&mut out, 0x20, 5, self.max_size);
            }
            self.field(&mut out, name, value);
        }
        out
    }

    fn field(&mut self, out: &mut Vec<u8>, name: &str, value: &str) {
        let (index, whole) = self.search(name, value);
        if whole {
            integer(out, 0x80, 7, index);
            return;
        }
        let entry = name.len() + value.len() + 32;
        if entry <= self.max_size {
            integer(out, 0x40, 6, index);
            if index == 0 {
                string(out, name);
            }
            string(out, value);
            self.evict(entry);
            self.table.push_front((name.to_owned(), value.to_owned()));
            self.size += entry;
        } else {
            integer(out, 0x00, 4, index);
            if index == 0 {
                string(out, name);
            }
            string(out, value);
        }
    }

    /// Go's `searchTable`: a whole match in the static table, else in the dynamic one; else the
    /// static table's name match, else the dynamic table's; `(0, false)` for none.
    fn search(&self, name: &str, value: &str) -> (usize, bool) {
        let mut static_name = 0;
        for (i, (n, v)) in STATIC.iter().enumerate() {
            if *n == name {
                if *v == value {
                    return (i + 1, true);
                }
                if static_name == 0 {
                    static_name = i + 1;
                }
            }
        }
        let mut dynamic_name = 0;
        for (i, (n, v)) in self.table.iter().enumerate() {
            if n == name {
                if v == value {
                    return (STATIC.len() + 1 + i, true);
                }
                if dynamic_name == 0 {
                    dynamic_name = STATIC.len() + 1 + i;
                }
            }
        }
        if static_name == 0 && dynamic_name != 0 {
            return (dynamic_name, false);
        }
        (static_name, false)
    }

    /// Drops the oldest entries until `room` more octets fit.
    fn evict(&mut self, room: usize) {
        while self.size + room > self.max_size {
            match self.table.pop_back() {
                Some((n, v)) => self.size -= n.len() + v.len() + 32,
                None => break,
            }
        }
    }
}

/// RFC 7541 §5.1: `value` with an `n`-bit prefix, the first octet's other bits from `first`.
pub fn integer(out: &mut Vec<u8>, first: u8, n: u32, value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        out.push(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// RFC 7541 §5.2, without Huffman coding.
fn string(out: &mut Vec<u8>, s: &str) {
    integer(out, 0x00, 7, s.len());
    out.extend_from_slice(s.as_bytes());
}

#[test]
fn encodes_as_go_does_but_for_huffman() {
    let mut e = Encoder::new();
    let get = |a: &str| {
        [(":method", "GET"), (":scheme", "https"), (":path", "/")]
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .chain([(":authority".to_string(), a.to_string())])
            .collect::<Vec<_>>()
    };
    let first = e.encode(&get("a.test"));
    assert_eq!(first, b"\x82\x87\x84\x41\x06a.test");
    // The authority is in the dynamic table now: index 62.
    assert_eq!(e.encode(&get("a.test")), b"\x82\x87\x84\xbe");
    e.set_max_table_size(128);
    assert_eq!(&e.encode(&get("a.test"))[..3], b"\x3f\x61\x82");
}
