//! Consistent hashing over the wire: a key stays on its backend across requests, protocols and
//! reloads; adding a fifth backend moves about a fifth of the keys, nearly all to it; the
//! bounded load keeps every backend under its bound.

use crate::support::{bounded, Client, TestBackend, TestProxy};
use bytes::Bytes;
use http_body_util::Full;
use std::collections::HashMap;
use std::net::SocketAddr;

fn config(backends: &[&TestBackend], hash: &str) -> String {
    let list: Vec<String> = backends
        .iter()
        .map(|b| format!("{{ address = \"{}\" }}", b.addr))
        .collect();
    format!(
        r#"
[server]
threads = 2
grace_period = "0s"
[admin]
address = "{{admin}}"
[listeners.http]
address = "{{http}}"
h2c = true
[routes.all]
pool = "p"
[pools.p]
balance = "hash"
hash = {hash}
backends = [{}]
"#,
        list.join(", ")
    )
}

async fn get_as(c: &Client, proxy: SocketAddr, user: &str, path: &str) -> String {
    let req = http::Request::get(format!("http://{proxy}{path}"))
        .header("host", "any.test")
        .header("x-user", user)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let r = c.send(req).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    r.backend()
}

/// The backend of each of `keys` users, 16 requests at a time.
async fn owners(c: &Client, proxy: SocketAddr, keys: usize) -> Vec<String> {
    let mut out = vec![String::new(); keys];
    for chunk in (0..keys).collect::<Vec<_>>().chunks(16) {
        let mut set = tokio::task::JoinSet::new();
        for &k in chunk {
            let c = c.clone();
            set.spawn(async move { (k, get_as(&c, proxy, &format!("user-{k}"), "/").await) });
        }
        while let Some(done) = set.join_next().await {
            let (k, backend) = done.unwrap();
            out[k] = backend;
        }
    }
    out
}

#[tokio::test]
async fn a_key_stays_on_its_backend_across_requests_protocols_and_reloads() {
    let backends = [
        TestBackend::start("a").await,
        TestBackend::start("b").await,
        TestBackend::start("c").await,
    ];
    let refs: Vec<&TestBackend> = backends.iter().collect();
    let text = config(&refs, r#"{ key = "header:x-user" }"#);
    let proxy = TestProxy::start(&text).await;
    let c = Client::new();
    let first = owners(&c, proxy.http, 200).await;
    assert_eq!(owners(&c, proxy.http, 200).await, first);
    let used: std::collections::HashSet<&String> = first.iter().collect();
    assert_eq!(used.len(), 3, "keys spread over every backend");
    // HTTP/2 (h2c prior knowledge) hashes the same key to the same backend.
    let tcp = tokio::net::TcpStream::connect(proxy.http).await.unwrap();
    let (mut h2, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    for (k, owner) in first.iter().enumerate().take(20) {
        let req = http::Request::get("http://any.test/")
            .header("x-user", format!("user-{k}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let r = bounded("h2 request", h2.send_request(req)).await.unwrap();
        let backend = r.headers()["x-backend"].to_str().unwrap().to_string();
        assert_eq!(&backend, owner, "user-{k} over HTTP/2");
    }
    // A reload (another generation of the same pool) keeps every key where it was.
    let changed = text.replace("balance = \"hash\"", "balance = \"hash\"\nmax_retries = 3");
    proxy.rewrite_and_wait(&proxy.render(&changed)).await;
    assert_eq!(owners(&c, proxy.http, 200).await, first);
    // No key: round robin.
    let mut counts: HashMap<String, usize> = HashMap::new();
    for _ in 0..30 {
        *counts
            .entry(c.get(proxy.http, "any.test", "/").await.backend())
            .or_default() += 1;
    }
    assert_eq!(counts.values().copied().collect::<Vec<_>>(), vec![10; 3]);
    // /status says what is hashed.
    let status = c.get(proxy.admin, "admin", "/status").await.json();
    assert_eq!(status["pools"][0]["balance"], "hash");
    assert_eq!(status["pools"][0]["hash_key"], "header:x-user");
}

#[tokio::test]
async fn adding_a_fifth_backend_moves_a_fifth_of_the_keys_to_it() {
    let backends = [
        TestBackend::start("a").await,
        TestBackend::start("b").await,
        TestBackend::start("c").await,
        TestBackend::start("d").await,
        TestBackend::start("e").await,
    ];
    let refs: Vec<&TestBackend> = backends.iter().collect();
    let hash = r#"{ key = "header:x-user" }"#;
    let proxy = TestProxy::start(&config(&refs[..4], hash)).await;
    let c = Client::new();
    let keys = 10_000;
    let before = owners(&c, proxy.http, keys).await;
    proxy
        .rewrite_and_wait(&proxy.render(&config(&refs, hash)))
        .await;
    let after = owners(&c, proxy.http, keys).await;
    let moved: Vec<usize> = (0..keys).filter(|&k| before[k] != after[k]).collect();
    let share = moved.len() as f64 / keys as f64;
    assert!((0.15..=0.25).contains(&share), "{share} of keys moved");
    let to_new = moved.iter().filter(|&&k| after[k] == "e").count();
    assert!(
        to_new as f64 >= 0.95 * moved.len() as f64,
        "{to_new} of {} moved keys went to the new backend",
        moved.len()
    );
}

#[tokio::test]
async fn the_bounded_load_keeps_every_backend_under_its_bound() {
    let backends = [
        TestBackend::start("a").await,
        TestBackend::start("b").await,
        TestBackend::start("c").await,
    ];
    let refs: Vec<&TestBackend> = backends.iter().collect();
    let proxy =
        TestProxy::start(&config(&refs, r#"{ key = "header:x-user", bound = 1.25 }"#)).await;
    let c = Client::no_keepalive();
    // Twelve slow requests with one key, all in flight together: at most
    // ceil(1.25 × 12 / 3) = 5 on any backend, where pure hashing would put all on one.
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let c = c.clone();
        let proxy = proxy.http;
        set.spawn(async move { get_as(&c, proxy, "hot-user", "/delay/1500").await });
    }
    let mut counts: HashMap<String, usize> = HashMap::new();
    while let Some(done) = set.join_next().await {
        *counts.entry(done.unwrap()).or_default() += 1;
    }
    assert!(counts.len() > 1, "{counts:?}");
    assert!(counts.values().all(|&n| n <= 5), "{counts:?}");
    let status = c.get(proxy.admin, "admin", "/status").await.json();
    assert_eq!(status["pools"][0]["hash_bound"], 1.25);
}
