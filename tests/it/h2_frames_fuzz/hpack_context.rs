//! The bug the fuzzer found (seed `0x683266757b0e`, kept in [`super::REGRESSIONS`]): a HEADERS
//! frame whose priority names its own stream is a stream error (RFC 7540 §5.3.1), and the h2
//! crate answered it with RST_STREAM *without decoding its header block*. HPACK's dynamic table
//! is the connection's (RFC 7541 §2.2, RFC 7540 §4.3: every block must be decoded), so the
//! entries that block added were missing on the server: the client's next request that referred
//! to them failed with a COMPRESSION_ERROR that closed the connection, or — had the indices
//! still pointed at older entries — decoded into other fields than the client sent
//! (`vendor/h2/PATCHES.md`, section 4).

use super::setup;
use crate::h2spec::encoder::Encoder;
use crate::support::bounded;
use crate::support::h2raw::*;
use tokio::io::AsyncWriteExt;

/// Stream 1: a request whose HEADERS depends on itself, with fields the encoder indexes.
/// Stream 3: the same request, its fields now referred to by dynamic-table index. Stream 1 is
/// reset with PROTOCOL_ERROR; stream 3 is answered with the fields the client sent.
#[tokio::test]
async fn a_stream_error_on_headers_keeps_the_hpack_context() {
    let s = setup().await;
    let authority = format!("localhost:{}", s.target.addr.port());
    let fields: Vec<(String, String)> = [
        (":method", "GET"),
        (":scheme", "https"),
        (":path", "/echo"),
        (":authority", authority.as_str()),
        ("x-regression", "hpack-context-kept"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    let mut enc = Encoder::new();
    let first = enc.encode(&fields);
    let second = enc.encode(&fields);
    assert!(
        second.len() < 8,
        "the second block refers to the table: {second:?}"
    );
    let mut payload = 1u32.to_be_bytes().to_vec(); // depends on stream 1: itself
    payload.push(15);
    payload.extend_from_slice(&first);
    let mut out = PREFACE.to_vec();
    out.extend(settings(&[]));
    out.extend(frame(
        HEADERS,
        END_STREAM | END_HEADERS | PRIORITY_FLAG,
        1,
        &payload,
    ));
    out.extend(frame(HEADERS, END_STREAM | END_HEADERS, 3, &second));
    let mut tls = super::run::dial(&s.target).await.unwrap();
    tls.write_all(&out).await.unwrap();
    tls.flush().await.unwrap();

    let mut reset = None;
    let mut answered = false;
    let mut body = Vec::new();
    bounded("the answer to stream 3", async {
        loop {
            let f = match next_frame(&mut tls).await {
                Ok(Some(f)) => f,
                other => panic!("the connection ended ({other:?}) before stream 3's answer"),
            };
            match (f.kind, f.stream) {
                (GOAWAY, _) => panic!(
                    "GOAWAY with code {:?}: the server lost the HPACK context",
                    f.error_code()
                ),
                (RST_STREAM, 1) => reset = f.rst_code(),
                (RST_STREAM, 3) => panic!("stream 3 reset with {:?}", f.rst_code()),
                (HEADERS, 3) => answered = true,
                (DATA, 3) => {
                    body.extend_from_slice(&f.payload);
                    if f.flags & END_STREAM != 0 {
                        break;
                    }
                }
                _ => {}
            }
        }
    })
    .await;
    assert_eq!(reset, Some(PROTOCOL_ERROR), "stream 1: RST_STREAM");
    assert!(answered);
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.contains("hpack-context-kept") && body.contains("/echo"),
        "the backend did not get the fields the client sent: {body}"
    );
    assert!(!s.proxy.log_text().contains("panicked"));
}
