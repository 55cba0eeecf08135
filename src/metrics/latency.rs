//! The request-latency histograms (`gatehouse_request_duration_seconds`,
//! `gatehouse_upstream_response_time_seconds`, `gatehouse_route_request_duration_seconds`):
//! fixed buckets of atomic counts, written into the `/metrics` page at a scrape.
//!
//! Why not the exporter's histograms: those push every sample into a lock-free list (an epoch
//! pin per sample) that upkeep later drains into the buckets, ~230 instructions per sample and
//! two samples per request: 2.7 % of a keep-alive request's user-space instructions, all of it
//! bookkeeping (callgrind, 19,244 → 18,714). Here a sample is a short bucket search and two
//! relaxed atomic adds.
//!
//! A series lives while something holds it: a pool or route builds its histograms when it is
//! built, from [`series`], which hands back the same series to the pool that replaces it on a
//! reload (the old one is still alive while the new one is built), so counts carry across
//! reloads; a pool or route that left the config takes its series with it. A series that has
//! counted nothing is not written (a pool that has served nothing exports nothing).

use super::names;
use metrics_exporter_prometheus::formatting::{
    sanitize_label_value, write_help_line, write_type_line,
};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Bucket upper bounds in seconds, 100 µs to 30 s (also the exporter's, for the histograms
/// it still keeps).
pub const BUCKETS: [f64; 17] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// [`BUCKETS`] in nanoseconds, for a search in integers.
const BOUNDS_NANOS: [u64; 17] = [
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
    30_000_000_000,
];

/// One series: a count per bucket (not cumulative: a sample touches one) and the last, past
/// the largest bound; the sum in nanoseconds.
#[derive(Debug, Default)]
pub struct Latency {
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Latency {
    /// Counts one sample.
    #[inline]
    pub fn record(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        // Most requests fall in the first few buckets: a forward scan ends in one to four steps.
        let bucket = BOUNDS_NANOS
            .iter()
            .position(|&bound| nanos <= bound)
            .unwrap_or(BUCKETS.len());
        if let Some(count) = self.counts.get(bucket) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Cumulative counts (as Prometheus wants them, `le`), the total and the sum in seconds.
    fn read(&self) -> ([u64; BUCKETS.len()], u64, f64) {
        let mut cumulative = [0; BUCKETS.len()];
        let mut total = 0u64;
        for (i, count) in self.counts.iter().enumerate() {
            total += count.load(Ordering::Relaxed);
            if let Some(c) = cumulative.get_mut(i) {
                *c = total;
            }
        }
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        (cumulative, total, sum)
    }
}

/// A family and its label pairs as written (`pool="web"`), sorted so a family's series are
/// together.
type SeriesKey = (&'static str, Box<str>);

static SERIES: Mutex<BTreeMap<SeriesKey, Weak<Latency>>> = Mutex::new(BTreeMap::new());

/// The series of family `name` with `labels`: the one already alive, or a new one.
pub fn series(name: &'static str, labels: &[(&str, &str)]) -> Arc<Latency> {
    let mut written = String::new();
    for (i, (key, value)) in labels.iter().enumerate() {
        if i > 0 {
            written.push(',');
        }
        let _ = write!(written, "{key}=\"{}\"", sanitize_label_value(value));
    }
    let mut all = SERIES.lock();
    let slot = all.entry((name, written.into())).or_default();
    if let Some(alive) = slot.upgrade() {
        return alive;
    }
    let fresh = Arc::new(Latency::default());
    *slot = Arc::downgrade(&fresh);
    fresh
}

/// Appends every family with a series that has counted something to `out`, in the
/// exposition format the exporter writes its own histograms in; forgets series nothing holds.
pub fn render(out: &mut String) {
    let mut all = SERIES.lock();
    all.retain(|_, series| series.strong_count() > 0);
    let mut family = "";
    for ((name, labels), series) in all.iter() {
        let Some(series) = series.upgrade() else {
            continue;
        };
        let (cumulative, total, sum) = series.read();
        if total == 0 {
            continue;
        }
        if *name != family {
            if !family.is_empty() {
                out.push('\n');
            }
            family = *name;
            write_help_line(out, name, None, None, help(name));
            write_type_line(out, name, None, None, "histogram");
        }
        for (bound, count) in BUCKETS.iter().zip(cumulative) {
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {total}");
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {total}");
    }
    if !family.is_empty() {
        out.push('\n');
    }
}

fn help(name: &str) -> &'static str {
    match name {
        names::REQUEST_DURATION_SECONDS => {
            "Request duration from the request head to the last response byte."
        }
        names::UPSTREAM_TTFB_SECONDS => {
            "Time from sending the request upstream to receiving the response head."
        }
        names::ROUTE_REQUEST_DURATION_SECONDS => {
            "Request duration on a route with metrics = true, from the request head to the last response byte."
        }
        _ => "Latency.",
    }
}

#[cfg(test)]
mod tests;
