//! Reload preview: `POST /reload?dry_run=1` and `gatehouse check --against-running` replay the
//! running process's recent requests through a new config and report exact shares.

use crate::support::proxy::ADMIN_TOKEN;
use crate::support::{Client, TestBackend, TestProxy};
use std::time::Duration;

fn config(routes: &str, web: &str, two: &str) -> String {
    format!(
        r#"
[server]
threads = 1
grace_period = "0s"
[reload]
watch = false
[admin]
address = "{{admin}}"
token_file = "{{dir}}/token"
[listeners.http]
address = "{{http}}"
{routes}
[pools.web]
backends = [{{ address = "{web}" }}]
[pools.two]
backends = [{{ address = "{two}" }}]
"#
    )
}

const BEFORE: &str = r#"
[routes.shop]
path_prefix = "/shop"
pool = "web"
[routes.old]
path_prefix = "/old"
pool = "web"
[routes.default]
pool = "web"
"#;

/// `/shop` only for 10.0.0.0/8 (the test client is 127.0.0.1: 403), a new `/new` route to
/// pool two, and neither `/old` nor a default route any more (404).
const AFTER: &str = r#"
[routes.shop]
path_prefix = "/shop"
pool = "web"
allow = ["10.0.0.0/8"]
[routes.new]
path_prefix = "/new"
pool = "two"
"#;

const EXPECTED: [&str; 4] = [
    "route shop: 50.0 % of 100 sampled requests move from pool web to 403",
    "route default: 30.0 % of 100 sampled requests move from pool web to pool two (route new)",
    "route default: 10.0 % of 100 sampled requests move from pool web to 404",
    "route old: 10.0 % of 100 sampled requests move from pool web to 404",
];

async fn admin(proxy: &TestProxy, method: &str, path: &str, token: bool) -> (u16, String) {
    let endpoint = gatehouse::ctl::AdminEndpoint {
        address: proxy.admin,
        token: token.then(|| ADMIN_TOKEN.to_string()),
    };
    let (method, path) = (method.to_string(), path.to_string());
    tokio::task::spawn_blocking(move || {
        gatehouse::ctl::call(
            &endpoint,
            &method,
            &path,
            crate::support::patient(Duration::from_secs(10)),
        )
    })
    .await
    .unwrap()
    .unwrap()
}

/// 100 requests: 50 to /shop, 30 to /new, 10 to /old, 10 to /x, all answered by `web`.
async fn constructed_sample(proxy: &TestProxy) {
    proxy.state.samples.clear();
    let client = Client::new();
    for (path, n) in [("/shop/a", 50), ("/new/b", 30), ("/old/c", 10), ("/x", 10)] {
        for _ in 0..n {
            assert_eq!(
                client.get(proxy.http, "site.test", path).await.backend(),
                "web"
            );
        }
    }
    assert_eq!(proxy.state.samples.samples().len(), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_reports_exact_shares_and_applies_nothing() {
    let web = TestBackend::start("web").await;
    let two = TestBackend::start("two").await;
    let (w, t) = (web.addr.to_string(), two.addr.to_string());
    let proxy = TestProxy::start(&config(BEFORE, &w, &t)).await;
    constructed_sample(&proxy).await;
    let generation = proxy.generation();

    let after = proxy.render(&config(AFTER, &w, &t));
    let candidate = proxy.dir.path().join("candidate.toml");
    std::fs::write(&candidate, &after).unwrap();

    // The CLI replays the samples through a file that is not in place yet.
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["check", "--against-running", "-c"])
            .arg(&candidate)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().skip(1).collect();
    assert_eq!(lines, EXPECTED, "{stdout}");

    // The server-side dry run reads the file the process serves from (watching is off here,
    // so the new file is in place but not applied).
    proxy.write_config(&after);
    let (code, body) = admin(&proxy, "POST", "/reload?dry_run=1", true).await;
    assert_eq!(code, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    let lines: Vec<&str> = doc["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(lines, EXPECTED, "{body}");
    assert_eq!(doc["preview"]["sampled"], 100);
    assert_eq!(doc["preview"]["changed"], 100);
    assert_eq!(doc["generation"].as_u64(), Some(generation));
    assert_eq!(proxy.generation(), generation, "a dry run applies nothing");

    // An invalid file is refused with its problems, as a reload would be.
    proxy.write_config(&after.replace("pool = \"two\"", "pool = \"nope\""));
    let (code, body) = admin(&proxy, "POST", "/reload?dry_run=1", true).await;
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("nope"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_need_the_token_and_keep_no_secrets() {
    let web = TestBackend::start("web").await;
    let w = web.addr.to_string();
    let proxy = TestProxy::start(&config(BEFORE, &w, &w)).await;
    let req = http::Request::get(format!("http://{}/shop/item?q=1", proxy.http))
        .header("host", "site.test")
        .header("cookie", "session=c00kie-value")
        .header("authorization", "Bearer s3cret-bearer")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    assert_eq!(Client::new().send(req).await.unwrap().backend(), "web");
    let (code, _) = admin(&proxy, "GET", "/preview/samples", false).await;
    assert_eq!(code, 401, "the caller sent no token");
    let (code, body) = admin(&proxy, "GET", "/preview/samples", true).await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"/shop/item\""), "{body}");
    assert!(body.contains("\"kind\": \"pool\""), "{body}");
    // The query is kept (routes may match on it); cookies and credentials never are.
    assert!(body.contains("\"query\": \"q=1\""), "{body}");
    for secret in ["c00kie", "s3cret-bearer"] {
        assert!(!body.contains(secret), "{secret} leaked: {body}");
    }
}

/// Routes on a header and a query parameter. The running config matches on `x-tenant`, so
/// its values are sampled; `x-canary` is not.
const BEFORE_CONDITIONS: &str = r#"
[routes.blue]
match_headers = [{ name = "x-tenant", value = "blue" }]
pool = "two"
[routes.default]
pool = "web"
"#;

/// Green tenants join blue, `?beta=1` gets its own route, and a route on `x-canary` (a header
/// the running config never sampled) comes in.
const AFTER_CONDITIONS: &str = r#"
[routes.blue]
match_headers = [{ name = "X-Tenant", regex = "^(blue|green)$" }]
pool = "two"
[routes.beta]
match_query = [{ name = "beta", value = "1" }]
pool = "two"
[routes.canary]
match_headers = [{ name = "x-canary" }]
pool = "two"
[routes.default]
pool = "web"
"#;

const EXPECTED_CONDITIONS: [&str; 3] = [
    "route default: 30.0 % of 100 sampled requests move from pool web to pool two (route beta)",
    "route default: 30.0 % of 100 sampled requests move from pool web to pool two (route blue)",
    "not sampled: header `x-canary`, matched by route canary: 100 of 100 sampled requests did not record it (routes of the config that served them do not match on it, or the value was too long); shares for these routes are a lower bound",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_and_query_conditions_replay_exactly_and_unsampled_headers_are_named() {
    let web = TestBackend::start("web").await;
    let two = TestBackend::start("two").await;
    let (w, t) = (web.addr.to_string(), two.addr.to_string());
    let proxy = TestProxy::start(&config(BEFORE_CONDITIONS, &w, &t)).await;
    proxy.state.samples.clear();
    let client = Client::new();
    // 40 blue, 20 green with ?beta=1, 30 with ?beta=1 and no tenant, 10 green canaries.
    type Kind<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str, usize);
    let kinds: [Kind<'_>; 4] = [
        ("/app", &[("x-tenant", "blue")], "two", 40),
        ("/app?beta=1", &[("x-tenant", "green")], "web", 20),
        ("/app?x=2&beta=1", &[], "web", 30),
        (
            "/app",
            &[("x-tenant", "green"), ("x-canary", "1")],
            "web",
            10,
        ),
    ];
    for (path, headers, backend, n) in kinds {
        for _ in 0..n {
            let mut req = http::Request::get(format!("http://{}{path}", proxy.http))
                .header("host", "site.test");
            for (name, value) in headers {
                req = req.header(*name, *value);
            }
            let req = req
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap();
            assert_eq!(client.send(req).await.unwrap().backend(), backend);
        }
    }
    assert_eq!(proxy.state.samples.samples().len(), 100);

    let after = proxy.render(&config(AFTER_CONDITIONS, &w, &t));
    let candidate = proxy.dir.path().join("candidate.toml");
    std::fs::write(&candidate, &after).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["check", "--against-running", "-c"])
            .arg(&candidate)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let lines: Vec<&str> = stdout.lines().skip(1).collect();
    assert_eq!(lines, EXPECTED_CONDITIONS, "{stdout}");

    proxy.write_config(&after);
    let (code, body) = admin(&proxy, "POST", "/reload?dry_run=1", true).await;
    assert_eq!(code, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    let lines: Vec<&str> = doc["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(lines, EXPECTED_CONDITIONS, "{body}");
    assert_eq!(doc["preview"]["changed"], 60);
}
