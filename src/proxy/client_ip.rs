//! Which address a request comes from, for access rules and rate limits.
//!
//! The socket's peer (or the PROXY protocol's source) is the client, unless that peer is a
//! trusted proxy: then `X-Forwarded-For` is read from the right, skipping trusted proxies, and
//! the first untrusted address is the client. An untrusted peer's `X-Forwarded-For` is ignored,
//! so it cannot claim to be someone else.

use crate::net::cidr::{any_contains, Cidr};
use std::net::IpAddr;

/// The client address of a request.
pub fn resolve<'a>(
    peer: IpAddr,
    trusted: &[Cidr],
    forwarded_for: impl Iterator<Item = &'a str>,
) -> IpAddr {
    if !any_contains(trusted, peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if any_contains(trusted, ip) => continue,
            Ok(ip) => return ip,
            // Garbage in the chain: stop believing it here.
            Err(_) => return peer,
        }
    }
    peer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn trusted_chain() {
        let trusted: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        // Untrusted peer: its XFF is ignored.
        assert_eq!(
            resolve(ip("203.0.113.5"), &trusted, ["10.1.1.1"].into_iter()),
            ip("203.0.113.5")
        );
        // Trusted peer: rightmost untrusted hop wins.
        assert_eq!(
            resolve(
                ip("10.0.0.2"),
                &trusted,
                ["198.51.100.7, 10.0.0.9"].into_iter()
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            resolve(
                ip("10.0.0.2"),
                &trusted,
                ["1.1.1.1", "198.51.100.7"].into_iter()
            ),
            ip("198.51.100.7"),
            "spoofed leftmost entries do not count"
        );
        assert_eq!(
            resolve(ip("10.0.0.2"), &trusted, std::iter::empty()),
            ip("10.0.0.2")
        );
        assert_eq!(
            resolve(ip("10.0.0.2"), &trusted, ["garbage"].into_iter()),
            ip("10.0.0.2")
        );
    }
}
