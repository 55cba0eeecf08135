//! The HTTP/1 side of a client connection, request by request: the gate reads each request head
//! (and a bounded chunked body) under deadlines and size limits, checks it strictly, and answers
//! violations itself; valid requests go to the HTTP/1 engine ([`crate::forward::h1`]), which
//! forwards the head from the same read-ahead buffer.
//!
//! Deadlines (HAProxy's model): a new connection has `header_timeout` for its first request
//! head, counted from accept (so a silent or trickling client is cut); later requests may idle
//! for `keepalive_timeout`, then have `header_timeout` from their first byte.

use super::chunked::{self, Chunks};
use super::deadline::Watchdog;
use super::gated::Gated;
use super::head::{self, Check, Refusal};
use crate::config::model::LimitsSettings;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

/// The HTTP/2 connection preface.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What the gate made of the next bytes on a connection.
pub(crate) enum Gate {
    /// A complete, valid request head is at the start of the read-ahead buffer.
    Ready(head::Head),
    /// The HTTP/2 connection preface (h2c with prior knowledge).
    H2Preface,
    /// The client closed (or shutdown began while the connection was idle).
    Closed,
    /// No complete head in time; `partial` when some bytes had arrived.
    TimedOut {
        /// Some bytes of a head had arrived.
        partial: bool,
    },
    /// The head is refused.
    Refused(Refusal),
}

/// Where the connection came in, for metrics and the access log.
pub struct Origin<'a> {
    /// Listener name.
    pub listener: &'a str,
    /// Client address as known (after PROXY protocol).
    pub client: Option<std::net::SocketAddr>,
    /// The listener's `Strict-Transport-Security` value, on a TLS connection.
    pub hsts: Option<http::HeaderValue>,
    /// The listener's series for requests refused before routing.
    pub metrics: Option<std::sync::Arc<crate::metrics::ListenerMetrics>>,
}

/// The limits in force, read where they are applied (the current snapshot's, implemented by the
/// engine): the gate keeps no copy in its future, which every idle keep-alive connection holds.
pub(crate) trait CurrentLimits {
    /// Calls `read` with the limits in force now.
    fn read<R>(&self, read: impl FnOnce(&LimitsSettings) -> R) -> R;
}

/// Reads until a complete, valid head (or a reason to stop) is in the read-ahead buffer, its
/// fields indexed in `bufs.fields` (the request's buffers are taken from the stash once bytes
/// arrive).
///
/// The limits are read once, when it starts, rather than held by the caller (see
/// [`CurrentLimits`]).
pub(crate) async fn read_head(
    g: &mut Gated,
    limits: &impl CurrentLimits,
    accepted_at: Option<Instant>,
    bufs: &mut super::stash::Set,
    watchdog: &mut Watchdog,
) -> Gate {
    // First request: the whole head within header_timeout of the accept. Later ones: up to
    // keepalive_timeout of idleness, then header_timeout from the first byte.
    // One read of the limits per head: what the later steps need is copied out (40 bytes).
    let (mut deadline, header_timeout, head_limits) = limits.read(|l| {
        let deadline = match accepted_at {
            Some(at) => at + l.header_timeout,
            None if g.prefix.is_empty() => Instant::now() + l.keepalive_timeout,
            None => Instant::now() + l.header_timeout,
        };
        (deadline, l.header_timeout, l.head)
    });
    let mut waiting_for_first_byte = accepted_at.is_none() && g.prefix.is_empty();
    // Set when the first byte came: the header timeout then counts from the next read (not
    // computed before it is needed: most heads arrive whole in that first read).
    let mut restart = false;
    loop {
        if !g.prefix.is_empty() {
            if g.prefix.len() >= H2_PREFACE.len() && g.prefix.starts_with(H2_PREFACE) {
                return Gate::H2Preface;
            }
            if bufs.is_released() {
                *bufs = super::stash::set();
            }
            match head::check_indexed(&g.prefix, &head_limits, &mut bufs.fields) {
                Check::Complete(h) => return Gate::Ready(h),
                Check::Refuse(r) => return Gate::Refused(r),
                Check::Incomplete => {}
            }
        }
        if restart {
            restart = false;
            deadline = Instant::now() + header_timeout;
        }
        let result = watchdog.run(deadline, g.read_more()).await;
        match result {
            Err(_) => {
                return Gate::TimedOut {
                    partial: !g.prefix.is_empty(),
                }
            }
            Ok(Err(_)) => return Gate::Closed,
            Ok(Ok(0)) => {
                return if g.prefix.is_empty() {
                    Gate::Closed
                } else {
                    Gate::Refused(Refusal {
                        status: 400,
                        reason: "connection closed mid-request",
                    })
                };
            }
            Ok(Ok(_)) => {
                if waiting_for_first_byte {
                    waiting_for_first_byte = false;
                    restart = true;
                }
            }
        }
    }
}

/// Validates a chunked body's framing up to `max_buffered_body` before anything is forwarded.
pub(crate) async fn check_chunked_body(
    g: &mut Gated,
    head_len: usize,
    limits: &impl CurrentLimits,
) -> Result<Option<u64>, Refusal> {
    let (max_buffered_body, body_timeout) = limits.read(|l| (l.max_buffered_body, l.body_timeout));
    loop {
        let body = &g.prefix[head_len..];
        match chunked::check_sized(body) {
            (Chunks::Complete(_), payload) => return Ok(Some(payload)),
            (Chunks::Invalid(reason), _) => {
                return Err(Refusal {
                    status: 400,
                    reason,
                })
            }
            // Too big to hold: the rest streams and the size is checked by the proxy as it flows.
            (Chunks::Incomplete, _) if body.len() >= max_buffered_body => return Ok(None),
            (Chunks::Incomplete, _) => {}
        }
        match tokio::time::timeout(body_timeout, g.read_more()).await {
            Err(_) => {
                return Err(Refusal {
                    status: 408,
                    reason: "request body not received in time",
                })
            }
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Err(Refusal {
                    status: 400,
                    reason: "connection closed mid-body",
                })
            }
            Ok(Ok(_)) => {}
        }
    }
}

/// Answers a refused request and closes: a small body, `Connection: close`, no banner.
pub(crate) async fn refuse(g: &mut Gated, r: Refusal, origin: &Origin<'_>) {
    if let Some(m) = &origin.metrics {
        m.bad_request(status_label(r.status));
    }
    tracing::debug!(listener = origin.listener, client = ?origin.client, status = r.status, reason = r.reason, "request refused");
    let phrase = http::StatusCode::from_u16(r.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let body = format!("{} {phrase}\n", r.status);
    let hsts = origin
        .hsts
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .map(|v| format!("Strict-Transport-Security: {v}\r\n"))
        .unwrap_or_default();
    let response = format!(
        "HTTP/1.1 {} {phrase}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\n{hsts}Connection: close\r\n\r\n{body}",
        r.status,
        body.len()
    );
    let write = async {
        g.write_all(response.as_bytes()).await?;
        g.flush().await?;
        g.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), write).await;
    if let Some(log) = crate::access_log::AccessLog::global() {
        let record = crate::access_log::Record {
            at: Some(std::time::SystemTime::now()),
            client_ip: origin.client.map(|c| c.ip()),
            client_port: origin.client.map(|c| c.port()),
            http_version: "1.1",
            status: r.status,
            listener: Some(origin.listener),
            error: Some(r.reason),
            ..Default::default()
        };
        log.log(&record);
    }
}

fn status_label(status: u16) -> &'static str {
    match status {
        400 => "400",
        405 => "405",
        408 => "408",
        413 => "413",
        414 => "414",
        431 => "431",
        505 => "505",
        _ => "other",
    }
}
