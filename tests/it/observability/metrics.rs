//! Metrics after known traffic are exact (values, labels, histograms); with metrics disabled
//! nothing is exported.

use super::{base, value};
use crate::support::child::ChildProxy;
use crate::support::{eventually, fault, Client, TestBackend, WAIT};

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
    assert_eq!(durations_counted(&m), (Some(11.0), Some(11.0)));
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
    // The reload rebuilt the pool (its health check changed) and the route: their latency
    // histograms, gatehouse's own, kept their counts.
    assert_eq!(durations_counted(&m), (Some(11.0), Some(11.0)));
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

/// The requests the route's and the pool's latency histograms counted.
fn durations_counted(m: &str) -> (Option<f64>, Option<f64>) {
    (
        value(
            m,
            r#"gatehouse_route_request_duration_seconds_count{route="obs-route",pool="obs-pool"}"#,
        ),
        value(
            m,
            r#"gatehouse_request_duration_seconds_count{pool="obs-pool"}"#,
        ),
    )
}
