//! The seeded frame-sequence generator: from one seed, a [`Plan`] of raw HTTP/2 frames for one
//! connection. Mostly plausible — requests with valid HPACK blocks to the test's routes, odd
//! stream ids that increase, bodies on open streams — with a share of everything a peer may
//! get wrong: ids reused, closed, even, skipped or zero; header blocks cut by another frame;
//! bad padding, lengths and settings; window overflows; unknown frame types; garbage bytes.
//! The same seed always gives the same plan, so a failing seed is its own reproduction.

mod control;

use crate::h2spec::encoder::Encoder;
use crate::support::h2raw::*;

/// One thing the client does.
pub enum Step {
    /// A frame, written as it is (legal or not).
    Frame {
        kind: u8,
        flags: u8,
        stream: u32,
        payload: Vec<u8>,
    },
    /// Bytes that are no frame at all (the server's framing is lost after them).
    Garbage(Vec<u8>),
    /// Waits this many milliseconds (pacing: lets requests reach the backend first).
    Pause(u64),
}

/// How the sequence ends.
pub enum End {
    /// The client closes the connection at once, whatever is in flight.
    Drop,
    /// One well-formed `GET /` on a new stream: a connection still open must answer it.
    Probe { stream: u32, block: Vec<u8> },
    /// The client closes its half (TLS close_notify, FIN): the server must close too.
    Shutdown,
}

/// One connection's sequence.
pub struct Plan {
    pub seed: u64,
    /// The chance of a mistake, in percent, this plan was made with.
    pub wild: u8,
    pub steps: Vec<Step>,
    pub end: End,
}

impl Plan {
    /// Frames in the plan (garbage and pauses not counted).
    pub fn frames(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s, Step::Frame { .. }))
            .count()
    }

    /// The plan as a list, one step a line (for a failure message).
    pub fn describe(&self) -> String {
        let mut out = Vec::new();
        for s in &self.steps {
            out.push(match s {
                Step::Frame {
                    kind,
                    flags,
                    stream,
                    payload,
                } => format!(
                    "  frame type {kind:#04x} flags {flags:#04x} stream {stream} length {}",
                    payload.len()
                ),
                Step::Garbage(b) => format!("  {} garbage bytes", b.len()),
                Step::Pause(ms) => format!("  pause {ms} ms"),
            });
        }
        out.push(match &self.end {
            End::Drop => "  then close".to_owned(),
            End::Probe { stream, .. } => format!("  then GET / on stream {stream}"),
            End::Shutdown => "  then shut down the write half".to_owned(),
        });
        out.join("\n")
    }
}

/// Paths the requests go to: the sample app behind an HTTP/1.1 pool (`/...`) and behind an
/// HTTP/2 pool (`/h2/...`), with slow streamed bodies so streams are open when frames come.
const PATHS: &[&str] = &[
    "/",
    "/echo",
    "/stream/40?interval_ms=25",
    "/delay/300",
    "/bytes/20000",
    "/status/503",
    "/h2/",
    "/h2/echo",
    "/h2/stream/40?interval_ms=25",
    "/h2/delay/300",
    "/upload",
    "/../escape",
    "/nowhere",
];

struct Gen {
    rng: fastrand::Rng,
    /// The chance, in percent, that a choice that could be a mistake is one: each sequence
    /// has its own, from none (every frame plausible: only stream-level refusals) to wild.
    wild: u8,
    enc: Encoder,
    authority: String,
    /// The next new client stream id.
    next: u32,
    /// Streams the client opened and has not ended or reset.
    open: Vec<u32>,
    /// Streams the client ended (END_STREAM) or reset.
    closed: Vec<u32>,
    steps: Vec<Step>,
}

/// The plan for `seed`, for requests to `authority` (`host:port` of the proxy).
pub fn plan(seed: u64, authority: &str) -> Plan {
    let mut rng = fastrand::Rng::with_seed(seed);
    let wild = [0, 0, 1, 3, 10, 30][rng.usize(..6)];
    let mut g = Gen {
        rng,
        wild,
        enc: Encoder::new(),
        authority: authority.to_owned(),
        next: 1,
        open: Vec::new(),
        closed: Vec::new(),
        steps: Vec::new(),
    };
    let len = g.rng.usize(1..=30);
    while g.steps.len() < len {
        g.step();
    }
    let end = match g.rng.u8(0..10) {
        0..=5 => {
            let stream = g.new_id(false);
            let fields = g.base_fields("GET", "/");
            End::Probe {
                stream,
                block: g.enc.encode(&fields),
            }
        }
        6..=7 => End::Drop,
        _ => End::Shutdown,
    };
    Plan {
        seed,
        wild,
        steps: g.steps,
        end,
    }
}

impl Gen {
    /// Whether this choice is a mistake (see `wild`).
    fn oops(&mut self) -> bool {
        self.rng.u8(0..100) < self.wild
    }

    fn frame(&mut self, kind: u8, flags: u8, stream: u32, payload: Vec<u8>) {
        self.steps.push(Step::Frame {
            kind,
            flags,
            stream,
            payload,
        });
    }

    fn pick(&mut self, from: &[u32]) -> Option<u32> {
        (!from.is_empty()).then(|| from[self.rng.usize(..from.len())])
    }

    /// A stream id for a frame about an existing stream: an open one, else one the client
    /// closed; by mistake, zero, an even or idle one, or the largest.
    fn stream(&mut self) -> u32 {
        if self.open.is_empty() && self.closed.is_empty() && !self.oops() {
            return self.sendable();
        }
        let open = self.open.clone();
        let closed = self.closed.clone();
        if self.oops() {
            return match self.rng.u8(0..5) {
                0 => 0,
                1 => self.rng.u32(1..=self.next + 8) & !1,
                2 => 0x7fff_ffff,
                3 => self.pick(&closed).unwrap_or(self.next),
                _ => self.next,
            };
        }
        match self.rng.u8(0..10) {
            0..=7 => self.pick(&open).or_else(|| self.pick(&closed)),
            _ => self.pick(&closed).or_else(|| self.pick(&open)),
        }
        .unwrap_or(self.next)
    }

    /// A stream the client may still send on: an open one, or a new one its POST opens.
    fn sendable(&mut self) -> u32 {
        if self.oops() {
            return self.stream();
        }
        let open = self.open.clone();
        if let Some(s) = self.pick(&open) {
            return s;
        }
        let stream = self.new_id(false);
        let fields = self.base_fields("POST", "/echo");
        let block = self.enc.encode(&fields);
        self.frame(HEADERS, END_HEADERS, stream, block);
        self.track(stream, false);
        stream
    }

    /// A new client stream id: usually the next odd one, sometimes a few ahead (legal: the
    /// skipped ones close), or (`wild`) one already used, even or below the last.
    fn new_id(&mut self, wild: bool) -> u32 {
        if wild {
            let closed = self.closed.clone();
            let open = self.open.clone();
            match self.rng.u8(0..10) {
                0..=3 => return self.pick(&closed).unwrap_or(self.next),
                4..=5 => return self.pick(&open).unwrap_or(self.next),
                6 => return self.next + 1,
                7 => return self.next.saturating_sub(4) | 1,
                _ => {}
            }
        }
        let skip = if self.rng.u8(0..10) == 0 {
            2 * self.rng.u32(1..5)
        } else {
            0
        };
        let id = self.next + skip;
        self.next = id + 2;
        id
    }

    fn base_fields(&mut self, method: &str, path: &str) -> Vec<(String, String)> {
        let authority = if self.rng.u8(0..20) == 0 {
            "other.test".to_owned()
        } else {
            self.authority.clone()
        };
        vec![
            (":method".into(), method.into()),
            (":scheme".into(), "https".into()),
            (":path".into(), path.into()),
            (":authority".into(), authority),
        ]
    }

    /// A request's fields: valid most of the time, malformed (RFC 9113 §8.1.1) sometimes.
    fn request_fields(&mut self) -> Vec<(String, String)> {
        let method = [
            "GET", "GET", "GET", "POST", "POST", "PUT", "HEAD", "OPTIONS",
        ][self.rng.usize(..8)];
        let path = PATHS[self.rng.usize(..PATHS.len())];
        let mut f = self.base_fields(method, path);
        let field = |n: &str, v: &str| (n.to_owned(), v.to_owned());
        match self.rng.u8(0..60) {
            0 => {
                f.remove(self.rng.usize(..4));
            }
            // An upper-case name: malformed (a stream error, RFC 9113 §8.2.1), but the h2
            // crate cannot decode it into a field and closes the connection: a mistake.
            1 if self.oops() => f.push(field("Upper-Case", "x")),
            2 => f.push(field("connection", "keep-alive")),
            3 => f.push(field(":path", "/again")),
            4 => f.insert(0, field("x-first", "regular before pseudo")),
            5 => f.push(field(":status", "200")),
            6 => f.push(field("te", "gzip")),
            7 => f[2].1 = String::new(),
            8 => {
                f[0].1 = "CONNECT".into();
                f.push(field(":protocol", "websocket"));
            }
            9 => {
                f = vec![field(":method", "CONNECT"), field(":authority", "a:1")];
            }
            10 => f.push(field("content-length", "not-a-number")),
            _ => {}
        }
        if method != "GET" && self.rng.bool() {
            let n = self.rng.u32(0..64);
            f.push(field("content-length", &n.to_string()));
        }
        if self.rng.u8(0..8) == 0 {
            f.push(field("te", "trailers"));
        }
        if self.rng.u8(0..8) == 0 {
            f.push(field("content-type", "application/grpc"));
        }
        if self.rng.u8(0..4) == 0 {
            let v = "v".repeat(self.rng.usize(0..200));
            f.push(field("x-fuzz", &v));
        }
        f
    }

    /// Random bytes of a length in `len`.
    fn bytes(&mut self, len: std::ops::RangeInclusive<usize>) -> Vec<u8> {
        let n = self.rng.usize(len);
        (0..n).map(|_| self.rng.u8(..)).collect()
    }

    fn step(&mut self) {
        match self.rng.u8(0..100) {
            0..=27 => self.headers(),
            28..=29 if self.oops() => {
                let stream = self.stream();
                let block = self.bytes(0..=20);
                let flags = if self.rng.bool() { END_HEADERS } else { 0 };
                self.frame(CONTINUATION, flags, stream, block);
            }
            30..=49 => self.data(),
            50..=56 => self.rst_stream(),
            57..=60 => self.priority(),
            61..=67 => self.window_update(),
            68..=75 => self.settings(),
            76..=80 => self.ping(),
            81 => {
                let mut p = self.rng.u32(..self.next + 4).to_be_bytes().to_vec();
                p.extend_from_slice(&self.rng.u32(0..14).to_be_bytes());
                let debug = self.bytes(0..=8);
                p.extend(debug);
                self.frame(GOAWAY, 0, 0, p);
            }
            82..=86 => {
                let kind = self.rng.u8(0x0a..=0xff);
                let flags = self.rng.u8(..);
                let stream = self.stream();
                let payload = self.bytes(0..=64);
                self.frame(kind, flags, stream, payload);
            }
            87 if self.oops() => {
                let stream = self.stream();
                let mut p = (self.next + 1).to_be_bytes().to_vec();
                let fields = self.base_fields("GET", "/");
                p.extend(self.enc.encode(&fields));
                self.frame(PUSH_PROMISE, END_HEADERS, stream, p);
            }
            88 if self.oops() => {
                let g = self.bytes(1..=40);
                self.steps.push(Step::Garbage(g));
            }
            _ => {
                let ms = self.rng.u64(0..=60);
                self.steps.push(Step::Pause(ms));
            }
        }
    }

    /// A request's HEADERS (a new stream mostly; trailers on an open one sometimes), with or
    /// without END_STREAM and END_HEADERS (then usually its CONTINUATIONs), padding,
    /// priority, or a block that is no HPACK at all.
    fn headers(&mut self) {
        let trailers = !self.open.is_empty() && self.rng.u8(0..8) == 0;
        let stream = if trailers {
            let open = self.open.clone();
            self.pick(&open).unwrap_or(self.next)
        } else {
            let wild = self.oops();
            self.new_id(wild)
        };
        let garbage = self.oops() && self.rng.u8(0..3) == 0;
        let block = match garbage {
            true => self.bytes(1..=30),
            false if trailers => {
                let f = [("x-trailer".to_owned(), "t".to_owned())];
                self.enc.encode(&f)
            }
            false => {
                let f = self.request_fields();
                self.enc.encode(&f)
            }
        };
        let end_stream = trailers || self.rng.u8(0..10) < 6;
        let end_headers = self.rng.u8(0..10) != 0;
        let mut flags = 0;
        let mut payload = Vec::new();
        let pad = if self.rng.u8(0..8) == 0 {
            flags |= PADDED;
            let pad = self.rng.u8(..);
            payload.push(pad);
            pad
        } else {
            0
        };
        if self.rng.u8(0..8) == 0 {
            flags |= PRIORITY_FLAG;
            let dep = if self.oops() {
                stream
            } else {
                self.rng.u32(0..self.next + 4)
            };
            payload.extend_from_slice(&dep.to_be_bytes());
            payload.push(self.rng.u8(..));
        }
        let cut = if end_headers {
            block.len()
        } else {
            self.rng.usize(0..=block.len())
        };
        payload.extend_from_slice(&block[..cut]);
        // Padding that runs past the frame, sometimes (a PROTOCOL_ERROR).
        let pad_bytes = if self.oops() {
            usize::from(pad) / 2
        } else {
            usize::from(pad)
        };
        payload.resize(payload.len() + pad_bytes, 0);
        if end_stream {
            flags |= END_STREAM;
        }
        if end_headers {
            flags |= END_HEADERS;
        }
        self.frame(HEADERS, flags, stream, payload);
        self.track(stream, end_stream);
        if !end_headers {
            // The rest of the block: in CONTINUATIONs mostly, cut by another frame sometimes.
            // At most 4 CONTINUATIONs unless by mistake: the h2 crate takes more than its
            // limit (5 here) for a CONTINUATION flood (ENHANCE_YOUR_CALM).
            let mut rest = &block[cut..];
            let mut frames = 0;
            while !self.oops() {
                frames += 1;
                let n = if frames >= 4 && !self.oops() {
                    rest.len()
                } else {
                    self.rng.usize(0..=rest.len())
                };
                let last = n == rest.len();
                let stream = if self.oops() { stream + 2 } else { stream };
                let flags = if last { END_HEADERS } else { 0 };
                self.frame(CONTINUATION, flags, stream, rest[..n].to_vec());
                rest = &rest[n..];
                if last {
                    break;
                }
            }
        }
    }

    fn track(&mut self, stream: u32, end_stream: bool) {
        self.open.retain(|&s| s != stream);
        if end_stream {
            if !self.closed.contains(&stream) {
                self.closed.push(stream);
            }
        } else if !self.closed.contains(&stream) {
            self.open.push(stream);
        }
    }

    fn data(&mut self) {
        let stream = self.sendable();
        let end_stream = self.rng.u8(0..10) < 4;
        let len = match self.rng.u8(0..50) {
            0 => 16_384,
            1 if self.oops() => 16_385,
            _ => self.rng.usize(0..=1024),
        };
        let mut flags = if end_stream { END_STREAM } else { 0 };
        let mut payload = Vec::with_capacity(len + 1);
        if self.rng.u8(0..6) == 0 {
            flags |= PADDED;
            let pad = self.rng.u8(..);
            payload.push(pad);
            // Within the 16,384-octet frame limit, unless by mistake.
            let len = if self.oops() {
                len
            } else {
                len.min(16_384 - 1 - usize::from(pad))
            };
            payload.resize(1 + len, b'd');
            // A pad length past the payload sometimes (a PROTOCOL_ERROR).
            let extra = if self.oops() { 0 } else { usize::from(pad) };
            payload.resize(payload.len() + extra, 0);
        } else {
            payload.resize(len, b'd');
        }
        if self.oops() && self.rng.u8(0..20) == 0 {
            // More than the stream's 1 MiB window, in full frames (a FLOW_CONTROL_ERROR).
            for _ in 0..65 {
                self.frame(DATA, 0, stream, vec![b'f'; 16_384]);
            }
        }
        self.frame(DATA, flags, stream, payload);
        if end_stream {
            self.track(stream, true);
        }
    }
}
