//! HTTP/2: up to `streams` requests in flight per connection, like h2load's `-m`.

use super::io::Target;
use crate::{Plan, Tally};
use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt as _};
use h2::client::{ResponseFuture, SendRequest};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Connection `k` (`conn`, opened before the run; opened again after a failure) sends requests
/// k, k + C, k + 2C, … each at its due time on a free stream.
/// When all its `streams` streams are still busy at a due time, the request waits for the
/// first to finish, and that wait counts in its latency (it is the server's slowness, and a
/// closed-loop tool would hide it by not scheduling the request at all).
pub(crate) async fn connection(
    target: Arc<Target>,
    plan: Plan,
    k: u64,
    streams: usize,
    mut conn: Option<SendRequest<Bytes>>,
) -> Tally {
    let mut tally = Tally::default();
    let mut inflight = FuturesUnordered::new();
    let mut i = k;
    while i < plan.total {
        let due = plan.due(i);
        let busy_past_due = Instant::now() > due;
        // Responses keep arriving while this connection waits for the next due time.
        let sleep = tokio::time::sleep_until(due.into());
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                biased;
                Some(outcome) = inflight.next(), if !inflight.is_empty() => tally.record(outcome),
                () = &mut sleep => break,
            }
        }
        let from = plan.origin(due, busy_past_due, &mut tally);
        while inflight.len() >= streams {
            if let Some(outcome) = inflight.next().await {
                tally.record(outcome);
            }
        }
        match send(&target, &mut conn).await {
            Some(response) => inflight.push(exchange(response, from)),
            None => tally.errors += 1,
        }
        i += plan.connections;
    }
    while let Some(outcome) = inflight.next().await {
        tally.record(outcome);
    }
    tally
}

/// Opens a stream for one GET, on the current connection or, when there is none or it has
/// failed, on a new one.
async fn send(target: &Target, conn: &mut Option<SendRequest<Bytes>>) -> Option<ResponseFuture> {
    for _ in 0..2 {
        if conn.is_none() {
            *conn = handshake(target).await;
        }
        let sender = conn.take()?;
        // `ready` waits only when the server's own stream limit is reached.
        let Ok(mut sender) = sender.ready().await else {
            continue;
        };
        let mut request = http::Request::new(());
        *request.uri_mut() = target.uri.clone();
        let sent = sender.send_request(request, true);
        *conn = Some(sender);
        match sent {
            Ok((response, _)) => return Some(response),
            Err(_) => *conn = None,
        }
    }
    None
}

/// A new HTTP/2 connection, driven by a task of its own.
pub(crate) async fn handshake(target: &Target) -> Option<SendRequest<Bytes>> {
    let io = target.connect().await?;
    let (sender, connection) = h2::client::handshake(io).await.ok()?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Some(sender)
}

/// Waits for the response and its whole body; its latency from `from` if it was a 2xx.
async fn exchange(response: ResponseFuture, from: Instant) -> Option<Duration> {
    let response = response.await.ok()?;
    let ok = response.status().is_success();
    let mut body = response.into_body();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.ok()?;
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    ok.then(|| from.elapsed())
}
