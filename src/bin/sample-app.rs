//! `sample-app`: the small backend used by the demo, tests and benchmarks (routes: see
//! `gatehouse::sample`).

use anyhow::Context as _;
use clap::Parser;
use gatehouse::sample::{serve, serve_grpc, SampleOptions};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

/// A small HTTP backend that names itself in every response.
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = "HTTP routes (every answer carries x-backend: NAME):
  / /healthz /echo /status/CODE /delay/MS /bytes/N /stream/CHUNKS?interval_ms=MS
  POST /fault?healthz=ok|fail|hold&work=ok|refuse   break it on purpose (gRPC follows)
  GET /ws[?hello=TEXT]            WebSocket echo; text `push:MS:TEXT` makes the server send TEXT after MS ms
  GET /upgrade/echo               any `Upgrade: TOKEN` (not h2c): 101, then a raw byte echo (half-close kept)
  GET /upgrade/bad?mode=no-upgrade-header|ignore   broken upgrade answers, for proxy tests
  GET /sse?n=N&interval=MS        server-sent events (default 10 events 1000 ms apart; n=0: endless)
  GET /download?size=B&chunk=B[&chunked=1]   B bytes of the pattern i % 251, made as they are read
  POST /upload[?verify=pattern]   counts the body: {\"backend\",\"bytes\"[,\"pattern_ok\"]}
gRPC (--grpc-listen; h2 only; TLS with the same --tls-* flags):
  grpc.health.v1.Health           Check, Watch (NOT_SERVING while healthz=fail)
  gatehouse.sample.v1.Echo        Say (unary; message `fail:CODE` fails with CODE), Count (server streaming)"
)]
struct Args {
    /// Address to listen on (`127.0.0.1:0` picks a free port, printed on stdout).
    #[arg(long, default_value = "127.0.0.1:9001")]
    listen: String,
    /// Also serve gRPC (h2 only) on this address, printed on stdout after the HTTP one as
    /// `sample-app <name> grpc listening on <addr>`. Same name, TLS and fault switches.
    #[arg(long)]
    grpc_listen: Option<String>,
    /// Name shown in responses (`x-backend` header, `/` page).
    #[arg(long, default_value = "sample")]
    name: String,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Serve TLS with this certificate chain (PEM)…
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// …and this key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require client certificates signed by this CA (mTLS).
    #[arg(long, requires = "tls_cert")]
    client_ca: Option<PathBuf>,
    /// Answer 500 to every N-th request (`/healthz` excepted): a bad release, 10 = 10 %.
    #[arg(long, default_value_t = 0)]
    error_every: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    gatehouse::tls::install_default_provider();
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => Some(tls_config(c, k, args.client_ca.as_deref())?),
        _ => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        println!("sample-app {} listening on {addr}", args.name);
        let grpc = match &args.grpc_listen {
            None => None,
            Some(listen) => {
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("cannot listen on {listen} (gRPC)"))?;
                println!(
                    "sample-app {} grpc listening on {}",
                    args.name,
                    listener.local_addr()?
                );
                Some(listener)
            }
        };
        std::io::stdout().flush()?;
        let mut options = SampleOptions::named(&args.name);
        options.tls = tls;
        options.faults.set_error_every(args.error_every);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            let _ = stop.send(true);
        });
        let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        let http = serve(listener, options.clone(), until_stopped(stopped.clone()));
        match grpc {
            None => http.await,
            Some(grpc) => {
                tokio::join!(http, serve_grpc(grpc, options, until_stopped(stopped)));
            }
        }
        Ok(())
    })
}

fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
    client_ca: Option<&std::path::Path>,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let loaded = gatehouse::tls::certs::load_pair(cert, key)?;
    let builder = rustls::ServerConfig::builder_with_provider(gatehouse::tls::provider())
        .with_safe_default_protocol_versions()?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
            let mut roots = rustls::RootCertStore::empty();
            for c in gatehouse::tls::certs::parse_cert_chain(ca, &pem)? {
                roots.add(c)?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                gatehouse::tls::provider(),
            )
            .build()?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(Arc::new(Single(loaded.certified.clone())));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[derive(Debug)]
struct Single(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for Single {
    fn resolve(
        &self,
        _: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
}
