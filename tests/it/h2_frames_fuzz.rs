//! Issue #15: random HTTP/2 frame sequences drive the stream state machine of a real gatehouse
//! (a child process, so a panic shows in its log), each on its own TLS connection, without a
//! panic, a hung connection or a leaked stream.
//!
//! - [`gen`]: the seeded generator (one seed, one [`gen::Plan`]: frames, pauses, an end).
//! - [`run`]: runs a plan on a connection and says how it ended.
//! - [`hpack_context`], [`teardown`]: the bugs it found, each as a test of its own.
//!
//! Behind gatehouse: one sample app through an HTTP/1.1 pool and one through an HTTP/2 pool
//! (`/h2/...`), both serving slow streamed bodies and delays, so streams are open, waiting on
//! a backend or on flow control, when the frames that reset, overflow or kill them come.
//!
//! Checks: a connection that is still open at the end of its sequence answers a well-formed
//! `GET /` (or resets it), and one whose client shut its half down is closed by the server;
//! afterwards the process is alive, has logged no panic, serves a normal HTTP/2 and HTTP/1.1
//! request, and — every fuzz connection closed — its gauges of open HTTP/2 streams and
//! connections (`gatehouse_http2_streams_open`, `gatehouse_http2_connections_open`), requests
//! in flight and open connections all come back to zero. That leak check is shown to see a
//! stream first: while a slow response streams, the gauges read at least 1.
//!
//! `GATEHOUSE_H2_FUZZ_SEQUENCES` (default [`SEQUENCES`]) and `GATEHOUSE_H2_FUZZ_SEED` (the
//! first seed; sequence `i` uses seed + `i`) make a longer or different run; a failure names
//! its seed and prints its plan. Seeds that once found a bug stay in [`REGRESSIONS`].

mod gen;
mod hpack_context;
mod run;
mod teardown;

use crate::support::child::ChildProxy;
use crate::support::client::tls_get;
use crate::support::h2raw::*;
use crate::support::tlsutil::TestCa;
use crate::support::{bounded, eventually, patient, TestBackend, WAIT};
use futures_util::stream::StreamExt as _;
use run::{Ending, Target};
use std::collections::BTreeMap;
use tokio::io::AsyncWriteExt;

/// Sequences per run by default: a few hundred, ~10 s on a loaded CI machine.
const SEQUENCES: u64 = 500;
/// The first seed by default (`h2fuzz`).
const SEED: u64 = 0x6832_6675_7a7a;
/// Connections at once.
const AT_ONCE: usize = 8;
/// Seeds that found a bug, run first in every run: `0x683266757b0e`, a HEADERS frame that
/// depends on itself among valid requests: the h2 crate reset its stream without decoding its
/// header block, and lost the HPACK context ([`hpack_context`]); `0x1551`, a window of 0 and
/// a stream left open by the client: the connection ended with a reset still scheduled, and
/// h2 panicked (debug builds) on the stream it still counted ([`teardown`]).
const REGRESSIONS: &[u64] = &[0x6832_6675_7b0e, 0x1551];

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

fn config(h1: &str, h2: &str) -> String {
    format!(
        r#"
[server]
threads = 1
grace_period = "0s"
[reload]
watch = false
[admin]
address = "{{admin}}"
token_file = "admin.token"
[listeners.http]
address = "{{http}}"
[listeners.https]
address = "{{https}}"
protocol = "https"
certificates = [{{ cert = "localhost.crt", key = "localhost.key", default = true }}]
[routes.h2]
path_prefix = "/h2"
strip_prefix = true
pool = "h2"
[routes.all]
pool = "h1"
[pools.h1]
backends = [{{ address = "{h1}" }}]
[pools.h2]
protocol = "h2"
backends = [{{ address = "{h2}" }}]
"#
    )
}

/// A series' value in Prometheus text.
fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The gauges that count what is open, as (series, value).
const OPEN: [&str; 4] = [
    "gatehouse_http2_streams_open",
    "gatehouse_http2_connections_open",
    "gatehouse_requests_in_flight",
    r#"gatehouse_downstream_connections{listener="https"}"#,
];

fn open_counts(metrics: &str) -> Vec<(&'static str, Option<f64>)> {
    OPEN.iter().map(|s| (*s, value(metrics, s))).collect()
}

/// One gatehouse (a child process) over TLS, with its two sample apps.
pub struct Setup {
    pub proxy: ChildProxy,
    pub target: Target,
    pub ca: TestCa,
    /// `GATEHOUSE_H2_FUZZ_LOG`: print the child's log at the end.
    pub log_filter: Option<String>,
    _backends: [TestBackend; 2],
}

/// Starts the sample apps and gatehouse.
pub async fn setup() -> Setup {
    let h1 = TestBackend::start("fuzz-h1").await;
    let h2 = TestBackend::start("fuzz-h2").await;
    let ca = TestCa::new("h2 fuzz CA");
    let leaf = ca.leaf(&["localhost"]);
    // `GATEHOUSE_H2_FUZZ_LOG=debug` (a `RUST_LOG` filter for gatehouse) prints its log at
    // the end: with one seed, what the server made of each frame.
    let log_filter = std::env::var("GATEHOUSE_H2_FUZZ_LOG").ok();
    let config = config(&h1.addr.to_string(), &h2.addr.to_string());
    let env: Vec<(&str, &str)> = log_filter
        .iter()
        .map(|f| ("RUST_LOG", f.as_str()))
        .collect();
    let mut proxy = ChildProxy::spawn(
        &config,
        |dir| {
            leaf.write(dir, "localhost");
        },
        &env,
    );
    proxy.wait_serving().await;
    let target = Target {
        addr: proxy.https,
        host: "localhost",
        tls: ca.client_config(&[b"h2"]),
    };
    Setup {
        proxy,
        target,
        ca,
        log_filter,
        _backends: [h1, h2],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_frame_sequences_leave_no_panic_no_hang_and_no_open_stream() {
    let Setup {
        mut proxy,
        target,
        ca,
        log_filter,
        _backends,
    } = setup().await;

    // The leak check sees a stream: while a slow response streams, the gauges count it.
    the_gauges_count_a_live_stream(&proxy, &target).await;

    let count = env_u64("GATEHOUSE_H2_FUZZ_SEQUENCES").unwrap_or(SEQUENCES);
    let first = env_u64("GATEHOUSE_H2_FUZZ_SEED").unwrap_or(SEED);
    let seeds: Vec<u64> = REGRESSIONS
        .iter()
        .copied()
        .chain(
            (0..count)
                .map(|i| first.wrapping_add(i))
                .filter(|s| !REGRESSIONS.contains(s)),
        )
        .collect();
    let authority = format!("localhost:{}", proxy.https.port());
    let started = std::time::Instant::now();
    // `GATEHOUSE_H2_FUZZ_ISOLATE=1`: one sequence at a time, each connection gone from the
    // server before the next, so a panic in the log is blamed on its seed.
    let isolate = std::env::var_os("GATEHOUSE_H2_FUZZ_ISOLATE").is_some();
    let at_once = if isolate { 1 } else { AT_ONCE };
    let panics = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<_> = futures_util::stream::iter(seeds)
        .map(|seed| {
            let t = target.clone();
            let plan = gen::plan(seed, &authority);
            let (proxy, panics) = (&proxy, &panics);
            async move {
                let mut r = run::run(&t, &plan).await;
                if isolate {
                    all_closed(proxy).await;
                    let log = proxy.log_text();
                    let now = log.matches("panicked").count();
                    if panics.swap(now, std::sync::atomic::Ordering::Relaxed) < now {
                        let at = log.rfind("panicked").unwrap_or(0);
                        let what: String =
                            log[at..].lines().take(40).collect::<Vec<_>>().join("\n");
                        r = Err(run::Stuck(format!("gatehouse {what}")));
                    }
                }
                (plan, r)
            }
        })
        .buffer_unordered(at_once)
        .collect()
        .await;
    let elapsed = started.elapsed();

    let mut frames = 0;
    let mut endings: BTreeMap<(u8, Ending), usize> = BTreeMap::new();
    let mut goaways: BTreeMap<u32, usize> = BTreeMap::new();
    let mut resets = 0;
    // Sequences that failed, each with its seed and plan.
    let mut stuck = Vec::new();
    for (plan, r) in &results {
        match r {
            Ok(report) => {
                frames += report.frames_sent;
                *endings.entry((plan.wild, report.ending)).or_default() += 1;
                // A plan without mistakes sends only valid HPACK blocks, each whole: the
                // server must decode every one, whatever it thinks of the streams.
                if plan.wild == 0 && report.goaways.contains(&COMPRESSION_ERROR) {
                    stuck.push(format!(
                        "seed {:#x}: only valid header blocks, yet a GOAWAY with \
                         COMPRESSION_ERROR (the server's HPACK context diverged)\n{}",
                        plan.seed,
                        plan.describe()
                    ));
                }
                for code in &report.goaways {
                    *goaways.entry(*code).or_default() += 1;
                }
                resets += report.resets;
            }
            Err(e) => {
                frames += plan.frames();
                stuck.push(format!(
                    "seed {:#x}: {}\n{}",
                    plan.seed,
                    e.0,
                    plan.describe()
                ));
            }
        }
    }
    if log_filter.is_some() {
        eprintln!("{}", proxy.log_text());
    }
    eprintln!(
        "h2 frame fuzz: {} sequences, {frames} frames in {elapsed:.1?}; endings {endings:?}; \
         GOAWAY codes received {goaways:?}; RST_STREAM received {resets}",
        results.len()
    );
    assert!(
        stuck.is_empty(),
        "{} sequences failed (GATEHOUSE_H2_FUZZ_SEED=<seed> GATEHOUSE_H2_FUZZ_SEQUENCES=1 \
         replays one; GATEHOUSE_H2_FUZZ_LOG=debug,h2=trace shows the server's side; \
         GATEHOUSE_H2_FUZZ_ISOLATE=1 names the seed of a panic):\n{}",
        stuck.len(),
        stuck.join("\n\n")
    );
    let log = proxy.log_text();
    assert!(!log.contains("panicked"), "gatehouse panicked:\n{log}");
    assert!(
        proxy.child.try_wait().unwrap().is_none(),
        "gatehouse exited:\n{log}"
    );

    // Every fuzz connection is closed: nothing may stay open.
    let mut last = String::new();
    let settled = tokio::time::timeout(patient(WAIT), async {
        loop {
            let m = proxy.metrics().await;
            if open_counts(&m).iter().all(|(_, v)| *v == Some(0.0)) {
                return;
            }
            last = m;
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        settled.is_ok(),
        "after every fuzz connection closed, still open: {:?}",
        open_counts(&last)
    );

    // Still serving, both protocols.
    for (alpn, version) in [
        (&b"h2"[..], http::Version::HTTP_2),
        (b"http/1.1", http::Version::HTTP_11),
    ] {
        let r = tls_get(
            proxy.https,
            Some("localhost"),
            "localhost",
            "/",
            ca.client_config(&[alpn]),
        )
        .await
        .unwrap();
        assert_eq!((r.reply.status, r.reply.version), (200, version));
        assert_eq!(r.reply.backend(), "fuzz-h1");
    }
    let log = proxy.log_text();
    assert!(!log.contains("panicked"), "gatehouse panicked:\n{log}");
}

/// Waits until the gauges say every HTTP/2 stream and connection is closed.
async fn all_closed(proxy: &ChildProxy) {
    eventually("every HTTP/2 connection closed", WAIT, || async {
        let m = proxy.metrics().await;
        open_counts(&m)
            .iter()
            .all(|(_, v)| *v == Some(0.0))
            .then_some(())
    })
    .await;
}

/// Opens a stream whose response streams for seconds and, once its head has come, reads the
/// gauges: a stream and a connection open. Closing the connection brings them back to zero.
async fn the_gauges_count_a_live_stream(proxy: &ChildProxy, t: &Target) {
    let mut tls = run::dial(t).await.unwrap();
    let fields: Vec<(String, String)> = [
        (":method", "GET"),
        (":scheme", "https"),
        (":path", "/stream/400?interval_ms=25"),
        (":authority", "localhost"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    let block = crate::h2spec::encoder::Encoder::new().encode(&fields);
    let mut out = PREFACE.to_vec();
    out.extend(settings(&[]));
    out.extend(frame(HEADERS, END_STREAM | END_HEADERS, 1, &block));
    tls.write_all(&out).await.unwrap();
    tls.flush().await.unwrap();
    bounded("the response head of the slow stream", async {
        loop {
            let f = next_frame(&mut tls)
                .await
                .unwrap()
                .expect("connection closed");
            if f.kind == HEADERS && f.stream == 1 {
                break;
            }
        }
    })
    .await;
    let m = proxy.metrics().await;
    let counts = open_counts(&m);
    assert!(
        counts.iter().all(|(_, v)| v.is_some_and(|v| v >= 1.0)),
        "a live stream not counted: {counts:?}"
    );
    drop(tls);
    eventually("the closed stream no longer counted", WAIT, || async {
        let m = proxy.metrics().await;
        open_counts(&m)
            .iter()
            .all(|(_, v)| *v == Some(0.0))
            .then_some(())
    })
    .await;
}
