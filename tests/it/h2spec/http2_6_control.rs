//! h2spec's `http2/6.7`–`http2/6.10`: PING, GOAWAY, WINDOW_UPDATE and flow control, and
//! CONTINUATION.

use super::conn::{dummy_headers, Conn, Headers, Target};
use super::generic::{get, H2SPEC};
use super::http2_6_frames::{data_of_one_octet, server_data_length};
use super::verify::{self, Failure, Outcome};
use super::{cases, Case};
use crate::support::h2raw::*;

pub const CASES: &[Case] = cases![
    "http2/6.7/1" => sends_a_ping_frame,
    "http2/6.7/2" => sends_a_ping_frame_with_ack,
    "http2/6.7/3" => ping_with_stream_id_other_than_0,
    "http2/6.7/4" => ping_with_length_other_than_8,
    "http2/6.8/1" => goaway_with_stream_id_other_than_0,
    "http2/6.9/1" => window_update_increment_0,
    "http2/6.9/2" => window_update_increment_0_on_a_stream,
    "http2/6.9/3" => window_update_with_length_other_than_4,
    "http2/6.9.1/1" => initial_window_size_1_then_headers,
    "http2/6.9.1/2" => connection_window_above_2_31_minus_1,
    "http2/6.9.1/3" => stream_window_above_2_31_minus_1,
    "http2/6.9.2/1" => initial_window_size_changed_after_headers,
    "http2/6.9.2/2" => settings_make_the_window_negative,
    "http2/6.9.2/3" => initial_window_size_above_maximum,
    "http2/6.10/1" => multiple_continuations_after_headers,
    "http2/6.10/2" => continuation_followed_by_data,
    "http2/6.10/3" => continuation_with_stream_id_0,
    "http2/6.10/4" => continuation_after_headers_with_end_headers,
    "http2/6.10/5" => continuation_after_continuation_with_end_headers,
    "http2/6.10/6" => continuation_after_data,
];

#[tokio::test]
async fn http2_sections_6_7_to_6_10() {
    super::run(CASES).await;
}

/// RFC 7540 §6.7; http2/6.7/1.
async fn sends_a_ping_frame(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.write_ping(false, H2SPEC).await;
    verify::ping_ack(&mut conn, H2SPEC).await
}

/// RFC 7540 §6.7; http2/6.7/2: a PING with ACK is not answered; the next PING is.
async fn sends_a_ping_frame_with_ack(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.write_ping(true, *b"invalid\0").await;
    conn.write_ping(false, H2SPEC).await;
    verify::ping_ack(&mut conn, H2SPEC).await
}

/// RFC 7540 §6.7; http2/6.7/3.
async fn ping_with_stream_id_other_than_0(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.send(b"\x00\x00\x08\x06\x00\x00\x00\x00\x01").await;
    conn.send(&[0; 8]).await;
    verify::connection_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §6.7; http2/6.7/4.
async fn ping_with_length_other_than_8(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.send(b"\x00\x00\x06\x06\x00\x00\x00\x00\x00").await;
    conn.send(&[0; 6]).await;
    verify::connection_error(&mut conn, &[FRAME_SIZE_ERROR]).await
}

/// RFC 7540 §6.8; http2/6.8/1.
async fn goaway_with_stream_id_other_than_0(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.send(b"\x00\x00\x08\x07\x00\x00\x00\x00\x01").await;
    conn.send(&[0; 8]).await;
    verify::connection_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §6.9; http2/6.9/1.
async fn window_update_increment_0(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.write_window_update(0, 0).await;
    verify::connection_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// HEADERS for `GET /` on stream 1 without END_STREAM: stream 1 stays open.
async fn open_stream(conn: &mut Conn, t: &Target) {
    let block = conn.encode(&t.common_headers());
    conn.write_headers(Headers::new(1, block, false, true))
        .await;
}

/// RFC 7540 §6.9; http2/6.9/2: on a stream, a stream error.
async fn window_update_increment_0_on_a_stream(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    open_stream(&mut conn, &t).await;
    conn.write_window_update(1, 0).await;
    verify::stream_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §6.9; http2/6.9/3.
async fn window_update_with_length_other_than_4(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.send(b"\x00\x00\x03\x08\x00\x00\x00\x00\x00").await;
    conn.send(b"\x00\x00\x01").await;
    verify::connection_error(&mut conn, &[FRAME_SIZE_ERROR]).await
}

/// h2spec skips a flow-control case when `GET /` has less body than it needs; gatehouse's
/// backend always has enough, so here that is a failure.
async fn needs_body(t: &Target, octets: usize) -> Result<(), Failure> {
    let len = server_data_length(t).await?;
    if len < octets {
        return Err(Failure::new(
            vec![format!("{octets} octets of body in the answer to GET /")],
            format!("{len} (h2spec skips the case)"),
        ));
    }
    Ok(())
}

/// RFC 7540 §6.9.1; http2/6.9.1/1: a window of 1 lets one octet of DATA through.
async fn initial_window_size_1_then_headers(t: Target) -> Outcome {
    needs_body(&t, 1).await?;
    let mut conn = Conn::open(&t).await?;
    conn.write_settings(&[(SETTINGS_INITIAL_WINDOW_SIZE, 1)])
        .await;
    verify::settings_ack(&mut conn).await?;
    get(&mut conn, &t, 1).await;
    data_of_one_octet(&mut conn).await
}

/// RFC 7540 §6.9.1; http2/6.9.1/2: the connection window above 2^31-1 is a connection error
/// (h2spec waits for the GOAWAY itself).
async fn connection_window_above_2_31_minus_1(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.write_window_update(0, 0x7fff_ffff).await;
    conn.write_window_update(0, 0x7fff_ffff).await;
    verify::next_frame_is(&mut conn, GOAWAY, "GOAWAY Frame (Error Code: 0x3)", |f| {
        f.error_code() == Some(FLOW_CONTROL_ERROR)
    })
    .await
}

/// RFC 7540 §6.9.1; http2/6.9.1/3: a stream's window above 2^31-1 is a stream error (h2spec
/// waits for a RST_STREAM; one on another stream passes, as in h2spec).
async fn stream_window_above_2_31_minus_1(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    open_stream(&mut conn, &t).await;
    conn.write_window_update(1, 0x7fff_ffff).await;
    conn.write_window_update(1, 0x7fff_ffff).await;
    verify::next_frame_is(
        &mut conn,
        RST_STREAM,
        "RST_STREAM Frame (Error Code: 0x3)",
        |f| f.stream != 1 || f.rst_code() == Some(FLOW_CONTROL_ERROR),
    )
    .await
}

/// RFC 7540 §6.9.2; http2/6.9.2/1: a window of 0, then raised to 1 while the stream is open.
async fn initial_window_size_changed_after_headers(t: Target) -> Outcome {
    needs_body(&t, 1).await?;
    let mut conn = Conn::open(&t).await?;
    conn.write_settings(&[(SETTINGS_INITIAL_WINDOW_SIZE, 0)])
        .await;
    verify::settings_ack(&mut conn).await?;
    get(&mut conn, &t, 1).await;
    conn.write_settings(&[(SETTINGS_INITIAL_WINDOW_SIZE, 1)])
        .await;
    data_of_one_octet(&mut conn).await
}

/// RFC 7540 §6.9.2; http2/6.9.2/2: a window of 3 is used up, lowered to 2 (so -1), then
/// raised by 2: one octet may follow.
async fn settings_make_the_window_negative(t: Target) -> Outcome {
    needs_body(&t, 5).await?;
    let mut conn = Conn::open(&t).await?;
    conn.write_settings(&[(SETTINGS_INITIAL_WINDOW_SIZE, 3)])
        .await;
    verify::settings_ack(&mut conn).await?;
    get(&mut conn, &t, 1).await;
    verify::frame_type(&mut conn, DATA).await?;
    conn.write_settings(&[(SETTINGS_INITIAL_WINDOW_SIZE, 2)])
        .await;
    verify::settings_ack(&mut conn).await?;
    conn.write_window_update(1, 2).await;
    data_of_one_octet(&mut conn).await
}

/// RFC 7540 §6.9.2; http2/6.9.2/3.
async fn initial_window_size_above_maximum(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.send(b"\x00\x00\x06\x04\x00\x00\x00\x00\x00").await;
    conn.send(b"\x00\x04\x80\x00\x00\x00").await;
    verify::connection_error(&mut conn, &[FLOW_CONTROL_ERROR]).await
}

/// The first part of a header block on stream 1 (no END_HEADERS): `GET`, or `POST` whose
/// body may follow.
async fn start_block(conn: &mut Conn, t: &Target, post: bool) {
    let mut headers = t.common_headers();
    if post {
        headers[0].1 = "POST".into();
    }
    let block = conn.encode(&headers);
    conn.write_headers(Headers::new(1, block, !post, false))
        .await;
}

/// A CONTINUATION carrying one dummy header (4,000 octets).
async fn dummy_continuation(conn: &mut Conn, stream: u32, end_headers: bool) {
    let block = conn.encode(&dummy_headers(1));
    conn.write_continuation(stream, end_headers, &block).await;
}

/// RFC 7540 §6.10; http2/6.10/1.
async fn multiple_continuations_after_headers(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    start_block(&mut conn, &t, false).await;
    dummy_continuation(&mut conn, 1, false).await;
    dummy_continuation(&mut conn, 1, true).await;
    verify::headers_frame(&mut conn, 1).await
}

/// RFC 7540 §6.10; http2/6.10/2.
async fn continuation_followed_by_data(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    start_block(&mut conn, &t, true).await;
    dummy_continuation(&mut conn, 1, false).await;
    conn.write_data(1, true, b"test").await;
    verify::connection_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §6.10; http2/6.10/3.
async fn continuation_with_stream_id_0(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    start_block(&mut conn, &t, false).await;
    dummy_continuation(&mut conn, 0, true).await;
    verify::connection_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §6.10; http2/6.10/4.
async fn continuation_after_headers_with_end_headers(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    get(&mut conn, &t, 1).await;
    dummy_continuation(&mut conn, 1, true).await;
    verify::connection_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §6.10; http2/6.10/5.
async fn continuation_after_continuation_with_end_headers(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    start_block(&mut conn, &t, false).await;
    dummy_continuation(&mut conn, 1, true).await;
    dummy_continuation(&mut conn, 1, true).await;
    verify::connection_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §6.10; http2/6.10/6.
async fn continuation_after_data(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    start_block(&mut conn, &t, true).await;
    conn.write_data(1, true, b"test").await;
    dummy_continuation(&mut conn, 1, false).await;
    dummy_continuation(&mut conn, 0, true).await;
    verify::connection_error(&mut conn, &[PROTOCOL_ERROR]).await
}
