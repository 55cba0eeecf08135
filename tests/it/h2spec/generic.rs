//! h2spec's generic tests for an HTTP/2 server, sections 1–4 (`generic/1`–`generic/4`): the
//! server accepts each kind of frame a well-behaved client sends, and answers requests.

use super::conn::{h, Conn, Headers, Priority, Target};
use super::verify::{self, Outcome};
use super::{cases, Case};
use crate::support::h2raw::*;

pub const CASES: &[Case] = cases![
    "generic/1/1" => sends_a_client_connection_preface,
    "generic/2/1" => priority_on_idle_stream,
    "generic/2/2" => window_update_on_half_closed_remote_stream,
    "generic/2/3" => priority_on_half_closed_remote_stream,
    "generic/2/4" => rst_stream_on_half_closed_remote_stream,
    "generic/2/5" => priority_on_closed_stream,
    "generic/3.1/1" => sends_a_data_frame,
    "generic/3.1/2" => sends_multiple_data_frames,
    "generic/3.1/3" => sends_a_data_frame_with_padding,
    "generic/3.2/1" => sends_a_headers_frame,
    "generic/3.2/2" => sends_a_headers_frame_with_padding,
    "generic/3.2/3" => sends_a_headers_frame_with_priority,
    "generic/3.3/1" => priority_with_priority_1,
    "generic/3.3/2" => priority_with_priority_256,
    "generic/3.3/3" => priority_with_stream_dependency,
    "generic/3.3/4" => priority_with_exclusive,
    "generic/3.3/5" => priority_for_idle_stream_then_headers_on_lower_id,
    "generic/3.4/1" => sends_a_rst_stream_frame,
    "generic/3.5/1" => sends_a_settings_frame,
    "generic/3.7/1" => sends_a_ping_frame,
    "generic/3.8/1" => sends_a_goaway_frame,
    "generic/3.9/1" => window_update_with_stream_id_0,
    "generic/3.9/2" => window_update_with_stream_id_1,
    "generic/3.10/1" => sends_a_continuation_frame,
    "generic/3.10/2" => sends_multiple_continuation_frames,
    "generic/4/1" => sends_a_get_request,
    "generic/4/2" => sends_a_head_request,
    "generic/4/3" => sends_a_post_request,
    "generic/4/4" => sends_a_post_request_with_trailers,
];

#[tokio::test]
async fn generic_sections_1_to_4() {
    super::run(CASES).await;
}

/// `GET /` on stream 1, with END_STREAM and END_HEADERS.
pub async fn get(conn: &mut Conn, t: &Target, stream: u32) {
    let block = conn.encode(&t.common_headers());
    conn.write_headers(Headers::new(stream, block, true, true))
        .await;
}

/// `POST /` on stream 1 without END_STREAM (the body follows).
pub async fn post(conn: &mut Conn, t: &Target, extra: &[(String, String)]) {
    let mut headers = t.common_headers();
    headers[0].1 = "POST".into();
    headers.extend_from_slice(extra);
    let block = conn.encode(&headers);
    conn.write_headers(Headers::new(1, block, false, true))
        .await;
}

const PRIORITY_255: Priority = Priority {
    dep: 0,
    exclusive: false,
    weight: 255,
};

/// RFC 7540 §3.5; generic/1/1: the server answers the client preface with its SETTINGS.
async fn sends_a_client_connection_preface(t: Target) -> Outcome {
    let mut conn = Conn::dial(&t).await?;
    conn.send(PREFACE).await;
    conn.write_settings(&[(SETTINGS_INITIAL_WINDOW_SIZE, 65_535)])
        .await;
    let ev = conn.wait_event().await;
    match &ev {
        super::conn::Event::Frame(f) if f.kind == SETTINGS && f.flags & ACK == 0 => {
            Ok(verify::Pass::by(&ev))
        }
        _ => Err(verify::Failure::new(
            vec!["SETTINGS Frame (flags:0x00)".into()],
            ev.describe(),
        )),
    }
}

/// RFC 7540 §5.1; generic/2/1: a PRIORITY frame on an idle stream is accepted.
async fn priority_on_idle_stream(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.write_priority(1, PRIORITY_255).await;
    conn.write_ping(false, [0; 8]).await;
    verify::ping_ack(&mut conn, [0; 8]).await
}

/// RFC 7540 §5.1; generic/2/2: a WINDOW_UPDATE on a half-closed (remote) stream is accepted
/// (with the initial window 0, it is what lets the response's DATA come).
async fn window_update_on_half_closed_remote_stream(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.write_settings(&[(SETTINGS_INITIAL_WINDOW_SIZE, 0)])
        .await;
    get(&mut conn, &t, 1).await;
    conn.write_window_update(1, 1).await;
    verify::frame_type(&mut conn, DATA).await
}

/// RFC 7540 §5.1; generic/2/3: a PRIORITY frame on a half-closed (remote) stream is accepted.
async fn priority_on_half_closed_remote_stream(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.write_settings(&[(SETTINGS_INITIAL_WINDOW_SIZE, 0)])
        .await;
    get(&mut conn, &t, 1).await;
    conn.write_priority(1, PRIORITY_255).await;
    conn.write_window_update(1, 1).await;
    verify::frame_type(&mut conn, DATA).await
}

/// RFC 7540 §5.1; generic/2/4: a RST_STREAM on a half-closed (remote) stream is accepted.
async fn rst_stream_on_half_closed_remote_stream(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    get(&mut conn, &t, 1).await;
    conn.write_rst_stream(1, CANCEL).await;
    conn.write_ping(false, [0; 8]).await;
    verify::ping_ack_or_close(&mut conn, [0; 8]).await
}

/// RFC 7540 §5.1; generic/2/5: a PRIORITY frame on a closed stream is accepted.
async fn priority_on_closed_stream(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    get(&mut conn, &t, 1).await;
    verify::stream_close(&mut conn).await?;
    conn.write_priority(1, PRIORITY_255).await;
    conn.write_ping(false, [0; 8]).await;
    verify::ping_ack(&mut conn, [0; 8]).await
}

/// RFC 7540 §6.1; generic/3.1/1.
async fn sends_a_data_frame(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    post(&mut conn, &t, &[]).await;
    conn.write_data(1, true, b"test").await;
    verify::headers_frame(&mut conn, 1).await
}

/// RFC 7540 §6.1; generic/3.1/2.
async fn sends_multiple_data_frames(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    post(&mut conn, &t, &[]).await;
    conn.write_data(1, false, b"test").await;
    conn.write_data(1, true, b"test").await;
    verify::headers_frame(&mut conn, 1).await
}

/// RFC 7540 §6.1; generic/3.1/3.
async fn sends_a_data_frame_with_padding(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    post(&mut conn, &t, &[]).await;
    conn.write_data_padded(1, true, b"test", &[0; 5]).await;
    verify::headers_frame(&mut conn, 1).await
}

/// RFC 7540 §6.2; generic/3.2/1.
async fn sends_a_headers_frame(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    get(&mut conn, &t, 1).await;
    verify::headers_frame(&mut conn, 1).await
}

/// RFC 7540 §6.2; generic/3.2/2.
async fn sends_a_headers_frame_with_padding(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    let block = conn.encode(&t.common_headers());
    conn.write_headers(Headers {
        pad_length: 8,
        ..Headers::new(1, block, true, true)
    })
    .await;
    verify::headers_frame(&mut conn, 1).await
}

/// RFC 7540 §6.2; generic/3.2/3.
async fn sends_a_headers_frame_with_priority(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    let block = conn.encode(&t.common_headers());
    conn.write_headers(Headers {
        priority: PRIORITY_255,
        ..Headers::new(1, block, true, true)
    })
    .await;
    verify::headers_frame(&mut conn, 1).await
}

/// A PRIORITY frame for `stream`, then `GET /` on stream 1, answered.
async fn priority_then_get(t: Target, stream: u32, p: Priority) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.write_priority(stream, p).await;
    get(&mut conn, &t, 1).await;
    verify::headers_frame(&mut conn, 1).await
}

/// RFC 7540 §6.3; generic/3.3/1: weight 1 (0 on the wire).
async fn priority_with_priority_1(t: Target) -> Outcome {
    priority_then_get(t, 1, Priority::default()).await
}

/// RFC 7540 §6.3; generic/3.3/2: weight 256 (255 on the wire).
async fn priority_with_priority_256(t: Target) -> Outcome {
    priority_then_get(t, 1, PRIORITY_255).await
}

/// RFC 7540 §6.3; generic/3.3/3: stream 3 depends on stream 1.
async fn priority_with_stream_dependency(t: Target) -> Outcome {
    let p = Priority {
        dep: 1,
        ..Priority::default()
    };
    priority_then_get(t, 3, p).await
}

/// RFC 7540 §6.3; generic/3.3/4.
async fn priority_with_exclusive(t: Target) -> Outcome {
    let p = Priority {
        exclusive: true,
        ..Priority::default()
    };
    priority_then_get(t, 1, p).await
}

/// RFC 7540 §6.3; generic/3.3/5: a PRIORITY frame on idle stream 3 does not close stream 1.
async fn priority_for_idle_stream_then_headers_on_lower_id(t: Target) -> Outcome {
    priority_then_get(t, 3, PRIORITY_255).await
}

/// RFC 7540 §6.4; generic/3.4/1.
async fn sends_a_rst_stream_frame(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    let block = conn.encode(&t.common_headers());
    conn.write_headers(Headers::new(1, block, false, true))
        .await;
    conn.write_rst_stream(1, CANCEL).await;
    conn.write_ping(false, [0; 8]).await;
    verify::ping_ack_or_close(&mut conn, [0; 8]).await
}

/// RFC 7540 §6.5; generic/3.5/1: every defined setting, acknowledged.
async fn sends_a_settings_frame(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.write_settings(&[
        (SETTINGS_HEADER_TABLE_SIZE, 4096),
        (SETTINGS_ENABLE_PUSH, 1),
        (SETTINGS_MAX_CONCURRENT_STREAMS, 100),
        (SETTINGS_INITIAL_WINDOW_SIZE, 65_535),
        (SETTINGS_MAX_FRAME_SIZE, 16_384),
        (SETTINGS_MAX_HEADER_LIST_SIZE, 100),
    ])
    .await;
    verify::settings_ack(&mut conn).await
}

/// `h2spec` as PING data.
pub const H2SPEC: [u8; 8] = *b"h2spec\0\0";

/// RFC 7540 §6.7; generic/3.7/1.
async fn sends_a_ping_frame(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.write_ping(false, H2SPEC).await;
    verify::ping_ack(&mut conn, H2SPEC).await
}

/// RFC 7540 §6.8; generic/3.8/1.
async fn sends_a_goaway_frame(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.write_goaway(0, NO_ERROR, b"h2spec").await;
    conn.write_ping(false, H2SPEC).await;
    verify::ping_ack_or_close(&mut conn, H2SPEC).await
}

/// RFC 7540 §6.9; generic/3.9/1.
async fn window_update_with_stream_id_0(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.write_window_update(0, 1).await;
    conn.write_ping(false, [0; 8]).await;
    verify::ping_ack(&mut conn, [0; 8]).await
}

/// RFC 7540 §6.9; generic/3.9/2.
async fn window_update_with_stream_id_1(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    get(&mut conn, &t, 1).await;
    conn.write_window_update(1, 1).await;
    verify::headers_frame(&mut conn, 1).await
}

/// RFC 7540 §6.10; generic/3.10/1: the header block split after 5 octets.
async fn sends_a_continuation_frame(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    let block = conn.encode(&t.common_headers());
    conn.write_headers(Headers::new(1, block[..5].to_vec(), true, false))
        .await;
    conn.write_continuation(1, true, &block[5..]).await;
    verify::headers_frame(&mut conn, 1).await
}

/// RFC 7540 §6.10; generic/3.10/2: split after 5 and 10 octets.
async fn sends_multiple_continuation_frames(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    let block = conn.encode(&t.common_headers());
    conn.write_headers(Headers::new(1, block[..5].to_vec(), true, false))
        .await;
    conn.write_continuation(1, false, &block[5..10]).await;
    conn.write_continuation(1, true, &block[10..]).await;
    verify::headers_frame(&mut conn, 1).await
}

/// RFC 7540 §8.1; generic/4/1.
async fn sends_a_get_request(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    get(&mut conn, &t, 1).await;
    verify::headers_frame(&mut conn, 1).await
}

/// RFC 7540 §8.1; generic/4/2.
async fn sends_a_head_request(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    let mut headers = t.common_headers();
    headers[0].1 = "HEAD".into();
    let block = conn.encode(&headers);
    conn.write_headers(Headers::new(1, block, true, true)).await;
    verify::headers_frame(&mut conn, 1).await
}

/// RFC 7540 §8.1; generic/4/3.
async fn sends_a_post_request(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    post(&mut conn, &t, &[]).await;
    conn.write_data(1, true, b"test").await;
    verify::headers_frame(&mut conn, 1).await
}

/// RFC 7540 §8.1; generic/4/4: a body, then trailers in a second HEADERS frame.
async fn sends_a_post_request_with_trailers(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    post(&mut conn, &t, &[h("trailer", "x-test")]).await;
    conn.write_data(1, false, b"test").await;
    let trailers = conn.encode(&[h("x-test", "ok")]);
    conn.write_headers(Headers::new(1, trailers, true, true))
        .await;
    verify::headers_frame(&mut conn, 1).await
}
