//! The differential corpus: valid, varied HTTP/1.x requests (what a backend receives for each
//! is pinned by a golden file) and odd-but-valid backend responses (what the client receives
//! is pinned too). Every request names `www.example.test` (or a host a route matches), never
//! an ephemeral address, so the recordings do not change from run to run.

/// One request case: a file stem and the exact bytes a client sends.
pub struct RequestCase {
    pub name: &'static str,
    pub bytes: Vec<u8>,
}

fn case(name: &'static str, bytes: impl Into<Vec<u8>>) -> RequestCase {
    RequestCase {
        name,
        bytes: bytes.into(),
    }
}

use super::golden::FIXED_DATE;

const H: &str = "Host: www.example.test\r\n";

/// The request corpus (file stems start with `req-`).
pub fn requests() -> Vec<RequestCase> {
    let long_query: String = (0..300).map(|i| format!("k{i}=v{i}&")).collect();
    let many_fields: String = (0..30)
        .map(|i| {
            if i % 7 == 0 {
                format!("X-Dup: {i}\r\n")
            } else {
                format!("X-Field-{i}: value {i}\r\n")
            }
        })
        .collect();
    let binary_body: Vec<u8> = (0..=255u8).collect();
    let mut put_binary = format!(
        "PUT /blob HTTP/1.1\r\n{H}Content-Type: application/octet-stream\r\nContent-Length: 256\r\n\r\n"
    )
    .into_bytes();
    put_binary.extend_from_slice(&binary_body);
    vec![
        case("req-get-minimal", format!("GET / HTTP/1.1\r\n{H}\r\n")),
        case(
            "req-get-browser",
            format!("GET /index.html?lang=en HTTP/1.1\r\n{H}User-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0\r\nAccept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-GB,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\nCookie: session=abc; theme=dark\r\nCache-Control: max-age=0\r\nIf-None-Match: \"v1\"\r\n\r\n"),
        ),
        case("req-head", format!("HEAD /file.bin HTTP/1.1\r\n{H}Range: bytes=0-99\r\n\r\n")),
        case("req-options-path", format!("OPTIONS /cors HTTP/1.1\r\n{H}Origin: https://app.example.test\r\nAccess-Control-Request-Method: PUT\r\nAccess-Control-Request-Headers: content-type, x-token\r\n\r\n")),
        case("req-options-asterisk", format!("OPTIONS * HTTP/1.1\r\n{H}\r\n")),
        case("req-post-content-length", format!("POST /form HTTP/1.1\r\n{H}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 26\r\n\r\nname=gate+house&value=%26x")),
        case("req-post-content-length-zero", format!("POST /empty HTTP/1.1\r\n{H}Content-Length: 0\r\n\r\n")),
        case("req-post-content-length-leading-zeros", format!("POST /z HTTP/1.1\r\n{H}Content-Length: 0005\r\n\r\nhello")),
        case("req-put-binary", put_binary),
        case("req-patch-json", format!("PATCH /items/7 HTTP/1.1\r\n{H}Content-Type: application/json\r\nContent-Length: 15\r\n\r\n{{\"name\":\"gate\"}}")),
        case("req-delete", format!("DELETE /items/7?force=true HTTP/1.1\r\n{H}Authorization: Bearer t0k3n\r\n\r\n")),
        case("req-get-with-body", format!("GET /search HTTP/1.1\r\n{H}Content-Length: 11\r\nContent-Type: text/plain\r\n\r\nq=something")),
        case("req-post-chunked", format!("POST /upload HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")),
        case("req-post-chunked-extensions", format!("POST /upload HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n6;a;b=\"c d\"\r\n world\r\n0;last\r\n\r\n")),
        case("req-post-chunked-trailers", format!("POST /upload HTTP/1.1\r\n{H}TE: trailers\r\nTrailer: X-Checksum, X-Other\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ndata\r\n0\r\nX-Checksum: abc123\r\nx-other:  1 \r\n\r\n")),
        case("req-post-chunked-hex", format!("POST /upload HTTP/1.1\r\n{H}transfer-encoding: CHUNKED\r\n\r\nA\r\n0123456789\r\n000a\r\nabcdefghij\r\n00\r\n\r\n")),
        case("req-http10-close", format!("GET /old HTTP/1.0\r\n{H}User-Agent: ancient/1.0\r\n\r\n")),
        case("req-http10-keep-alive", format!("GET /old HTTP/1.0\r\n{H}Connection: Keep-Alive\r\nKeep-Alive: timeout=10\r\n\r\n")),
        case("req-http10-post", format!("POST /old HTTP/1.0\r\n{H}Content-Length: 4\r\n\r\nold!")),
        case("req-absolute-form", "GET http://www.example.test/abs/path?q=1 HTTP/1.1\r\nHost: www.example.test\r\n\r\n"),
        case("req-absolute-form-port-no-path", "GET http://www.example.test:8080?only=query HTTP/1.1\r\nHost: www.example.test:8080\r\n\r\n"),
        case("req-absolute-form-host-case", "GET http://WWW.Example.test/case HTTP/1.1\r\nHost: www.example.test\r\n\r\n"),
        case("req-connection-nominated", format!("GET /hop HTTP/1.1\r\n{H}Connection: keep-alive, X-Hop-One,x-hop-two\r\nX-Hop-One: 1\r\nX-Keep: 3\r\nx-HOP-two: 2\r\n\r\n")),
        case("req-connection-close", format!("GET /bye HTTP/1.1\r\n{H}Connection: close\r\n\r\n")),
        case("req-hop-by-hop", format!("GET /hop HTTP/1.1\r\n{H}Keep-Alive: timeout=5, max=100\r\nTE: trailers, deflate;q=0.5\r\nTrailer: X-Late\r\nProxy-Authorization: Basic dXNlcjpwYXNz\r\nProxy-Connection: keep-alive\r\nX-After: kept\r\n\r\n")),
        case("req-upgrade-h2c", format!("GET /h2c HTTP/1.1\r\n{H}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")),
        case("req-websocket", format!("GET /chat HTTP/1.1\r\n{H}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\nOrigin: https://www.example.test\r\n\r\n")),
        case("req-xff-single", format!("GET / HTTP/1.1\r\n{H}X-Forwarded-For: 203.0.113.9\r\n\r\n")),
        case("req-xff-several-fields", format!("GET / HTTP/1.1\r\nX-Forwarded-For: 203.0.113.1\r\n{H}x-forwarded-for: 198.51.100.2, 192.0.2.3\r\nX-Mid: m\r\nX-FORWARDED-FOR:2001:db8::1\r\n\r\n")),
        case("req-xf-proto-host", format!("GET / HTTP/1.1\r\n{H}X-Forwarded-Proto: https\r\nX-Forwarded-Host: spoofed.example\r\nX-Forwarded-Port: 443\r\n\r\n")),
        case("req-request-id-valid", format!("GET / HTTP/1.1\r\n{H}X-Request-Id: abc-123_DEF.456:+/=\r\n\r\n")),
        case("req-request-id-invalid", format!("GET / HTTP/1.1\r\n{H}X-Request-Id: not valid!\r\n\r\n")),
        case("req-request-id-too-long", format!("GET / HTTP/1.1\r\n{H}X-Request-Id: {}\r\n\r\n", "r".repeat(129))),
        case("req-odd-spacing", "GET /space HTTP/1.1\r\nHost:www.example.test\r\nX-A:no-space\r\nX-B:   lots   of   inner   space   \r\nX-C:\ttabbed\t\r\nX-D: \t mixed \t \r\nX-Empty:\r\nX-Blank:   \r\n\r\n"),
        case("req-mixed-case-names", "POST /case HTTP/1.1\r\nhOsT: www.example.test\r\nuSER-aGENT: MiXeD/1\r\nCONTENT-LENGTH: 3\r\nx-lower: a\r\nX-UPPER: B\r\nCoNtEnT-TyPe: text/plain\r\n\r\nabc"),
        case("req-long-query", format!("GET /q?{long_query}end=1 HTTP/1.1\r\n{H}\r\n")),
        case("req-percent-encoding", format!("GET /a%20b/%E2%82%AC/%7euser?x=%2F%3f&y=%25&z=a+b HTTP/1.1\r\n{H}\r\n")),
        case("req-dot-segments", format!("GET /a/./b/../c//d/.?x=../y HTTP/1.1\r\n{H}\r\n")),
        case("req-dot-segments-encoded", format!("GET /a/%2e%2E/b/%2E/c HTTP/1.1\r\n{H}\r\n")),
        case("req-strip-prefix", format!("GET /api/v1/users?id=7 HTTP/1.1\r\n{H}\r\n")),
        case("req-strip-prefix-exact", format!("GET /api HTTP/1.1\r\n{H}\r\n")),
        case("req-rules", format!("POST /rules/x HTTP/1.1\r\n{H}X-Remove: gone\r\nX-Set: old\r\nX-Add: existing\r\nx-set: older\r\nContent-Length: 2\r\n\r\nhi")),
        case("req-rules-set-host", "GET /anything HTTP/1.1\r\nHost: sethost.test\r\nX-Keep: k\r\n\r\n".to_string()),
        case("req-rules-set-forwarding", format!("GET /setfwd HTTP/1.1\r\n{H}X-Forwarded-Proto: wss\r\nX-Request-Id: from-client\r\n\r\n")),
        case("req-rules-remove-forwarding", format!("GET /rmfwd HTTP/1.1\r\n{H}X-Forwarded-For: 203.0.113.1\r\n\r\n")),
        case("req-rules-add-forwarding", format!("GET /addfwd HTTP/1.1\r\n{H}X-Forwarded-For: 203.0.113.1\r\n\r\n")),
        case("req-expect-continue", format!("PUT /big HTTP/1.1\r\n{H}Expect: 100-continue\r\nContent-Length: 5\r\n\r\nbytes")),
        case("req-many-fields", format!("GET /many HTTP/1.1\r\n{H}{many_fields}\r\n")),
        case("req-cookies-split", format!("GET / HTTP/1.1\r\n{H}Cookie: a=1\r\nAccept: */*\r\nCookie: b=2\r\n\r\n")),
        case("req-host-port", "GET /port HTTP/1.1\r\nHost: www.example.test:8080\r\n\r\n".to_string()),
        case("req-connection-nominates-protected", format!("POST /protected HTTP/1.1\r\n{H}Connection: Host, Content-Length, X-Forwarded-For, X-Request-Id, X-Forwarded-Proto\r\nX-Forwarded-For: 203.0.113.5\r\nX-Request-Id: keep-me\r\nX-Forwarded-Proto: https\r\nContent-Length: 2\r\n\r\nhi")),
        case("req-connection-nominates-content-length", format!("POST /nominated HTTP/1.1\r\n{H}Connection: Content-Length, X-Hop\r\nX-Hop: 1\r\nContent-Length: 5\r\n\r\nhello")),
        case("req-upgrade-without-connection", format!("GET /chat HTTP/1.1\r\n{H}Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")),
        case("req-absolute-form-https", "GET https://www.example.test/secure?x=1 HTTP/1.1\r\nHost: www.example.test\r\n\r\n"),
        case("req-empty-query", format!("GET /path? HTTP/1.1\r\n{H}\r\n")),
        case("req-obs-text", b"GET /latin HTTP/1.1\r\nHost: www.example.test\r\nX-Latin: caf\xe9 cr\xe8me\r\n\r\n".to_vec()),
        case("req-request-id-twice", format!("GET / HTTP/1.1\r\n{H}X-Request-Id: first-id\r\nX-Request-Id: second-id\r\n\r\n")),
        case("req-xff-empty", format!("GET / HTTP/1.1\r\n{H}X-Forwarded-For:\r\n\r\n")),
        case("req-host-ipv6", "GET /v6 HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n".to_string()),
    ]
}

/// Fails unless `bytes` is exactly one request the strict gate accepts, body included: a typo
/// in the corpus must not turn into a hang or a mystery difference.
pub fn assert_valid(name: &str, bytes: &[u8]) {
    use gatehouse::listener::head::{check, Body, Check, Limits};
    let Check::Complete(head) = check(bytes, &Limits::default()) else {
        panic!("{name}: the gate does not accept the head");
    };
    let body = &bytes[head.len..];
    let expected = match head.body {
        Body::None => 0,
        Body::Length(n) => n as usize,
        Body::Chunked => {
            super::recorder::decode_chunked(body)
                .unwrap_or_else(|| panic!("{name}: incomplete chunked body"))
                .len
        }
    };
    assert_eq!(body.len(), expected, "{name}: body length");
}

/// One response case: what the backend answers (and whether it then closes), to which request.
pub struct ResponseCase {
    pub name: &'static str,
    pub request: Vec<u8>,
    pub response: Vec<u8>,
    pub close: bool,
}

fn resp(
    name: &'static str,
    request: impl Into<Vec<u8>>,
    response: impl Into<Vec<u8>>,
    close: bool,
) -> ResponseCase {
    ResponseCase {
        name,
        request: request.into(),
        response: response.into(),
        close,
    }
}

/// The response corpus (file stems start with `resp-`).
pub fn responses() -> Vec<ResponseCase> {
    let get = format!("GET / HTTP/1.1\r\n{H}\r\n");
    vec![
        resp("resp-mixed-case", get.clone(), "HTTP/1.1 200 OK\r\ncOnTeNt-TyPe: text/plain\r\nX-MiXeD:  spaced value \r\nCONTENT-LENGTH: 2\r\n\r\nok", false),
        resp("resp-connection-nominated", get.clone(), "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nX-Kept: yes\r\nContent-Length: 2\r\n\r\nok", false),
        resp("resp-chunked-trailers", format!("GET / HTTP/1.1\r\n{H}TE: trailers\r\n\r\n"), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n", false),
        resp("resp-chunked-to-http10", format!("GET / HTTP/1.0\r\n{H}\r\n"), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n", false),
        resp("resp-content-length-date-server", get.clone(), format!("HTTP/1.1 200 OK\r\nServer: origin/1.2\r\nDate: {FIXED_DATE}\r\nContent-Length: 11\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nhello world"), false),
        resp("resp-chunked-and-length", get.clone(), "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", false),
        resp("resp-http10-keep-alive", format!("GET / HTTP/1.1\r\n{H}\r\n"), "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", false),
        resp("resp-http10-close-delimited", get.clone(), "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", true),
        resp("resp-close-delimited", get.clone(), "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", true),
        resp("resp-204", get.clone(), "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n", false),
        resp("resp-304", format!("GET / HTTP/1.1\r\n{H}If-None-Match: \"x\"\r\n\r\n"), "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nCache-Control: max-age=60\r\n\r\n", false),
        resp("resp-head", format!("HEAD / HTTP/1.1\r\n{H}\r\n"), "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: application/octet-stream\r\n\r\n", false),
        resp("resp-request-id-from-backend", get.clone(), "HTTP/1.1 200 OK\r\nX-Request-Id: backend-made\r\nContent-Length: 2\r\n\r\nok", false),
        resp("resp-odd-status", get.clone(), "HTTP/1.1 599 Custom  Reason\tPhrase\r\nContent-Length: 0\r\n\r\n", false),
        resp("resp-empty-reason", get.clone(), "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", false),
        resp("resp-reason-obs-text", get.clone(), b"HTTP/1.1 404 N\xe3o Encontrado\r\nContent-Length: 2\r\n\r\nno".to_vec(), false),
        resp("resp-transfer-encoding-two-fields", get.clone(), "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", true),
        resp("resp-rules", format!("GET /resp HTTP/1.1\r\n{H}\r\n"), "HTTP/1.1 200 OK\r\nX-Remove-Me: 1\r\nX-Resp-Set: old\r\nContent-Length: 2\r\n\r\nok", false),
    ]
}
