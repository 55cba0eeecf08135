//! Metrics (exact values after known traffic, label hygiene, histograms, health/failover/
//! reload series), the access log (every field, SIGUSR1 reopen, rotation), and the shipped
//! dashboard and alert rules (valid, every metric they use present in a real scrape).
//! These run the real binary: its process-wide recorder and gauges are its own.

use crate::support::child::ChildProxy;
use crate::support::tlsutil::TestCa;
use crate::support::{eventually, fault, Client, TestBackend, WAIT};
use std::collections::BTreeSet;
use std::path::Path;

/// The value of the series whose line starts with `prefix` (name plus exact label set).
fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn names(metrics: &str) -> BTreeSet<String> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect()
}

fn base(pools: &str, extra: &str) -> String {
    format!(
        r#"
[server]
threads = 1
grace_period = "1s"
[reload]
watch = false
[admin]
address = "{{admin}}"
token_file = "admin.token"
[access_log]
path = "access.log"
[listeners.http]
address = "{{http}}"
{extra}
{pools}
"#
    )
}

#[tokio::test]
async fn metrics_after_known_traffic_are_exact() {
    let a = TestBackend::start("a").await;
    let b = TestBackend::start("b").await;
    let config = base(
        &format!(
            r#"[routes.obs-route]
hosts = ["obs.test"]
pool = "obs-pool"
metrics = true
[pools.obs-pool]
health_check = {{ type = "http", path = "/healthz", interval = "50ms", fall = 1, rise = 1 }}
backends = [{{ address = "{}" }}, {{ address = "{}" }}]"#,
            a.addr, b.addr
        ),
        "",
    );
    let proxy = ChildProxy::start(&config).await;
    let c = Client::new();
    for _ in 0..7 {
        assert_eq!(c.get(proxy.http, "obs.test", "/").await.status, 200);
    }
    for _ in 0..3 {
        assert_eq!(
            c.get(proxy.http, "obs.test", "/status/404").await.status,
            404
        );
    }
    assert_eq!(
        c.get(proxy.http, "obs.test", "/status/503").await.status,
        503
    );
    for _ in 0..2 {
        assert_eq!(c.get(proxy.http, "nowhere.test", "/").await.status, 404);
    }
    // A request is counted when it finishes, just after its last byte reaches the client.
    let m = eventually("every request recorded", WAIT, || async {
        let m = proxy.metrics().await;
        let done = value(&m, "gatehouse_requests_in_flight") == Some(0.0)
            && value(&m, r#"gatehouse_unrouted_requests_total{listener="http"}"#) == Some(2.0)
            && value(
                &m,
                r#"gatehouse_route_request_duration_seconds_count{route="obs-route",pool="obs-pool"}"#,
            ) == Some(11.0);
        done.then_some(m)
    })
    .await;
    // The route opted in (`metrics = true`): its own series and its pool's count the same.
    let series = |class: &str| {
        format!(
            r#"gatehouse_route_requests_total{{listener="http",route="obs-route",pool="obs-pool",status_class="{class}"}}"#
        )
    };
    let pool_series = |class: &str| {
        format!(
            r#"gatehouse_requests_total{{listener="http",pool="obs-pool",status_class="{class}"}}"#
        )
    };
    for (class, n) in [("2xx", 7.0), ("4xx", 3.0), ("5xx", 1.0)] {
        assert_eq!(value(&m, &series(class)), Some(n), "{m}");
        assert_eq!(value(&m, &pool_series(class)), Some(n), "{m}");
        // Per backend: the requests each backend answered, by class, add up to the pool's.
        let per_backend: f64 = [a.addr, b.addr]
            .iter()
            .filter_map(|addr| {
                value(
                    &m,
                    &format!(
                        r#"gatehouse_backend_requests_total{{pool="obs-pool",backend="{addr}",status_class="{class}"}}"#
                    ),
                )
            })
            .sum();
        assert_eq!(per_backend, n, "{m}");
    }
    for addr in [a.addr, b.addr] {
        assert_eq!(
            value(
                &m,
                &format!(
                    r#"gatehouse_backend_requests_in_flight{{pool="obs-pool",backend="{addr}"}}"#
                )
            ),
            Some(0.0)
        );
    }
    assert_eq!(
        value(&m, r#"gatehouse_unrouted_requests_total{listener="http"}"#),
        Some(2.0)
    );
    assert_eq!(
        value(
            &m,
            r#"gatehouse_route_request_duration_seconds_count{route="obs-route",pool="obs-pool"}"#
        ),
        Some(11.0)
    );
    assert_eq!(
        value(
            &m,
            r#"gatehouse_request_duration_seconds_count{pool="obs-pool"}"#
        ),
        Some(11.0)
    );
    assert_eq!(
        value(
            &m,
            r#"gatehouse_upstream_response_time_seconds_count{pool="obs-pool"}"#
        ),
        Some(11.0)
    );
    for le in ["0.0001", "0.001", "0.01", "0.1", "1", "10", "30", "+Inf"] {
        assert!(
            m.contains(&format!(r#"gatehouse_route_request_duration_seconds_bucket{{route="obs-route",pool="obs-pool",le="{le}"}}"#)),
            "bucket {le} present"
        );
    }
    assert_eq!(
        value(
            &m,
            r#"gatehouse_route_response_bytes_total{route="obs-route",pool="obs-pool"}"#
        )
        .map(|v| v > 0.0),
        Some(true)
    );
    assert_eq!(value(&m, "gatehouse_requests_in_flight"), Some(0.0));
    assert_eq!(value(&m, "gatehouse_config_generation"), Some(1.0));
    let status = proxy.status().await.unwrap();
    let hash = status["config_digest"].as_str().unwrap()[..16].to_string();
    assert_eq!(
        value(&m, &format!(r#"gatehouse_config_info{{hash="{hash}"}}"#)),
        Some(1.0)
    );
    assert_eq!(
        value(
            &m,
            &format!(
                r#"gatehouse_build_info{{version="{}",pingora="0.9.1"}}"#,
                env!("CARGO_PKG_VERSION")
            )
        ),
        Some(1.0)
    );
    assert!(value(&m, "gatehouse_process_start_time_seconds").unwrap() > 1.7e9);
    assert!(m.contains("# HELP gatehouse_requests_total Requests completed"));
    assert!(m.contains("# TYPE gatehouse_requests_total counter"));
    // Label hygiene: only config names and closed sets; never hosts, paths or clients.
    for line in m.lines().filter(|l| l.starts_with("gatehouse_")) {
        for bad in [
            "obs.test",
            "nowhere.test",
            "/status",
            "host=",
            "path=",
            "client",
        ] {
            assert!(!line.contains(bad), "raw request data in a label: {line}");
        }
    }
    let up = |addr: std::net::SocketAddr| {
        format!(r#"gatehouse_backend_up{{pool="obs-pool",backend="{addr}"}}"#)
    };
    assert_eq!(value(&m, &up(b.addr)), Some(1.0));

    // Health, reload metrics move.
    fault(b.addr, "healthz=fail").await;
    eventually("backend b reported down", WAIT, || async {
        (value(&proxy.metrics().await, &up(b.addr)) == Some(0.0)).then_some(())
    })
    .await;
    let m = proxy.metrics().await;
    assert_eq!(
        value(
            &m,
            &format!(
                r#"gatehouse_backend_state{{pool="obs-pool",backend="{}",state="down"}}"#,
                b.addr
            )
        ),
        Some(1.0)
    );
    assert!(
        value(
            &m,
            r#"gatehouse_health_checks_total{pool="obs-pool",result="error"}"#
        )
        .unwrap()
            >= 1.0
    );
    proxy.write_config(&config.replace("interval = \"50ms\"", "interval = \"60ms\""));
    assert_eq!(proxy.cli("reload").await.status.code(), Some(0));
    proxy.write_config(&config.replace("pool = \"obs-pool\"", "pool = \"nope\""));
    assert_eq!(proxy.cli("reload").await.status.code(), Some(1));
    let m = proxy.metrics().await;
    assert_eq!(
        value(&m, r#"gatehouse_config_reloads_total{result="ok"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(&m, r#"gatehouse_config_reloads_total{result="error"}"#),
        Some(1.0)
    );
    assert_eq!(value(&m, "gatehouse_config_generation"), Some(2.0));
    let status = proxy.status().await.unwrap();
    let new_hash = &status["config_digest"].as_str().unwrap()[..16];
    assert_ne!(new_hash, hash);
    assert_eq!(
        value(
            &m,
            &format!(r#"gatehouse_config_info{{hash="{new_hash}"}}"#)
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&m, &format!(r#"gatehouse_config_info{{hash="{hash}"}}"#)),
        Some(0.0),
        "the replaced config's info series drops to 0"
    );
}

#[tokio::test]
async fn with_metrics_disabled_nothing_is_exported() {
    let a = TestBackend::start("a").await;
    let config = base(
        &format!(
            "[routes.r]\npool = \"p\"\n[pools.p]\nbackends = [{{ address = \"{}\" }}]\n[metrics]\nenabled = false",
            a.addr
        ),
        "",
    );
    let proxy = ChildProxy::start(&config).await;
    let client = Client::new();
    for _ in 0..3 {
        assert_eq!(client.get(proxy.http, "x.test", "/").await.status, 200);
        let r = client.get(proxy.admin, "admin", "/metrics").await;
        assert_eq!(r.status, 404, "{}", r.text());
        assert!(r.text().contains("metrics.enabled = false"), "{}", r.text());
    }
}

/// A primary that passed its checks again but waits out `failback_delay` takes no traffic:
/// `/status`, `gatehouse_backend_state` and `gatehouse_backend_up` say `recovering` / 0 until
/// the delay ends, then `up` / 1 as traffic returns.
#[tokio::test]
async fn a_backend_waiting_out_its_failback_delay_is_recovering_not_up() {
    let primary = TestBackend::start("primary").await;
    let backup = TestBackend::start("backup").await;
    let proxy = ChildProxy::start(&base(
        &format!(
            r#"[routes.r]
pool = "fb-pool"
[pools.fb-pool]
balance = "active_passive"
failback_delay = "3s"
health_check = {{ type = "http", path = "/healthz", interval = "50ms", fall = 1, rise = 1 }}
backends = [{{ address = "{}" }}, {{ address = "{}", backup = true }}]"#,
            primary.addr, backup.addr
        ),
        "",
    ))
    .await;
    let p = primary.addr.to_string();
    let state = || async {
        let status = proxy.status().await?;
        status["pools"][0]["backends"]
            .as_array()?
            .iter()
            .find(|b| b["address"] == p.as_str())
            .and_then(|b| b["state"].as_str().map(str::to_string))
    };
    let up_series = format!(r#"gatehouse_backend_up{{pool="fb-pool",backend="{p}"}}"#);
    let state_series =
        |s: &str| format!(r#"gatehouse_backend_state{{pool="fb-pool",backend="{p}",state="{s}"}}"#);
    let c = Client::new();
    eventually("primary up", WAIT, || async {
        (state().await.as_deref() == Some("up")).then_some(())
    })
    .await;
    assert_eq!(value(&proxy.metrics().await, &up_series), Some(1.0));

    fault(primary.addr, "healthz=fail").await;
    eventually("primary down", WAIT, || async {
        (state().await.as_deref() == Some("down")).then_some(())
    })
    .await;
    fault(primary.addr, "healthz=ok").await;
    eventually("primary recovering", WAIT, || async {
        (state().await.as_deref() == Some("recovering")).then_some(())
    })
    .await;
    let m = proxy.metrics().await;
    assert_eq!(value(&m, &up_series), Some(0.0), "no new requests now");
    assert_eq!(value(&m, &state_series("recovering")), Some(1.0));
    assert_eq!(value(&m, &state_series("up")), Some(0.0));
    assert_eq!(c.get(proxy.http, "x", "/").await.backend(), "backup");

    eventually("primary up again", WAIT, || async {
        (state().await.as_deref() == Some("up")).then_some(())
    })
    .await;
    let m = proxy.metrics().await;
    assert_eq!(value(&m, &up_series), Some(1.0));
    assert_eq!(value(&m, &state_series("recovering")), Some(0.0));
    assert_eq!(c.get(proxy.http, "x", "/").await.backend(), "primary");
}

#[tokio::test]
async fn failover_metrics_for_active_passive_pools() {
    let primary = TestBackend::start("primary").await;
    let backup = TestBackend::start("backup").await;
    let proxy = ChildProxy::start(&base(
        &format!(
            r#"[routes.ap]
pool = "ap-pool"
[pools.ap-pool]
balance = "active_passive"
health_check = {{ type = "http", path = "/healthz", interval = "50ms", fall = 1, rise = 1 }}
backends = [{{ address = "{}" }}, {{ address = "{}", backup = true }}]"#,
            primary.addr, backup.addr
        ),
        "",
    ))
    .await;
    let c = Client::new();
    eventually("primary serving", WAIT, || async {
        (c.get(proxy.http, "x", "/").await.backend() == "primary").then_some(())
    })
    .await;
    let tier = |t: &str| format!(r#"gatehouse_pool_serving_tier{{pool="ap-pool",tier="{t}"}}"#);
    eventually("primary tier reported", WAIT, || async {
        (value(&proxy.metrics().await, &tier("primary")) == Some(1.0)).then_some(())
    })
    .await;
    fault(primary.addr, "healthz=fail").await;
    eventually("on the backup", WAIT, || async {
        (c.get(proxy.http, "x", "/").await.backend() == "backup").then_some(())
    })
    .await;
    let m = eventually("backup tier reported", WAIT, || async {
        let m = proxy.metrics().await;
        (value(&m, &tier("backup")) == Some(1.0) && value(&m, &tier("primary")) == Some(0.0))
            .then_some(m)
    })
    .await;
    assert_eq!(
        value(
            &m,
            r#"gatehouse_pool_failovers_total{pool="ap-pool",direction="failover"}"#
        ),
        Some(1.0),
        "{}",
        proxy.log_text()
    );
    fault(primary.addr, "healthz=ok").await;
    eventually("back on the primary", WAIT, || async {
        (c.get(proxy.http, "x", "/").await.backend() == "primary").then_some(())
    })
    .await;
    assert_eq!(
        value(
            &proxy.metrics().await,
            r#"gatehouse_pool_failovers_total{pool="ap-pool",direction="failback"}"#
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn the_access_log_line_has_every_field_and_reopens_on_sigusr1() {
    let a = TestBackend::start("a").await;
    let ca = TestCa::new("obs CA");
    let leaf = ca.leaf(&["www.example.test"]);
    let proxy = ChildProxy::start_with(
        &base(
            &format!(
                r#"[routes.www]
hosts = ["www.example.test"]
pool = "www-pool"
[pools.www-pool]
backends = [{{ address = "{}" }}]"#,
                a.addr
            ),
            r#"[listeners.https]
address = "{https}"
protocol = "https"
certificates = [{ cert = "www.crt", key = "www.key" }]"#,
        ),
        |d| {
            leaf.write(d, "www");
        },
    )
    .await;
    let log_path = proxy.dir.path().join("access.log");
    let last_line = |path: &Path| -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(text.lines().last()?).ok()
    };
    let req = http::Request::get(format!("http://{}/echo?q=1", proxy.http))
        .header("host", "www.example.test")
        .header("user-agent", "obs-test/1.0")
        .header("x-request-id", "obs-req-1")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(
            b"hello",
        )))
        .unwrap();
    let r = Client::new().send(req).await.unwrap();
    assert_eq!(r.status, 200);
    let v = eventually("the line is written", WAIT, || async {
        last_line(&log_path).filter(|v| v["http.request.id"] == "obs-req-1")
    })
    .await;
    assert!(v["@timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(v["client.ip"], "127.0.0.1");
    assert!(v["client.port"].as_u64().unwrap() > 0);
    assert_eq!(v["http.request.method"], "GET");
    assert_eq!(v["url.domain"], "www.example.test");
    assert_eq!(v["url.path"], "/echo");
    assert_eq!(v["url.query"], "q=1");
    assert_eq!(v["http.version"], "1.1");
    assert!(v.get("tls.version").is_none(), "cleartext");
    assert_eq!(v["http.response.status_code"], 200);
    assert_eq!(v["http.request.body.bytes"], 5);
    assert_eq!(
        v["http.response.body.bytes"].as_u64().unwrap() as usize,
        r.body.len()
    );
    assert!(v["event.duration"].as_u64().unwrap() > 0);
    assert_eq!(v["user_agent.original"], "obs-test/1.0");
    assert_eq!(v["gatehouse.listener"], "http");
    assert_eq!(v["gatehouse.route"], "www");
    assert_eq!(v["gatehouse.pool"], "www-pool");
    assert_eq!(v["gatehouse.upstream.address"], a.addr.to_string());
    assert_eq!(v["gatehouse.upstream.status_code"], 200);
    assert!(v["gatehouse.upstream.response_time_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(v["gatehouse.retries"], 0);

    // Over TLS and HTTP/2: the version fields say so.
    let tls = crate::support::client::tls_get(
        proxy.https,
        Some("www.example.test"),
        "www.example.test",
        "/",
        ca.client_config(&[b"h2"]),
    )
    .await
    .unwrap();
    let id = tls.reply.header("x-request-id").unwrap();
    let v = eventually("TLS line", WAIT, || async {
        last_line(&log_path).filter(|v| v["http.request.id"] == id.as_str())
    })
    .await;
    assert_eq!(v["tls.version"], "1.3");
    assert_eq!(v["tls.version_protocol"], "tls");
    assert_eq!(v["http.version"], "2");
    assert_eq!(v["gatehouse.listener"], "https");

    // logrotate: move the file away, SIGUSR1, the next line lands in a new file.
    std::fs::rename(&log_path, proxy.dir.path().join("access.log.1")).unwrap();
    proxy.signal(nix::sys::signal::Signal::SIGUSR1);
    // Requests sent before the signal is handled still go to the old file: each try has its
    // own id, and the one found in the new file must be in the new file only.
    let c = Client::new();
    let tries = std::sync::atomic::AtomicUsize::new(0);
    let v = eventually("a line in the reopened file", WAIT, || async {
        let n = tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let req = http::Request::get(format!("http://{}/", proxy.http))
            .header("host", "www.example.test")
            .header("x-request-id", format!("after-rotate-{n}"))
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        c.send(req).await.unwrap();
        last_line(&log_path).filter(|v| {
            v["http.request.id"]
                .as_str()
                .is_some_and(|id| id.starts_with("after-rotate-"))
        })
    })
    .await;
    assert_eq!(v["http.response.status_code"], 200);
    let id = v["http.request.id"].as_str().unwrap();
    let old = std::fs::read_to_string(proxy.dir.path().join("access.log.1")).unwrap();
    let new = std::fs::read_to_string(&log_path).unwrap();
    assert!(old.contains("obs-req-1") && !old.contains(&format!("\"{id}\"")));
    assert!(!new.contains("obs-req-1"), "{new}");
    assert!(proxy.log_text().contains("access log reopened"));
}

#[tokio::test]
async fn dashboard_and_alert_rules_are_valid_and_use_real_metrics() {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(conf.join("grafana/gatehouse-dashboard.json")).unwrap(),
    )
    .unwrap();
    let mut used = BTreeSet::new();
    let metric = regex_lite_names;
    for panel in dashboard["panels"].as_array().unwrap() {
        assert!(panel["title"].as_str().is_some_and(|t| !t.is_empty()));
        for target in panel["targets"].as_array().unwrap() {
            used.extend(metric(target["expr"].as_str().unwrap()));
        }
    }
    let rules = std::fs::read_to_string(conf.join("prometheus/gatehouse-alerts.yml")).unwrap();
    used.extend(metric(&rules));
    for needed in [
        "gatehouse_backend_up",
        "gatehouse_pool_serving_tier",
        "gatehouse_config_reloads_total",
        "gatehouse_certificate_expiry_timestamp_seconds",
        "gatehouse_requests_total",
        "gatehouse_route_requests_total",
        "gatehouse_backend_requests_total",
    ] {
        assert!(used.contains(needed), "alerts/dashboards cover {needed}");
    }
    match std::env::var_os("PROMTOOL")
        .map(std::path::PathBuf::from)
        .or_else(|| which("promtool"))
    {
        Some(promtool) => {
            let out = std::process::Command::new(&promtool)
                .args(["check", "rules"])
                .arg(conf.join("prometheus/gatehouse-alerts.yml"))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "promtool: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        None => eprintln!("SKIP promtool check: promtool not found (scripts/test provides it)"),
    }

    // A real process, exercised so that every series the dashboards use exists.
    let a = TestBackend::start("a").await;
    let primary = TestBackend::start("primary").await;
    let backup = TestBackend::start("backup").await;
    let dead_port = crate::support::RefusingPort::new();
    let dead = dead_port.addr.to_string();
    let ca = TestCa::new("dash CA");
    let leaf = ca.leaf(&["www.example.test"]);
    let config = base(
        &format!(
            r#"[routes.web]
pool = "web"
metrics = true
[routes.ap]
hosts = ["ap.test"]
pool = "ap"
[routes.flaky]
hosts = ["flaky.test"]
pool = "flaky"
[pools.web]
health_check = {{ type = "http", path = "/healthz", interval = "50ms" }}
backends = [{{ address = "{a}" }}]
[pools.ap]
balance = "active_passive"
health_check = {{ type = "http", path = "/healthz", interval = "50ms", fall = 1, rise = 1 }}
backends = [{{ address = "{p}" }}, {{ address = "{bk}", backup = true }}]
[pools.flaky]
passive = {{ connect_failures = 1 }}
backends = [{{ address = "{dead}" }}, {{ address = "{a}" }}]"#,
            a = a.addr,
            p = primary.addr,
            bk = backup.addr
        ),
        r#"[listeners.https]
address = "{https}"
protocol = "https"
certificates = [{ cert = "www.crt", key = "www.key" }]"#,
    );
    let proxy = ChildProxy::start_with(&config, |d| {
        leaf.write(d, "www");
    })
    .await;
    let c = Client::new();
    for host in ["web.test", "ap.test", "flaky.test", "flaky.test"] {
        assert_eq!(c.get(proxy.http, host, "/").await.status, 200);
    }
    crate::support::client::tls_get(
        proxy.https,
        Some("www.example.test"),
        "www.example.test",
        "/",
        ca.client_config(&[]),
    )
    .await
    .unwrap();
    fault(primary.addr, "healthz=fail").await;
    eventually("ap failed over", WAIT, || async {
        (c.get(proxy.http, "ap.test", "/").await.backend() == "backup").then_some(())
    })
    .await;
    proxy.write_config(&config.replace("interval = \"50ms\" }", "interval = \"40ms\" }"));
    assert_eq!(proxy.cli("reload").await.status.code(), Some(0));
    let scraped = names(&proxy.metrics().await);
    for name in &used {
        let present = scraped.contains(name)
            || ["_bucket", "_sum", "_count"].iter().any(|s| {
                name.strip_suffix(s)
                    .is_some_and(|base| scraped.contains(&format!("{base}_bucket")))
            });
        assert!(
            present,
            "{name} is used by a dashboard or alert but absent from a real scrape"
        );
    }
}

/// Metric names in a PromQL expression (or a rules file).
fn regex_lite_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("gatehouse_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

fn which(cmd: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(cmd))
        .find(|p| p.is_file())
}

/// `[logging]` decides the diagnostic log's level and format when `RUST_LOG` is not set: JSON
/// lines at `warn` hide the `info` start-up lines and show the warning of a refused reload.
#[tokio::test]
async fn diagnostic_logs_follow_the_logging_section() {
    let a = TestBackend::start("a").await;
    let pools = format!(
        "[routes.r]\npool = \"p\"\n[pools.p]\nbackends = [{{ address = \"{}\" }}]",
        a.addr
    );
    let config = base(&pools, "[logging]\nlevel = \"warn\"\nformat = \"json\"");
    let mut proxy = ChildProxy::spawn(&config, |_| {}, &[("RUST_LOG", "")]);
    proxy.wait_serving().await;
    proxy.write_config(&config.replace("pool = \"p\"", "pool = \"nope\""));
    assert_eq!(proxy.cli("reload").await.status.code(), Some(1));
    let lines = eventually("the refused reload logged", WAIT, || async {
        let text = proxy.log_text();
        text.contains("nope").then_some(text)
    })
    .await;
    let mut levels = BTreeSet::new();
    for line in lines.lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        levels.insert(v["level"].as_str().unwrap_or_default().to_string());
    }
    assert!(
        levels.contains("WARN") || levels.contains("ERROR"),
        "{levels:?}\n{lines}"
    );
    assert!(
        !levels.contains("INFO"),
        "info lines at level warn:\n{lines}"
    );
    assert!(
        !lines.contains("gatehouse starting"),
        "the info start-up line is filtered out"
    );
}
