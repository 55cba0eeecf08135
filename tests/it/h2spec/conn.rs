//! h2spec's `spec.Conn`: a TLS connection (ALPN `h2`) that writes any frame, legal or not, as
//! Go's framer with `AllowIllegalWrites` does, and reads the server's frames as events. As in
//! h2spec, a write error is ignored (the server may have closed already: what it said before
//! is what the case checks), a read that fails or times out marks the connection closed, and
//! every DATA frame read is answered with the WINDOW_UPDATEs that keep the windows open.

use super::encoder::Encoder;
use super::verify::Failure;
use crate::support::h2raw::*;
use crate::support::patient;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// h2spec's `DefaultWindowSize` and `DefaultFrameSize`.
pub const DEFAULT_WINDOW_SIZE: u32 = 65_535;
pub const DEFAULT_FRAME_SIZE: u32 = 16_384;
/// h2spec's `--max-header-length` default: the value length of its dummy headers.
pub const MAX_HEADER_LEN: usize = 4000;
/// How long one read waits for the server (h2spec's `--timeout`, 2 s by default; longer here,
/// and times the patience factor, because a loaded test machine is slower than a benchmark
/// host and every verifier *fails* on a timeout: the bound only decides how late a failure
/// shows).
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The server under test: where it listens and how to reach it (h2spec's `config.Config`).
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    /// The certificate's name: the SNI and the `:authority` host.
    pub host: &'static str,
    pub tls: Arc<rustls::ClientConfig>,
}

impl Target {
    /// h2spec's `CommonHeaders`: `GET https://host:port/`.
    pub fn common_headers(&self) -> Vec<(String, String)> {
        vec![
            h(":method", "GET"),
            h(":scheme", "https"),
            h(":path", "/"),
            h(":authority", &format!("{}:{}", self.host, self.addr.port())),
        ]
    }
}

/// A header field (h2spec's `HeaderField`).
pub fn h(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

/// h2spec's `DummyHeaders`: `count` fields `x-dummyN` of `MAX_HEADER_LEN` octets each.
pub fn dummy_headers(count: usize) -> Vec<(String, String)> {
    (0..count)
        .map(|i| (format!("x-dummy{i}"), "x".repeat(MAX_HEADER_LEN)))
        .collect()
}

/// What a read brought (h2spec's events).
#[derive(Debug)]
pub enum Event {
    Frame(Frame),
    Closed,
    Timeout,
    Error(String),
}

impl Event {
    pub fn describe(&self) -> String {
        match self {
            Event::Frame(f) => describe(f),
            Event::Closed => "Connection closed".into(),
            Event::Timeout => "Timeout".into(),
            Event::Error(e) => format!("Error: {e}"),
        }
    }
}

/// A frame as h2spec prints it, with the error code where it has one.
pub fn describe(f: &Frame) -> String {
    let name = match f.kind {
        DATA => "DATA",
        HEADERS => "HEADERS",
        PRIORITY => "PRIORITY",
        RST_STREAM => "RST_STREAM",
        SETTINGS => "SETTINGS",
        PUSH_PROMISE => "PUSH_PROMISE",
        PING => "PING",
        GOAWAY => "GOAWAY",
        WINDOW_UPDATE => "WINDOW_UPDATE",
        CONTINUATION => "CONTINUATION",
        _ => "UNKNOWN",
    };
    let code = f
        .rst_code()
        .or(f.error_code())
        .map(|c| format!(", error_code:{c:#x}"))
        .unwrap_or_default();
    format!(
        "{name} Frame (length:{}, flags:{:#04x}, stream_id:{}{code})",
        f.payload.len(),
        f.flags,
        f.stream
    )
}

/// HEADERS frame parameters (Go's `http2.HeadersFrameParam`).
#[derive(Default)]
pub struct Headers {
    pub stream: u32,
    pub block: Vec<u8>,
    pub end_stream: bool,
    pub end_headers: bool,
    pub pad_length: u8,
    pub priority: Priority,
}

impl Headers {
    /// A HEADERS frame carrying all of `block` (the common case in h2spec).
    pub fn new(stream: u32, block: Vec<u8>, end_stream: bool, end_headers: bool) -> Self {
        Headers {
            stream,
            block,
            end_stream,
            end_headers,
            ..Headers::default()
        }
    }
}

/// PRIORITY parameters (Go's `http2.PriorityParam`).
#[derive(Default, Clone, Copy)]
pub struct Priority {
    pub dep: u32,
    pub exclusive: bool,
    pub weight: u8,
}

impl Priority {
    fn payload(self) -> [u8; 5] {
        let dep = if self.exclusive {
            self.dep | 0x8000_0000
        } else {
            self.dep
        };
        let d = dep.to_be_bytes();
        [d[0], d[1], d[2], d[3], self.weight]
    }

    fn is_zero(self) -> bool {
        self.dep == 0 && !self.exclusive && self.weight == 0
    }
}

/// What a connection runs over: TLS to gatehouse, or a scripted peer in the verifiers' own
/// test.
pub trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

pub struct Conn {
    io: Box<dyn Io>,
    /// The server's SETTINGS, as received in the handshake.
    pub settings: HashMap<u16, u32>,
    pub closed: bool,
    /// Receive windows h2spec keeps by stream (0: the connection), for its WINDOW_UPDATEs.
    windows: HashMap<u32, i64>,
    encoder: Encoder,
}

impl Conn {
    /// h2spec's `Dial`: TCP, then TLS with ALPN `h2` (which must be the protocol agreed).
    pub async fn dial(t: &Target) -> Result<Conn, Failure> {
        let connect = async {
            let tcp = TcpStream::connect(t.addr).await?;
            tcp.set_nodelay(true)?;
            let name =
                rustls::pki_types::ServerName::try_from(t.host).map_err(std::io::Error::other)?;
            tokio_rustls::TlsConnector::from(t.tls.clone())
                .connect(name.to_owned(), tcp)
                .await
        };
        let io = tokio::time::timeout(patient(crate::support::WAIT), connect)
            .await
            .map_err(|_| Failure::setup("TLS connection: timeout"))?
            .map_err(|e| Failure::setup(&format!("TLS connection: {e}")))?;
        if io.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Err(Failure::setup("Protocol negotiation failed"));
        }
        Ok(Conn::over(Box::new(io)))
    }

    /// A connection over `io`, before any byte is sent.
    pub fn over(io: Box<dyn Io>) -> Conn {
        Conn {
            io,
            settings: HashMap::new(),
            closed: false,
            windows: HashMap::from([(0, i64::from(DEFAULT_WINDOW_SIZE))]),
            encoder: Encoder::new(),
        }
    }

    /// Dials and does h2spec's `Handshake`: the preface and SETTINGS
    /// (INITIAL_WINDOW_SIZE = 65,535), then frames are read until the server's SETTINGS
    /// (acknowledged, and kept) and its acknowledgement of ours have both come.
    pub async fn open(t: &Target) -> Result<Conn, Failure> {
        let mut conn = Conn::dial(t).await?;
        conn.send(PREFACE).await;
        conn.write_settings(&[(SETTINGS_INITIAL_WINDOW_SIZE, DEFAULT_WINDOW_SIZE)])
            .await;
        let (mut local, mut remote) = (false, false);
        let deadline = tokio::time::Instant::now() + patient(READ_TIMEOUT);
        while !(local && remote) {
            let f = match tokio::time::timeout_at(deadline, next_frame(&mut conn.io)).await {
                Ok(Ok(Some(f))) => f,
                Ok(Ok(None)) => return Err(Failure::setup("handshake: connection closed")),
                Ok(Err(e)) => return Err(Failure::setup(&format!("handshake: {e}"))),
                Err(_) => return Err(Failure::setup("handshake: timeout")),
            };
            if f.kind != SETTINGS {
                continue;
            }
            if f.flags & ACK != 0 {
                local = true;
            } else {
                remote = true;
                conn.settings.extend(f.settings());
                conn.write_settings_ack().await;
            }
        }
        Ok(conn)
    }

    /// h2spec's `MaxFrameSize`: the server's SETTINGS_MAX_FRAME_SIZE, or the default.
    pub fn max_frame_size(&self) -> usize {
        self.settings
            .get(&SETTINGS_MAX_FRAME_SIZE)
            .copied()
            .unwrap_or(DEFAULT_FRAME_SIZE) as usize
    }

    /// A header block from this connection's encoder (its context carries over).
    pub fn encode(&mut self, fields: &[(String, String)]) -> Vec<u8> {
        self.encoder.encode(fields)
    }

    /// Go's `Encoder.SetMaxDynamicTableSize`.
    pub fn set_max_dynamic_table_size(&mut self, size: usize) {
        self.encoder.set_max_table_size(size);
    }

    /// Raw bytes, as they are (h2spec's `Send`).
    pub async fn send(&mut self, bytes: &[u8]) {
        let _ = self.io.write_all(bytes).await;
        let _ = self.io.flush().await;
    }

    pub async fn write_frame(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        self.send(&frame(kind, flags, stream, payload)).await;
    }

    pub async fn write_data(&mut self, stream: u32, end_stream: bool, data: &[u8]) {
        let flags = if end_stream { END_STREAM } else { 0 };
        self.write_frame(DATA, flags, stream, data).await;
    }

    pub async fn write_data_padded(&mut self, stream: u32, end: bool, data: &[u8], pad: &[u8]) {
        let flags = PADDED | if end { END_STREAM } else { 0 };
        let mut payload = vec![pad.len() as u8];
        payload.extend_from_slice(data);
        payload.extend_from_slice(pad);
        self.write_frame(DATA, flags, stream, &payload).await;
    }

    pub async fn write_headers(&mut self, p: Headers) {
        let mut flags = 0;
        let mut payload = Vec::new();
        if p.end_stream {
            flags |= END_STREAM;
        }
        if p.end_headers {
            flags |= END_HEADERS;
        }
        if p.pad_length != 0 {
            flags |= PADDED;
            payload.push(p.pad_length);
        }
        if !p.priority.is_zero() {
            flags |= PRIORITY_FLAG;
            payload.extend_from_slice(&p.priority.payload());
        }
        payload.extend_from_slice(&p.block);
        payload.resize(payload.len() + usize::from(p.pad_length), 0);
        self.write_frame(HEADERS, flags, p.stream, &payload).await;
    }

    pub async fn write_priority(&mut self, stream: u32, p: Priority) {
        self.write_frame(PRIORITY, 0, stream, &p.payload()).await;
    }

    pub async fn write_rst_stream(&mut self, stream: u32, code: u32) {
        self.write_frame(RST_STREAM, 0, stream, &code.to_be_bytes())
            .await;
    }

    pub async fn write_settings(&mut self, entries: &[(u16, u32)]) {
        self.send(&settings(entries)).await;
    }

    pub async fn write_settings_ack(&mut self) {
        self.write_frame(SETTINGS, ACK, 0, &[]).await;
    }

    pub async fn write_push_promise(&mut self, stream: u32, promised: u32, block: &[u8]) {
        let mut payload = promised.to_be_bytes().to_vec();
        payload.extend_from_slice(block);
        self.write_frame(PUSH_PROMISE, END_HEADERS, stream, &payload)
            .await;
    }

    pub async fn write_ping(&mut self, ack: bool, data: [u8; 8]) {
        self.write_frame(PING, if ack { ACK } else { 0 }, 0, &data)
            .await;
    }

    pub async fn write_goaway(&mut self, last_stream: u32, code: u32, debug: &[u8]) {
        let mut payload = last_stream.to_be_bytes().to_vec();
        payload.extend_from_slice(&code.to_be_bytes());
        payload.extend_from_slice(debug);
        self.write_frame(GOAWAY, 0, 0, &payload).await;
    }

    pub async fn write_window_update(&mut self, stream: u32, increment: u32) {
        self.write_frame(
            WINDOW_UPDATE,
            0,
            stream,
            &(increment & 0x7fff_ffff).to_be_bytes(),
        )
        .await;
    }

    pub async fn write_continuation(&mut self, stream: u32, end_headers: bool, block: &[u8]) {
        let flags = if end_headers { END_HEADERS } else { 0 };
        self.write_frame(CONTINUATION, flags, stream, block).await;
    }

    /// h2spec's `WaitEvent`: the next frame, or why there is none (which closes the
    /// connection for the verifiers, as a failed read does in h2spec).
    pub async fn wait_event(&mut self) -> Event {
        let ev = match tokio::time::timeout(patient(READ_TIMEOUT), next_frame(&mut self.io)).await {
            Ok(Ok(Some(f))) => Event::Frame(f),
            Ok(Ok(None)) => Event::Closed,
            Ok(Err(e)) => Event::Error(e.to_string()),
            Err(_) => Event::Timeout,
        };
        match &ev {
            Event::Frame(f) if f.kind == DATA => {
                let (stream, len) = (f.stream, f.payload.len() as i64);
                self.update_window(stream, len).await;
            }
            Event::Frame(_) => {}
            _ => self.closed = true,
        }
        ev
    }

    /// h2spec's `WaitEventByType`: events until one of `kind` (`Ok`), or the connection ends
    /// (`Err` with the last event seen).
    pub async fn wait_frame(&mut self, kind: u8) -> Result<Frame, Event> {
        let mut last = Event::Closed;
        while !self.closed {
            match self.wait_event().await {
                Event::Frame(f) if f.kind == kind => return Ok(f),
                // h2spec reports the last event before a timeout, not the timeout.
                Event::Timeout if matches!(last, Event::Frame(_)) => break,
                ev => last = ev,
            }
        }
        Err(last)
    }

    /// h2spec's `updateWindowSize`: a window that reaches zero is opened by 65,535 again.
    async fn update_window(&mut self, stream: u32, len: i64) {
        for id in [stream, 0] {
            let w = self
                .windows
                .entry(id)
                .or_insert(i64::from(DEFAULT_WINDOW_SIZE));
            *w -= len;
            if *w <= 0 {
                let increment = i64::from(DEFAULT_WINDOW_SIZE) - *w;
                *w += increment;
                self.write_window_update(id, increment as u32).await;
            }
        }
    }
}
