//! An open-loop HTTP/1.1 load generator (wrk2's model): requests are *scheduled* at a fixed
//! rate, spread over keep-alive connections, and each one's latency is measured from the time
//! it was due, not from when a busy connection got round to sending it. A proxy that stalls
//! therefore shows its stall in every request scheduled behind it (no coordinated omission),
//! which a closed-loop tool like wrk hides.
//!
//! `cargo run --release --example openloop -- URL RATE SECONDS [CONNECTIONS]`
//!
//! Prints one line: `RESULT requests=… duration_us=… errors=… p50=… p99=… p999=…` (µs), the
//! format `benches/load/run` reads from wrk.

use std::io::Write as _;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: openloop URL RATE SECONDS [CONNECTIONS]");
        std::process::exit(2);
    }
    let url = &args[1];
    let rate: f64 = args[2].parse().unwrap_or(1000.0);
    let seconds: f64 = args[3].parse().unwrap_or(10.0);
    let connections: usize = args.get(4).and_then(|c| c.parse().ok()).unwrap_or(64);
    let Some(rest) = url.strip_prefix("http://") else {
        eprintln!("only http:// URLs");
        std::process::exit(2);
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\n\r\n").into_bytes();
    let start = Instant::now() + Duration::from_millis(200);
    let total = (rate * seconds) as u64;
    let interval = Duration::from_secs_f64(1.0 / rate);
    // Connection k sends requests k, k + C, k + 2C, … each at its due time (or as soon as its
    // previous response is complete, if later: that wait counts in the latency).
    let mut tasks = Vec::new();
    for k in 0..connections {
        let authority = authority.to_string();
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut stream: Option<TcpStream> = None;
            let mut buf = vec![0u8; 64 * 1024];
            let mut i = k as u64;
            while i < total {
                let due = start + interval.mul_f64(i as f64);
                // Late because this connection was still busy: the wait counts (the stall is
                // the proxy's). Late only because the timer fired after the due time (tokio's
                // timers have millisecond granularity): that slop is ours, not the proxy's.
                let busy_past_due = Instant::now() > due;
                tokio::time::sleep_until(due.into()).await;
                let from = if busy_past_due { due } else { Instant::now() };
                if stream.is_none() {
                    stream = TcpStream::connect(&authority).await.ok();
                    if let Some(s) = &stream {
                        let _ = s.set_nodelay(true);
                    }
                }
                let ok = match stream.as_mut() {
                    Some(s) => exchange(s, &request, &mut buf).await,
                    None => false,
                };
                if ok {
                    latencies.push(from.elapsed().as_micros() as u64);
                } else {
                    errors += 1;
                    stream = None;
                }
                i += connections as u64;
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            all.extend(l);
            errors += e;
        }
    }
    let elapsed = start.elapsed();
    all.sort_unstable();
    let at = |q: f64| -> u64 {
        if all.is_empty() {
            return 0;
        }
        let i = ((all.len() as f64 * q) as usize).min(all.len() - 1);
        all[i]
    };
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "RESULT requests={} duration_us={} errors={} p50={} p99={} p999={}",
        all.len(),
        elapsed.as_micros(),
        errors,
        at(0.5),
        at(0.99),
        at(0.999)
    );
}

/// Sends one request and reads one response (Content-Length or chunked body).
async fn exchange(s: &mut TcpStream, request: &[u8], buf: &mut [u8]) -> bool {
    if s.write_all(request).await.is_err() {
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
