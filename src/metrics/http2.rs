//! Open HTTP/2 connections and streams, each counted by a guard that lives exactly as long as
//! what it counts: the gauge goes up when the guard is made and down when it is dropped, on
//! every path out (completion, an error, the future dropped when its connection ends), so it
//! cannot drift. A gauge that stays above zero once every client is gone is a leaked stream or
//! connection: the HTTP/2 frame fuzzer (`tests/it/h2_frames_fuzz.rs`) checks it after each run.

use super::names;
use metrics::{gauge, Gauge};
use std::sync::OnceLock;

fn streams_gauge() -> &'static Gauge {
    static GAUGE: OnceLock<Gauge> = OnceLock::new();
    GAUGE.get_or_init(|| gauge!(names::HTTP2_STREAMS_OPEN))
}

fn connections_gauge() -> &'static Gauge {
    static GAUGE: OnceLock<Gauge> = OnceLock::new();
    GAUGE.get_or_init(|| gauge!(names::HTTP2_CONNECTIONS_OPEN))
}

/// Counts one unit on its gauge while it lives.
#[must_use = "the count ends when the guard is dropped"]
pub struct Open<'a>(&'a Gauge);

impl<'a> Open<'a> {
    /// Counts one more on `gauge` until the guard is dropped.
    pub fn on(gauge: &'a Gauge) -> Self {
        gauge.increment(1.0);
        Open(gauge)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// An HTTP/2 stream being served (accepted from the codec, not yet answered and accounted).
pub fn stream_open() -> Open<'static> {
    Open::on(streams_gauge())
}

/// An HTTP/2 connection being served (from the preface until its task ends).
pub fn connection_open() -> Open<'static> {
    Open::on(connections_gauge())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future as _;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    fn value(cell: &AtomicU64) -> f64 {
        f64::from_bits(cell.load(Ordering::Relaxed))
    }

    /// The guard counts while it lives, whichever way it ends, and a guard that is never
    /// dropped (a leaked stream) leaves the gauge above zero: what the fuzzer's leak check sees.
    #[test]
    fn the_gauge_returns_to_zero_unless_a_guard_leaks() {
        let cell = Arc::new(AtomicU64::new(0f64.to_bits()));
        let gauge = Gauge::from_arc(cell.clone());
        {
            let _a = Open::on(&gauge);
            let b = Open::on(&gauge);
            assert_eq!(value(&cell), 2.0);
            drop(b);
            assert_eq!(value(&cell), 1.0);
        }
        assert_eq!(value(&cell), 0.0);
        // A future dropped mid-way (its connection ended) drops its guard too.
        let fut = async {
            let _g = Open::on(&gauge);
            std::future::pending::<()>().await;
        };
        let mut fut = Box::pin(fut);
        let _ = fut
            .as_mut()
            .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
        assert_eq!(value(&cell), 1.0);
        drop(fut);
        assert_eq!(value(&cell), 0.0);
        // A leaked guard: the count never comes back.
        std::mem::forget(Open::on(&gauge));
        assert_eq!(value(&cell), 1.0, "a leaked guard must show");
    }
}
