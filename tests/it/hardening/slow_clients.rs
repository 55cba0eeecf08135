//! Slow clients are cut at their deadlines while others are served: slowloris headers,
//! bodies that stop or trickle, idle kept-alive connections.

use super::{proxy_config, SECOND};
use crate::support::raise_nofile;
use crate::support::raw::send;
use crate::support::{Client, TestBackend, TestProxy, WAIT};
use std::time::{Duration, Instant};

async fn latencies(proxy: &TestProxy, n: usize) -> Vec<Duration> {
    let c = Client::no_keepalive();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        assert_eq!(c.get(proxy.http, "legit.test", "/").await.status, 200);
        out.push(t.elapsed());
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_cut_while_others_are_served() {
    raise_nofile();
    let app = TestBackend::start("app").await;
    let proxy = TestProxy::start(&proxy_config(
        &format!(
            "[routes.all]\npool = \"p\"\n[pools.p]\nbackends = [{{ address = \"{}\" }}]",
            app.addr
        ),
        "header_timeout = \"1s\"",
        "",
    ))
    .await;
    let baseline = latencies(&proxy, 100).await;
    const SLOW: usize = 1000;
    let http = proxy.http;
    let attack: Vec<_> = (0..SLOW)
        .map(|i| {
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let started = Instant::now();
                let Ok(mut s) = tokio::net::TcpStream::connect(http).await else { return None };
                let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: slow\r\nX-Slow: ").await;
                let mut buf = [0u8; 512];
                // One byte every 200 ms, forever; stop when the proxy closes.
                loop {
                    tokio::select! {
                        r = s.read(&mut buf) => {
                            let text = match r { Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(), Err(_) => String::new() };
                            return Some((started.elapsed(), text));
                        }
                        _ = tokio::time::sleep(Duration::from_millis(200 + (i % 50) as u64)) => {
                            if s.write_all(b"x").await.is_err() {
                                return Some((started.elapsed(), String::new()));
                            }
                        }
                    }
                }
            })
        })
        .collect();
    let under_attack = latencies(&proxy, 100).await;
    let mut cut = Vec::new();
    for t in attack {
        if let Ok(Ok(Some(r))) = tokio::time::timeout(crate::support::patient(WAIT), t).await {
            cut.push(r);
        }
    }
    assert!(
        cut.len() >= SLOW * 9 / 10,
        "most slow connections were opened and cut: {}",
        cut.len()
    );
    for (elapsed, text) in &cut {
        assert!(
            *elapsed >= Duration::from_millis(900)
                && *elapsed < crate::support::patient(4 * SECOND),
            "cut at the 1 s deadline, not before or long after: {elapsed:?}"
        );
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 408"),
            "{text}"
        );
    }
    let p99 = |v: &[Duration]| v[v.len() * 99 / 100 - 1];
    eprintln!(
        "MEASURE slowloris: {} trickling connections; legit p50/p99 without attack {:?}/{:?}, with attack {:?}/{:?}",
        cut.len(),
        baseline[49],
        p99(&baseline),
        under_attack[49],
        p99(&under_attack)
    );
    assert!(
        p99(&under_attack) < crate::support::patient(Duration::from_millis(500)),
        "legitimate requests stay fast: {:?}",
        p99(&under_attack)
    );
}

#[tokio::test]
async fn slow_request_bodies_are_cut() {
    let app = TestBackend::start("app").await;
    let proxy = TestProxy::start(&proxy_config(
        &format!(
            "[routes.all]\npool = \"p\"\n[pools.p]\nbackends = [{{ address = \"{}\" }}]",
            app.addr
        ),
        "body_timeout = \"300ms\"\nmin_body_rate = 1000",
        "",
    ))
    .await;
    use tokio::io::AsyncWriteExt;
    // A body that stops: 408 at the body timeout.
    let started = Instant::now();
    let r = send(
        proxy.http,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789",
        5 * SECOND,
    )
    .await;
    assert_eq!(r.status, 408, "{}", r.head);
    assert!(started.elapsed() < crate::support::patient(3 * SECOND));
    // A body that trickles under min_body_rate (40 B/s < 1000 B/s): 408 once the 5 s grace
    // period is over.
    let s = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    wr.write_all(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let trickle = async move {
        loop {
            if wr.write_all(b"0123456789").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    let answer = async {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 1024];
        let n = rd.read(&mut buf).await.unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let text = tokio::select! {
        t = answer => t,
        _ = trickle => String::new(),
        _ = tokio::time::sleep(crate::support::patient(Duration::from_secs(10))) => panic!("never cut"),
    };
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        started.elapsed() > Duration::from_secs(5),
        "the grace period is honoured"
    );
    assert!(
        started.elapsed() < crate::support::patient(Duration::from_secs(9)),
        "cut soon after it"
    );
}

/// An idle kept-alive connection is closed after `keepalive_timeout`, not before, and a busy
/// one is not.
#[tokio::test]
async fn idle_keepalive_connections_are_closed_at_the_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestBackend::start("app").await;
    let proxy = TestProxy::start(&proxy_config(
        &format!(
            "[routes.all]\npool = \"p\"\n[pools.p]\nbackends = [{{ address = \"{}\" }}]",
            app.addr
        ),
        "keepalive_timeout = \"1s\"",
        "",
    ))
    .await;
    let mut s = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    let request = b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut buf = vec![0u8; 4096];
    // Three requests 400 ms apart: each wait is shorter than the timeout, so all are served.
    for _ in 0..3 {
        s.write_all(request).await.unwrap();
        let n = s.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "served while busy");
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    // Then idle: the proxy closes the connection about 1 s after the last response.
    let idle_since = Instant::now() - Duration::from_millis(400);
    let n = tokio::time::timeout(crate::support::patient(5 * SECOND), s.read(&mut buf))
        .await
        .expect("closed within the bound")
        .unwrap_or(0);
    let idle = idle_since.elapsed();
    assert_eq!(n, 0, "closed without a response");
    assert!(
        idle >= Duration::from_millis(900)
            && idle < crate::support::patient(Duration::from_secs(4)),
        "closed after {idle:?} of idleness"
    );
}
