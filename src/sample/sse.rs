//! `GET /sse`: server-sent events, a long-lived response whose parts a proxy must pass on as
//! they come (no buffering), and the [`Ticker`] the gRPC `Count` stream shares.

use super::routes::Instance;
use super::{query_param, Body};
use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::{Body as HttpBody, Frame};
use std::convert::Infallible;
use std::future::Future as _;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// Most events one request may ask for (`n=0` means no limit at all).
const MAX_EVENTS: u64 = 1_000_000;
/// Longest interval between events.
const MAX_INTERVAL: Duration = Duration::from_secs(3600);

/// Yields 0, 1, 2, … — the first at once, the next ones `interval` apart — up to `limit`
/// (none: forever). Polled lazily, so a consumer that stops reading stops it.
#[derive(Debug)]
pub(super) struct Ticker {
    next: u64,
    limit: Option<u64>,
    interval: Duration,
    sleep: Pin<Box<Sleep>>,
    armed: bool,
}

impl Ticker {
    pub(super) fn new(limit: Option<u64>, interval: Duration) -> Self {
        Ticker {
            next: 0,
            limit,
            interval,
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            armed: false,
        }
    }

    pub(super) fn done(&self) -> bool {
        self.limit.is_some_and(|l| self.next >= l)
    }

    pub(super) fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Option<u64>> {
        if self.done() {
            return Poll::Ready(None);
        }
        if self.next > 0 {
            if !self.armed {
                self.sleep.as_mut().reset(Instant::now() + self.interval);
                self.armed = true;
            }
            ready!(self.sleep.as_mut().poll(cx));
            self.armed = false;
        }
        let i = self.next;
        self.next += 1;
        Poll::Ready(Some(i))
    }
}

/// `n` (0: unlimited, capped otherwise) and the interval from a query, with defaults.
pub(super) fn count_and_interval(
    n: Option<u64>,
    interval_ms: Option<u64>,
    default_n: u64,
    default_interval_ms: u64,
) -> (Option<u64>, Duration) {
    let limit = match n.unwrap_or(default_n) {
        0 => None,
        n => Some(n.min(MAX_EVENTS)),
    };
    let interval =
        Duration::from_millis(interval_ms.unwrap_or(default_interval_ms)).min(MAX_INTERVAL);
    (limit, interval)
}

struct Events {
    ticker: Ticker,
    name: String,
}

impl HttpBody for Events {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let event = ready!(this.ticker.poll_tick(cx)).map(|i| {
            Ok(Frame::data(Bytes::from(format!(
                "id: {i}\ndata: {} event {i}\n\n",
                this.name
            ))))
        });
        Poll::Ready(event)
    }
}

/// `GET /sse?n=<count>&interval=<ms>` (defaults 10 and 1000 ms).
pub(super) fn events(inst: &Instance, query: Option<&str>) -> Response<Body> {
    let number = |key| query_param(query, key).and_then(|v| v.parse::<u64>().ok());
    let (limit, interval) = count_and_interval(number("n"), number("interval"), 10, 1000);
    let body = Events {
        ticker: Ticker::new(limit, interval),
        name: inst.name.clone(),
    };
    let mut resp = inst.respond(StatusCode::OK, "text/event-stream", body.boxed());
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ticks_first_at_once_then_apart() {
        let mut t = Ticker::new(Some(3), Duration::from_millis(20));
        let start = Instant::now();
        let mut seen = Vec::new();
        while let Some(i) = std::future::poll_fn(|cx| t.poll_tick(cx)).await {
            seen.push((i, start.elapsed()));
        }
        assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(seen[0].1 < Duration::from_millis(20));
        assert!(seen[2].1 >= Duration::from_millis(40));
        assert!(t.done());
    }

    #[test]
    fn zero_means_unlimited() {
        assert_eq!(
            count_and_interval(Some(0), None, 10, 1000),
            (None, Duration::from_secs(1))
        );
        assert_eq!(
            count_and_interval(Some(u64::MAX), Some(5), 10, 1000),
            (Some(MAX_EVENTS), Duration::from_millis(5))
        );
        assert_eq!(
            count_and_interval(None, None, 10, 1000),
            (Some(10), Duration::from_secs(1))
        );
    }
}
