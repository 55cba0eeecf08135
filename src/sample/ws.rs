//! `GET /ws`: a WebSocket echo server, for tests of proxies that must carry upgraded
//! connections both ways and keep idle ones open.

use super::routes::{full, Instance};
use super::{query_param, Body};
use futures_util::{SinkExt as _, StreamExt as _};
use http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Longest delay a `push:<ms>:` command may ask for.
const MAX_PUSH_DELAY: Duration = Duration::from_secs(600);

/// Whether the comma-separated header `name` lists `token` (case-insensitive).
pub(super) fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// A `Sec-WebSocket-Key` is the base64 of 16 bytes: 22 base64 characters and `==`.
fn valid_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

/// Checks the opening handshake (RFC 6455 §4.2.1), answers `101` and runs the echo on the
/// upgraded connection.
pub(super) fn handshake(inst: &Instance, mut req: Request<Incoming>) -> Response<Body> {
    let refuse = |status: StatusCode, why: &str| {
        let mut resp = inst.respond(status, "text/plain", full(format!("{why}\n")));
        if status == StatusCode::UPGRADE_REQUIRED {
            let h = resp.headers_mut();
            h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            h.insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
        }
        resp
    };
    if req.version() != Version::HTTP_11 {
        return refuse(
            StatusCode::BAD_REQUEST,
            "WebSocket needs an HTTP/1.1 Upgrade",
        );
    }
    if req.method() != http::Method::GET {
        return refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "WebSocket handshake is a GET",
        );
    }
    let headers = req.headers();
    if !has_token(headers, header::UPGRADE, "websocket")
        || !has_token(headers, header::CONNECTION, "upgrade")
    {
        return refuse(
            StatusCode::UPGRADE_REQUIRED,
            "send Upgrade: websocket and Connection: Upgrade",
        );
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return refuse(
            StatusCode::UPGRADE_REQUIRED,
            "Sec-WebSocket-Version must be 13",
        );
    }
    let Some(key) = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .map(HeaderValue::as_bytes)
        .filter(|k| valid_key(k))
    else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "missing or malformed Sec-WebSocket-Key",
        );
    };
    let accept = derive_accept_key(key);
    let Ok(accept) = HeaderValue::from_str(&accept) else {
        return refuse(StatusCode::INTERNAL_SERVER_ERROR, "bad accept key");
    };
    let hello = query_param(req.uri().query(), "hello");
    let on_upgrade = hyper::upgrade::on(&mut req);
    inst.spawn_upgraded(async move {
        if let Ok(upgraded) = on_upgrade.await {
            let ws =
                WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
            run(ws, hello).await;
        }
    });
    let mut resp = inst.bare(StatusCode::SWITCHING_PROTOCOLS);
    let h = resp.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    resp
}

/// `push:<ms>:<text>` → (delay, text).
fn parse_push(text: &str) -> Option<(Duration, String)> {
    let (ms, text) = text.strip_prefix("push:")?.split_once(':')?;
    let delay = Duration::from_millis(ms.parse().ok()?).min(MAX_PUSH_DELAY);
    Some((delay, text.to_string()))
}

/// The echo loop. Pings are answered by tungstenite (flushed on the next read), and so is a
/// close: after it the stream ends.
async fn run<S>(mut ws: WebSocketStream<S>, hello: Option<String>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if let Some(hello) = hello {
        if ws.send(Message::text(hello)).await.is_err() {
            return;
        }
    }
    // Pending pushes die with the connection (the set aborts them when dropped).
    let mut pushes = JoinSet::new();
    loop {
        let reply = tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => match parse_push(text.as_str()) {
                    Some((delay, text)) => {
                        pushes.spawn(async move {
                            tokio::time::sleep(delay).await;
                            text
                        });
                        continue;
                    }
                    None => Message::Text(text),
                },
                Some(Ok(Message::Binary(data))) => Message::Binary(data),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return,
            },
            Some(Ok(text)) = pushes.join_next() => Message::text(text),
        };
        if ws.send(reply).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_commands_parse() {
        assert_eq!(
            parse_push("push:250:hi:there"),
            Some((Duration::from_millis(250), "hi:there".to_string()))
        );
        assert_eq!(parse_push("push:x:hi"), None);
        assert_eq!(parse_push("hello"), None);
        assert_eq!(
            parse_push("push:99999999:late"),
            Some((MAX_PUSH_DELAY, "late".to_string()))
        );
    }

    #[test]
    fn keys_are_checked() {
        assert!(valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!valid_key(b"dGhlIHNhbXBsZSBub25jZQ="));
        assert!(!valid_key(b"dGhlIHNhbXBsZSBub25j!Q=="));
        assert_eq!(
            derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn tokens_are_found_in_lists() {
        let mut h = HeaderMap::new();
        h.append(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(has_token(&h, header::CONNECTION, "upgrade"));
        assert!(!has_token(&h, header::CONNECTION, "close"));
    }
}
