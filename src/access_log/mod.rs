//! The access log: one JSON line per request, with Elastic Common Schema field names where ECS
//! has one (and `gatehouse.*` for the rest), so Logstash/Elasticsearch ingest it without
//! mapping work.
//!
//! Writing never blocks the request path: lines go through a bounded queue to a writer thread;
//! when the queue is full the line is dropped and `gatehouse_access_log_dropped_total` counts
//! it. The file is reopened on SIGUSR1 (logrotate's `postrotate`) or when the writer notices
//! the path now names another file.

pub mod json;
pub mod writer;

use crate::metrics::names;
use json::Line;
use metrics::Counter;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};
use writer::{Message, Target};

/// Access-log settings, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Where lines go.
    pub target: Target,
    /// Share of successful requests logged (errors, status >= 500, always are).
    pub sample: f64,
    /// Lines queued before dropping.
    pub buffer: usize,
}

/// Handle shared by the request path, the SIGUSR1 handler and the exit path.
#[derive(Debug)]
pub struct AccessLog {
    tx: SyncSender<Message>,
    sample: f64,
    dropped: Counter,
    reopen: Arc<AtomicBool>,
}

static GLOBAL: OnceLock<Arc<AccessLog>> = OnceLock::new();

impl AccessLog {
    /// Starts the writer thread. The first log started becomes the process-wide one that
    /// SIGUSR1 reopens and the exit path flushes.
    ///
    /// # Errors
    /// When the writer thread cannot be started.
    pub fn start(settings: &Settings) -> std::io::Result<Arc<AccessLog>> {
        let (tx, rx) = sync_channel(settings.buffer.max(1));
        let reopen = Arc::new(AtomicBool::new(false));
        let target = settings.target.clone();
        let flag = reopen.clone();
        std::thread::Builder::new()
            .name("access-log".to_string())
            .spawn(move || writer::run(target, rx, flag))?;
        let log = Arc::new(AccessLog {
            tx,
            sample: settings.sample,
            dropped: metrics::counter!(names::ACCESS_LOG_DROPPED_TOTAL),
            reopen,
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

    /// Queues a line; never waits.
    pub fn submit(&self, line: String) {
        match self.tx.try_send(Message::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.increment(1)
            }
        }
    }

    /// Asks the writer to reopen the file (SIGUSR1).
    pub fn reopen(&self) {
        self.reopen
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Waits (bounded) until everything queued so far is written (before the process exits).
    pub fn flush(&self, limit: Duration) {
        let (ack, done) = sync_channel(1);
        if self.tx.send(Message::Flush(ack)).is_ok() {
            let _ = done.recv_timeout(limit);
        }
    }
}

/// What one request contributes to its log line (borrowed; nothing is copied to build it).
#[derive(Debug, Default)]
pub struct Record<'a> {
    /// When the request completed.
    pub at: Option<SystemTime>,
    /// Request id.
    pub request_id: Option<&'a str>,
    /// Client IP.
    pub client_ip: Option<String>,
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
    /// Backend `IP:port`.
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
        let mut l = Line::new();
        l.str(
            "@timestamp",
            &json::rfc3339(self.at.unwrap_or_else(SystemTime::now)),
        )
        .opt_str("http.request.id", self.request_id)
        .opt_str("client.ip", self.client_ip.as_deref())
        .opt_num("client.port", self.client_port.map(u64::from))
        .str("http.request.method", self.method)
        .opt_str("url.domain", self.host)
        .str("url.path", self.path)
        .opt_str("url.query", self.query)
        .str("http.version", self.http_version)
        .opt_str("tls.version", self.tls_version)
        .opt_str("tls.version_protocol", self.tls_version.map(|_| "tls"))
        .num("http.response.status_code", u64::from(self.status))
        .num("http.request.body.bytes", self.bytes_in)
        .num("http.response.body.bytes", self.bytes_out)
        .num(
            "event.duration",
            self.duration.as_nanos().min(u128::from(u64::MAX)) as u64,
        )
        .opt_str("user_agent.original", self.user_agent)
        .opt_str("gatehouse.listener", self.listener)
        .opt_str("gatehouse.route", self.route)
        .opt_str("gatehouse.pool", self.pool)
        .opt_str("gatehouse.upstream.address", self.upstream)
        .opt_num(
            "gatehouse.upstream.status_code",
            self.upstream_status.map(u64::from),
        )
        .num("gatehouse.retries", u64::from(self.retries))
        .opt_str("gatehouse.error", self.error);
        if let Some(t) = self.upstream_time {
            l.millis(
                "gatehouse.upstream.response_time_ms",
                t.as_secs_f64() * 1000.0,
            );
        }
        l.finish()
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

    #[test]
    fn a_line_has_every_field() {
        let r = Record {
            at: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
            request_id: Some("abc"),
            client_ip: Some("192.0.2.1".into()),
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
    fn writes_reopens_and_survives_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let log = AccessLog::start(&Settings {
            target: Target::File(path.clone()),
            sample: 1.0,
            buffer: 16,
        })
        .unwrap();
        log.submit("one\n".into());
        log.flush(Duration::from_secs(5));
        std::fs::rename(&path, dir.path().join("access.log.1")).unwrap();
        log.reopen();
        log.submit("two\n".into());
        log.flush(Duration::from_secs(5));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("access.log.1")).unwrap(),
            "one\n"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
    }

    #[test]
    fn notices_a_rotation_without_being_told() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let log = AccessLog::start(&Settings {
            target: Target::File(path.clone()),
            sample: 1.0,
            buffer: 16,
        })
        .unwrap();
        log.submit("before\n".into());
        log.flush(Duration::from_secs(5));
        std::fs::rename(&path, dir.path().join("access.log.1")).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut n = 0;
        while !std::fs::read_to_string(&path).is_ok_and(|t| t.contains("after")) {
            assert!(std::time::Instant::now() < deadline, "rotation not noticed");
            log.submit(format!("after {n}\n"));
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
