//! Backend name resolution, done at load time (and on every reload), never on the request path.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// Turns a `host`, `port` into addresses. A trait so tests can resolve without DNS.
pub trait Resolve: Send + Sync {
    /// All addresses for the name, in resolver order, without duplicates.
    ///
    /// # Errors
    /// The resolver's error when the name does not resolve.
    fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>>;
}

/// The system resolver (`getaddrinfo`).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        let mut out: Vec<SocketAddr> = Vec::new();
        for addr in (host, port).to_socket_addrs()? {
            if !out.contains(&addr) {
                out.push(addr);
            }
        }
        if out.is_empty() {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no addresses"));
        }
        Ok(out)
    }
}

/// A fixed table of names, for tests and examples.
#[derive(Debug, Default, Clone)]
pub struct StaticResolver {
    names: HashMap<String, Vec<IpAddr>>,
}

impl StaticResolver {
    /// Adds a name with its addresses.
    pub fn with(mut self, name: &str, addrs: &[IpAddr]) -> Self {
        self.names.insert(name.to_ascii_lowercase(), addrs.to_vec());
        self
    }
}

impl Resolve for StaticResolver {
    fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        self.names
            .get(&host.to_ascii_lowercase())
            .map(|ips| ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "name does not resolve"))
    }
}
