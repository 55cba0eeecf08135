//! Connections to backends: opened through Pingora's `TransportConnector` (TCP, TLS with the
//! pool's verification and client certificate, connect timeouts), and kept idle for reuse in
//! gatehouse's own pool.
//!
//! Why not Pingora's pool: every idle connection there is held by a watcher task that is spawned
//! anew after each request, reuse waits on a mutex that task holds, and each reuse calls
//! `getpeername` (ARCHITECTURE.md §1b). Here an idle connection is just a value in a shard
//! chosen by the worker thread: taking one is an uncontended lock and a `Vec::pop`; whether the
//! backend closed it meanwhile is read from the socket's readiness without a system call (a
//! poll with a no-op waker), and expired connections are swept once a second.

use crate::listener::deadline::Watchdog;
use crate::listener::gated::IdleRelease as _;
use parking_lot::Mutex;
use pingora::connectors::TransportConnector;
use pingora::protocols::Stream;
use pingora::upstreams::peer::HttpPeer;
use std::cell::Cell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::ReadBuf;
use tokio::time::Instant;

/// Shards of the idle pool: more than worker threads, so each thread mostly has its own.
const SHARDS: usize = 64;

/// A connection to a backend, fresh or reused.
pub struct Upstream {
    /// The transport (TCP or TLS).
    pub stream: Stream,
    /// The backend's reuse key (see [`crate::runtime::pool::PoolBackend::reuse_key`]).
    pub key: u64,
    /// Taken from the idle pool (a failure before any response byte may be the keep-alive
    /// race, and is retried on a fresh connection).
    pub reused: bool,
    /// The timer for waits on this backend connection, kept with it in the idle pool. An
    /// HTTP/2 stream has a connection for one exchange only, so a timer of the stream's own
    /// would be made, put in the timer wheel and taken out again for each response; this one
    /// stays armed across the exchanges and moves only when it fires early (see
    /// [`Watchdog`]). The HTTP/1 engine waits with its client connection's timer instead.
    pub watchdog: Watchdog,
}

struct Idle {
    stream: Stream,
    expires: Instant,
    watchdog: Watchdog,
}

/// The keys are already hashes: no need to hash them again.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Default)]
struct Shard {
    idle: HashMap<u64, Vec<Idle>, BuildHasherDefault<KeyHasher>>,
    count: usize,
}

/// Opens and pools upstream connections for one gatehouse instance.
pub struct Connector {
    transport: Arc<TransportConnector>,
    shards: Box<[Mutex<Shard>]>,
    /// Idle connections kept per shard (per worker thread).
    max_idle_per_shard: usize,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("max_idle_per_shard", &self.max_idle_per_shard)
            .finish()
    }
}

thread_local! {
    static THREAD_SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The shard of the calling thread (assigned round robin on first use).
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    THREAD_SHARD.with(|slot| {
        let mut i = slot.get();
        if i == usize::MAX {
            i = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
            slot.set(i);
        }
        i
    })
}

impl Connector {
    /// A connector keeping at most `max_idle` idle connections per worker thread (a thread's
    /// idle connections are the ones its requests finished with).
    pub fn new(max_idle: usize) -> Self {
        Connector {
            transport: crate::tls::upstream::transport_connector(),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            max_idle_per_shard: max_idle.max(1),
        }
    }

    /// The transport connector (TCP, TLS) itself, for the HTTP/2 pool.
    pub fn transport(&self) -> &TransportConnector {
        &self.transport
    }

    /// An idle connection to the backend with this key that is still open, if there is one.
    pub fn take_idle(&self, key: u64) -> Option<Upstream> {
        let shard = &self.shards[shard_index()];
        let now = Instant::now();
        loop {
            let idle = {
                // An emptied list stays in the map (the sweeper removes it): a backend in use
                // empties and refills its list all the time.
                let mut s = shard.lock();
                let idle = s.idle.get_mut(&key)?.pop()?;
                s.count -= 1;
                idle
            };
            if idle.expires <= now {
                continue;
            }
            let mut stream = idle.stream;
            if still_open(&mut stream) {
                return Some(Upstream {
                    stream,
                    key,
                    reused: true,
                    watchdog: idle.watchdog,
                });
            }
        }
    }

    /// Opens a new connection (TCP, then TLS if the peer says so) within the peer's connect
    /// timeout.
    ///
    /// # Errors
    /// Pingora's connect error (refused, timed out, TLS failure…).
    pub async fn connect(&self, peer: &HttpPeer, key: u64) -> pingora::Result<Upstream> {
        // Boxed: Pingora's connect future (TCP, TLS, timeouts) is ~8 KiB, and every request's
        // future would otherwise be sized for it, connect or not (most reuse a connection).
        let stream = Box::pin(self.transport.new_stream(peer)).await?;
        Ok(Upstream {
            stream,
            key,
            reused: false,
            watchdog: Watchdog::default(),
        })
    }

    /// Keeps a connection whose exchange completed cleanly for reuse within `idle`.
    pub fn release(&self, upstream: Upstream, idle: Duration) {
        if idle.is_zero() {
            return;
        }
        let mut s = self.shards[shard_index()].lock();
        if s.count >= self.max_idle_per_shard {
            // Full: the least recently used list loses its oldest connection.
            let Some(oldest) = s
                .idle
                .iter()
                .filter_map(|(k, v)| v.first().map(|i| (*k, i.expires)))
                .min_by_key(|&(_, e)| e)
                .map(|(k, _)| k)
            else {
                return;
            };
            let emptied = s.idle.get_mut(&oldest).map(|list| {
                list.remove(0);
                list.is_empty()
            });
            if emptied.is_some() {
                s.count -= 1;
            }
            if emptied == Some(true) {
                s.idle.remove(&oldest);
            }
        }
        s.idle.entry(upstream.key).or_default().push(Idle {
            stream: upstream.stream,
            expires: Instant::now() + idle,
            watchdog: upstream.watchdog,
        });
        s.count += 1;
    }

    /// Closes every idle connection past its idle timeout (the sweeper calls this each second),
    /// and has the others give back what their transport holds while idle (a TLS connection's
    /// 4 KiB record buffer, which rustls would keep for the connection's life). Here rather
    /// than when a connection is parked: a connection that is reused at once keeps its buffer,
    /// and one is allocated again at most once a second per idle connection.
    pub fn sweep(&self) -> usize {
        let now = Instant::now();
        let mut closed = 0;
        for shard in self.shards.iter() {
            let mut s = shard.lock();
            if s.count == 0 {
                if !s.idle.is_empty() {
                    s.idle.clear();
                }
                continue;
            }
            let mut removed = 0;
            s.idle.retain(|_, list| {
                let before = list.len();
                list.retain_mut(|i| {
                    let open = i.expires > now;
                    if open {
                        i.stream.release_idle_buffers();
                    }
                    open
                });
                removed += before - list.len();
                !list.is_empty()
            });
            s.count -= removed;
            closed += removed;
        }
        closed
    }

    /// Idle connections held now.
    pub fn idle_count(&self) -> usize {
        self.shards.iter().map(|s| s.lock().count).sum()
    }
}

/// Whether an idle connection is still usable: nothing to read yet. A backend that closed it
/// (EOF), reset it, or sent bytes nobody asked for makes it unusable. No system call is made
/// when the socket has not been reported readable since the last read drained it.
fn still_open(stream: &mut Stream) -> bool {
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    let mut byte = [0u8; 1];
    let mut buf = ReadBuf::new(&mut byte);
    matches!(
        Pin::new(&mut **stream).poll_read(&mut cx, &mut buf),
        Poll::Pending
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    async fn pair() -> (Stream, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let stream: Stream = Box::new(pingora::protocols::l4::stream::Stream::from(client));
        (stream, server)
    }

    /// Parks `stream` in the idle pool as a finished exchange would.
    fn park(connector: &Connector, stream: Stream, key: u64, idle: Duration) {
        let reused = false;
        connector.release(
            Upstream {
                stream,
                key,
                reused,
                watchdog: Watchdog::default(),
            },
            idle,
        );
    }

    fn fd(s: &Stream) -> i32 {
        pingora::protocols::UniqueID::id(&**s)
    }

    #[tokio::test]
    async fn reuses_open_connections_and_drops_closed_ones() {
        let connector = Connector::new(16);
        let (a, _server_a) = pair().await;
        let (b, server_b) = pair().await;
        let fd_a = fd(&a);
        let release = |stream| park(&connector, stream, 7, Duration::from_secs(60));
        release(a);
        release(b);
        assert_eq!(connector.idle_count(), 2);
        // The most recently released one is closed by its peer: once the kernel reports it,
        // it is skipped and dropped, and the open one is used.
        drop(server_b);
        let taken = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let u = connector.take_idle(7).unwrap();
                if fd(&u.stream) == fd_a {
                    break u;
                }
                release(u.stream);
                tokio::task::yield_now().await;
            }
        })
        .await
        .unwrap();
        assert!(taken.reused);
        assert_eq!(connector.idle_count(), 0);
        assert!(connector.take_idle(7).is_none());
    }

    #[tokio::test]
    async fn unsolicited_bytes_make_a_connection_unusable() {
        let connector = Connector::new(16);
        let (a, mut server) = pair().await;
        server.write_all(b"HTTP/1.1 408 x\r\n\r\n").await.unwrap();
        let mut a = a;
        tokio::time::timeout(Duration::from_secs(5), async {
            while still_open(&mut a) {
                tokio::task::yield_now().await;
            }
        })
        .await
        .unwrap();
        park(&connector, a, 1, Duration::from_secs(60));
        assert!(connector.take_idle(1).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn expired_connections_are_swept_and_the_pool_is_bounded() {
        let connector = Connector::new(1);
        let (a, _sa) = pair().await;
        let (b, _sb) = pair().await;
        park(&connector, a, 1, Duration::from_millis(1));
        park(&connector, b, 2, Duration::from_secs(60));
        assert_eq!(connector.idle_count(), 1, "bounded: the oldest made room");
        assert!(connector.take_idle(1).is_none());
        let (c, _sc) = pair().await;
        park(&connector, c, 3, Duration::from_millis(1));
        tokio::time::advance(Duration::from_millis(2)).await;
        assert_eq!(connector.sweep(), 1);
    }

    /// A pooled TLS connection gives its record buffer back at the next sweep and is reused
    /// as before.
    #[test]
    fn the_sweep_has_idle_tls_connections_give_their_record_buffer_back() {
        use crate::memory::counting;
        use crate::tls::test_pair::RECORD_BUFFER;
        use tokio::io::AsyncReadExt as _;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (mut peer, tls) = crate::tls::test_pair::connected().await;
            let mut stream: Stream = Box::new(tls);
            // One exchange, so that the stream has read (and sized its record buffer).
            peer.write_all(b"ping").await.unwrap();
            peer.flush().await.unwrap();
            let mut got = [0u8; 4];
            stream.read_exact(&mut got).await.unwrap();
            let connector = Connector::new(4);
            park(&connector, stream, 7, Duration::from_secs(60));
            let (closed, swept) = counting::measure(|| connector.sweep());
            assert_eq!(closed, 0);
            assert!(
                swept.live_bytes <= -RECORD_BUFFER,
                "the sweep gave back {} bytes",
                -swept.live_bytes
            );
            let mut reused = connector.take_idle(7).expect("still pooled and open");
            peer.write_all(b"pong").await.unwrap();
            peer.flush().await.unwrap();
            reused.stream.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"pong");
        });
    }
}
