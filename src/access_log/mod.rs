//! The access log: one JSON line per request, with Elastic Common Schema field names where ECS
//! has one (and `gatehouse.*` for the rest), so Logstash/Elasticsearch ingest it without
//! mapping work.
//!
//! Writing never blocks the request path and costs it no system call: a line is formatted into
//! a per-thread scratch buffer and appended to a shared batch that a writer thread drains
//! every `flush_interval` (see [`writer`]). When `buffer` lines are already waiting, new ones
//! are dropped and `gatehouse_access_log_dropped_total` counts them. The file is reopened on
//! SIGUSR1 (logrotate's `postrotate`) or when the writer notices the path now names another
//! file.

pub mod json;
pub mod writer;

use crate::metrics::names;
use json::{key, Line};
use metrics::Counter;
use std::cell::RefCell;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};
use writer::{Batch, Shared, Target, WAKE_BYTES};

/// Access-log settings, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Where lines go.
    pub target: Target,
    /// Share of successful requests logged (errors, status >= 500, always are).
    pub sample: f64,
    /// Lines that may wait for the writer before new ones are dropped.
    pub buffer: usize,
    /// Longest a line waits in memory before it is written.
    pub flush_interval: Duration,
}

/// Handle shared by the request path, the SIGUSR1 handler and the exit path.
#[derive(Debug)]
pub struct AccessLog {
    shared: Arc<Shared>,
    max_lines: usize,
    sample: f64,
    dropped: Counter,
}

static GLOBAL: OnceLock<Arc<AccessLog>> = OnceLock::new();

thread_local! {
    /// Where a line is formatted before it is copied into the shared batch, so the batch's lock
    /// is held for a memcpy only, and formatting allocates nothing once this has grown.
    static SCRATCH: RefCell<String> = RefCell::new(String::with_capacity(1024));
}

impl AccessLog {
    /// Starts the writer thread. The first log started becomes the process-wide one that
    /// SIGUSR1 reopens and the exit path flushes.
    ///
    /// # Errors
    /// When the writer thread cannot be started.
    pub fn start(settings: &Settings) -> std::io::Result<Arc<AccessLog>> {
        let shared = Arc::new(Shared {
            batch: parking_lot::Mutex::new(Batch {
                bytes: Vec::with_capacity(WAKE_BYTES * 2),
                ..Batch::default()
            }),
            reopen: AtomicBool::new(false),
            writer: OnceLock::new(),
        });
        let target = settings.target.clone();
        let for_writer = shared.clone();
        let interval = settings.flush_interval;
        let handle = std::thread::Builder::new()
            .name("access-log".to_string())
            .spawn(move || writer::run(target, for_writer, interval))?;
        let _ = shared.writer.set(handle.thread().clone());
        let log = Arc::new(AccessLog {
            shared,
            max_lines: settings.buffer.max(1),
            sample: settings.sample,
            dropped: metrics::counter!(names::ACCESS_LOG_DROPPED_TOTAL),
        });
        let _ = GLOBAL.set(log.clone());
        Ok(log)
    }

    /// The process-wide access log, if any.
    pub fn global() -> Option<&'static Arc<AccessLog>> {
        GLOBAL.get()
    }

    /// Whether to log a request with this status (sampling spares errors).
    pub fn wants(&self, status: u16) -> bool {
        self.sample >= 1.0 || status >= 500 || fastrand::f64() < self.sample
    }

    /// Logs a request; never waits for I/O.
    pub fn log(&self, record: &Record<'_>) {
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut line) => {
                line.clear();
                record.write_to(&mut line);
                self.append(line.as_bytes());
            }
            // Only if formatting re-entered the log on this thread; never expected.
            Err(_) => self.append(record.to_line().as_bytes()),
        });
    }

    /// Queues a finished line (ending in `\n`); never waits for I/O.
    pub fn submit(&self, line: &str) {
        self.append(line.as_bytes());
    }

    fn append(&self, line: &[u8]) {
        let wake = {
            let mut b = self.shared.batch.lock();
            if b.lines >= self.max_lines || b.closed {
                drop(b);
                self.dropped.increment(1);
                return;
            }
            b.bytes.extend_from_slice(line);
            b.lines += 1;
            let wake = !b.woken && b.bytes.len() >= WAKE_BYTES;
            b.woken |= wake;
            wake
        };
        if wake {
            self.shared.wake();
        }
    }

    /// Asks the writer to reopen the file (SIGUSR1).
    pub fn reopen(&self) {
        self.shared.reopen.store(true, Ordering::Release);
        self.shared.wake();
    }

    /// Waits (bounded) until everything logged so far is written (before the process exits,
    /// and in tests).
    pub fn flush(&self, limit: Duration) {
        let (ack, done) = sync_channel(1);
        self.shared.batch.lock().flush_waiters.push(ack);
        self.shared.wake();
        let _ = done.recv_timeout(limit);
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.shared.batch.lock().closed = true;
        self.shared.wake();
    }
}

/// What one request contributes to its log line (borrowed; nothing is copied to build it).
///
/// The request id, names and upstream address are written unescaped: they are validated tokens
/// (request ids by `valid_request_id`, names by config validation, addresses by their type).
/// What the client sent freely (host, path, query, user agent) is escaped.
#[derive(Debug, Default)]
pub struct Record<'a> {
    /// When the request completed.
    pub at: Option<SystemTime>,
    /// Request id (a validated token).
    pub request_id: Option<&'a str>,
    /// Client IP.
    pub client_ip: Option<IpAddr>,
    /// Client port.
    pub client_port: Option<u16>,
    /// Method.
    pub method: &'a str,
    /// Host (as sent).
    pub host: Option<&'a str>,
    /// Path.
    pub path: &'a str,
    /// Query string.
    pub query: Option<&'a str>,
    /// `1.1` or `2`.
    pub http_version: &'static str,
    /// `1.2` / `1.3` when over TLS.
    pub tls_version: Option<&'static str>,
    /// Status sent to the client.
    pub status: u16,
    /// Request body bytes read.
    pub bytes_in: u64,
    /// Response body bytes sent.
    pub bytes_out: u64,
    /// Total duration.
    pub duration: Duration,
    /// Backend `IP:port` (its label).
    pub upstream: Option<&'a str>,
    /// Backend status.
    pub upstream_status: Option<u16>,
    /// Time to the backend's response head.
    pub upstream_time: Option<Duration>,
    /// Retries made.
    pub retries: u32,
    /// Route name.
    pub route: Option<&'a str>,
    /// Pool name.
    pub pool: Option<&'a str>,
    /// Listener name.
    pub listener: Option<&'a str>,
    /// `User-Agent`.
    pub user_agent: Option<&'a str>,
    /// Error kind when the request failed.
    pub error: Option<&'a str>,
}

impl Record<'_> {
    /// The JSON line (ECS names: `@timestamp`, `http.*`, `url.*`, `client.*`, `tls.*`,
    /// `event.duration` in nanoseconds, `user_agent.original`).
    pub fn to_line(&self) -> String {
        let mut line = String::with_capacity(640);
        self.write_to(&mut line);
        line
    }

    /// [`Record::to_line`], appended to `out`.
    pub fn write_to(&self, out: &mut String) {
        let mut l = Line::new(out, key!("@timestamp"));
        let b = l.buf();
        b.push('"');
        json::write_rfc3339(b, self.at.unwrap_or_else(SystemTime::now));
        b.push('"');
        l.opt_plain(key!("http.request.id"), self.request_id);
        if let Some(ip) = self.client_ip {
            l.raw(key!("client.ip"), |b| {
                b.push('"');
                json::push_ip(b, ip);
                b.push('"');
            });
        }
        l.opt_num(key!("client.port"), self.client_port.map(u64::from))
            .plain(key!("http.request.method"), self.method)
            .opt_str(key!("url.domain"), self.host)
            .str(key!("url.path"), self.path)
            .opt_str(key!("url.query"), self.query)
            .plain(key!("http.version"), self.http_version)
            .opt_plain(key!("tls.version"), self.tls_version)
            .opt_plain(
                key!("tls.version_protocol"),
                self.tls_version.map(|_| "tls"),
            )
            .num(key!("http.response.status_code"), u64::from(self.status))
            .num(key!("http.request.body.bytes"), self.bytes_in)
            .num(key!("http.response.body.bytes"), self.bytes_out)
            .num(
                key!("event.duration"),
                self.duration.as_nanos().min(u128::from(u64::MAX)) as u64,
            )
            .opt_str(key!("user_agent.original"), self.user_agent)
            .opt_plain(key!("gatehouse.listener"), self.listener)
            .opt_plain(key!("gatehouse.route"), self.route)
            .opt_plain(key!("gatehouse.pool"), self.pool)
            .opt_plain(key!("gatehouse.upstream.address"), self.upstream)
            .opt_num(
                key!("gatehouse.upstream.status_code"),
                self.upstream_status.map(u64::from),
            )
            .num(key!("gatehouse.retries"), u64::from(self.retries))
            .opt_plain(key!("gatehouse.error"), self.error);
        if let Some(t) = self.upstream_time {
            l.millis(key!("gatehouse.upstream.response_time_ms"), t);
        }
        l.finish();
    }
}

/// `"-"` means standard output; anything else is a file path.
pub fn target_for(path: &str) -> Target {
    if path == "-" {
        Target::Stdout
    } else {
        Target::File(PathBuf::from(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start_log(
        path: PathBuf,
        sample: f64,
        buffer: usize,
        flush_interval: Duration,
    ) -> Arc<AccessLog> {
        AccessLog::start(&Settings {
            target: Target::File(path),
            sample,
            buffer,
            flush_interval,
        })
        .unwrap()
    }

    #[test]
    fn a_line_has_every_field() {
        let r = Record {
            at: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
            request_id: Some("abc"),
            client_ip: Some("192.0.2.1".parse().unwrap()),
            client_port: Some(5555),
            method: "GET",
            host: Some("www.example.test"),
            path: "/a",
            query: Some("x=1"),
            http_version: "1.1",
            tls_version: Some("1.3"),
            status: 200,
            bytes_in: 3,
            bytes_out: 42,
            duration: Duration::from_micros(1500),
            upstream: Some("127.0.0.1:9001"),
            upstream_status: Some(200),
            upstream_time: Some(Duration::from_micros(900)),
            retries: 1,
            route: Some("www"),
            pool: Some("public"),
            listener: Some("https"),
            user_agent: Some("curl/8"),
            error: None,
        };
        let v: serde_json::Value = serde_json::from_str(r.to_line().trim()).unwrap();
        assert_eq!(v["@timestamp"], "2027-01-15T08:00:00.000Z");
        assert_eq!(v["event.duration"], 1_500_000);
        assert_eq!(v["gatehouse.upstream.response_time_ms"], 0.9);
        assert_eq!(v["tls.version"], "1.3");
        assert_eq!(v["http.response.status_code"], 200);
        assert!(v.get("gatehouse.error").is_none());
    }

    #[test]
    fn sampling_keeps_its_share_and_every_server_error() {
        let dir = tempfile::tempdir().unwrap();
        let log = start_log(
            dir.path().join("access.log"),
            0.25,
            16,
            Duration::from_millis(20),
        );
        let kept = (0..20_000).filter(|_| log.wants(200)).count();
        // Binomial(20,000, 0.25): mean 5,000, standard deviation 61; ±500 is over 8 sigma.
        assert!((4_500..=5_500).contains(&kept), "kept {kept} of 20,000");
        assert!(
            (0..1_000).all(|_| log.wants(502)),
            "5xx are never sampled out"
        );
        let all = start_log(
            dir.path().join("all.log"),
            1.0,
            16,
            Duration::from_millis(20),
        );
        assert!((0..1_000).all(|_| all.wants(200)));
    }

    #[test]
    fn writes_reopens_and_survives_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let log = start_log(path.clone(), 1.0, 16, Duration::from_millis(20));
        log.submit("one\n");
        log.flush(Duration::from_secs(5));
        std::fs::rename(&path, dir.path().join("access.log.1")).unwrap();
        log.reopen();
        log.submit("two\n");
        log.flush(Duration::from_secs(5));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("access.log.1")).unwrap(),
            "one\n"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
    }

    #[test]
    fn a_full_batch_drops_lines_and_a_large_one_is_written_early() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let log = start_log(path.clone(), 1.0, 2, Duration::from_secs(3600));
        for line in ["a\n", "b\n", "c\n"] {
            log.submit(line);
        }
        log.flush(Duration::from_secs(5));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\nb\n");

        // Past WAKE_BYTES the writer is woken without waiting for its (hour-long) interval.
        let log = start_log(path.clone(), 1.0, 1_000_000, Duration::from_secs(3600));
        let line = format!("{}\n", "x".repeat(1023));
        for _ in 0..(WAKE_BYTES / 1024 + 1) {
            log.submit(&line);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(&path).unwrap().len() < WAKE_BYTES as u64 {
            assert!(
                std::time::Instant::now() < deadline,
                "large batch not written"
            );
            std::thread::park_timeout(Duration::from_millis(5)); // bounded poll of the file
        }
    }

    #[test]
    fn notices_a_rotation_without_being_told() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let log = start_log(path.clone(), 1.0, 16, Duration::from_millis(20));
        log.submit("before\n");
        log.flush(Duration::from_secs(5));
        std::fs::rename(&path, dir.path().join("access.log.1")).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut n = 0;
        while !std::fs::read_to_string(&path).is_ok_and(|t| t.contains("after")) {
            assert!(std::time::Instant::now() < deadline, "rotation not noticed");
            log.submit(&format!("after {n}\n"));
            log.flush(Duration::from_secs(5));
            n += 1;
            let _ = std::fs::metadata(&path); // poll: the writer checks twice a second
            std::hint::spin_loop();
        }
        assert!(std::fs::read_to_string(dir.path().join("access.log.1"))
            .unwrap()
            .starts_with("before"));
    }
}
