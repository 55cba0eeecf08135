//! h2spec's `http2/7` (unknown error codes) and `http2/8.*` (HTTP message exchanges:
//! malformed requests are stream errors of type PROTOCOL_ERROR; a client cannot push).

use super::conn::{h, Conn, Headers, Target};
use super::generic::{post, H2SPEC};
use super::verify::{self, Outcome};
use super::{cases, Case};
use crate::support::h2raw::*;

pub const CASES: &[Case] = cases![
    "http2/7/1" => goaway_with_unknown_error_code,
    "http2/7/2" => rst_stream_with_unknown_error_code,
    "http2/8.1/1" => second_headers_without_end_stream,
    "http2/8.1.2/1" => uppercase_header_field_name,
    "http2/8.1.2.1/1" => unknown_pseudo_header,
    "http2/8.1.2.1/2" => response_pseudo_header_in_request,
    "http2/8.1.2.1/3" => pseudo_header_in_trailers,
    "http2/8.1.2.1/4" => pseudo_header_after_regular_header,
    "http2/8.1.2.2/1" => connection_specific_header,
    "http2/8.1.2.2/2" => te_other_than_trailers,
    "http2/8.1.2.3/1" => empty_path,
    "http2/8.1.2.3/2" => omits_method,
    "http2/8.1.2.3/3" => omits_scheme,
    "http2/8.1.2.3/4" => omits_path,
    "http2/8.1.2.3/5" => duplicated_method,
    "http2/8.1.2.3/6" => duplicated_scheme,
    "http2/8.1.2.3/7" => duplicated_path,
    "http2/8.1.2.6/1" => content_length_other_than_the_data,
    "http2/8.1.2.6/2" => content_length_other_than_the_sum_of_the_data,
    "http2/8.2/1" => sends_a_push_promise,
];

#[tokio::test]
async fn http2_sections_7_and_8() {
    super::run(CASES).await;
}

/// RFC 7540 §7; http2/7/1: an unknown error code has no special meaning.
async fn goaway_with_unknown_error_code(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    conn.write_goaway(0, 0xff, b"").await;
    conn.write_ping(false, H2SPEC).await;
    verify::ping_ack_or_close(&mut conn, H2SPEC).await
}

/// RFC 7540 §7; http2/7/2.
async fn rst_stream_with_unknown_error_code(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    post(&mut conn, &t, &[]).await;
    conn.write_rst_stream(1, 0xff).await;
    conn.write_ping(false, [0; 8]).await;
    verify::ping_ack_or_close(&mut conn, [0; 8]).await
}

/// `POST /` with a body, then a second header block (`fields`) without END_STREAM.
async fn post_then_headers(t: Target, fields: &[(String, String)]) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    post(&mut conn, &t, &[]).await;
    conn.write_data(1, false, b"test").await;
    let block = conn.encode(fields);
    conn.write_headers(Headers::new(1, block, false, true))
        .await;
    verify::stream_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §8.1; http2/8.1/1: trailers must end the stream.
async fn second_headers_without_end_stream(t: Target) -> Outcome {
    post_then_headers(t, &[h("x-test", "ok")]).await
}

/// A request with exactly `fields`, ending the stream: a stream error (PROTOCOL_ERROR).
async fn malformed(t: Target, fields: Vec<(String, String)>) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    let block = conn.encode(&fields);
    conn.write_headers(Headers::new(1, block, true, true)).await;
    verify::stream_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// `GET /` and then `extra`.
fn with(t: &Target, extra: &[(String, String)]) -> Vec<(String, String)> {
    let mut fields = t.common_headers();
    fields.extend_from_slice(extra);
    fields
}

/// RFC 7540 §8.1.2; http2/8.1.2/1.
async fn uppercase_header_field_name(t: Target) -> Outcome {
    let fields = with(&t, &[h("X-TEST", "ok")]);
    malformed(t, fields).await
}

/// RFC 7540 §8.1.2.1; http2/8.1.2.1/1.
async fn unknown_pseudo_header(t: Target) -> Outcome {
    let fields = with(&t, &[h(":test", "ok")]);
    malformed(t, fields).await
}

/// RFC 7540 §8.1.2.1; http2/8.1.2.1/2.
async fn response_pseudo_header_in_request(t: Target) -> Outcome {
    let fields = with(&t, &[h(":status", "200")]);
    malformed(t, fields).await
}

/// RFC 7540 §8.1.2.1; http2/8.1.2.1/3 (the trailers also lack END_STREAM, as in h2spec).
async fn pseudo_header_in_trailers(t: Target) -> Outcome {
    post_then_headers(t, &[h(":method", "POST")]).await
}

/// RFC 7540 §8.1.2.1; http2/8.1.2.1/4.
async fn pseudo_header_after_regular_header(t: Target) -> Outcome {
    let mut fields = vec![h("x-test", "ok")];
    fields.extend(t.common_headers());
    malformed(t, fields).await
}

/// RFC 7540 §8.1.2.2; http2/8.1.2.2/1.
async fn connection_specific_header(t: Target) -> Outcome {
    let fields = with(&t, &[h("connection", "keep-alive")]);
    malformed(t, fields).await
}

/// RFC 7540 §8.1.2.2; http2/8.1.2.2/2.
async fn te_other_than_trailers(t: Target) -> Outcome {
    let fields = with(&t, &[h("trailers", "test"), h("te", "trailers, deflate")]);
    malformed(t, fields).await
}

/// RFC 7540 §8.1.2.3; http2/8.1.2.3/1.
async fn empty_path(t: Target) -> Outcome {
    let mut fields = t.common_headers();
    fields[2].1 = String::new();
    malformed(t, fields).await
}

/// RFC 7540 §8.1.2.3; http2/8.1.2.3/2. h2spec drops `:scheme` here too (it sends
/// `[:scheme, :path, :authority][1:]`): the request has `:path` and `:authority` only.
async fn omits_method(t: Target) -> Outcome {
    let fields = t.common_headers()[2..].to_vec();
    malformed(t, fields).await
}

/// The common headers but the one at `index`.
fn without(t: &Target, index: usize) -> Vec<(String, String)> {
    let mut fields = t.common_headers();
    fields.remove(index);
    fields
}

/// RFC 7540 §8.1.2.3; http2/8.1.2.3/3.
async fn omits_scheme(t: Target) -> Outcome {
    let fields = without(&t, 1);
    malformed(t, fields).await
}

/// RFC 7540 §8.1.2.3; http2/8.1.2.3/4.
async fn omits_path(t: Target) -> Outcome {
    let fields = without(&t, 2);
    malformed(t, fields).await
}

/// The common headers with the one at `index` once more at the end.
fn duplicated(t: &Target, index: usize) -> Vec<(String, String)> {
    let mut fields = t.common_headers();
    fields.push(fields[index].clone());
    fields
}

/// RFC 7540 §8.1.2.3; http2/8.1.2.3/5.
async fn duplicated_method(t: Target) -> Outcome {
    let fields = duplicated(&t, 0);
    malformed(t, fields).await
}

/// RFC 7540 §8.1.2.3; http2/8.1.2.3/6.
async fn duplicated_scheme(t: Target) -> Outcome {
    let fields = duplicated(&t, 1);
    malformed(t, fields).await
}

/// RFC 7540 §8.1.2.3; http2/8.1.2.3/7.
async fn duplicated_path(t: Target) -> Outcome {
    let fields = duplicated(&t, 2);
    malformed(t, fields).await
}

/// RFC 7540 §8.1.2.6; http2/8.1.2.6/1: `content-length: 1` and 4 octets of DATA.
async fn content_length_other_than_the_data(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    post(&mut conn, &t, &[h("content-length", "1")]).await;
    conn.write_data(1, true, b"test").await;
    verify::stream_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §8.1.2.6; http2/8.1.2.6/2: `content-length: 1` and 2 × 4 octets of DATA.
async fn content_length_other_than_the_sum_of_the_data(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    post(&mut conn, &t, &[h("content-length", "1")]).await;
    conn.write_data(1, false, b"test").await;
    conn.write_data(1, true, b"test").await;
    verify::stream_error(&mut conn, &[PROTOCOL_ERROR]).await
}

/// RFC 7540 §8.2; http2/8.2/1: a client cannot send PUSH_PROMISE.
async fn sends_a_push_promise(t: Target) -> Outcome {
    let mut conn = Conn::open(&t).await?;
    let block = conn.encode(&t.common_headers());
    conn.write_push_promise(1, 3, &block).await;
    verify::connection_error(&mut conn, &[PROTOCOL_ERROR]).await
}
