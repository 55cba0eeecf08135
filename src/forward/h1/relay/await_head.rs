//! Waiting for the response head: reading the backend while watching the client, whose
//! pipelined bytes are kept and whose disconnect ends the wait.

use super::{HeadEvent, CLIENT_READ_AHEAD, MAX_RESPONSE_HEAD, UPSTREAM_BUFFER};
use crate::forward::h1::exchange::Ctx;
use crate::forward::h1::{response, Conn};
use crate::forward::upstream::Upstream;
use bytes::Buf;
use bytes::BytesMut;
use pingora::ErrorType;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

/// Reads the response head, passing on interim responses (100 to a client that asked for it,
/// 103 to HTTP/1.1 clients) and watching the client: a client that goes away ends the wait,
/// and with `expect_body` one that starts sending its body does too.
pub(super) async fn await_head(
    ctx: &Ctx<'_>,
    conn: &mut Conn,
    up: &mut Upstream,
    buf: &mut BytesMut,
    read_timeout: Duration,
    expect_body: bool,
    sent_continue: &mut bool,
) -> HeadEvent {
    let mut deadline = Instant::now() + read_timeout;
    // Set after a read: the read timeout then counts again from the next read (computed only
    // when there is one; a response head nearly always arrives in one read).
    let mut restart = false;
    let mut any_byte = false;
    loop {
        if !buf.is_empty() {
            match response::parse(buf, ctx.req.is_head(), &mut conn.bufs.resp_fields) {
                Ok(Some(head)) if head.status >= 200 || head.status == 101 => {
                    return HeadEvent::Head(head)
                }
                Ok(Some(interim)) => {
                    let forward = match interim.status {
                        100 => ctx.req.head.expect_continue && !*sent_continue,
                        103 => !ctx.req.head.http10,
                        _ => false,
                    };
                    if forward {
                        let write = conn.client.write_all(&buf[..interim.len]);
                        if !matches!(tokio::time::timeout(read_timeout, write).await, Ok(Ok(()))) {
                            return HeadEvent::ClientGone;
                        }
                        let _ = conn.client.flush().await;
                        if interim.status == 100 {
                            *sent_continue = true;
                        }
                    }
                    buf.advance(interim.len);
                    if interim.status == 100 && expect_body && *sent_continue {
                        return HeadEvent::ClientData;
                    }
                    continue;
                }
                Ok(None) if buf.len() > MAX_RESPONSE_HEAD => {
                    return HeadEvent::Failed(ErrorType::InvalidHTTPHeader, true)
                }
                Ok(None) => {}
                Err(why) => {
                    tracing::debug!(why, "invalid response head");
                    return HeadEvent::Failed(ErrorType::InvalidHTTPHeader, true);
                }
            }
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(UPSTREAM_BUFFER);
        }
        if restart {
            restart = false;
            deadline = Instant::now() + read_timeout;
        }
        let watch_client = conn.client.prefix.len() < CLIENT_READ_AHEAD;
        let read = conn.watchdog.run(deadline, up.stream.read_buf(buf));
        tokio::select! {
            biased;
            r = read => match r {
                Err(_) => return HeadEvent::Failed(ErrorType::ReadTimedout, any_byte),
                Ok(Err(_)) => return HeadEvent::Failed(ErrorType::ReadError, any_byte),
                Ok(Ok(0)) => return HeadEvent::Failed(ErrorType::ConnectionClosed, any_byte),
                Ok(Ok(_)) => {
                    any_byte = true;
                    restart = true;
                }
            },
            r = conn.client.read_up_to(4096), if watch_client => match r {
                Ok(0) | Err(_) => return HeadEvent::ClientGone,
                Ok(_) if expect_body => return HeadEvent::ClientData,
                Ok(_) => {}
            },
        }
    }
}
