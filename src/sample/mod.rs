//! The sample backend used by the demo, the tests and the benchmarks.
//!
//! Routes: `/` (a page naming the instance), `/healthz`, `/echo` (request line and headers as
//! JSON), `/status/{code}`, `/delay/{ms}`, `/bytes/{n}`, `/stream/{chunks}?interval_ms=`,
//! and `POST /fault?healthz=ok|fail|hold&work=ok|refuse` to break it on purpose. Every
//! response carries `x-backend: <name>` so callers can see who answered.

mod fault;
mod routes;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

pub use fault::Faults;

/// Response body type.
pub type Body = BoxBody<Bytes, std::convert::Infallible>;

/// How an instance presents itself.
#[derive(Clone)]
pub struct SampleOptions {
    /// Name shown in responses (`x-backend`).
    pub name: String,
    /// Serve TLS with this config (for backend-TLS tests).
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl std::fmt::Debug for SampleOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SampleOptions")
            .field("name", &self.name)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl SampleOptions {
    /// A plain-HTTP instance called `name`.
    pub fn named(name: &str) -> Self {
        SampleOptions {
            name: name.to_string(),
            tls: None,
        }
    }
}

/// Serves until `shutdown` resolves. HTTP/1.1 with keep-alive, and HTTP/2 (prior knowledge or
/// ALPN when TLS is on).
pub async fn serve(
    listener: TcpListener,
    options: SampleOptions,
    shutdown: impl Future<Output = ()>,
) {
    let state = Arc::new(routes::Instance::new(options.name.clone()));
    let acceptor = options.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    tokio::pin!(shutdown);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            a = listener.accept() => a,
        };
        let Ok((tcp, _)) = accepted else { continue };
        let _ = tcp.set_nodelay(true);
        let state = state.clone();
        let acceptor = acceptor.clone();
        connections.spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, std::convert::Infallible>(state.handle(req).await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            match acceptor {
                None => {
                    let _ = builder
                        .serve_connection_with_upgrades(TokioIo::new(tcp), service)
                        .await;
                }
                Some(acceptor) => {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        let _ = builder
                            .serve_connection_with_upgrades(TokioIo::new(tls), service)
                            .await;
                    }
                }
            }
        });
        // Reap finished connection tasks so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
    connections.abort_all();
}
