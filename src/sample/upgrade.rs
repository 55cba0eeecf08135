//! `GET /upgrade/echo` (any protocol upgrade, then a raw byte echo) and `GET /upgrade/bad`
//! (upgrade answers a proxy must not trust), for tests of generic `Upgrade` tunnelling.

use super::routes::{full, Instance};
use super::ws::has_token;
use super::{query_param, Body};
use http::{header, HeaderValue, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};

/// The first token of the request's `Upgrade` header.
fn first_upgrade_token(req: &Request<Incoming>) -> Option<String> {
    req.headers()
        .get(header::UPGRADE)?
        .to_str()
        .ok()?
        .split(',')
        .map(str::trim)
        .find(|t| !t.is_empty())
        .map(str::to_string)
}

/// Answers `101` with the client's first `Upgrade` token (anything but `h2c`) and echoes the
/// upgraded connection's bytes.
pub(super) fn echo(inst: &Instance, mut req: Request<Incoming>) -> Response<Body> {
    let refuse = |status: StatusCode, why: &str| {
        inst.respond(status, "text/plain", full(format!("{why}\n")))
    };
    if req.version() != Version::HTTP_11 {
        return refuse(StatusCode::BAD_REQUEST, "upgrades need HTTP/1.1");
    }
    let Some(token) = first_upgrade_token(&req) else {
        return refuse(StatusCode::UPGRADE_REQUIRED, "send an Upgrade header");
    };
    if token.eq_ignore_ascii_case("h2c") {
        return refuse(StatusCode::BAD_REQUEST, "h2c is not offered here");
    }
    if !has_token(req.headers(), header::CONNECTION, "upgrade") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Upgrade without Connection: upgrade",
        );
    }
    let Ok(token) = HeaderValue::from_str(&token) else {
        return refuse(StatusCode::BAD_REQUEST, "bad Upgrade token");
    };
    upgrade_then_echo(inst, &mut req);
    let mut resp = inst.bare(StatusCode::SWITCHING_PROTOCOLS);
    let h = resp.headers_mut();
    h.insert(header::UPGRADE, token);
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    resp
}

/// A broken upgrade server. `mode=no-upgrade-header`: `101` without `Upgrade` (then the same
/// raw echo, so a proxy that tunnels anyway is visible); `mode=ignore`: a plain `200` with a
/// small body, the connection staying HTTP.
pub(super) fn bad(inst: &Instance, mut req: Request<Incoming>) -> Response<Body> {
    match query_param(req.uri().query(), "mode").as_deref() {
        Some("no-upgrade-header") => {
            upgrade_then_echo(inst, &mut req);
            let mut resp = inst.bare(StatusCode::SWITCHING_PROTOCOLS);
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            resp
        }
        Some("ignore") => inst.respond(StatusCode::OK, "text/plain", full("upgrade ignored\n")),
        _ => inst.respond(
            StatusCode::BAD_REQUEST,
            "text/plain",
            full("mode must be no-upgrade-header or ignore\n"),
        ),
    }
}

fn upgrade_then_echo(inst: &Instance, req: &mut Request<Incoming>) {
    let on_upgrade = hyper::upgrade::on(req);
    inst.spawn_upgraded(async move {
        if let Ok(upgraded) = on_upgrade.await {
            echo_bytes(TokioIo::new(upgraded)).await;
        }
    });
}

/// Copies everything back until the client's EOF, then shuts down the write side (half-close
/// passes through: the client still gets the tail of the echo, then EOF).
async fn echo_bytes<S: AsyncRead + AsyncWrite>(io: S) {
    let (mut rd, mut wr) = tokio::io::split(io);
    if tokio::io::copy(&mut rd, &mut wr).await.is_ok() {
        let _ = wr.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn echo_half_closes() {
        let (mut client, server) = tokio::io::duplex(64);
        let task = tokio::spawn(echo_bytes(server));
        client.write_all(b"hello").await.unwrap();
        client.shutdown().await.unwrap();
        let mut back = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut client, &mut back)
            .await
            .unwrap();
        assert_eq!(back, b"hello");
        assert!(task.await.is_ok());
    }
}
