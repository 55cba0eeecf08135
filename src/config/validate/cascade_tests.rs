//! No cascade: a bad key or value is reported on its own, the rest of its section is still
//! checked, and nothing later is reported wrongly because of it. Plus "did you mean".

use super::*;

/// Every problem `gatehouse check` would print, in order.
fn issues(text: &str) -> Vec<String> {
    match validate_text(text) {
        Ok(v) => panic!("expected problems, got a valid config ({:?})", v.warnings),
        Err(e) => e.issues(),
    }
}

#[test]
fn every_problem_of_one_section_is_reported() {
    let text = r#"[listeners.web]
address = "127.0.0.1:8080"
protcol = "http"
h2c = "yes"
trusted_proxies = ["10.0.0.0/33"]
https_port = 70000

[routes.default]
pool = "web"

[pools.web]
balance = "round-robin"
max_retries = -1
health_check = { type = "http", path = "health", interval = "-1s", rise = 0 }
backends = [{ address = "127.0.0.1:9001", wieght = 2 }, { address = "127.0.0.1" }]
"#;
    assert_eq!(
        issues(text),
        [
            "listeners.web.protcol: unknown key `protcol` (expected one of `address`, `protocol`, `certificates`, `unknown_sni`, `alpn`, `h2c`, `redirect_https`, `https_port`, `hsts`, `proxy_protocol`, `trusted_proxies`, `tls_profile`, `client_auth`, `client_ca`, `client_crl`, `client_cert_headers`); did you mean `protocol`? at line 3",
            "listeners.web.h2c: invalid type: string \"yes\", expected a boolean at line 4",
            "listeners.web.trusted_proxies[0]: \"10.0.0.0/33\" has an invalid prefix length (0-32) at line 5",
            "listeners.web.https_port: invalid value: integer `70000`, expected a whole number from 0 to 65535 at line 6",
            "pools.web.balance: unknown balance \"round-robin\" (expected \"round_robin\", \"active_passive\", \"least_connections\", \"random_two_choices\" or \"hash\"); did you mean \"round_robin\"? at line 12",
            "pools.web.max_retries: invalid value: integer `-1`, expected a whole number from 0 to 4294967295 at line 13",
            "pools.web.health_check.path: \"health\" must be a path starting with '/' at line 14",
            "pools.web.health_check.interval: invalid duration \"-1s\" (expected a number and a unit: ms, s, m, h or d, e.g. \"250ms\" or \"5s\") at line 14",
            "pools.web.health_check.rise: must be at least 1 at line 14",
            "pools.web.backends[0].wieght: unknown key `wieght` (expected one of `address`, `weight`, `backup`, `drain`, `max_connections`, `max_queue`, `queue_timeout`); did you mean `weight`? at line 15",
            "pools.web.backends[1].address: \"127.0.0.1\" needs a port (host:port or IP:port) at line 15",
        ]
    );
}

/// The issue's examples: an unknown key in the only listener, and a pool with one bad value
/// whose backends and routes must still be judged as they are.
#[test]
fn no_misleading_follow_on_messages() {
    let text = r#"[listeners.web]
address = "127.0.0.1:8080"
protocl = "http"

[routes.api]
hosts = ["api.example.test"]
pool = "api"

[routes.web]
pool = "api"

[pools.api]
health_check = { interval = "-1s" }
backends = [{ address = "127.0.0.1" }, { address = "127.0.0.1:9001", max_connections = 0, max_queue = 5 }]
"#;
    let found = issues(text);
    assert_eq!(
        found,
        [
            "listeners.web.protocl: unknown key `protocl` (expected one of `address`, `protocol`, `certificates`, `unknown_sni`, `alpn`, `h2c`, `redirect_https`, `https_port`, `hsts`, `proxy_protocol`, `trusted_proxies`, `tls_profile`, `client_auth`, `client_ca`, `client_crl`, `client_cert_headers`); did you mean `protocol`? at line 3",
            "pools.api.health_check.interval: invalid duration \"-1s\" (expected a number and a unit: ms, s, m, h or d, e.g. \"250ms\" or \"5s\") at line 13",
            "pools.api.backends[0].address: \"127.0.0.1\" needs a port (host:port or IP:port) at line 14",
            "pools.api.backends[1].max_connections: must be at least 1 at line 14",
        ]
    );
    assert!(!found
        .iter()
        .any(|i| i.contains("no listeners") || i.contains("unknown pool")));
}

#[test]
fn unknown_keys_and_sections_suggest_the_closest_valid_one() {
    let text = r#"[server]
thread = 2

[listener.web]
address = "127.0.0.1:8080"

[listeners.web]
adress = "127.0.0.1:8080"
protocol = "http"
colour = "blue"

[routes.default]
pool = "web"
path_prefx = "/"

[pools.web]
backends = [{ address = "127.0.0.1:9001" }]
[pools.web.timeouts]
conect = "1s"
"#;
    assert_eq!(
        issues(text),
        [
            "server.thread: unknown key `thread` (expected one of `threads`, `grace_period`, `shutdown_timeout`, `pid_file`, `upgrade_socket`, `upstream_keepalive_pool_size`, `server_header`, `retry_budget`, `user`, `group`); did you mean `threads`? at line 2",
            "listener: unknown section (expected one of: server, admin, reload, pair, logging, access_log, metrics, limits, listeners, routes, pools, acme, ocsp); did you mean `listeners`? at line 4",
            // The misspelt `address` is reported once, not again as missing.
            "listeners.web.adress: unknown key `adress` (expected one of `address`, `protocol`, `certificates`, `unknown_sni`, `alpn`, `h2c`, `redirect_https`, `https_port`, `hsts`, `proxy_protocol`, `trusted_proxies`, `tls_profile`, `client_auth`, `client_ca`, `client_crl`, `client_cert_headers`); did you mean `address`? at line 8",
            // Far from every valid key: no guess.
            "listeners.web.colour: unknown key `colour` (expected one of `address`, `protocol`, `certificates`, `unknown_sni`, `alpn`, `h2c`, `redirect_https`, `https_port`, `hsts`, `proxy_protocol`, `trusted_proxies`, `tls_profile`, `client_auth`, `client_ca`, `client_crl`, `client_cert_headers`) at line 10",
            "routes.default.path_prefx: unknown key `path_prefx` (expected one of `hosts`, `path_prefix`, `pool`, `strip_prefix`, `redirect_https`, `hsts`, `request_headers`, `response_headers`, `max_body_size`, `allow`, `deny`, `rate_limit`, `upgrades`, `client_auth`, `path_exact`, `path_regex`, `methods`, `match_headers`, `match_query`, `match_client`, `respond`, `redirect`, `path_rewrite`, `host_rewrite`, `timeouts`, `max_retries`, `metrics`); did you mean `path_prefix`? at line 14",
            "pools.web.timeouts.conect: unknown key `conect` (expected one of `connect`, `read`, `write`, `idle`, `response`, `tunnel`); did you mean `connect`? at line 19",
        ]
    );
}

#[test]
fn misspelt_values_of_closed_sets_suggest_the_closest_valid_one() {
    let text = r#"[logging]
level = "warning"
format = "jsn"

[listeners.web]
address = "127.0.0.1:8080"
protocol = "htps"
alpn = ["http/1", "h3"]

[routes.default]
pool = "wbe"

[pools.web]
backends = [{ address = "127.0.0.1:9001" }]
health_check = { type = "tpc", start = "dwn" }
"#;
    assert_eq!(
        issues(text),
        [
            "logging.level: unknown level \"warning\" (expected \"error\", \"warn\", \"info\", \"debug\", \"trace\" or \"off\"); did you mean \"warn\"? at line 2",
            "logging.format: unknown format \"jsn\" (expected \"text\" or \"json\"); did you mean \"json\"? at line 3",
            "listeners.web.protocol: unknown protocol \"htps\" (expected \"http\" or \"https\"); did you mean \"https\"? at line 7",
            "listeners.web.alpn[0]: unsupported ALPN protocol \"http/1\" (expected \"h2\" or \"http/1.1\"); did you mean \"http/1.1\"? at line 8",
            "listeners.web.alpn[1]: unsupported ALPN protocol \"h3\" (expected \"h2\" or \"http/1.1\"); did you mean \"h2\"? at line 8",
            "routes.default.pool: unknown pool \"wbe\" (known: web); did you mean \"web\"? at line 11",
            "pools.web.health_check.type: unknown check type \"tpc\" (expected \"http\", \"tcp\" or \"grpc\"); did you mean \"tcp\"? at line 15",
            "pools.web.health_check.start: unknown start state \"dwn\" (expected \"unknown\", \"up\" or \"down\"); did you mean \"down\"? at line 15",
        ]
    );
}

/// A misspelt key stands for the key it was probably meant to be: `protocl = "https"` is not
/// followed by messages that assume the default protocol (http).
#[test]
fn a_misspelt_key_is_not_taken_as_absent() {
    let text = r#"[listeners.web]
address = "127.0.0.1:8080"
protocl = "https"
certificates = [{ cert = "site.crt" }]

[routes.default]
pool = "web"
redirect_https = true

[pools.web]
backends = [{ adress = "127.0.0.1:9001" }]
"#;
    assert_eq!(
        issues(text),
        [
            "listeners.web.protocl: unknown key `protocl` (expected one of `address`, `protocol`, `certificates`, `unknown_sni`, `alpn`, `h2c`, `redirect_https`, `https_port`, `hsts`, `proxy_protocol`, `trusted_proxies`, `tls_profile`, `client_auth`, `client_ca`, `client_crl`, `client_cert_headers`); did you mean `protocol`? at line 3",
            // The certificates are still checked, as for an https listener.
            "listeners.web.certificates[0].key: required key is missing (e.g. key = \"site.key\") at line 4",
            "pools.web.backends[0].adress: unknown key `adress` (expected one of `address`, `weight`, `backup`, `drain`, `max_connections`, `max_queue`, `queue_timeout`); did you mean `address`? at line 11",
        ]
    );
}

/// A value left out is not judged again as a default the file never chose: no "has no effect
/// without tls", no "only applies to http listeners", no "unreachable" for a route whose hosts
/// were refused (it would read as "any host").
#[test]
fn checks_that_depend_on_a_refused_value_are_skipped() {
    let text = r#"[listeners.web]
address = "127.0.0.1:8080"
protocol = 443
hsts = { max_age = "1y" }

[routes.a]
pool = "web"

[routes.b]
hosts = "b.example.test"
pool = "web"

[pools.web]
tls = "yes"
tls_sni = "web.internal"
passive = { cooldown = "soon", max_cooldown = "5s" }
backends = [{ address = "127.0.0.1:9001", max_connections = "many", max_queue = 5 }]
"#;
    assert_eq!(
        issues(text),
        [
            "listeners.web.protocol: invalid type: integer `443`, expected a string at line 3",
            "listeners.web.hsts.max_age: invalid duration \"1y\" (expected a number and a unit: ms, s, m, h or d, e.g. \"250ms\" or \"5s\") at line 4",
            "routes.b.hosts: invalid type: string \"b.example.test\", expected an array at line 10",
            "pools.web.tls: invalid type: string \"yes\", expected a boolean at line 14",
            "pools.web.passive.cooldown: invalid duration \"soon\" (expected a number and a unit: ms, s, m, h or d, e.g. \"250ms\" or \"5s\") at line 16",
            "pools.web.backends[0].max_connections: invalid type: string \"many\", expected a whole number from 0 to 4294967295 at line 17",
        ]
    );
}

/// An array element that is refused is left out, and the elements after it keep the indices
/// (and lines) they have in the file.
#[test]
fn refused_array_elements_keep_file_indices() {
    let text = r#"[listeners.web]
address = "127.0.0.1:8080"
[routes.default]
pool = "web"
hosts = [1, "a.example.test", "bad host"]
[pools.web]
backends = [
  "127.0.0.1:9001",
  { address = "127.0.0.1:9002" },
  7,
  { address = "127.0.0.1:9002" },
]
"#;
    assert_eq!(
        issues(text),
        [
            "routes.default.hosts[0]: invalid type: integer `1`, expected a string at line 5",
            "routes.default.hosts[2]: \"bad host\" is not a host name or a wildcard like \"*.example.test\" (a '*' may only stand for the whole first label) at line 5",
            "pools.web.backends[0]: invalid type: string \"127.0.0.1:9001\", expected a table at line 8",
            "pools.web.backends[2]: invalid type: integer `7`, expected a table at line 10",
            "pools.web.backends[3].address: duplicate backend 127.0.0.1:9002 (already pools.web.backends[1]) at line 11",
        ]
    );
}

#[test]
fn missing_required_keys_are_named_with_an_example() {
    let text = r#"[listeners.web]
protocol = "http"

[routes.default]
hosts = ["www.example.test"]
rate_limit = { burst = 5 }

[pools.web]
backends = [{ weight = 2 }]
"#;
    assert_eq!(
        issues(text),
        [
            "listeners.web.address: required key is missing (e.g. address = \"0.0.0.0:8080\") at line 1",
            "routes.default.pool: required key is missing (e.g. pool = \"<pool name>\") at line 4",
            "routes.default.rate_limit.requests_per_second: required key is missing (e.g. requests_per_second = 10) at line 6",
            "pools.web.backends[0].address: required key is missing (e.g. address = \"10.0.0.1:8080\") at line 9",
        ]
    );
}

/// An entry that is not even a table is reported once; it still exists for the checks that
/// count entries or resolve names.
#[test]
fn an_entry_that_is_not_a_table_still_exists() {
    let text = r#"[listeners]
web = "127.0.0.1:8080"

[routes.default]
pool = "web"

[pools]
web = ["127.0.0.1:9001"]
"#;
    assert_eq!(
        issues(text),
        [
            "listeners.web: invalid type: string \"127.0.0.1:8080\", expected a table at line 2",
            "pools.web: invalid type: array, expected a table at line 8",
        ]
    );
}
