//! h2spec's `http2/6.1`–`http2/6.5.3`: DATA, HEADERS, PRIORITY, RST_STREAM and SETTINGS
//! frames that break the rules, and SETTINGS synchronization.

use super::conn::{dummy_headers, h, Conn, Headers, Priority, Target};
use super::generic::{get, post};
use super::verify::{self, Failure, Outcome};
use super::{cases, Case};
use crate::support::h2raw::*;

pub const CASES: &[Case] = cases![
    "http2/6.1/1" => data_with_stream_id_0,
    "http2/6.1/2" => data_on_a_stream_not_open,
    "http2/6.1/3" => data_with_invalid_pad_length,
    "http2/6.2/1" => headers_without_end_headers_then_priority,
    "http2/6.2/2" => headers_to_another_stream_while_sending_headers,
    "http2/6.2/3" => headers_with_stream_id_0,
    "http2/6.2/4" => headers_with_invalid_pad_length,
    "http2/6.3/1" => priority_with_stream_id_0,
    "http2/6.3/2" => priority_with_length_other_than_5,
    "http2/6.4/1" => rst_stream_with_stream_id_0,
    "http2/6.4/2" => rst_stream_on_idle_stream,
    "http2/6.4/3" => rst_stream_with_length_other_than_4,
    "http2/6.5/1" => settings_ack_with_payload,
    "http2/6.5/2" => settings_with_stream_id_other_than_0,
    "http2/6.5/3" => settings_with_length_not_a_multiple_of_6,
    "http2/6.5.2/1" => enable_push_other_than_0_or_1,
    "http2/6.5.2/2" => initial_window_size_above_maximum,
    "http2/6.5.2/3" => max_frame_size_below_initial,
    "http2/6.5.2/4" => max_frame_size_above_maximum,
    "http2/6.5.2/5" => settings_with_unknown_identifier,
    "http2/6.5.3/1" => multiple_values_of_initial_window_size,
    "http2/6.5.3/2" => settings_without_ack_is_acknowledged,
];

#[tokio::test]
async fn http2_sections_6_1_to_6_5() {
    super::run(CASES).await;
}

/// RFC 7540 §6.1; http2/6.1/1.
async fn data_with_stream_id_0(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.write_data(0, true, b"test").await;
    verify::connection_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §6.1; http2/6.1/2: DATA after the request's END_STREAM.
async fn data_on_a_stream_not_open(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    let mut headers = t.common_headers();
    headers[0].1 = "POST".into();
    let block = conn.encode(&headers);
    conn.write_headers(Headers::new(1, block, true, true)).await;
    conn.write_data(1, true, b"test").await;
    verify::stream_error(&mut conn, &[STREAM_CLOSED]).await
}

/// RFC 7540 §6.1; http2/6.1/3: padding (6) longer than the payload that follows it (4).
async fn data_with_invalid_pad_length(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    post(&mut conn, &t, &[h("content-length", "4")]).await;
    conn.send(b"\x00\x00\x05\x00\x09\x00\x00\x00\x01").await;
    conn.send(b"\x06\x54\x65\x73\x74").await;
    verify::connection_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §6.2; http2/6.2/1.
async fn headers_without_end_headers_then_priority(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    let block = conn.encode(&t.common_headers());
    conn.write_headers(Headers::new(1, block, false, false))
        .await;
    let p = Priority {
        weight: 255,
        ..Priority::default()
    };
    conn.write_priority(1, p).await;
    let rest = conn.encode(&dummy_headers(1));
    conn.write_continuation(1, true, &rest).await;
    verify::connection_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §6.2; http2/6.2/2.
async fn headers_to_another_stream_while_sending_headers(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    let block = conn.encode(&t.common_headers());
    conn.write_headers(Headers::new(1, block, false, false))
        .await;
    get(&mut conn, &t, 3).await;
    let rest = conn.encode(&dummy_headers(1));
    conn.write_continuation(1, true, &rest).await;
    verify::connection_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §6.2; http2/6.2/3.
async fn headers_with_stream_id_0(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    get(&mut conn, &t, 0).await;
    verify::connection_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §6.2; http2/6.2/4: a pad length longer than the rest of the frame.
async fn headers_with_invalid_pad_length(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    let block = conn.encode(&t.common_headers());
    let mut head = b"\x00\x00\x00\x01\x0d\x00\x00\x00\x01".to_vec();
    head[2] = (block.len() + 1) as u8;
    conn.send(&head).await;
    conn.send(&[(block.len() + 2) as u8]).await;
    conn.send(&block).await;
    verify::stream_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §6.3; http2/6.3/1.
async fn priority_with_stream_id_0(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    let p = Priority {
        weight: 255,
        ..Priority::default()
    };
    conn.write_priority(0, p).await;
    verify::connection_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §6.3; http2/6.3/2: a stream error (FRAME_SIZE_ERROR).
async fn priority_with_length_other_than_5(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    get(&mut conn, &t, 1).await;
    conn.send(b"\x00\x00\x04\x02\x00\x00\x00\x00\x01").await;
    conn.send(b"\x80\x00\x00\x01").await;
    verify::stream_error(&mut conn, &[FRAME_SIZE_ERROR]).await
}

/// RFC 7540 §6.4; http2/6.4/1.
async fn rst_stream_with_stream_id_0(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.write_rst_stream(0, CANCEL).await;
    verify::connection_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §6.4; http2/6.4/2.
async fn rst_stream_on_idle_stream(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.write_rst_stream(1, CANCEL).await;
    verify::connection_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §6.4; http2/6.4/3 (h2spec accepts a stream or a connection error).
async fn rst_stream_with_length_other_than_4(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    get(&mut conn, &t, 1).await;
    conn.send(b"\x00\x00\x03\x03\x00\x00\x00\x00\x01").await;
    conn.send(b"\x00\x00\x00").await;
    verify::stream_error(&mut conn, &[FRAME_SIZE_ERROR]).await
}

/// RFC 7540 §6.5; http2/6.5/1.
async fn settings_ack_with_payload(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.send(b"\x00\x00\x01\x04\x01\x00\x00\x00\x00").await;
    conn.send(b"\x00").await;
    verify::connection_error(&mut conn, &[FRAME_SIZE_ERROR]).await
}

/// RFC 7540 §6.5; http2/6.5/2.
async fn settings_with_stream_id_other_than_0(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.send(b"\x00\x00\x06\x04\x00\x00\x00\x00\x01").await;
    conn.send(b"\x00\x03\x00\x00\x00\x64").await;
    verify::connection_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §6.5; http2/6.5/3 (h2spec uses its stream-error verifier here).
async fn settings_with_length_not_a_multiple_of_6(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.send(b"\x00\x00\x03\x04\x00\x00\x00\x00\x00").await;
    conn.send(b"\x00\x03\x00").await;
    verify::stream_error(&mut conn, &[PROTOCOL_ERROR, FRAME_SIZE_ERROR]).await
}

/// One SETTINGS entry, then the connection error h2spec expects.
async fn bad_setting(t: Target, id: u16, value: u32, code: u32) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.write_settings(&[(id, value)]).await;
    verify::connection_error(&mut conn, &[code]).await
}

/// RFC 7540 §6.5.2; http2/6.5.2/1.
async fn enable_push_other_than_0_or_1(t: Target) -> Outcome {
    bad_setting(t, SETTINGS_ENABLE_PUSH, 2, PROTOCOL_ERROR).await
}

/// RFC 7540 §6.5.2; http2/6.5.2/2.
async fn initial_window_size_above_maximum(t: Target) -> Outcome {
    bad_setting(t, SETTINGS_INITIAL_WINDOW_SIZE, 1 << 31, FLOW_CONTROL_ERROR).await
}

/// RFC 7540 §6.5.2; http2/6.5.2/3.
async fn max_frame_size_below_initial(t: Target) -> Outcome {
    bad_setting(t, SETTINGS_MAX_FRAME_SIZE, 16_383, PROTOCOL_ERROR).await
}

/// RFC 7540 §6.5.2; http2/6.5.2/4.
async fn max_frame_size_above_maximum(t: Target) -> Outcome {
    bad_setting(t, SETTINGS_MAX_FRAME_SIZE, 1 << 24, PROTOCOL_ERROR).await
}

/// RFC 7540 §6.5.2; http2/6.5.2/5: an unknown setting is ignored.
async fn settings_with_unknown_identifier(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.write_settings(&[(0xff, 1)]).await;
    conn.write_ping(false, [0; 8]).await;
    verify::ping_ack(&mut conn, [0; 8]).await
}

/// h2spec's `ServerDataLength`: the octets of DATA in the answer to `GET /`, on a connection
/// of its own.
pub async fn server_data_length(t: &Target) -> Result<usize, Failure> {
    let mut conn = Conn::open(t).await?;
    get(&mut conn, t, 1).await;
    let mut len = 0;
    while !conn.closed {
        if let super::conn::Event::Frame(f) = conn.wait_event().await {
            if f.kind == DATA {
                len += f.payload.len();
            }
            if matches!(f.kind, DATA | HEADERS) && f.flags & END_STREAM != 0 {
                return Ok(len);
            }
        }
    }
    Err(Failure::new(
        vec!["the answer to GET / (h2spec skips the case without it)".into()],
        "Unable to get server data length".into(),
    ))
}

/// A DATA frame of one octet comes next (the window the case left the server).
pub async fn data_of_one_octet(conn: &mut Conn) -> Outcome {
    verify::next_frame_is(
        conn,
        DATA,
        "DATA Frame (length:1, flags:0x00, stream_id:1)",
        |f| f.payload.len() == 1,
    )
    .await
}

/// RFC 7540 §6.5.3; http2/6.5.3/1: of two values in one SETTINGS frame the last (1) holds.
async fn multiple_values_of_initial_window_size(t: Target) -> Outcome {
    if server_data_length(&t).await? < 1 {
        return Err(Failure::new(
            vec!["a body in the answer to GET /".into()],
            "none (h2spec skips the case)".into(),
        ));
    }
    let mut conn = Conn::open(&t).await?;
    conn.write_settings(&[
        (SETTINGS_INITIAL_WINDOW_SIZE, 100),
        (SETTINGS_INITIAL_WINDOW_SIZE, 1),
    ])
    .await;
    verify::settings_ack(&mut conn).await?;
    get(&mut conn, &t, 1).await;
    data_of_one_octet(&mut conn).await
}

/// RFC 7540 §6.5.3; http2/6.5.3/2.
async fn settings_without_ack_is_acknowledged(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.write_settings(&[(SETTINGS_ENABLE_PUSH, 0)]).await;
    verify::settings_ack(&mut conn).await
}
