//! Golden tests of the HTTP/1 engine's bytes: a corpus of valid requests (`support::corpus`)
//! goes through the proxy in front of a recording backend (`support::recorder`), and for each
//! case what the client sent, what the backend received and what the client received are
//! compared with a golden file (`tests/it/golden/differential/`), run-normalised (the request
//! id, the proxy's `Date`, ephemeral addresses). Run with `GATEHOUSE_BLESS=1` to rewrite them
//! after an intended change, and review the diff.
//!
//! The goldens were first recorded while Pingora's `HttpProxy` still ran beside the engine and
//! every case was compared byte for byte between the two (differential testing, until the
//! Pingora path was deleted on 2026-12-07). What the engine does differently on purpose, as
//! found then: absolute-form targets are sent in origin form; a `Connection` nomination never
//! removes a protected or framing field (`Host`, `X-Forwarded-*`, `Content-Length`);
//! `Upgrade` without `Connection: upgrade` is dropped (RFC 9110 §7.8); the client's field lines
//! are copied in order, with their case and whitespace; chunked bodies keep the client's
//! framing; responses keep the backend's `Date` and say `HTTP/1.1`; no `Connection:
//! keep-alive` is added. The goldens pin all of it.

use crate::support::corpus;
use crate::support::golden;
use crate::support::recorder::{exchange, Recorder};
use crate::support::TestProxy;
use std::net::SocketAddr;

fn config(backend: SocketAddr) -> String {
    format!(
        r#"
[server]
threads = 1
grace_period = "0s"
[admin]
address = "{{admin}}"
[listeners.http]
address = "{{http}}"
[routes.api]
path_prefix = "/api"
strip_prefix = true
pool = "main"
[routes.rules]
path_prefix = "/rules"
pool = "main"
request_headers = {{ set = {{ "X-Set" = "set-value" }}, add = {{ "X-Add" = "added" }}, remove = ["X-Remove"] }}
[routes.sethost]
hosts = ["sethost.test"]
pool = "main"
request_headers = {{ set = {{ "Host" = "backend.internal:9000" }} }}
[routes.setfwd]
path_prefix = "/setfwd"
pool = "main"
request_headers = {{ set = {{ "X-Forwarded-Proto" = "https", "X-Request-Id" = "from-rule" }} }}
[routes.rmfwd]
path_prefix = "/rmfwd"
pool = "main"
request_headers = {{ remove = ["X-Forwarded-For", "X-Forwarded-Host"] }}
[routes.addfwd]
path_prefix = "/addfwd"
pool = "main"
request_headers = {{ add = {{ "X-Forwarded-For" = "10.9.9.9" }} }}
[routes.resp]
path_prefix = "/resp"
pool = "main"
response_headers = {{ set = {{ "X-Resp-Set" = "new" }}, add = {{ "X-Resp-Add" = "added" }}, remove = ["X-Remove-Me"] }}
[routes.main]
pool = "main"
[pools.main]
backends = [{{ address = "{backend}" }}]
"#
    )
}

/// A proxy and its recording backend.
struct Side {
    proxy: TestProxy,
    backend: Recorder,
}

/// What one exchange produced, run-normalised.
struct Outcome {
    /// What the backend received (`None`: the proxy answered by itself).
    backend: Option<Vec<u8>>,
    /// What the client received.
    client: Vec<u8>,
}

impl Side {
    async fn start() -> Side {
        let backend = Recorder::start().await;
        let proxy = TestProxy::start(&config(backend.addr)).await;
        Side { proxy, backend }
    }

    async fn send(&self, request: &[u8]) -> Outcome {
        let head = request.starts_with(b"HEAD ");
        let client = exchange(self.proxy.http, request, head).await;
        let backend = self.backend.take().await;
        let addrs = [
            (self.proxy.http, "{proxy}"),
            (self.backend.addr, "{backend}"),
        ];
        Outcome {
            backend: backend.map(|b| golden::normalise_run(&b, &addrs)),
            client: golden::normalise_run(&client, &addrs),
        }
    }
}

#[test]
fn differential_golden_form_round_trips() {
    let bytes: Vec<u8> = (0..=255u8).chain(*b"\r\n\r\r\n\n\\x41\\\r\n\r\n").collect();
    assert_eq!(golden::decode(&golden::encode(&bytes)), bytes);
    let sections: [(&str, &[u8]); 3] =
        [("a", b"GET / HTTP/1.1\r\n\r\n"), ("b", b"ok\n"), ("c", b"")];
    let parsed = golden::parse(&golden::render(&sections));
    let back: Vec<(&str, &[u8])> = parsed
        .iter()
        .map(|(t, b)| (t.as_str(), b.as_slice()))
        .collect();
    assert_eq!(back, sections);
}

#[tokio::test]
async fn differential_requests() {
    let ours = Side::start().await;
    let mut problems = Vec::new();
    let mut goldens = Vec::new();
    for c in corpus::requests() {
        corpus::assert_valid(c.name, &c.bytes);
        let g = ours.send(&c.bytes).await;
        let Some(received) = &g.backend else {
            problems.push(format!(
                "{}: the engine did not forward it; client got:\n{}",
                c.name,
                String::from_utf8_lossy(&g.client)
            ));
            continue;
        };
        goldens.push((
            c.name.to_string(),
            golden::render(&[
                ("client sends", &c.bytes),
                ("backend receives", received),
                ("client receives", &g.client),
            ]),
        ));
    }
    problems.extend(golden::check_all(
        &golden::dir("differential"),
        "req-",
        &goldens,
    ));
    let leftover = ours.backend.leftover().await;
    assert!(leftover.is_empty(), "unexpected requests: {leftover:?}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn differential_responses() {
    let ours = Side::start().await;
    let mut goldens = Vec::new();
    for c in corpus::responses() {
        corpus::assert_valid(c.name, &c.request);
        ours.backend.answer_next(&c.response, c.close);
        let g = ours.send(&c.request).await;
        assert!(g.backend.is_some(), "{}: not forwarded", c.name);
        goldens.push((
            c.name.to_string(),
            golden::render(&[
                ("client sends", &c.request),
                ("backend answers", &c.response),
                ("client receives", &g.client),
            ]),
        ));
    }
    let problems = golden::check_all(&golden::dir("differential"), "resp-", &goldens);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
