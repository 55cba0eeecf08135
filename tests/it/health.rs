//! Backend health, one topic per file.
//!
//! - [`active_checks`]: rise/fall, the unknown start, check kinds and options, independent probes.
//! - [`failover`]: active-passive failover and failback with SIGKILL, `fail_open`.
//! - [`passive`]: passive ejection (5xx, timeouts, `max_ejection_percent`), and what is not a
//!   backend's fault.
//! - [`admin`]: `/status`, and the admin drain/disable/enable overrides.
//! - [`max_connections`]: a backend's `max_connections` and its queue.

mod active_checks;
mod admin;
mod failover;
mod max_connections;
mod passive;

use crate::support::{bounded, Client, TestProxy};
use gatehouse::health::Transition;
use std::collections::HashMap;
use tokio::sync::broadcast;

fn config(pool: &str) -> String {
    format!(
        r#"
[server]
threads = 2
grace_period = "0s"
[reload]
debounce = "10ms"
[admin]
address = "{{admin}}"
token_file = "{{dir}}/token"
[listeners.http]
address = "{{http}}"
[routes.all]
pool = "p"
[pools.p]
{pool}
"#
    )
}

async fn next_transition(
    events: &mut broadcast::Receiver<Transition>,
    backend: std::net::SocketAddr,
    to: &str,
) -> Transition {
    bounded(&format!("{backend} -> {to}"), async {
        loop {
            match events.recv().await {
                Ok(t) if t.key.address == backend && t.to == to => return t,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
}

async fn tally(c: &Client, proxy: &TestProxy, n: usize) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for _ in 0..n {
        let r = c.get(proxy.http, "x.test", "/").await;
        *out.entry(format!("{} {}", r.status, r.backend()))
            .or_default() += 1;
    }
    out
}
