//! Deadlines on the HTTP/1 path that cost next to nothing while nothing times out.
//!
//! `tokio::time::timeout` builds a timer per call and, when the operation waits, inserts it in
//! the timer wheel and takes it out again: ~600 instructions and two clock reads a wait
//! (callgrind), and a keep-alive request waits twice (for the backend's response head, for the
//! client's next head) besides its writes. Two cheaper forms, with the same deadlines:
//!
//! - [`within`] tries the operation once before making a timer: a write that the socket takes
//!   at once (nearly every one) never gets one.
//! - [`Watchdog`] is one timer per connection, armed lazily (the way HAProxy and nginx keep
//!   their timers): a later deadline than the armed one costs nothing — when the timer fires
//!   early it is moved to the deadline then in force — and only an earlier one is a wheel
//!   operation. In a keep-alive connection's steady state the wheel is touched about once per
//!   timeout period instead of twice per request. The HTTP/1 engine keeps one per client
//!   connection; HTTP/2 streams use the one each backend connection carries through the idle
//!   pool (`forward::upstream::Upstream::watchdog`), since a stream is too short-lived to
//!   amortise a timer of its own.

use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use tokio::time::{error::Elapsed, Duration, Instant, Sleep};

/// `tokio::time::timeout(limit, fut)`, without a timer when `fut` is ready on its first poll.
///
/// # Errors
/// When `fut` is not done within `limit` of its first poll.
pub async fn within<F: Future>(limit: Duration, fut: F) -> Result<F::Output, Elapsed> {
    let mut fut = pin!(fut);
    if let Poll::Ready(v) = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await {
        return Ok(v);
    }
    tokio::time::timeout(limit, fut).await
}

/// The deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOut;

/// A connection's one timer, armed lazily (see the module documentation).
#[derive(Debug, Default)]
pub struct Watchdog {
    /// Made on the first wait (a connection that never waits needs none).
    sleep: Option<Pin<Box<Sleep>>>,
    /// When `sleep` fires: never later than the deadline of the wait in progress.
    armed: Option<Instant>,
}

impl Watchdog {
    /// Runs `fut` until it is done or `deadline` passes.
    ///
    /// # Errors
    /// [`TimedOut`] when `deadline` passes first.
    pub async fn run<F: Future>(
        &mut self,
        deadline: Instant,
        fut: F,
    ) -> Result<F::Output, TimedOut> {
        let mut fut = pin!(fut);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                return Poll::Ready(Ok(v));
            }
            self.poll_deadline(cx, deadline).map(|()| Err(TimedOut))
        })
        .await
    }

    /// Ready once `deadline` has passed; until then the task is woken by then at the latest.
    fn poll_deadline(&mut self, cx: &mut Context<'_>, deadline: Instant) -> Poll<()> {
        let sleep = match (&mut self.sleep, self.armed) {
            (Some(sleep), Some(armed)) => {
                if armed > deadline {
                    sleep.as_mut().reset(deadline);
                    self.armed = Some(deadline);
                }
                sleep
            }
            (slot, _) => {
                self.armed = Some(deadline);
                slot.insert(Box::pin(tokio::time::sleep_until(deadline)))
            }
        };
        loop {
            match sleep.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) if self.armed.is_some_and(|a| a >= deadline) => {
                    return Poll::Ready(())
                }
                // Fired for an earlier deadline: move it to this one (it may have passed
                // too; then the next poll says so).
                Poll::Ready(()) => {
                    sleep.as_mut().reset(deadline);
                    self.armed = Some(deadline);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_later_deadline_waits_for_itself_and_an_earlier_one_fires_on_time() {
        let mut w = Watchdog::default();
        let start = Instant::now();
        // Armed at +10 s; the next wait allows +30 s: the timer fires at +10 s, is moved, and
        // the wait ends at +30 s, not before.
        let never = std::future::pending::<()>;
        assert_eq!(
            w.run(start + Duration::from_secs(10), never()).await,
            Err(TimedOut)
        );
        assert_eq!(Instant::now() - start, Duration::from_secs(10));
        let from = Instant::now();
        assert_eq!(
            w.run(from + Duration::from_secs(30), never()).await,
            Err(TimedOut)
        );
        assert_eq!(Instant::now() - from, Duration::from_secs(30));
        // An earlier deadline than the armed one: armed at +60 s by a wait that ended after
        // 1 s, then a wait of 5 s fires at +6 s.
        let from = Instant::now();
        let short = tokio::time::sleep(Duration::from_secs(1));
        assert_eq!(w.run(from + Duration::from_secs(60), short).await, Ok(()));
        assert_eq!(w.armed, Some(from + Duration::from_secs(60)));
        let next = Instant::now();
        assert_eq!(
            w.run(next + Duration::from_secs(5), never()).await,
            Err(TimedOut)
        );
        assert_eq!(Instant::now() - from, Duration::from_secs(6));
        // A future that finishes first wins.
        let from = Instant::now();
        let quick = tokio::time::sleep(Duration::from_secs(1));
        assert_eq!(w.run(from + Duration::from_secs(2), quick).await, Ok(()));
        assert_eq!(Instant::now() - from, Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn within_times_out_only_what_waits() {
        assert_eq!(
            within(Duration::from_secs(1), async { 7 }).await.ok(),
            Some(7)
        );
        let from = Instant::now();
        let slow = tokio::time::sleep(Duration::from_secs(5));
        assert!(within(Duration::from_secs(1), slow).await.is_err());
        assert_eq!(Instant::now() - from, Duration::from_secs(1));
    }
}
