//! Sample apps for tests: in-process (fast) or as child processes (for SIGKILL).

use gatehouse::sample::{serve, serve_grpc, SampleOptions};
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::oneshot;
use tonic::transport::{Channel, Endpoint};

/// An in-process sample app on an ephemeral port; stops when dropped.
pub struct TestBackend {
    pub addr: SocketAddr,
    pub name: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestBackend {
    pub async fn start(name: &str) -> Self {
        Self::start_with(SampleOptions::named(name)).await
    }

    pub async fn start_tls(name: &str, config: Arc<rustls::ServerConfig>) -> Self {
        Self::start_with(SampleOptions::named(name).with_tls(config)).await
    }

    pub async fn start_with(options: SampleOptions) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let name = options.name.clone();
        let task = tokio::spawn(serve(listener, options, async {
            let _ = stopped.await;
        }));
        TestBackend {
            addr,
            name,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `ws://<addr><path>` (for `tokio_tungstenite::client_async` on a TCP stream to `addr`).
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// Stops accepting and closes every connection (upgraded ones included).
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for TestBackend {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// An in-process sample gRPC server (`serve_grpc`) on an ephemeral port; stops when dropped.
/// Start it with a clone of a `TestBackend`'s options to share its fault switches.
pub struct TestGrpcBackend {
    pub addr: SocketAddr,
    pub name: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestGrpcBackend {
    /// Cleartext h2 (prior knowledge).
    pub async fn start(name: &str) -> Self {
        Self::start_with(SampleOptions::named(name)).await
    }

    /// TLS (ALPN `h2`) with `config`.
    pub async fn start_tls(name: &str, config: Arc<rustls::ServerConfig>) -> Self {
        Self::start_with(SampleOptions::named(name).with_tls(config)).await
    }

    pub async fn start_with(options: SampleOptions) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let name = options.name.clone();
        let task = tokio::spawn(serve_grpc(listener, options, async {
            let _ = stopped.await;
        }));
        TestGrpcBackend {
            addr,
            name,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A cleartext (h2c) channel to this server.
    pub async fn channel(&self) -> Channel {
        grpc_channel(self.addr).await
    }

    /// A TLS channel to this server, trusting what `client` trusts (its ALPN is set to `h2`).
    pub async fn tls_channel(
        &self,
        client: Arc<rustls::ClientConfig>,
        server_name: &str,
    ) -> Channel {
        grpc_tls_channel(self.addr, client, server_name).await
    }

    /// Stops accepting and closes every connection.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for TestGrpcBackend {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// A cleartext h2 gRPC channel to `addr` (a sample gRPC server or a proxy in front of one).
pub async fn grpc_channel(addr: SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// A gRPC channel over TLS (tokio-rustls, ALPN `h2`) to `addr`, checking the certificate
/// against `server_name`. tonic's own TLS features stay off: they would bring a second TLS
/// setup (and possibly aws-lc) into the tree.
pub async fn grpc_tls_channel(
    addr: SocketAddr,
    client: Arc<rustls::ClientConfig>,
    server_name: &str,
) -> Channel {
    let mut config = (*client).clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = TlsConnector {
        addr,
        tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        server_name: rustls::pki_types::ServerName::try_from(server_name.to_string()).unwrap(),
    };
    Endpoint::from_shared(format!("https://{server_name}:{}", addr.port()))
        .unwrap()
        .connect_with_connector(connector)
        .await
        .unwrap()
}

#[derive(Clone)]
struct TlsConnector {
    addr: SocketAddr,
    tls: tokio_rustls::TlsConnector,
    server_name: rustls::pki_types::ServerName<'static>,
}

type TlsIo = hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

impl tonic::codegen::Service<http::Uri> for TlsConnector {
    type Response = TlsIo;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<TlsIo, std::io::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let tcp = tokio::net::TcpStream::connect(this.addr).await?;
            let tls = this.tls.connect(this.server_name, tcp).await?;
            Ok(hyper_util::rt::TokioIo::new(tls))
        })
    }
}

/// A `sample-app` child process; SIGKILLed when dropped.
pub struct ChildBackend {
    pub addr: SocketAddr,
    /// The gRPC listener (`--grpc-listen`), when started with one.
    pub grpc_addr: Option<SocketAddr>,
    pub name: String,
    child: Child,
}

impl ChildBackend {
    pub fn spawn(name: &str) -> Self {
        Self::spawn_on(name, "127.0.0.1:0")
    }

    /// Starts on a given address (to bring a killed backend back on its port).
    pub fn spawn_on(name: &str, listen: &str) -> Self {
        Self::spawn_full(name, listen, None)
    }

    /// Starts with a gRPC listener too (both on ephemeral ports).
    pub fn spawn_with_grpc(name: &str) -> Self {
        Self::spawn_full(name, "127.0.0.1:0", Some("127.0.0.1:0"))
    }

    fn spawn_full(name: &str, listen: &str, grpc_listen: Option<&str>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sample-app"));
        command.args(["--listen", listen, "--name", name]);
        if let Some(grpc) = grpc_listen {
            command.args(["--grpc-listen", grpc]);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn sample-app");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut banner = || {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("read sample-app banner");
            line.trim()
                .rsplit(' ')
                .next()
                .and_then(|a| a.parse::<SocketAddr>().ok())
                .unwrap_or_else(|| panic!("unexpected sample-app banner: {line:?}"))
        };
        let addr = banner();
        let grpc_addr = grpc_listen.map(|_| banner());
        ChildBackend {
            addr,
            grpc_addr,
            name: name.to_string(),
            child,
        }
    }

    /// SIGKILL, no goodbye: the abrupt death failover must cope with.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildBackend {
    fn drop(&mut self) {
        self.kill();
    }
}
