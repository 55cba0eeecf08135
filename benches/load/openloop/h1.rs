//! HTTP/1.1: one request at a time per keep-alive connection.

use super::io::{Io, Target};
use crate::{Plan, Tally};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Connection `k` (`stream`, opened before the run; opened again after a failure) sends
/// requests k, k + C, k + 2C, … each at its due time, or as soon as its previous response is
/// complete if that is later (that wait counts in the latency).
pub(crate) async fn connection(
    target: Arc<Target>,
    plan: Plan,
    k: u64,
    mut stream: Option<Box<dyn Io>>,
) -> Tally {
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\n\r\n",
        target.path, target.authority
    )
    .into_bytes();
    let mut tally = Tally::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut i = k;
    while i < plan.total {
        let due = plan.due(i);
        let busy_past_due = std::time::Instant::now() > due;
        tokio::time::sleep_until(due.into()).await;
        let from = plan.origin(due, busy_past_due, &mut tally);
        if stream.is_none() {
            stream = target.connect().await;
        }
        let ok = match stream.as_mut() {
            Some(s) => exchange(s, &request, &mut buf).await,
            None => false,
        };
        tally.record(ok.then(|| from.elapsed()));
        if !ok {
            stream = None;
        }
        i += plan.connections;
    }
    tally
}

/// Sends one request and reads one response (Content-Length or chunked body).
async fn exchange(s: &mut Box<dyn Io>, request: &[u8], buf: &mut [u8]) -> bool {
    if s.write_all(request).await.is_err() || s.flush().await.is_err() {
        return false;
    }
    let mut have = 0;
    loop {
        let n = match s.read(&mut buf[have..]).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        have += n;
        let data = &buf[..have];
        let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
            if have == buf.len() {
                return false;
            }
            continue;
        };
        let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
        if let Some(len) = head.lines().find_map(|l| {
            l.strip_prefix("content-length:")
                .and_then(|v| v.trim().parse::<usize>().ok())
        }) {
            if have >= end + 4 + len {
                return head.starts_with("http/1.1 2");
            }
        } else if data.ends_with(b"0\r\n\r\n") {
            return head.starts_with("http/1.1 2");
        }
        if have == buf.len() {
            return false;
        }
    }
}
