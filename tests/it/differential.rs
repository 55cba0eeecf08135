//! Differential tests of the HTTP/1 engines: a corpus of valid requests (`support::corpus`) goes
//! through a proxy running `engine = "gatehouse"` and, while it exists, one running
//! `engine = "pingora"`, each in front of a recording backend (`support::recorder`).
//!
//! 1. **Golden files** (`tests/it/golden/differential/<case>.txt`, one per case, escaped text
//!    that round-trips to the exact bytes: `support::golden`). For a request case: what the
//!    client sent, what the backend received from the new engine, what the client received.
//!    For a response case: what the client sent, what the backend answered, what the client
//!    received. Only run-to-run values are normalised: a generated 32-hex `x-request-id`,
//!    the proxy's `Date`, ephemeral addresses. The goldens come from the new engine, so they
//!    outlive the Pingora path. **`GATEHOUSE_BLESS=1 cargo test --test it differential`
//!    rewrites them** (and deletes stale ones); review the diff before committing it.
//!
//! 2. **New engine vs Pingora**, modulo the documented differences below (`support::canon`
//!    maps both to one form). Skipped, with a note on stderr, once `engine = "pingora"`
//!    no longer validates.
//!
//! Documented differences, request side (what the backend receives):
//! - Absolute-form targets: the new engine sends origin form (`GET /abs/path?q=1 HTTP/1.1`),
//!   Pingora the target as received (`GET http://www.example.test/abs/path?q=1 HTTP/1.1`).
//! - Requests Pingora's path answers itself (its 400 or 502, nothing forwarded) while the new
//!   engine forwards them: `PINGORA_REFUSES` below says which and why.
//! - Requests where the engines differ on purpose beyond the canonical form (Pingora defects
//!   the new engine fixes): `PINGORA_DIFFERS`; new-engine bugs found and not fixed yet:
//!   `NEW_ENGINE_BUGS`. Each entry gives the exact bytes.
//! - Field order: Pingora's header map groups repeated names at the first one's position
//!   (`Cookie: a=1`, `Cookie: b=2`, `Accept: */*` for `Cookie: a=1`, `Accept: */*`,
//!   `Cookie: b=2`) and sets `x-forwarded-*`, `x-request-id` and rule-set fields in place of
//!   the first field of that name; the new engine copies the client's lines in order and
//!   appends `x-forwarded-for`, `x-forwarded-proto`, `x-forwarded-host`, `x-request-id`, the
//!   rules' `set` then `add` fields, then `Connection: Upgrade` + `Upgrade`. Canonical form:
//!   stable sort by name.
//! - Name case: rule-set fields are written lowercase by the new engine (`host:
//!   backend.internal:9000`), Pingora keeps the replaced field's case (`Host: ...`) and
//!   lowercases `upgrade: websocket`; canonical form: lowercase names.
//! - Whitespace: the new engine copies each line from the name to the end of the value
//!   (`Host:www.example.test`, `X-C:\ttabbed`, `X-D: \t mixed`, `X-Empty:`); Pingora writes
//!   `name: value` with the value trimmed (`Host: www.example.test`, `X-Empty: `). Canonical
//!   form: trimmed values.
//! - Chunked bodies: the new engine forwards the client's framing byte for byte (chunk
//!   extensions `5;name=value`, sizes `000a`, `transfer-encoding: CHUNKED`, trailer fields);
//!   Pingora re-chunks (`5`, `A`, `Transfer-Encoding: chunked`) and drops the extensions and
//!   the trailers. Canonical form: framing kind plus decoded payload, no trailers.
//! - Found no difference in: hop-by-hop fields (both drop `Connection` and what it names,
//!   `Keep-Alive`, `TE`, `Trailer`, `Proxy-Authorization`, `Proxy-Connection`,
//!   `HTTP2-Settings`, `Upgrade: h2c`), `X-Forwarded-For` folding, `X-Request-Id` validation,
//!   the version sent (HTTP/1.1 for HTTP/1.0 clients too), prefix stripping, dot segments,
//!   header rules on other fields, `Content-Length` framing, `Expect: 100-continue` (forwarded
//!   by both). Note that both drop the request's `Trailer` field while the new engine
//!   forwards the trailer fields it announces (Pingora drops those too).
//!
//! Documented differences, response side (what the client receives); Pingora's are defects
//! the new engine fixes, forgiven by `canon::response` so the rest still compares:
//! - Pingora forwards hop-by-hop response fields: `Connection: keep-alive, X-Hop`, `X-Hop:
//!   secret`, `Keep-Alive: timeout=5`, `Proxy-Connection: keep-alive`; the new engine drops
//!   them all.
//! - Pingora sends `Transfer-Encoding: chunked` (and `Trailer`) to an HTTP/1.0 client; the
//!   new engine sends the payload delimited by the close (`Connection: close`).
//! - Pingora re-chunks a close-delimited body (`D\r\nuntil the end\r\n0\r\n\r\n`, connection
//!   kept) and a chunked one (`B\r\nhello world\r\n0\r\n\r\n`: extensions and trailers gone);
//!   the new engine passes the backend's bytes through and closes after a close-delimited one.
//! - Pingora keeps `HTTP/1.0` in the status line of an HTTP/1.0 backend's response; the new
//!   engine says `HTTP/1.1`.
//! - Pingora replaces the backend's `Date` with its own; the new engine keeps it (and adds
//!   `date:` only when there is none). Canonical form: no `Date`.
//! - A reason phrase that is not UTF-8 (`HTTP/1.1 404 N\xe3o Encontrado`) reaches the client
//!   empty from the new engine (`HTTP/1.1 404 `); it used to panic the response path.
//! - New-engine bug, not fixed (`resp-transfer-encoding-two-fields`): `Transfer-Encoding:
//!   gzip` + `Transfer-Encoding: chunked` (one list ending in `chunked`) is judged field by
//!   field and read to the close; Pingora reads it as chunked and keeps the connection. This
//!   case's backend closes, so the golden only shows `Connection: close`; a keep-alive backend
//!   holds both connections until `timeouts.read` and the exchange is counted as a backend
//!   timeout (passive health).
//! - Pingora adds `Connection: keep-alive` to every kept response to an HTTP/1.1 client,
//!   writes `Date:` (the new engine `date:`), and trims values (`X-MiXeD: spaced value` for
//!   `X-MiXeD:  spaced value `; the new engine keeps the leading spaces).

use crate::support::canon::{self, Canon};
use crate::support::corpus;
use crate::support::golden;
use crate::support::recorder::{exchange, field, Recorder};
use crate::support::TestProxy;
use std::net::SocketAddr;

/// Cases Pingora's path answers itself (nothing reaches its backend): compared with goldens
/// only. The test fails if Pingora starts forwarding one, so the list stays true.
const PINGORA_REFUSES: &[&str] = &[
    // `GET http://WWW.Example.test/case` with `Host: www.example.test`: Pingora compares the
    // authority with `Host` case-sensitively ("Host header differs from request-target
    // authority", its own 400); host names are case-insensitive, the new engine forwards.
    "req-absolute-form-host-case",
    // `Connection: Host, ...`: Pingora refuses to let a protected field be nominated (400);
    // the new engine ignores such nominations (`Host`, `X-Forwarded-*` cannot be dropped).
    "req-connection-nominates-protected",
];

/// Cases where the engines differ on purpose beyond the canonical form (Pingora defects the
/// new engine fixes). The test fails if the two start to agree, so the list stays true.
const PINGORA_DIFFERS: &[&str] = &[
    // `Upgrade: websocket` without `Connection: upgrade` is not an upgrade (RFC 9110 §7.8):
    // the new engine drops `Upgrade`; Pingora forwards `upgrade: websocket` and adds
    // `Connection: Upgrade` the client never sent.
    "req-upgrade-without-connection",
    // `Connection: Content-Length, X-Hop` on a `Content-Length: 5` body: the new engine never
    // lets a nomination touch the framing (`Content-Length: 5` forwarded); Pingora removes it
    // and re-frames the body as `Transfer-Encoding: chunked` (`5\r\nhello\r\n0\r\n\r\n`).
    "req-connection-nominates-content-length",
];

/// New-engine bugs found by this test, not fixed yet: the engines differ, the goldens pin the
/// current (wrong) bytes. Fixing one fails the test here: drop it from the list and bless.
const NEW_ENGINE_BUGS: &[&str] = &[];

fn config(engine: &str, backend: SocketAddr) -> String {
    format!(
        r#"
[server]
threads = 1
grace_period = "0s"
engine = "{engine}"
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
    async fn start(engine: &str) -> Side {
        let backend = Recorder::start().await;
        let proxy = TestProxy::start(&config(engine, backend.addr)).await;
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

/// Whether a config with `engine = "pingora"` still validates (the Pingora path exists).
fn pingora_engine() -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.toml");
    let text = "[server]\nengine = \"pingora\"\n[admin]\nenabled = false\n\
                [listeners.http]\naddress = \"127.0.0.1:8080\"\n[routes.main]\npool = \"main\"\n\
                [pools.main]\nbackends = [{ address = \"127.0.0.1:8081\" }]\n";
    let resolver = gatehouse::config::resolve::StaticResolver::default();
    let ctx = gatehouse::config::Context {
        resolver: &resolver,
        now: std::time::SystemTime::now(),
        in_service: None,
    };
    gatehouse::config::validate::validate(&path, text, &ctx)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The Pingora side, or `None` with a note when that engine is gone.
async fn pingora_side(test: &str) -> Option<Side> {
    match pingora_engine() {
        Ok(()) => Some(Side::start("pingora").await),
        Err(e) => {
            eprintln!("{test}: skipping the comparison with the Pingora path ({e})");
            None
        }
    }
}

fn differs(name: &str, ours: &Canon, theirs: &Canon) -> String {
    format!("{name}: the engines differ beyond the documented differences\n--- gatehouse\n{ours}\n--- pingora\n{theirs}\n")
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
    let (ours, theirs) = tokio::join!(
        Side::start("gatehouse"),
        pingora_side("differential_requests")
    );
    let mut problems = Vec::new();
    let mut goldens = Vec::new();
    for c in corpus::requests() {
        corpus::assert_valid(c.name, &c.bytes);
        let (g, p) = tokio::join!(ours.send(&c.bytes), async {
            match &theirs {
                Some(side) => Some(side.send(&c.bytes).await),
                None => None,
            }
        });
        let Some(received) = &g.backend else {
            problems.push(format!(
                "{}: the new engine did not forward it; client got:\n{}",
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
        let Some(p) = p else { continue };
        match (&p.backend, PINGORA_REFUSES.contains(&c.name)) {
            (None, true) => {}
            (Some(_), true) => problems.push(format!(
                "{}: Pingora forwards it now; drop it from PINGORA_REFUSES",
                c.name
            )),
            (None, false) => problems.push(format!(
                "{}: Pingora did not forward it; client got:\n{}",
                c.name,
                String::from_utf8_lossy(&p.client)
            )),
            (Some(theirs), false) => {
                let (a, b) = (canon::request(received), canon::request(theirs));
                let bug = NEW_ENGINE_BUGS.contains(&c.name);
                if bug && a != b {
                    eprintln!("{}: known new-engine bug, still there", c.name);
                }
                match (a == b, bug || PINGORA_DIFFERS.contains(&c.name)) {
                    (true, true) => problems.push(format!(
                        "{}: the engines agree now; drop it from PINGORA_DIFFERS or \
                         NEW_ENGINE_BUGS (and bless)",
                        c.name
                    )),
                    (false, false) => problems.push(differs(c.name, &a, &b)),
                    _ => {}
                }
            }
        }
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
    let (ours, theirs) = tokio::join!(
        Side::start("gatehouse"),
        pingora_side("differential_responses")
    );
    let mut problems = Vec::new();
    let mut goldens = Vec::new();
    for c in corpus::responses() {
        corpus::assert_valid(c.name, &c.request);
        ours.backend.answer_next(&c.response, c.close);
        if let Some(side) = &theirs {
            side.backend.answer_next(&c.response, c.close);
        }
        let (g, p) = tokio::join!(ours.send(&c.request), async {
            match &theirs {
                Some(side) => Some(side.send(&c.request).await),
                None => None,
            }
        });
        assert!(g.backend.is_some(), "{}: not forwarded", c.name);
        goldens.push((
            c.name.to_string(),
            golden::render(&[
                ("client sends", &c.request),
                ("backend answers", &c.response),
                ("client receives", &g.client),
            ]),
        ));
        let Some(p) = p else { continue };
        let head_request = c.request.starts_with(b"HEAD ");
        let nominated: Vec<String> = field(&c.response, "connection")
            .map(|v| {
                String::from_utf8_lossy(v)
                    .split(',')
                    .map(|t| t.trim().to_string())
                    .collect()
            })
            .unwrap_or_default();
        let nominated: Vec<&str> = nominated.iter().map(String::as_str).collect();
        let a = canon::response(&g.client, head_request, &nominated);
        let b = canon::response(&p.client, head_request, &nominated);
        if a != b {
            problems.push(differs(c.name, &a, &b));
        }
    }
    problems.extend(golden::check_all(
        &golden::dir("differential"),
        "resp-",
        &goldens,
    ));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
