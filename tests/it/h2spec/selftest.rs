//! The port's own machinery, against a scripted peer (no gatehouse): the verifiers pass and
//! fail where h2spec's do, a pass that only h2spec's leniency allows is marked so, and DATA
//! is answered with h2spec's WINDOW_UPDATEs. Without this, a verifier that always passed
//! would make every case above pass.

use super::conn::Conn;
use super::verify;
use crate::support::h2raw::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// A connection whose peer has sent `frames`, then closed (`close`) or stays open.
async fn scripted(frames: &[Vec<u8>], close: bool) -> (Conn, Option<DuplexStream>) {
    let (client, mut server) = tokio::io::duplex(1 << 20);
    for f in frames {
        server.write_all(f).await.unwrap();
    }
    let conn = Conn::over(Box::new(client));
    if close {
        drop(server);
        return (conn, None);
    }
    (conn, Some(server))
}

fn goaway(code: u32) -> Vec<u8> {
    let mut payload = 0u32.to_be_bytes().to_vec();
    payload.extend_from_slice(&code.to_be_bytes());
    frame(GOAWAY, 0, 0, &payload)
}

/// The first 9 octets of a frame that never ends: a read that fails (h2spec's error event).
fn broken() -> Vec<u8> {
    frame(DATA, 0, 1, &[0; 16])[..12].to_vec()
}

#[tokio::test]
async fn a_connection_error_needs_the_code_or_a_close() {
    let (mut c, _open) = scripted(&[goaway(PROTOCOL_ERROR)], false).await;
    let pass = verify::connection_error(&mut c, &[PROTOCOL_ERROR])
        .await
        .unwrap();
    assert!(!pass.lenient, "{pass:?}");

    // h2spec's leniency: another code, then the close.
    let (mut c, _) = scripted(&[goaway(CANCEL)], true).await;
    let pass = verify::connection_error(&mut c, &[PROTOCOL_ERROR])
        .await
        .unwrap();
    assert!(pass.lenient, "{pass:?}");

    // Another code, then a broken read: a failure.
    let (mut c, _) = scripted(&[goaway(CANCEL), broken()], true).await;
    let failure = verify::connection_error(&mut c, &[PROTOCOL_ERROR])
        .await
        .unwrap_err();
    assert!(failure.actual.starts_with("Error"), "{failure}");
}

#[tokio::test]
async fn a_stream_error_takes_a_rst_stream_or_goaway_with_the_code() {
    let (mut c, _open) = scripted(&[rst(1, STREAM_CLOSED)], false).await;
    let pass = verify::stream_error(&mut c, &[STREAM_CLOSED])
        .await
        .unwrap();
    assert!(pass.by.starts_with("RST_STREAM"), "{pass:?}");

    let (mut c, _open) = scripted(&[goaway(STREAM_CLOSED)], false).await;
    assert!(verify::stream_error(&mut c, &[STREAM_CLOSED]).await.is_ok());

    let (mut c, _) = scripted(&[rst(1, CANCEL), broken()], true).await;
    assert!(verify::stream_error(&mut c, &[STREAM_CLOSED])
        .await
        .is_err());
}

#[tokio::test]
async fn headers_ping_and_settings_verifiers_check_what_they_name() {
    let headers = |stream| frame(HEADERS, END_HEADERS, stream, b"\x88");
    let (mut c, _open) = scripted(&[headers(1)], false).await;
    assert!(verify::headers_frame(&mut c, 1).await.is_ok());
    let (mut c, _open) = scripted(&[headers(3)], false).await;
    assert!(verify::headers_frame(&mut c, 1).await.is_err());

    let ping = |flags, data: &[u8; 8]| frame(PING, flags, 0, data);
    let (mut c, _open) = scripted(&[ping(ACK, b"h2spec\0\0")], false).await;
    assert!(verify::ping_ack(&mut c, *b"h2spec\0\0").await.is_ok());
    let (mut c, _open) = scripted(&[ping(ACK, b"other\0\0\0")], false).await;
    assert!(verify::ping_ack(&mut c, *b"h2spec\0\0").await.is_err());
    let (mut c, _open) = scripted(&[ping(0, b"h2spec\0\0")], false).await;
    assert!(verify::ping_ack(&mut c, *b"h2spec\0\0").await.is_err());

    let (mut c, _open) = scripted(&[settings(&[(SETTINGS_ENABLE_PUSH, 0)])], false).await;
    assert!(verify::settings_ack(&mut c).await.is_err());

    // A stream closes with END_STREAM or a RST_STREAM of NO_ERROR, not another code.
    let (mut c, _open) = scripted(&[frame(DATA, END_STREAM, 1, b"x")], false).await;
    assert!(verify::stream_close(&mut c).await.is_ok());
    let (mut c, _open) = scripted(&[rst(1, NO_ERROR)], false).await;
    assert!(verify::stream_close(&mut c).await.is_ok());
    let (mut c, _) = scripted(&[rst(1, CANCEL)], true).await;
    assert!(verify::stream_close(&mut c).await.is_err());
}

#[tokio::test]
async fn data_is_answered_with_h2specs_window_updates() {
    // 65,535 octets on stream 1 use up both windows: each is opened by 65,535 again.
    let data: Vec<Vec<u8>> = (0..4)
        .map(|i| frame(DATA, 0, 1, &vec![0; if i < 3 { 16_384 } else { 16_383 }]))
        .collect();
    let (mut c, server) = scripted(&data, false).await;
    for _ in 0..4 {
        assert!(matches!(
            c.wait_event().await,
            super::conn::Event::Frame(f) if f.kind == DATA
        ));
    }
    let mut server = server.unwrap();
    let mut sent = [0u8; 26];
    server.read_exact(&mut sent).await.unwrap();
    assert_eq!(
        sent.to_vec(),
        [
            frame(WINDOW_UPDATE, 0, 1, &65_535u32.to_be_bytes()),
            frame(WINDOW_UPDATE, 0, 0, &65_535u32.to_be_bytes()),
        ]
        .concat()
    );
}
