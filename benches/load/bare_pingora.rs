//! The baseline the issue measures against: a bare Pingora proxy with no gatehouse logic —
//! round robin over fixed backends, one listener each for HTTP and HTTPS (rustls, ALPN h2),
//! nothing else. `benches/load/run --targets "... bare"` runs it beside the others, so the
//! table separates what Pingora costs from what gatehouse adds.
//!
//! `cargo run --release --example bare-pingora -- THREADS HTTP_ADDR HTTPS_ADDR CERT KEY BACKEND...`

use async_trait::async_trait;
use pingora::listeners::tls::TlsSettings;
use pingora::prelude::*;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Bare {
    backends: Vec<SocketAddr>,
    next: AtomicUsize,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();
    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.backends.len();
        Ok(Box::new(HttpPeer::new(
            self.backends[i],
            false,
            String::new(),
        )))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [threads, http, https, cert, key, backends @ ..] = args.as_slice() else {
        eprintln!("usage: bare-pingora THREADS HTTP_ADDR HTTPS_ADDR CERT KEY BACKEND...");
        std::process::exit(2);
    };
    let backends: Vec<SocketAddr> = backends.iter().filter_map(|b| b.parse().ok()).collect();
    if backends.is_empty() {
        eprintln!("no valid BACKEND address");
        std::process::exit(2);
    }
    let conf = pingora::server::configuration::ServerConf {
        threads: threads.parse().unwrap_or(1),
        ..Default::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut proxy = http_proxy_service(
        &server.configuration,
        Bare {
            backends,
            next: AtomicUsize::new(0),
        },
    );
    proxy.add_tcp(http);
    match TlsSettings::intermediate(cert, key) {
        Ok(mut tls) => {
            tls.enable_h2();
            proxy.add_tls_with_settings(https, None, tls);
        }
        Err(e) => {
            eprintln!("TLS settings: {e}");
            std::process::exit(1);
        }
    }
    server.add_service(proxy);
    server.run_forever();
}
