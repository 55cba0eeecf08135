//! Route rules checked before a request is forwarded: address allow/deny lists (403), the
//! per-client rate limit (429 with `Retry-After`), and the declared body size (413).

use crate::net::cidr::any_contains;
use crate::runtime::snapshot::RouteEntry;
use std::net::IpAddr;
use std::time::Duration;

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// 403, 413 or 429.
    pub status: u16,
    /// Metric label.
    pub reason: &'static str,
    /// For 429: when to come back.
    pub retry_after: Option<Duration>,
}

/// Checks `route`'s rules for a request from `client` declaring `content_length`.
///
/// # Errors
/// The [`Refusal`] to answer with.
pub fn check(
    route: &RouteEntry,
    client: Option<IpAddr>,
    content_length: Option<u64>,
) -> Result<(), Refusal> {
    address_check(route, client)?;
    if let (Some(max), Some(len)) = (route.extras.max_body_size, content_length) {
        if len > max {
            return Err(Refusal {
                status: 413,
                reason: "body_too_large",
                retry_after: None,
            });
        }
    }
    if let (Some(limiter), Some(ip)) = (&route.rate_limiter, client) {
        if let Err(wait) = limiter.check(ip) {
            return Err(Refusal {
                status: 429,
                reason: "rate_limited",
                retry_after: Some(wait),
            });
        }
    }
    Ok(())
}

/// The route's allow/deny lists alone (no state is touched: the reload preview replays this).
///
/// # Errors
/// The 403 [`Refusal`].
pub fn address_check(route: &RouteEntry, client: Option<IpAddr>) -> Result<(), Refusal> {
    if let Some(ip) = client {
        if any_contains(&route.extras.deny, ip)
            || (!route.extras.allow.is_empty() && !any_contains(&route.extras.allow, ip))
        {
            return Err(Refusal {
                status: 403,
                reason: "access_denied",
                retry_after: None,
            });
        }
    }
    Ok(())
}

/// `Retry-After` in whole seconds, rounded up (at least 1).
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()))
}

#[cfg(test)]
mod tests {
    use super::retry_after_secs;
    use std::time::Duration;

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
