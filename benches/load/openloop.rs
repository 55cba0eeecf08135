//! An open-loop load generator (wrk2's model) for HTTP/1.1 and HTTP/2: requests are *scheduled*
//! at a fixed rate, spread over keep-alive connections, and each one's latency is measured from
//! the time it was due, not from when a busy connection got round to sending it. A proxy that
//! stalls therefore shows its stall in every request scheduled behind it (no coordinated
//! omission), which a closed-loop tool like wrk or h2load hides.
//!
//! `cargo run --release --example openloop -- [--h2] [--streams N] URL RATE SECONDS [CONNECTIONS]`
//!
//! `http://` is plain TCP, `https://` TLS (any server certificate accepted: the kit's is
//! self-signed, and h2load does not verify either). `--h2` speaks HTTP/2 (ALPN `h2` over TLS,
//! prior knowledge over plain TCP) with up to `--streams` (default 10, h2load's `-m10` in the kit)
//! requests in flight per connection; without it, HTTP/1.1, one request at a time per connection.
//!
//! Prints one line on standard output: `RESULT requests=… duration_us=… errors=… p50=… p99=…
//! p999=…` (µs), the format `benches/load/run` reads from wrk; and one on standard error,
//! `openloop: cpu_us=… wall_us=… cpu_share=… timer_slop_p99_us=…`, the generator's own CPU time
//! and how late its timers fired: a share near 1 or a slop of milliseconds means the generator,
//! not the server, was the bottleneck.

mod openloop {
    pub(crate) mod h1;
    pub(crate) mod h2;
    pub(crate) mod io;
    #[cfg(test)]
    mod tests;
}

use futures_util::future::join_all;
use openloop::io::Target;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// When each request is due: request `i` at `start + i × interval`, sent on connection
/// `i mod connections`, so every connection carries the same share and the total rate is fixed
/// whatever the server does.
#[derive(Clone, Copy)]
pub(crate) struct Plan {
    start: Instant,
    interval: Duration,
    /// Requests in the whole run.
    pub(crate) total: u64,
    pub(crate) connections: u64,
}

impl Plan {
    /// `rate` requests a second for `seconds`, starting shortly from now (so that no task is
    /// late for the first requests while the others are being spawned).
    pub(crate) fn new(rate: f64, seconds: f64, connections: u64) -> Self {
        Self {
            start: Instant::now() + Duration::from_millis(50),
            interval: Duration::from_secs_f64(1.0 / rate),
            total: (rate * seconds) as u64,
            connections,
        }
    }

    pub(crate) fn due(&self, i: u64) -> Instant {
        self.start + self.interval.mul_f64(i as f64)
    }

    /// The instant a request's latency counts from, asked once its due time has come.
    ///
    /// `busy_past_due` is whether the connection was already past this due time *before*
    /// waiting (its previous request, or all its streams, still busy): that wait is the
    /// server's, so it counts. Late only because the timer fired after the due time (tokio's
    /// timers have millisecond granularity): that slop is the generator's, not the server's, so
    /// the clock starts at the wake-up; the slop is recorded to judge the generator itself.
    pub(crate) fn origin(&self, due: Instant, busy_past_due: bool, tally: &mut Tally) -> Instant {
        if busy_past_due {
            return due;
        }
        let now = Instant::now();
        tally
            .slop
            .push(now.saturating_duration_since(due).as_micros() as u64);
        now
    }
}

/// What one connection's requests came to.
#[derive(Default)]
pub(crate) struct Tally {
    /// Latency of each successful request, µs from its origin.
    pub(crate) latencies: Vec<u64>,
    pub(crate) errors: u64,
    /// How late the timer woke for each request sent on time, µs.
    slop: Vec<u64>,
}

impl Tally {
    pub(crate) fn record(&mut self, outcome: Option<Duration>) {
        match outcome {
            Some(latency) => self.latencies.push(latency.as_micros() as u64),
            None => self.errors += 1,
        }
    }
}

struct Args {
    h2: bool,
    streams: usize,
    url: String,
    rate: f64,
    seconds: f64,
    connections: u64,
}

const USAGE: &str = "usage: openloop [--h2] [--streams N] URL RATE SECONDS [CONNECTIONS]";

fn parse_args() -> Result<Args, String> {
    let mut h2 = false;
    let mut streams = 10;
    let mut positional = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--h2" => h2 = true,
            "--streams" => {
                streams = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or("--streams needs a positive number")?;
            }
            _ => positional.push(arg),
        }
    }
    let [url, rate, seconds, rest @ ..] = positional.as_slice() else {
        return Err(USAGE.into());
    };
    let number = |what: &str, s: &str| -> Result<f64, String> {
        s.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v > 0.0)
            .ok_or_else(|| format!("{what} must be a positive number, not {s:?}"))
    };
    let connections = match rest.first() {
        Some(c) => c
            .parse()
            .ok()
            .filter(|&c| c > 0)
            .ok_or("CONNECTIONS must be a positive number")?,
        None => 64,
    };
    Ok(Args {
        h2,
        streams,
        url: url.clone(),
        rate: number("RATE", rate)?,
        seconds: number("SECONDS", seconds)?,
        connections,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let began = Instant::now();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let target = match Target::parse(&args.url, args.h2) {
        Ok(t) => Arc::new(t),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let streams = args.h2.then_some(args.streams);
    let (plan, mut all) = drive(target, args.rate, args.seconds, args.connections, streams).await;
    let elapsed = plan.start.elapsed();
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "RESULT requests={} duration_us={} errors={} p50={} p99={} p999={}",
        all.latencies.len(),
        elapsed.as_micros(),
        all.errors,
        quantile(&mut all.latencies, 0.5),
        quantile(&mut all.latencies, 0.99),
        quantile(&mut all.latencies, 0.999)
    );
    let cpu = own_cpu();
    let wall = began.elapsed();
    eprintln!(
        "openloop: cpu_us={} wall_us={} cpu_share={:.2} timer_slop_p99_us={}",
        cpu.as_micros(),
        wall.as_micros(),
        cpu.as_secs_f64() / wall.as_secs_f64(),
        quantile(&mut all.slop, 0.99)
    );
}

/// Opens every connection first (TLS handshakes included: they would otherwise land in the
/// first requests' latencies, and in a short run's p99.9), then schedules `rate` requests a
/// second for `seconds` over them: one task per connection, HTTP/2 with up to `streams` in
/// flight each when given, HTTP/1.1 otherwise.
pub(crate) async fn drive(
    target: Arc<Target>,
    rate: f64,
    seconds: f64,
    connections: u64,
    streams: Option<usize>,
) -> (Plan, Tally) {
    let mut tasks = Vec::new();
    let plan = match streams {
        Some(streams) => {
            let opened = join_all((0..connections).map(|_| openloop::h2::handshake(&target))).await;
            let plan = Plan::new(rate, seconds, connections);
            for (k, conn) in (0..).zip(opened) {
                let task = openloop::h2::connection(target.clone(), plan, k, streams, conn);
                tasks.push(tokio::spawn(task));
            }
            plan
        }
        None => {
            let opened = join_all((0..connections).map(|_| target.connect())).await;
            let plan = Plan::new(rate, seconds, connections);
            for (k, stream) in (0..).zip(opened) {
                let task = openloop::h1::connection(target.clone(), plan, k, stream);
                tasks.push(tokio::spawn(task));
            }
            plan
        }
    };
    let mut all = Tally::default();
    for t in tasks {
        match t.await {
            Ok(tally) => {
                all.latencies.extend(tally.latencies);
                all.errors += tally.errors;
                all.slop.extend(tally.slop);
            }
            Err(_) => all.errors += 1,
        }
    }
    (plan, all)
}

/// The value below which a share `q` of the samples fall (0 for no samples).
fn quantile(samples: &mut [u64], q: f64) -> u64 {
    if samples.is_empty() {
        return 0;
    }
    samples.sort_unstable();
    let i = ((samples.len() as f64 * q) as usize).min(samples.len() - 1);
    samples[i]
}

/// User plus system CPU time this process used so far.
fn own_cpu() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    let Ok(usage) = getrusage(UsageWho::RUSAGE_SELF) else {
        return Duration::ZERO;
    };
    let micros = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec().max(0) as u64)
            + Duration::from_micros(t.tv_usec().max(0) as u64)
    };
    micros(usage.user_time()) + micros(usage.system_time())
}
