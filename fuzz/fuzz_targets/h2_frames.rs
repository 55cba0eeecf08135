//! The HTTP/2 engine (`forward::h2::serve`, with the vendored h2 crate) fed the fuzzer's bytes
//! as a client's frame sequence, in process over an in-memory pipe: never a panic, the
//! connection always ends once the client has, and no stream is left counted
//! (`gatehouse_http2_streams_open` and `gatehouse_http2_connections_open` back to 0).
//!
//! Input: frames, each `[type, flags, stream, length]` then `length` payload bytes (stream ids
//! are 0..=255, so they collide and repeat); a first byte below 0x80 sends a request HEADERS
//! block first (an HPACK block of `GET /` to a route), so the state machine gets past "idle"
//! without the fuzzer having to invent HPACK. The routes answer locally (fixed responses, a
//! redirect, 404): no backend, no network.
#![no_main]

use gatehouse::forward::h1::ConnInfo;
use gatehouse::forward::Engine;
use gatehouse::runtime::{Applied, BoundListener, SharedState, Snapshot};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CONFIG: &str = r#"
[listeners.h2c]
address = "127.0.0.1:1"
h2c = true
[routes.fixed]
path_prefix = "/"
pool = "unused"
respond = { status = 200, body = "fixed" }
[routes.moved]
path_prefix = "/moved"
pool = "unused"
redirect = { to = "https://example.test/" }
[pools.unused]
backends = [{ address = "127.0.0.1:1" }]
"#;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// `GET /` (static table) with a literal `:authority` of `a`.
const GET: &[u8] = &[0x82, 0x86, 0x84, 0x01, 0x01, b'a'];

struct World {
    rt: tokio::runtime::Runtime,
    engine: Arc<Engine>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    _shutdown_tx: tokio::sync::watch::Sender<bool>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        gatehouse::metrics::init();
        let resolver = gatehouse::config::resolve::StaticResolver::default();
        let ctx = gatehouse::config::Context {
            resolver: &resolver,
            now: std::time::SystemTime::now(),
            in_service: None,
        };
        let path = std::env::temp_dir().join("gatehouse-fuzz-h2-frames.toml");
        let validated =
            gatehouse::config::validate::validate(&path, CONFIG, &ctx).expect("fuzz config");
        let config = Arc::new(validated.config);
        let registry = Arc::new(gatehouse::health::Registry::new());
        let bound: Vec<BoundListener> = config.listeners.iter().map(BoundListener::of).collect();
        let names: Vec<String> = bound.iter().map(|b| b.name.clone()).collect();
        let first = Snapshot::build(config.clone(), 1, &names, None, &registry);
        let applied = Applied::of(&config, config.server.upgrade_socket.clone());
        let state = Arc::new(SharedState::new(first, registry, bound, applied));
        let budget = Arc::new(gatehouse::proxy::retry_budget::RetryBudget::new());
        let engine = Arc::new(Engine::new(state, budget, None, 0));
        let (tx, rx) = tokio::sync::watch::channel(false);
        // Paused time: a wait for the server's silence, or for its timers, costs nothing.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        World {
            rt,
            engine,
            shutdown: rx,
            _shutdown_tx: tx,
        }
    })
}

/// The client's bytes for `data`.
fn client_bytes(data: &[u8]) -> Vec<u8> {
    let mut out = PREFACE.to_vec();
    out.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]); // empty SETTINGS
    if data.first().is_some_and(|b| *b < 0x80) {
        push_frame(&mut out, 1, 0x4 | u8::from(data[0] & 1 == 0), 1, GET);
    }
    let mut rest = data.get(1..).unwrap_or_default();
    while rest.len() >= 4 {
        let (kind, flags, stream, len) = (rest[0], rest[1], rest[2], usize::from(rest[3]));
        let payload = &rest[4..(4 + len).min(rest.len())];
        push_frame(&mut out, kind, flags, u32::from(stream), payload);
        rest = &rest[4 + payload.len()..];
    }
    out
}

fn push_frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

fn gauge(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fuzz_target!(|data: &[u8]| {
    let w = world();
    let bytes = client_bytes(data);
    w.rt.block_on(async {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let info = ConnInfo {
            listener: 0,
            peer: None,
            tls: false,
            tls_version: None,
            client_cert: None,
        };
        let engine = w.engine.clone();
        let shutdown = w.shutdown.clone();
        let conn = tokio::spawn(async move {
            gatehouse::forward::h2::serve(&engine, server, info, &shutdown).await;
        });
        // The client writes, reads what the server answers until the server has nothing more
        // to say (time is paused: the 50 ms pass the moment every task waits), then closes;
        // the connection must end.
        let drain = async {
            let _ = client.write_all(&bytes).await;
            let mut sink = vec![0u8; 1 << 16];
            let mut answered = 0;
            while let Ok(Ok(n @ 1..)) =
                tokio::time::timeout(Duration::from_millis(50), client.read(&mut sink)).await
            {
                answered += n;
            }
            let _ = client.shutdown().await;
            while let Ok(n @ 1..) = client.read(&mut sink).await {
                answered += n;
            }
            answered
        };
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            let answered = drain.await;
            conn.await.map(|()| answered)
        })
        .await;
        match ended {
            Ok(Ok(answered)) => {
                if std::env::var_os("FUZZ_H2_VERBOSE").is_some() {
                    eprintln!("sent {} bytes, the server answered {answered}", bytes.len());
                }
            }
            Ok(Err(e)) => panic!("the connection task failed: {e}"),
            Err(_) => panic!("the connection did not end after the client closed"),
        }
    });
    // A gauge not yet touched is not rendered: 0.
    let m = gatehouse::metrics::render();
    for name in [
        "gatehouse_http2_streams_open",
        "gatehouse_http2_connections_open",
    ] {
        assert_eq!(
            gauge(&m, name).unwrap_or(0.0),
            0.0,
            "{name} left open:\n{m}"
        );
    }
});
