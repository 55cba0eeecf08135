//! HTTP/2 limits are announced in SETTINGS and enforced; rapid reset and CONTINUATION floods
//! are cut with GOAWAY while fresh clients are still served.

use super::{proxy_config, SECOND};
use crate::support::raw::{Behaviour, RawBackend};
use crate::support::{eventually, Client, TestProxy, WAIT};

fn h2c_proxy_config(backend: std::net::SocketAddr) -> String {
    proxy_config(
        &format!(
            "[routes.all]\npool = \"p\"\n[pools.p]\nbackends = [{{ address = \"{backend}\" }}]"
        ),
        "[limits.http2]\nmax_concurrent_streams = 7\nmax_header_list_size = 4096\nmax_pending_reset_streams = 5",
        "h2c = true",
    )
}

#[tokio::test]
async fn http2_limits_are_announced_and_floods_are_cut() {
    use crate::support::h2raw::*;
    use tokio::io::AsyncWriteExt;
    let backend = RawBackend::start(Behaviour::Ok).await;
    let proxy = TestProxy::start(&h2c_proxy_config(backend.addr)).await;

    // The SETTINGS the server sends carry the configured limits.
    let mut c = connect(proxy.http).await;
    let server_settings = loop {
        let f = read_frame(&mut c, 2 * SECOND)
            .await
            .expect("server SETTINGS");
        if f.kind == SETTINGS && f.flags & ACK == 0 {
            break f.settings();
        }
    };
    assert!(
        server_settings.contains(&(SETTINGS_MAX_CONCURRENT_STREAMS, 7))
            && server_settings.contains(&(SETTINGS_MAX_HEADER_LIST_SIZE, 4096)),
        "{server_settings:?}"
    );
    // ...and are enforced: an eighth open stream is refused.
    for i in 0..8u32 {
        let open = frame(HEADERS, END_HEADERS, 2 * i + 1, &get_block("a.test"));
        c.write_all(&open).await.unwrap();
    }
    let refused = loop {
        let f = read_frame(&mut c, 2 * SECOND).await.expect("a refusal");
        if f.kind == RST_STREAM {
            break (
                f.stream,
                u32::from_be_bytes(f.payload[..4].try_into().unwrap()),
            );
        }
    };
    assert_eq!(refused, (15, REFUSED_STREAM));

    eventually("the seven admitted streams forwarded", WAIT, || async {
        (backend.received().matches("GET / ").count() == 7).then_some(())
    })
    .await;
    drop(c);

    // Rapid reset (CVE-2023-44487): open and cancel streams as fast as the socket takes them.
    let forwarded_before = 7;
    let mut c = connect(proxy.http).await;
    let mut burst = Vec::new();
    for i in 0..5000u32 {
        let id = 2 * i + 1;
        burst.extend(frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            id,
            &get_block("a.test"),
        ));
        burst.extend(rst(id, CANCEL));
    }
    let _ = c.write_all(&burst).await; // the server may hang up before it is all written
    let goaway = goaway_code(&mut c).await;
    let forwarded = backend.received().matches("GET / ").count() - forwarded_before;
    assert_eq!(goaway, Some(ENHANCE_YOUR_CALM), "rapid reset");
    assert!(
        forwarded < 50,
        "{forwarded} of 5000 cancelled requests forwarded"
    );
    eprintln!(
        "MEASURE rapid reset: GOAWAY after 5000 reset streams written, {forwarded} forwarded"
    );

    // CONTINUATION flood: one header block that never ends.
    let mut c = connect(proxy.http).await;
    c.write_all(&frame(HEADERS, 0, 1, &get_block("a.test")))
        .await
        .unwrap();
    let mut sent = 0usize; // bytes of header block
    let mut chunk = Vec::new();
    for i in 0..100 {
        chunk.extend(field(&format!("x-flood-{i}"), "y"));
    }
    let cont = frame(CONTINUATION, 0, 1, &chunk);
    let cut = loop {
        match tokio::time::timeout(crate::support::patient(SECOND), c.write_all(&cont)).await {
            Ok(Ok(())) => sent += cont.len(),
            other => break format!("{other:?}"),
        }
        if sent > 16 << 20 {
            break "never cut".to_string();
        }
    };
    // `sent` includes what the kernel buffered on both sides of loopback after the cut.
    assert!(
        sent < 16 << 20,
        "{sent} bytes of one header block accepted ({cut})"
    );
    assert_eq!(
        goaway_code(&mut c).await,
        Some(ENHANCE_YOUR_CALM),
        "CONTINUATION flood"
    );
    eprintln!("MEASURE CONTINUATION flood: GOAWAY; {sent} bytes written before the write failed");

    // The server shrugged both off: fresh clients, h2 and HTTP/1, are served.
    let mut c = connect(proxy.http).await;
    let get = frame(HEADERS, END_HEADERS | END_STREAM, 1, &get_block("a.test"));
    c.write_all(&get).await.unwrap();
    let status = loop {
        let f = read_frame(&mut c, 2 * SECOND).await.expect("a response");
        if f.kind == HEADERS && f.stream == 1 {
            break f.payload[0];
        }
    };
    assert_eq!(status, 0x88, "HPACK static :status 200");
    let r = Client::new().get(proxy.http, "a.test", "/").await;
    assert_eq!(r.status, 200);
}

/// Reads until a GOAWAY (its error code) or the end of the connection (`None`).
async fn goaway_code(c: &mut tokio::net::TcpStream) -> Option<u32> {
    while let Some(f) = crate::support::h2raw::read_frame(c, 2 * SECOND).await {
        if f.kind == crate::support::h2raw::GOAWAY {
            return f.error_code();
        }
    }
    None
}
