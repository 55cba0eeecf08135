//! h2spec's verifiers (`spec/verifier.go`), with the same accepted outcomes. Each reads events
//! until one passes or the connection ends (closed, failed, or a read timed out); an event
//! that does not pass is remembered as the "actual" of the failure, except a timeout after
//! something else was seen.
//!
//! - connection error: a GOAWAY with one of the codes, or the connection closed;
//! - stream error: a RST_STREAM or a GOAWAY with one of the codes, or the connection closed;
//! - stream close: a DATA or HEADERS frame with END_STREAM, or a RST_STREAM with NO_ERROR;
//! - connection close: the connection closed.
//!
//! As in h2spec, a GOAWAY with another code does not fail a connection error by itself: the
//! connection closing after it passes.

use super::conn::{describe, Conn, Event};
use crate::support::h2raw::*;

/// Why a case failed: what h2spec would have accepted, and what came.
#[derive(Debug)]
pub struct Failure {
    pub expected: Vec<String>,
    pub actual: String,
}

impl Failure {
    pub fn new(expected: Vec<String>, actual: String) -> Self {
        Failure { expected, actual }
    }

    /// The case could not even start (connection, TLS, handshake).
    pub fn setup(what: &str) -> Self {
        Failure {
            expected: vec!["a connection and HTTP/2 handshake".into()],
            actual: what.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "expected {}; actual: {}",
            self.expected.join(" or "),
            self.actual
        )
    }
}

/// How a case passed: the event that met the expectation, and whether only h2spec's leniency
/// let it: a connection or stream error met by the connection closing, without the GOAWAY (or
/// RST_STREAM) carrying the code the RFC gives, passes h2spec but is worth knowing.
#[derive(Debug)]
pub struct Pass {
    pub by: String,
    pub lenient: bool,
}

impl Pass {
    pub fn by(ev: &Event) -> Self {
        Pass {
            by: ev.describe(),
            lenient: false,
        }
    }

    pub fn frame(f: &Frame) -> Self {
        Pass {
            by: describe(f),
            lenient: false,
        }
    }
}

pub type Outcome = Result<Pass, Failure>;

/// The last event that did not pass, for the failure (h2spec's `actual`), and every event
/// seen before the one that passed (for the report).
struct Actual(Option<Event>, Vec<String>);

impl Actual {
    fn new() -> Self {
        Actual(None, Vec::new())
    }

    fn note(&mut self, ev: Event) {
        self.1.push(ev.describe());
        if matches!(ev, Event::Timeout) && self.0.is_some() {
            return;
        }
        self.0 = Some(ev);
    }

    /// Passed by `ev`, after what came before it; `lenient` when only h2spec's leniency let
    /// it pass.
    fn pass(self, ev: &Event, lenient: bool) -> Pass {
        let by = if self.1.is_empty() {
            ev.describe()
        } else {
            format!("{}, after {}", ev.describe(), self.1.join(", "))
        };
        Pass { by, lenient }
    }

    fn describe(&self) -> String {
        self.0
            .as_ref()
            .map_or("nothing (the connection was already closed)".into(), |e| {
                e.describe()
            })
    }
}

fn goaway(code: u32) -> String {
    format!("GOAWAY Frame (Error Code: {code:#x})")
}

fn rst(code: u32) -> String {
    format!("RST_STREAM Frame (Error Code: {code:#x})")
}

const CLOSED: &str = "Connection closed";

/// `VerifyConnectionClose`.
pub async fn connection_close(conn: &mut Conn) -> Outcome {
    let mut actual = Actual::new();
    while !conn.closed {
        match conn.wait_event().await {
            ev @ Event::Closed => return Ok(actual.pass(&ev, false)),
            ev => actual.note(ev),
        }
    }
    Err(Failure::new(vec![CLOSED.into()], actual.describe()))
}

/// `VerifyConnectionError`.
pub async fn connection_error(conn: &mut Conn, codes: &[u32]) -> Outcome {
    let mut actual = Actual::new();
    while !conn.closed {
        match conn.wait_event().await {
            ev @ Event::Closed => return Ok(actual.pass(&ev, true)),
            Event::Frame(f) if f.error_code().is_some_and(|c| codes.contains(&c)) => {
                return Ok(Pass::frame(&f))
            }
            ev => actual.note(ev),
        }
    }
    let mut expected: Vec<String> = codes.iter().map(|c| goaway(*c)).collect();
    expected.push(CLOSED.into());
    Err(Failure::new(expected, actual.describe()))
}

/// `VerifyStreamError`.
pub async fn stream_error(conn: &mut Conn, codes: &[u32]) -> Outcome {
    let mut actual = Actual::new();
    while !conn.closed {
        match conn.wait_event().await {
            ev @ Event::Closed => return Ok(actual.pass(&ev, true)),
            Event::Frame(f)
                if f.error_code()
                    .or(f.rst_code())
                    .is_some_and(|c| codes.contains(&c)) =>
            {
                return Ok(Pass::frame(&f))
            }
            ev => actual.note(ev),
        }
    }
    let mut expected = Vec::new();
    for c in codes {
        expected.push(goaway(*c));
        expected.push(rst(*c));
    }
    expected.push(CLOSED.into());
    Err(Failure::new(expected, actual.describe()))
}

/// `VerifyStreamClose`.
pub async fn stream_close(conn: &mut Conn) -> Outcome {
    let mut actual = Actual::new();
    while !conn.closed {
        match conn.wait_event().await {
            Event::Frame(f) if matches!(f.kind, DATA | HEADERS) && f.flags & END_STREAM != 0 => {
                return Ok(Pass::frame(&f))
            }
            Event::Frame(f) if f.rst_code() == Some(NO_ERROR) => return Ok(Pass::frame(&f)),
            ev => actual.note(ev),
        }
    }
    Err(Failure::new(
        vec!["Stream closed".into()],
        actual.describe(),
    ))
}

/// `VerifyHeadersFrame`: the next HEADERS frame is on `stream`.
pub async fn headers_frame(conn: &mut Conn, stream: u32) -> Outcome {
    match conn.wait_frame(HEADERS).await {
        Ok(f) if f.stream == stream => Ok(Pass::frame(&f)),
        Ok(f) => Err(expected_frame(stream, Event::Frame(f))),
        Err(ev) => Err(expected_frame(stream, ev)),
    }
}

fn expected_frame(stream: u32, actual: Event) -> Failure {
    Failure::new(
        vec![format!("HEADERS Frame (stream_id:{stream})")],
        actual.describe(),
    )
}

/// `VerifySettingsFrameWithAck`: the next SETTINGS frame is an acknowledgement.
pub async fn settings_ack(conn: &mut Conn) -> Outcome {
    let expected = || vec!["SETTINGS Frame (length:0, flags:0x01, stream_id:0)".to_string()];
    match conn.wait_frame(SETTINGS).await {
        Ok(f) if f.flags & ACK != 0 => Ok(Pass::frame(&f)),
        Ok(f) => Err(Failure::new(expected(), describe(&f))),
        Err(ev) => Err(Failure::new(expected(), ev.describe())),
    }
}

fn ping_expected(data: [u8; 8]) -> String {
    format!("PING Frame (length:8, flags:0x01, stream_id:0, opaque_data:{data:?})")
}

fn is_ping_ack(f: &Frame, data: [u8; 8]) -> bool {
    f.kind == PING && f.flags & ACK != 0 && f.payload == data
}

/// `VerifyPingFrameWithAck`: the next PING frame acknowledges `data`.
pub async fn ping_ack(conn: &mut Conn, data: [u8; 8]) -> Outcome {
    match conn.wait_frame(PING).await {
        Ok(f) if is_ping_ack(&f, data) => Ok(Pass::frame(&f)),
        Ok(f) => Err(Failure::new(
            vec![ping_expected(data)],
            format!("{} data {:?}", describe(&f), f.payload),
        )),
        Err(ev) => Err(Failure::new(vec![ping_expected(data)], ev.describe())),
    }
}

/// `VerifyPingFrameOrConnectionClose`.
pub async fn ping_ack_or_close(conn: &mut Conn, data: [u8; 8]) -> Outcome {
    let mut actual = Actual::new();
    while !conn.closed {
        match conn.wait_event().await {
            ev @ Event::Closed => return Ok(actual.pass(&ev, false)),
            Event::Frame(f) if is_ping_ack(&f, data) => return Ok(Pass::frame(&f)),
            ev => actual.note(ev),
        }
    }
    Err(Failure::new(
        vec![CLOSED.into(), ping_expected(data)],
        actual.describe(),
    ))
}

/// `VerifyEventType`: a frame of `kind` comes.
pub async fn frame_type(conn: &mut Conn, kind: u8) -> Outcome {
    conn.wait_frame(kind)
        .await
        .map(|f| Pass::frame(&f))
        .map_err(|ev| Failure::new(vec![format!("a frame of type {kind:#x}")], ev.describe()))
}

/// The checks some cases make by hand: the next frame of `kind` passes `check`.
pub async fn next_frame_is(
    conn: &mut Conn,
    kind: u8,
    expected: &str,
    check: impl Fn(&Frame) -> bool,
) -> Outcome {
    match conn.wait_frame(kind).await {
        Ok(f) if check(&f) => Ok(Pass::frame(&f)),
        Ok(f) => Err(Failure::new(vec![expected.into()], describe(&f))),
        Err(ev) => Err(Failure::new(vec![expected.into()], ev.describe())),
    }
}
