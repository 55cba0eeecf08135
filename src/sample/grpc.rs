//! The sample app's gRPC side, for tests and demos of proxying gRPC (h2 end to end, trailers,
//! server streaming, health checks).
//!
//! Services on one h2-only listener ([`serve_grpc`]):
//!
//! - `grpc.health.v1.Health` (`tonic-health`): `Check` and `Watch`; `""` and
//!   `gatehouse.sample.v1.Echo` are `SERVING`, `NOT_SERVING` while the instance's `healthz`
//!   fault is `fail` (`POST /fault?healthz=fail` on the HTTP port of the same options).
//! - `gatehouse.sample.v1.Echo`: unary `Say` ([`EchoRequest`] → [`EchoReply`]; a message
//!   `fail:<code>` fails with that numeric gRPC status code) and server-streaming `Count`
//!   ([`CountRequest`] → stream of [`CountReply`], `n=0` meaning until the client goes away).
//!   Both fail with `UNAVAILABLE` while the `work=refuse` fault is on.
//!
//! Every response carries `x-backend: <name>` in its headers (gRPC initial metadata).
//!
//! The messages are hand-written `prost` structs and the service code comes from
//! `tonic_build::manual` (see `build.rs`), so no `protoc` is needed. Clients for tests:
//! [`EchoClient`] and [`HealthClient`] over a `tonic::transport::Channel` (tonic's `channel`
//! feature, enabled for the tests only).

use super::fault::{Faults, Healthz};
use super::routes::name_header;
use super::sse::{count_and_interval, Ticker};
use super::SampleOptions;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::net::TcpListener;
use tonic::codegen::Service as _;
use tonic::server::NamedService;
use tonic::{Code, Request, Response, Status};
use tonic_health::server::HealthReporter;

#[allow(
    missing_docs,
    unreachable_pub,
    unused_qualifications,
    rust_2018_idioms,
    clippy::all,
    clippy::pedantic
)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/gatehouse.sample.v1.Echo.rs"));
}

pub use generated::echo_client::EchoClient;
pub use generated::echo_server::{Echo, EchoServer};
pub use tonic_health::pb::health_check_response::ServingStatus;
pub use tonic_health::pb::health_client::HealthClient;
pub use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

/// `gatehouse.sample.v1.EchoRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct EchoRequest {
    /// Text to echo; `fail:<code>` asks for that gRPC status code instead.
    #[prost(string, tag = "1")]
    pub message: String,
}

/// `gatehouse.sample.v1.EchoReply`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct EchoReply {
    /// The request's message.
    #[prost(string, tag = "1")]
    pub message: String,
    /// Name of the instance that answered.
    #[prost(string, tag = "2")]
    pub backend: String,
}

/// `gatehouse.sample.v1.CountRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct CountRequest {
    /// How many replies (0: until the client goes away; capped at 1 000 000).
    #[prost(uint32, tag = "1")]
    pub n: u32,
    /// Pause between replies; the first comes at once.
    #[prost(uint32, tag = "2")]
    pub interval_ms: u32,
}

/// `gatehouse.sample.v1.CountReply`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct CountReply {
    /// 0, 1, 2, …
    #[prost(uint64, tag = "1")]
    pub i: u64,
    /// Name of the instance that answered.
    #[prost(string, tag = "2")]
    pub backend: String,
}

/// The `Echo` implementation of one instance.
#[derive(Debug)]
struct EchoService {
    name: String,
    faults: Arc<Faults>,
}

impl EchoService {
    fn check_work(&self) -> Result<(), Status> {
        if self.faults.refusing() {
            return Err(Status::unavailable("refusing work (fault)"));
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl Echo for EchoService {
    async fn say(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        self.check_work()?;
        let message = request.into_inner().message;
        if let Some(code) = message.strip_prefix("fail:") {
            let code = match code.trim().parse::<i32>().map(Code::from) {
                Ok(Code::Ok) | Err(_) => Code::Unknown,
                Ok(code) => code,
            };
            return Err(Status::new(code, format!("failed on purpose ({message})")));
        }
        Ok(Response::new(EchoReply {
            message,
            backend: self.name.clone(),
        }))
    }

    type CountStream = CountStream;

    async fn count(&self, request: Request<CountRequest>) -> Result<Response<CountStream>, Status> {
        self.check_work()?;
        let req = request.into_inner();
        let (limit, interval) = count_and_interval(
            Some(u64::from(req.n)),
            Some(u64::from(req.interval_ms)),
            0,
            0,
        );
        Ok(Response::new(CountStream {
            ticker: Ticker::new(limit, interval),
            backend: self.name.clone(),
        }))
    }
}

/// The reply stream of `Count`: made lazily as the client reads.
#[derive(Debug)]
pub struct CountStream {
    ticker: Ticker,
    backend: String,
}

impl futures_core::Stream for CountStream {
    type Item = Result<CountReply, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let i = ready!(this.ticker.poll_tick(cx));
        Poll::Ready(i.map(|i| {
            Ok(CountReply {
                i,
                backend: this.backend.clone(),
            })
        }))
    }
}

/// The gRPC health of an instance with these fault switches.
fn health_of(faults: &Faults) -> tonic_health::ServingStatus {
    match faults.healthz() {
        Healthz::Fail => tonic_health::ServingStatus::NotServing,
        Healthz::Ok | Healthz::Hold => tonic_health::ServingStatus::Serving,
    }
}

async fn publish_health(reporter: &HealthReporter, faults: &Faults) {
    let status = health_of(faults);
    for service in ["", <EchoServer<EchoService> as NamedService>::NAME] {
        reporter.set_service_status(service, status).await;
    }
}

/// Serves gRPC (h2 only: prior knowledge in cleartext, ALPN `h2` with TLS when `options.tls`
/// is set) until `shutdown` resolves. Shares `options.faults` with an HTTP listener started
/// with a clone of the same options.
pub async fn serve_grpc(
    listener: TcpListener,
    options: SampleOptions,
    shutdown: impl Future<Output = ()>,
) {
    let (reporter, health) = tonic_health::server::health_reporter();
    let faults = options.faults.clone();
    let mut changes = faults.subscribe();
    publish_health(&reporter, &faults).await;
    let follow = tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            publish_health(&reporter, &faults).await;
        }
    });

    let echo = EchoServer::new(EchoService {
        name: options.name.clone(),
        faults: options.faults.clone(),
    });
    let backend = name_header(&options.name);
    let acceptor = options.tls.as_ref().map(|config| {
        let mut config = (**config).clone();
        config.alpn_protocols = vec![b"h2".to_vec()];
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    });
    let echo_prefix = format!("/{}/", <EchoServer<EchoService> as NamedService>::NAME);
    let health_prefix = format!(
        "/{}/",
        <tonic_health::pb::health_server::HealthServer<tonic_health::server::HealthService> as NamedService>::NAME
    );
    let service = service_fn(move |req: http::Request<Incoming>| {
        let (mut echo, mut health) = (echo.clone(), health.clone());
        let backend = backend.clone();
        let path = req.uri().path();
        let to_echo = path.starts_with(&echo_prefix);
        let to_health = path.starts_with(&health_prefix);
        async move {
            let mut resp = if to_echo {
                let Ok(resp) = echo.call(req).await;
                resp
            } else if to_health {
                let Ok(resp) = health.call(req).await;
                resp
            } else {
                Status::unimplemented("no such service").into_http()
            };
            resp.headers_mut().insert("x-backend", backend);
            Ok::<_, std::convert::Infallible>(resp)
        }
    });

    tokio::pin!(shutdown);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            a = listener.accept() => a,
        };
        let Ok((tcp, _)) = accepted else { continue };
        let _ = tcp.set_nodelay(true);
        let service = service.clone();
        let acceptor = acceptor.clone();
        connections.spawn(async move {
            let builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
            match acceptor {
                None => {
                    let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
                }
                Some(acceptor) => {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        let _ = builder.serve_connection(TokioIo::new(tls), service).await;
                    }
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
    connections.abort_all();
    follow.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_follows_the_healthz_fault() {
        let faults = Faults::default();
        assert_eq!(health_of(&faults), tonic_health::ServingStatus::Serving);
        faults.set_healthz(Healthz::Fail);
        assert_eq!(health_of(&faults), tonic_health::ServingStatus::NotServing);
    }

    #[tokio::test]
    async fn fail_prefix_picks_the_status() {
        let svc = EchoService {
            name: "g".into(),
            faults: Arc::default(),
        };
        let say = |m: &str| svc.say(Request::new(EchoRequest { message: m.into() }));
        assert_eq!(say("hi").await.unwrap().into_inner().backend, "g");
        assert_eq!(say("fail:14").await.unwrap_err().code(), Code::Unavailable);
        assert_eq!(say("fail:0").await.unwrap_err().code(), Code::Unknown);
        svc.faults.set_refusing(true);
        assert_eq!(say("hi").await.unwrap_err().code(), Code::Unavailable);
    }
}
