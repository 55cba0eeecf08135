//! The client side of the pair test: requests from the client namespace (with `curl`, run
//! there by `ip netns exec`) and bounded polls over them.

use super::netns::{in_ns, CMD_LIMIT};
use super::run_with;
use std::time::{Duration, Instant};

/// A request from the client namespace: `Some((status, x-gatehouse-node))`, or `None` when
/// the connection failed or timed out. The connect timeout is short (200 ms; the wire is a
/// local bridge) because a SYN sent to a node that just lost the address is dropped, not
/// refused, and it bounds how precisely the failover is measured.
pub async fn request(client_ns: &str, url: &str) -> Option<(u16, String)> {
    let out = run_with(
        in_ns(client_ns, "curl").args([
            "-s",
            "--connect-timeout",
            "0.2",
            "-m",
            "2",
            "-o",
            "/dev/null",
            "-D",
            "-",
            url,
        ]),
        CMD_LIMIT,
    )
    .await;
    if !out.status.success() {
        return None;
    }
    let headers = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = headers.split_whitespace().nth(1)?.parse().ok()?;
    let node = headers
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("x-gatehouse-node")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    Some((status, node))
}

/// Polls `check` every 20 ms until it yields `Some`, panicking with `diagnostics` after `limit`
/// (times the patience factor).
pub async fn poll<T, F, Fut>(
    what: &str,
    limit: Duration,
    diagnostics: &dyn Fn() -> String,
    mut check: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let limit = crate::support::patient(limit);
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}\n{}",
            diagnostics()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How clients saw a move of the virtual IP to `to`.
pub struct Switch {
    /// From the event to the first request served by `to`.
    pub took: Duration,
    pub failures: u32,
    /// From the start of the last failed request to the first success.
    pub last_failure: Option<Duration>,
}

/// Sends requests to `url` (the virtual IP) every 20 ms until one is served by node `to`.
pub async fn until_served_by(
    client_ns: &str,
    url: &str,
    to: &str,
    since: Instant,
    limit: Duration,
    diagnostics: &dyn Fn() -> String,
) -> Switch {
    let limit = crate::support::patient(limit);
    let mut failures = 0u32;
    let mut last_failure: Option<Instant> = None;
    loop {
        let sent = Instant::now();
        match request(client_ns, url).await {
            Some((200, node)) if node == to => {
                let now = Instant::now();
                return Switch {
                    took: now - since,
                    failures,
                    last_failure: last_failure.map(|l| now - l),
                };
            }
            Some((200, _)) => {}
            _ => {
                failures += 1;
                last_failure = Some(sent);
            }
        }
        assert!(
            since.elapsed() < limit,
            "{to} did not serve on {url} within {limit:?}\n{}",
            diagnostics()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
