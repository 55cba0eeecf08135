//! Micro-benchmarks of the request path's pure parts. Matching and selection must stay flat as
//! counts grow; compare the sizes in each group.
//!
//! Run: `cargo bench --bench micro` (add `-- --quick` for a fast pass).

// Benchmark set-up is test code: a panic on bad fixtures is the right failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gatehouse::config::model::{Config, HeaderRules};
use gatehouse::config::resolve::StaticResolver;
use gatehouse::health::Registry;
use gatehouse::runtime::router::RequestFacts;
use gatehouse::runtime::{Pool, Router, Snapshot};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

/// A config with `routes` routes (exact hosts, wildcards, prefixes) and `backends` per pool.
fn config_text(routes: usize, backends: usize, balance: &str) -> String {
    let mut t =
        String::from("[listeners.http]\naddress = \"127.0.0.1:8080\"\n[admin]\nenabled = false\n");
    t.push_str(&format!("[pools.p]\nbalance = \"{balance}\"\n"));
    if balance == "hash" {
        t.push_str("hash = { key = \"header:x-user\" }\n");
    }
    if balance == "hash_bounded" {
        t = t.replace("\"hash_bounded\"", "\"hash\"");
        t.push_str("hash = { key = \"header:x-user\", bound = 1.25 }\n");
    }
    for i in 0..backends {
        let (a, b) = (i / 250, i % 250 + 1);
        t.push_str(&format!(
            "[[pools.p.backends]]\naddress = \"10.0.{a}.{b}:80\"\nbackup = {}\n",
            balance == "active_passive" && i > 0
        ));
    }
    for i in 0..routes {
        match i % 4 {
            0 => t.push_str(&format!("[routes.r{i}]\nhosts = [\"site{i}.example.test\"]\npool = \"p\"\n")),
            1 => t.push_str(&format!("[routes.r{i}]\nhosts = [\"*.zone{i}.example.test\"]\npool = \"p\"\n")),
            2 => t.push_str(&format!("[routes.r{i}]\nhosts = [\"site{}.example.test\"]\npath_prefix = \"/api/v{i}\"\npool = \"p\"\n", i - 2)),
            _ => t.push_str(&format!("[routes.r{i}]\nhosts = [\"app{i}.example.test\"]\npath_prefix = \"/a/b/c\"\npool = \"p\"\n")),
        }
    }
    t.push_str("[routes.default]\npath_prefix = \"/static\"\npool = \"p\"\n");
    t
}

fn config(routes: usize, backends: usize, balance: &str) -> Config {
    parse(&config_text(routes, backends, balance))
}

fn parse(text: &str) -> Config {
    let ctx = gatehouse::config::Context {
        resolver: &StaticResolver::default(),
        now: std::time::SystemTime::now(),
        in_service: None,
    };
    gatehouse::config::validate::validate(Path::new("bench.toml"), text, &ctx)
        .expect("bench config is valid")
        .config
}

fn route_matching(c: &mut Criterion) {
    let mut g = c.benchmark_group("router");
    g.throughput(Throughput::Elements(1));
    let get = RequestFacts::bare("GET");
    for n in [10usize, 1_000, 100_000] {
        let cfg = config(n, 2, "round_robin");
        let router = Router::build(&cfg.routes);
        let last = n - 4; // an exact-host route near the end
        let exact = format!("site{last}.example.test");
        let wild = format!("x.zone{}.example.test", n - 3);
        let prefix_host = format!("site{}.example.test", n - 4);
        let prefix_path = format!("/api/v{}/items/7", n - 2);
        g.bench_with_input(BenchmarkId::new("exact", n), &n, |b, _| {
            b.iter(|| router.lookup(black_box(&exact), black_box("/index.html"), &get))
        });
        g.bench_with_input(BenchmarkId::new("wildcard", n), &n, |b, _| {
            b.iter(|| router.lookup(black_box(&wild), black_box("/"), &get))
        });
        g.bench_with_input(BenchmarkId::new("prefix", n), &n, |b, _| {
            b.iter(|| router.lookup(black_box(&prefix_host), black_box(&prefix_path), &get))
        });
        g.bench_with_input(BenchmarkId::new("miss", n), &n, |b, _| {
            b.iter(|| router.lookup(black_box("nowhere.test"), black_box("/x/y"), &get))
        });
    }
    // 1,000 regex routes (10 on each of 100 hosts, with a method condition on every other)
    // beside 100,000 host/prefix routes: prefix lookups must not notice them, and a regex
    // lookup pays only for its own host's regexes.
    let mut text = config_text(100_000, 2, "round_robin");
    for i in 0..1_000 {
        let method = if i % 2 == 0 {
            "methods = [\"GET\"]\n"
        } else {
            ""
        };
        text.push_str(&format!(
            "[routes.re{i}]\nhosts = [\"re{}.example.test\"]\npath_regex = \"^/r{i}/(?:[a-z]+)/[0-9]+$\"\n{method}pool = \"p\"\n",
            i / 10
        ));
    }
    let cfg = parse(&text);
    let router = Router::build(&cfg.routes);
    let prefix_host = format!("site{}.example.test", 100_000 - 4);
    let prefix_path = format!("/api/v{}/items/7", 100_000 - 2);
    g.bench_function("prefix_beside_1000_regex/100000", |b| {
        b.iter(|| router.lookup(black_box(&prefix_host), black_box(&prefix_path), &get))
    });
    g.bench_function("regex_last_of_10_on_host/1000", |b| {
        b.iter(|| {
            router.lookup(
                black_box("re99.example.test"),
                black_box("/r999/abc/42"),
                &get,
            )
        })
    });
    g.finish();
}

fn backend_selection(c: &mut Criterion) {
    let mut g = c.benchmark_group("select");
    g.throughput(Throughput::Elements(1));
    let algorithms = [
        "round_robin",
        "active_passive",
        "least_connections",
        "random_two_choices",
        "hash",
        "hash_bounded",
    ];
    for balance in algorithms {
        for n in [2usize, 100, 1_000] {
            let cfg = config(1, n, balance);
            let registry = Arc::new(Registry::new());
            let pool = Pool::build(&cfg.pools[0], &registry);
            // Hashing pools: a different key each time (the key's hash, as the engines pass it).
            let mut key = 0u64;
            g.bench_with_input(BenchmarkId::new(balance, n), &n, |b, _| {
                b.iter(|| {
                    key = key.wrapping_add(0x9e37_79b9_7f4a_7c15);
                    black_box(pool.select(Some(key)))
                })
            });
        }
    }
    // The scan least connections did per pick before its index (kept as the reference the
    // index must agree with): the cost the index removes.
    for n in [2usize, 100, 1_000] {
        let cfg = config(1, n, "least_connections");
        let registry = Arc::new(Registry::new());
        let pool = Pool::build(&cfg.pools[0], &registry);
        let members: Vec<u32> = (0..n as u32).collect();
        let weights = vec![1u32; n];
        let mut turn = 0usize;
        g.bench_with_input(BenchmarkId::new("least_connections_scan", n), &n, |b, _| {
            b.iter(|| {
                turn += 1;
                black_box(gatehouse::runtime::balance::least_loaded(
                    &members,
                    &weights,
                    turn,
                    |i| u64::from(pool.backends[i as usize].state.inflight()),
                ))
            })
        });
    }
    g.finish();
}

/// A whole request's balancing work: the pick, then the start and end of the request as the
/// engines count them (least connections repositions the backend in its index at both), with
/// every other backend holding one request so that loads differ.
fn backend_selection_cycle(c: &mut Criterion) {
    let mut g = c.benchmark_group("select_cycle");
    g.throughput(Throughput::Elements(1));
    for balance in ["round_robin", "least_connections", "random_two_choices"] {
        for n in [2usize, 100, 1_000] {
            let cfg = config(1, n, balance);
            let registry = Arc::new(Registry::new());
            let pool = Pool::build(&cfg.pools[0], &registry);
            let held: Vec<_> = (0..n as u32)
                .step_by(2)
                .map(|i| {
                    let state = pool.backends[i as usize].state.begin_request();
                    (state, pool.begin_request(i))
                })
                .collect();
            g.bench_with_input(BenchmarkId::new(balance, n), &n, |b, _| {
                b.iter(|| {
                    let i = pool.select(None).unwrap();
                    let state = pool.backends[i as usize].state.begin_request();
                    let counted = pool.begin_request(i);
                    drop(state);
                    drop(counted);
                    black_box(i)
                })
            });
            drop(held);
        }
    }
    g.finish();
}

fn snapshot_build(c: &mut Criterion) {
    let mut g = c.benchmark_group("snapshot_build");
    g.sample_size(10);
    for n in [10usize, 1_000, 10_000] {
        let cfg = Arc::new(config(n, 10, "round_robin"));
        let registry = Arc::new(Registry::new());
        let names = vec!["http".to_string()];
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| Snapshot::build(cfg.clone(), 2, &names, None, &registry))
        });
    }
    g.finish();
}

/// The request path's head work: the strict gate's one parse, then the byte-level rewrite
/// the HTTP/1 engine sends upstream (forwarding fields, rules, prefix stripped).
fn header_rewriting(c: &mut Criterion) {
    use gatehouse::forward::h1::request::{write_upstream_head, Forwarding, RequestView};
    use gatehouse::listener::head::{check_indexed, Check, Limits};
    use http::{HeaderName, HeaderValue};
    let rules = HeaderRules {
        remove: vec![HeaderName::from_static("x-internal")],
        set: vec![(
            HeaderName::from_static("x-env"),
            HeaderValue::from_static("prod"),
        )],
        add: vec![(
            HeaderName::from_static("x-tag"),
            HeaderValue::from_static("gatehouse"),
        )],
    };
    let input: &[u8] = b"GET /admin/users?id=7 HTTP/1.1\r\nHost: www.example.test\r\n\
        User-Agent: bench\r\nX-Forwarded-For: 203.0.113.9\r\nX-Internal: 1\r\n\r\n";
    let id = gatehouse::proxy::headers::new_request_id_bytes();
    let client = Some("192.0.2.1".parse().unwrap());
    let mut fields = Vec::with_capacity(32);
    let mut out = Vec::with_capacity(1024);
    c.bench_function("headers/gate+forwarding+rules+strip", |b| {
        b.iter(|| {
            let Check::Complete(head) = check_indexed(input, &Limits::default(), &mut fields)
            else {
                unreachable!("a valid head")
            };
            let view = RequestView::new(&input[..head.len], head, &fields);
            out.clear();
            write_upstream_head(
                &mut out,
                &view,
                &Forwarding {
                    path: b"/users",
                    query: view.query.map(str::as_bytes),
                    client,
                    tls: true,
                    request_id: &id,
                    rules: &rules,
                    upgrade: None,
                    strip: &[],
                    client_cert: None,
                },
            );
            out.len()
        })
    });
    c.bench_function("headers/request_id", |b| {
        b.iter(gatehouse::proxy::headers::new_request_id_bytes)
    });
}

fn sni_lookup(c: &mut Criterion) {
    use gatehouse::tls::store::{CertStore, UnknownSni};
    // 10 certificates × 1,000 names = 10,000 names.
    let dir = tempfile::tempdir().unwrap();
    let certs: Vec<_> = (0..10)
        .map(|i| {
            let names: Vec<String> = (0..1000)
                .map(|j| {
                    if j % 2 == 0 {
                        format!("h{j}.c{i}.example.test")
                    } else {
                        format!("*.w{j}.c{i}.example.test")
                    }
                })
                .collect();
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = rcgen::CertificateParams::new(names)
                .unwrap()
                .self_signed(&key)
                .unwrap();
            let (cp, kp) = (
                dir.path().join(format!("{i}.crt")),
                dir.path().join(format!("{i}.key")),
            );
            std::fs::write(&cp, cert.pem()).unwrap();
            std::fs::write(&kp, key.serialize_pem()).unwrap();
            // Private keys must not be readable by others (gatehouse refuses them).
            std::fs::set_permissions(&kp, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .unwrap();
            Arc::new(gatehouse::tls::certs::load_pair(&cp, &kp).unwrap())
        })
        .collect();
    let store = CertStore::build(&certs, Some(0), UnknownSni::Default);
    assert_eq!(store.name_count(), 10_000);
    let mut g = c.benchmark_group("sni_10000_names");
    g.bench_function("exact", |b| {
        b.iter(|| store.lookup(black_box(Some("h500.c7.example.test"))))
    });
    g.bench_function("wildcard", |b| {
        b.iter(|| store.lookup(black_box(Some("api.w501.c7.example.test"))))
    });
    g.bench_function("default", |b| {
        b.iter(|| store.lookup(black_box(Some("unknown.test"))))
    });
    g.finish();
}

/// One access-log line as the proxy writes it (cost per logged request; the overhead table in
/// docs/performance.md measures the same in instructions over a whole run).
fn access_log_line(c: &mut Criterion) {
    use gatehouse::access_log::Record;
    use std::time::{Duration, SystemTime};
    let record = Record {
        at: Some(SystemTime::now()),
        request_id: Some("7b9df9f18400259c000000000000351f"),
        client_ip: Some("192.0.2.10".parse().unwrap()),
        client_port: Some(48932),
        method: "GET",
        host: Some("www.example.test"),
        path: "/assets/app.js",
        query: Some("v=12"),
        http_version: "1.1",
        tls_version: Some("1.3"),
        status: 200,
        bytes_in: 0,
        bytes_out: 5123,
        duration: Duration::from_micros(1234),
        upstream: Some("10.0.0.12:8080"),
        upstream_status: Some(200),
        upstream_time: Some(Duration::from_micros(900)),
        retries: 0,
        route: Some("www"),
        pool: Some("public"),
        listener: Some("https"),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
        error: None,
    };
    let mut line = String::with_capacity(1024);
    c.bench_function("access_log/line", |b| {
        b.iter(|| {
            line.clear();
            black_box(&record).write_to(&mut line);
            black_box(line.len())
        })
    });
}

criterion_group!(
    benches,
    access_log_line,
    route_matching,
    backend_selection,
    backend_selection_cycle,
    snapshot_build,
    header_rewriting,
    sni_lookup
);
criterion_main!(benches);
