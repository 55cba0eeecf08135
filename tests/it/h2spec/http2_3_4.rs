//! h2spec's `http2/3.5` (the connection preface) and `http2/4.*` (frame format, frame size,
//! header compression).

use super::conn::{dummy_headers, Conn, Event, Headers, Priority, Target};
use super::generic::{get, post};
use super::verify::{self, Failure, Outcome, Pass};
use super::{cases, Case};
use crate::support::h2raw::*;

pub const CASES: &[Case] = cases![
    "http2/3.5/1" => sends_client_connection_preface,
    "http2/3.5/2" => sends_invalid_connection_preface,
    "http2/4.1/1" => frame_with_unknown_type,
    "http2/4.1/2" => frame_with_undefined_flag,
    "http2/4.1/3" => frame_with_reserved_field_bit,
    "http2/4.2/1" => data_frame_of_max_frame_size,
    "http2/4.2/2" => data_frame_larger_than_max_frame_size,
    "http2/4.2/3" => headers_frame_larger_than_max_frame_size,
    "http2/4.3/1" => invalid_header_block_fragment,
    "http2/4.3/2" => priority_while_sending_header_blocks,
    "http2/4.3/3" => headers_to_another_stream_while_sending_header_blocks,
];

#[tokio::test]
async fn http2_sections_3_and_4() {
    super::run(CASES).await;
}

/// An unknown frame type (0x16) with 8 octets of payload, on stream 0.
pub const UNKNOWN_FRAME: &[u8] =
    b"\x00\x00\x08\x16\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";

/// RFC 7540 §3.5; http2/3.5/1: the server's connection preface is a SETTINGS frame.
async fn sends_client_connection_preface(t: Target) -> Outcome {
    let mut conn = Conn::dial(&t).await?;
    conn.send(PREFACE).await;
    conn.write_settings(&[(SETTINGS_INITIAL_WINDOW_SIZE, 65_535)])
        .await;
    let ev = conn.wait_event().await;
    match &ev {
        Event::Frame(f) if f.kind == SETTINGS && f.flags & ACK == 0 => Ok(Pass::by(&ev)),
        _ => Err(Failure::new(
            vec!["SETTINGS Frame (flags:0x00)".into()],
            ev.describe(),
        )),
    }
}

/// RFC 7540 §3.5; http2/3.5/2: an invalid preface is a connection error (PROTOCOL_ERROR).
async fn sends_invalid_connection_preface(t: Target) -> Outcome {
    let mut conn = Conn::dial(&t).await?;
    conn.send(b"INVALID CONNECTION PREFACE\r\n\r\n").await;
    verify::connection_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §4.1; http2/4.1/1: a frame of unknown type is ignored.
async fn frame_with_unknown_type(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.send(UNKNOWN_FRAME).await;
    conn.write_ping(false, [0; 8]).await;
    verify::ping_ack(&mut conn, [0; 8]).await
}

/// RFC 7540 §4.1; http2/4.1/2: undefined flags (0x16) on a PING are ignored.
async fn frame_with_undefined_flag(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.send(b"\x00\x00\x08\x06\x16\x00\x00\x00\x00").await;
    conn.send(&[0; 8]).await;
    verify::frame_type(&mut conn, PING).await
}

/// RFC 7540 §4.1; http2/4.1/3: the reserved bit of the stream identifier is ignored.
async fn frame_with_reserved_field_bit(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.send(b"\x00\x00\x08\x06\x16\x80\x00\x00\x00").await;
    conn.send(&[0; 8]).await;
    verify::frame_type(&mut conn, PING).await
}

/// RFC 7540 §4.2; http2/4.2/1: a DATA frame of exactly SETTINGS_MAX_FRAME_SIZE octets.
async fn data_frame_of_max_frame_size(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    post(&mut conn, &t, &[]).await;
    let data = vec![b'x'; conn.max_frame_size()];
    conn.write_data(1, true, &data).await;
    verify::headers_frame(&mut conn, 1).await
}

/// RFC 7540 §4.2; http2/4.2/2: one octet more is a FRAME_SIZE_ERROR.
async fn data_frame_larger_than_max_frame_size(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    post(&mut conn, &t, &[]).await;
    let data = vec![b'x'; conn.max_frame_size() + 1];
    conn.write_data(1, true, &data).await;
    verify::stream_error(&mut conn, &[FRAME_SIZE_ERROR]).await
}

/// RFC 7540 §4.2; http2/4.2/3: a HEADERS frame too large is a connection error
/// (FRAME_SIZE_ERROR): it carries header state.
async fn headers_frame_larger_than_max_frame_size(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    let mut headers = t.common_headers();
    headers.extend(dummy_headers(5));
    let block = conn.encode(&headers);
    conn.write_headers(Headers::new(1, block, true, true)).await;
    verify::connection_error(&mut conn, &[FRAME_SIZE_ERROR]).await
}

/// RFC 7540 §4.3; http2/4.3/1: a header block that cannot be decoded is a COMPRESSION_ERROR.
async fn invalid_header_block_fragment(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.send(b"\x00\x00\x01\x01\x05\x00\x00\x00\x01\x40").await;
    verify::connection_error(&mut conn, &[COMPRESSION_ERROR]).await
}

/// HEADERS on stream 1 without END_HEADERS (the block goes on in a CONTINUATION).
pub async fn open_header_block(conn: &mut Conn, t: &Target, end_stream: bool) {
    let block = conn.encode(&t.common_headers());
    conn.write_headers(Headers::new(1, block, end_stream, false))
        .await;
}

/// RFC 7540 §4.3; http2/4.3/2: a header block must be contiguous: a PRIORITY frame inside
/// it is a PROTOCOL_ERROR.
async fn priority_while_sending_header_blocks(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    open_header_block(&mut conn, &t, false).await;
    let p = Priority {
        weight: 255,
        ..Priority::default()
    };
    conn.write_priority(1, p).await;
    let rest = conn.encode(&dummy_headers(1));
    conn.write_continuation(1, true, &rest).await;
    verify::connection_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §4.3; http2/4.3/3: HEADERS for stream 3 inside stream 1's header block.
async fn headers_to_another_stream_while_sending_header_blocks(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    open_header_block(&mut conn, &t, false).await;
    get(&mut conn, &t, 3).await;
    let rest = conn.encode(&dummy_headers(1));
    conn.write_continuation(1, true, &rest).await;
    verify::connection_error(&mut conn, &[PROTOCOL_ERROR]).await
}
