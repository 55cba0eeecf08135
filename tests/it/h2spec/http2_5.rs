//! h2spec's `http2/5.*`: stream states and identifiers, concurrency, dependencies, error
//! handling, extension frames.

use super::conn::{dummy_headers, Conn, Headers, Priority, Target};
use super::generic::get;
use super::http2_3_4::{open_header_block, UNKNOWN_FRAME};
use super::verify::{self, Failure, Outcome};
use super::{cases, Case};
use crate::support::h2raw::*;

pub const CASES: &[Case] = cases![
    "http2/5.1/1" => idle_sends_data,
    "http2/5.1/2" => idle_sends_rst_stream,
    "http2/5.1/3" => idle_sends_window_update,
    "http2/5.1/4" => idle_sends_continuation,
    "http2/5.1/5" => half_closed_remote_sends_data,
    "http2/5.1/6" => half_closed_remote_sends_headers,
    "http2/5.1/7" => half_closed_remote_sends_continuation,
    "http2/5.1/8" => closed_sends_data_after_rst_stream,
    "http2/5.1/9" => closed_sends_headers_after_rst_stream,
    "http2/5.1/10" => closed_sends_continuation_after_rst_stream,
    "http2/5.1/11" => closed_sends_data,
    "http2/5.1/12" => closed_sends_headers,
    "http2/5.1/13" => closed_sends_continuation,
    "http2/5.1.1/1" => even_numbered_stream_identifier,
    "http2/5.1.1/2" => stream_identifier_smaller_than_previous,
    "http2/5.1.2/1" => exceeds_concurrent_stream_limit,
    "http2/5.3.1/1" => headers_depending_on_itself,
    "http2/5.3.1/2" => priority_depending_on_itself,
    "http2/5.4.1/1" => invalid_ping_closes_the_connection,
    "http2/5.4.1/2" => invalid_ping_is_answered_with_goaway,
    "http2/5.5/1" => unknown_extension_frame,
    "http2/5.5/2" => unknown_extension_frame_inside_a_header_block,
];

#[tokio::test]
async fn http2_section_5() {
    super::run(CASES).await;
}

/// RFC 7540 §5.1; http2/5.1/1: DATA on an idle stream.
async fn idle_sends_data(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.write_data(1, true, b"test").await;
    verify::stream_error(&mut conn, &[PROTOCOL_ERROR, STREAM_CLOSED]).await
}

/// RFC 7540 §5.1; http2/5.1/2: RST_STREAM on an idle stream.
async fn idle_sends_rst_stream(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.write_rst_stream(1, CANCEL).await;
    verify::connection_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §5.1; http2/5.1/3: WINDOW_UPDATE on an idle stream.
async fn idle_sends_window_update(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.write_window_update(1, 100).await;
    verify::connection_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §5.1; http2/5.1/4: CONTINUATION on an idle stream.
async fn idle_sends_continuation(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    let block = conn.encode(&t.common_headers());
    conn.write_continuation(1, true, &block).await;
    verify::connection_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §5.1; http2/5.1/5: DATA on a half-closed (remote) stream.
async fn half_closed_remote_sends_data(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    get(&mut conn, &t, 1).await;
    conn.write_data(1, true, b"test").await;
    verify::stream_error(&mut conn, &[STREAM_CLOSED]).await
}

/// RFC 7540 §5.1; http2/5.1/6: HEADERS on a half-closed (remote) stream.
async fn half_closed_remote_sends_headers(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    get(&mut conn, &t, 1).await;
    get(&mut conn, &t, 1).await;
    verify::stream_error(&mut conn, &[STREAM_CLOSED]).await
}

/// RFC 7540 §5.1; http2/5.1/7: CONTINUATION on a half-closed (remote) stream.
async fn half_closed_remote_sends_continuation(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    let block = conn.encode(&t.common_headers());
    conn.write_headers(Headers::new(1, block.clone(), true, true))
        .await;
    conn.write_continuation(1, true, &block).await;
    verify::stream_error(&mut conn, &[STREAM_CLOSED, PROTOCOL_ERROR]).await
}

/// HEADERS on stream 1 without END_STREAM, then RST_STREAM (CANCEL): stream 1 is closed.
async fn open_then_reset(conn: &mut Conn, t: &Target) {
    let block = conn.encode(&t.common_headers());
    conn.write_headers(Headers::new(1, block, false, true))
        .await;
    conn.write_rst_stream(1, CANCEL).await;
}

/// RFC 7540 §5.1; http2/5.1/8.
async fn closed_sends_data_after_rst_stream(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    open_then_reset(&mut conn, &t).await;
    conn.write_data(1, true, b"test").await;
    verify::stream_error(&mut conn, &[STREAM_CLOSED]).await
}

/// RFC 7540 §5.1; http2/5.1/9.
async fn closed_sends_headers_after_rst_stream(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    open_then_reset(&mut conn, &t).await;
    get(&mut conn, &t, 1).await;
    verify::stream_error(&mut conn, &[STREAM_CLOSED]).await
}

/// RFC 7540 §5.1; http2/5.1/10.
async fn closed_sends_continuation_after_rst_stream(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    open_then_reset(&mut conn, &t).await;
    let block = conn.encode(&dummy_headers(1));
    conn.write_continuation(1, true, &block).await;
    verify::stream_error(&mut conn, &[STREAM_CLOSED, PROTOCOL_ERROR]).await
}

/// `GET /` on stream 1, answered to its end: stream 1 is closed. Returns the block sent.
async fn get_to_the_end(conn: &mut Conn, t: &Target) -> Result<Vec<u8>, Failure> {
    let block = conn.encode(&t.common_headers());
    conn.write_headers(Headers::new(1, block.clone(), true, true))
        .await;
    verify::stream_close(conn).await?;
    Ok(block)
}

/// RFC 7540 §5.1; http2/5.1/11.
async fn closed_sends_data(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    get_to_the_end(&mut conn, &t).await?;
    conn.write_data(1, true, b"test").await;
    verify::stream_error(&mut conn, &[STREAM_CLOSED]).await
}

/// RFC 7540 §5.1; http2/5.1/12: the same HEADERS frame again, on the closed stream.
async fn closed_sends_headers(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    let block = get_to_the_end(&mut conn, &t).await?;
    conn.write_headers(Headers::new(1, block, true, true)).await;
    verify::connection_error(&mut conn, &[STREAM_CLOSED]).await
}

/// RFC 7540 §5.1; http2/5.1/13.
async fn closed_sends_continuation(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    get_to_the_end(&mut conn, &t).await?;
    let block = conn.encode(&dummy_headers(1));
    conn.write_continuation(1, true, &block).await;
    verify::connection_error(&mut conn, &[STREAM_CLOSED, PROTOCOL_ERROR]).await
}

/// RFC 7540 §5.1.1; http2/5.1.1/1: a client-initiated stream must be odd-numbered.
async fn even_numbered_stream_identifier(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    get(&mut conn, &t, 2).await;
    verify::connection_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §5.1.1; http2/5.1.1/2: stream 5, then stream 3.
async fn stream_identifier_smaller_than_previous(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    get(&mut conn, &t, 5).await;
    get(&mut conn, &t, 3).await;
    verify::connection_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §5.1.2; http2/5.1.2/1: one stream more than SETTINGS_MAX_CONCURRENT_STREAMS
/// (the initial window 0 keeps every response open). h2spec skips the case when the server
/// announces no limit; gatehouse always announces one, so here that is a failure.
async fn exceeds_concurrent_stream_limit(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    let Some(max) = conn.settings.get(&SETTINGS_MAX_CONCURRENT_STREAMS).copied() else {
        return Err(Failure::new(
            vec!["SETTINGS_MAX_CONCURRENT_STREAMS announced".into()],
            "none (h2spec skips the case)".into(),
        ));
    };
    conn.write_settings(&[(SETTINGS_INITIAL_WINDOW_SIZE, 0)])
        .await;
    let block = conn.encode(&t.common_headers());
    for i in 0..=max {
        conn.write_headers(Headers::new(1 + 2 * i, block.clone(), true, true))
            .await;
    }
    verify::stream_error(&mut conn, &[PROTOCOL_ERROR, REFUSED_STREAM]).await
}

/// RFC 7540 §5.3.1; http2/5.3.1/1: a stream cannot depend on itself.
async fn headers_depending_on_itself(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    let block = conn.encode(&t.common_headers());
    conn.write_headers(Headers {
        priority: Priority {
            dep: 1,
            exclusive: false,
            weight: 255,
        },
        ..Headers::new(1, block, true, true)
    })
    .await;
    verify::stream_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §5.3.1; http2/5.3.1/2.
async fn priority_depending_on_itself(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    let p = Priority {
        dep: 1,
        exclusive: false,
        weight: 255,
    };
    conn.write_priority(1, p).await;
    verify::stream_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// A PING on stream 3: a connection error.
const PING_ON_STREAM_3: &[u8] =
    b"\x00\x00\x08\x06\x00\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x00";

/// RFC 7540 §5.4.1; http2/5.4.1/1: after a connection error the connection is closed.
async fn invalid_ping_closes_the_connection(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.send(PING_ON_STREAM_3).await;
    verify::connection_close(&mut conn).await
}

/// RFC 7540 §5.4.1; http2/5.4.1/2, h2spec's one `--strict` case: the close is preceded by a
/// GOAWAY (h2spec checks for a GOAWAY frame, whatever its code).
async fn invalid_ping_is_answered_with_goaway(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.send(PING_ON_STREAM_3).await;
    conn.wait_frame(GOAWAY)
        .await
        .map(|f| verify::Pass::frame(&f))
        .map_err(|ev| {
            Failure::new(
                vec![format!("GOAWAY Frame (Error Code: {PROTOCOL_ERROR:#x})")],
                ev.describe(),
            )
        })
}

/// RFC 7540 §5.5; http2/5.5/1: an unknown frame type is ignored.
async fn unknown_extension_frame(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.send(UNKNOWN_FRAME).await;
    conn.write_ping(false, [0; 8]).await;
    verify::ping_ack(&mut conn, [0; 8]).await
}

/// RFC 7540 §5.5; http2/5.5/2: ...except inside a header block: a PROTOCOL_ERROR.
async fn unknown_extension_frame_inside_a_header_block(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    open_header_block(&mut conn, &t, true).await;
    conn.send(UNKNOWN_FRAME).await;
    verify::connection_error(&mut conn, &[PROTOCOL_ERROR]).await
}
