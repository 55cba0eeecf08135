//! A route's timeouts and retries override its pool's.

use super::base;
use crate::support::{Client, TestBackend, TestProxy};

/// A route's timeouts and retries override its pool's: a short read timeout cuts a slow
/// response on that route only; `max_retries = 0` gives up on a dead backend where the pool's
/// default retries on the live one.
#[tokio::test]
async fn per_route_timeouts_and_retries_override_the_pool() {
    let app = TestBackend::start("app").await;
    let dead = crate::support::RefusingPort::new();
    let proxy = TestProxy::start(&base(&format!(
        r#"h2c = true
[routes.slow-ok]
pool = "app"
[routes.impatient]
path_prefix = "/delay"
timeouts = {{ read = "200ms" }}
pool = "app"
[routes.flaky]
hosts = ["flaky.test"]
pool = "flaky"
[routes.no-retry]
hosts = ["flaky.test"]
path_prefix = "/once"
max_retries = 0
pool = "flaky"
[pools.app]
timeouts = {{ read = "5s" }}
backends = [{{ address = "{app}" }}]
[pools.flaky]
passive = {{ connect_failures = 0 }}
backends = [{{ address = "{dead}" }}, {{ address = "{app}" }}]
"#,
        app = app.addr,
        dead = dead.addr
    )))
    .await;
    let c = Client::new();
    assert_eq!(
        c.get(proxy.http, "any.test", "/delay/1000").await.status,
        504
    );
    let r = c.get(proxy.http, "any.test", "/status/200").await;
    assert_eq!(r.status, 200, "other paths keep the pool's timeout");
    // Round robin alternates dead and live: with retries every request succeeds...
    for _ in 0..4 {
        assert_eq!(c.get(proxy.http, "flaky.test", "/").await.status, 200);
    }
    // ...without, the ones that land on the dead backend fail.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(c.get(proxy.http, "flaky.test", "/once").await.status);
    }
    assert!(statuses.contains(&502), "{statuses:?}");
    assert!(
        statuses.contains(&404),
        "the live backend answers /once: {statuses:?}"
    );
}
