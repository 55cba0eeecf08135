//! The second bug the fuzzer found (seeds `0x1551`, `0x1824`, `0x1459`, `0x1393` from
//! `GATEHOUSE_H2_FUZZ_SEED=0x1000`, 3,000 sequences; `0x1551` kept in [`super::REGRESSIONS`]):
//! a client that sets SETTINGS_INITIAL_WINDOW_SIZE to 0 and leaves its side of a stream open
//! gets the response head, but the body waits for a window. Once gatehouse has handed the
//! body over and dropped the stream, the h2 crate schedules a RST_STREAM(NO_ERROR) behind that
//! data and keeps counting the stream until the reset is sent. When the connection then ends,
//! the reset never is: the stream stayed counted, and the debug assertion that a finished
//! connection counts no stream panicked gatehouse's connection task (release builds merely
//! kept a wrong count in a connection being freed; `vendor/h2/PATCHES.md`, section 5).

use super::{all_closed, setup};
use crate::h2spec::encoder::Encoder;
use crate::support::h2raw::*;
use crate::support::{bounded, eventually, WAIT};
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn a_connection_closed_with_a_reset_still_scheduled_ends_cleanly() {
    let s = setup().await;
    let fields: Vec<(String, String)> = [
        (":method", "GET"),
        (":scheme", "https"),
        // Answered by gatehouse itself (400): the body is handed to h2 at once, where a
        // proxied body would wait for the window with the stream.
        (":path", "/../escape"),
        (":authority", "localhost"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    let block = Encoder::new().encode(&fields);
    let mut out = PREFACE.to_vec();
    out.extend(settings(&[(SETTINGS_INITIAL_WINDOW_SIZE, 0)]));
    // END_HEADERS without END_STREAM: the client's side stays open.
    out.extend(frame(HEADERS, END_HEADERS, 1, &block));
    let mut tls = super::run::dial(&s.target).await.unwrap();
    tls.write_all(&out).await.unwrap();
    tls.flush().await.unwrap();
    bounded("the response head", async {
        loop {
            let f = next_frame(&mut tls)
                .await
                .unwrap()
                .expect("connection closed");
            assert_ne!(f.kind, DATA, "DATA with a window of 0");
            if f.kind == HEADERS && f.stream == 1 {
                break;
            }
        }
    })
    .await;
    // gatehouse is done with the stream (its body waits in h2 for a window, a reset scheduled
    // behind it); the connection is still open.
    eventually(
        "the stream handed over, the connection open",
        WAIT,
        || async {
            let m = s.proxy.metrics().await;
            (super::value(&m, "gatehouse_http2_streams_open") == Some(0.0)
                && super::value(&m, "gatehouse_http2_connections_open") == Some(1.0))
            .then_some(())
        },
    )
    .await;
    drop(tls);
    all_closed(&s.proxy).await;
    let log = s.proxy.log_text();
    assert!(!log.contains("panicked"), "gatehouse panicked:\n{log}");
}
