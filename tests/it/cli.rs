//! `gatehouse check` / `--version`: exit codes and the exact error text operators read.

use std::process::Command;

fn check(text: &str) -> (i32, String, String) {
    let (code, stdout, stderr, _) = check_file(text);
    (code, stdout, stderr)
}

/// Like [`check`], plus the path of the (since removed) file, which the output names.
fn check_file(text: &str) -> (i32, String, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["check", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        path.display().to_string(),
    )
}

#[test]
fn a_good_file_passes_with_a_one_line_summary() {
    let (code, stdout, _) = check(
        r#"
[listeners.http]
address = "127.0.0.1:8080"
[routes.default]
pool = "web"
[pools.web]
backends = [{ address = "127.0.0.1:9001" }, { address = "127.0.0.1:9002", weight = 3 }]
"#,
    );
    assert_eq!(code, 0);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.contains("OK: 1 listeners, 1 routes, 1 pools, 2 backends"),
        "{stdout}"
    );
}

#[test]
fn a_broken_file_lists_every_problem_with_key_and_line() {
    let (code, stdout, stderr) = check(
        r#"[listeners.http]
address = "127.0.0.1:notaport"

[routes.a]
pool = "api2"

[routes.b]
path_prefix = "admin"
pool = "public"

[routes.c]
path_prefix = "/"
pool = "public"

[pools.public]
balance = "fastest"

[[pools.public.backends]]
address = "127.0.0.1:9001"
weight = 0

[[pools.public.backends]]
address = "127.0.0.1:9001"

[pools.empty]
"#,
    );
    assert_eq!(code, 1, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.is_empty());
    let expected = [
        r#"listeners.http.address: "127.0.0.1:notaport" is not an IP:port address (e.g. "0.0.0.0:8080") at line 2"#,
        r#"routes.a.pool: unknown pool "api2" (known: public, empty) at line 5"#,
        r#"routes.b.path_prefix: "admin" must be a path starting with '/' (no query or fragment) at line 8"#,
        r#"routes.c: unreachable: routes.a already matches host (any) with path prefix "/" at line 11"#,
        r#"pools.public.balance: unknown balance "fastest" (expected "round_robin", "active_passive", "least_connections", "random_two_choices" or "hash") at line 16"#,
        r#"pools.public.backends[0].weight: must be at least 1 (use drain = true to stop sending traffic) at line 20"#,
        r#"pools.public.backends[1].address: duplicate backend 127.0.0.1:9001 (already pools.public.backends[0]) at line 23"#,
        r#"pools.empty.backends: pool has no backends; add at least one [[pools.<name>.backends]] with an address at line 25"#,
    ];
    for line in expected {
        assert!(stderr.contains(line), "missing:\n  {line}\nin:\n{stderr}");
    }
    assert!(stderr.contains("8 problems"), "{stderr}");
}

#[test]
fn typos_and_syntax_errors_point_at_the_line() {
    let (code, _, stderr) = check(
        r#"[listeners.http]
address = "127.0.0.1:8080"
[routes.default]
pool = "web"
[pools.web]
[[pools.web.backends]]
address = "127.0.0.1:9001"
wieght = 2
"#,
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("pools.web.backends[0].wieght: unknown key `wieght` (expected one of `address`, `weight`,"),
        "{stderr}"
    );
    assert!(stderr.contains("at line 8"), "{stderr}");
    assert!(
        stderr.contains("1 problem:"),
        "no cascade of follow-on errors: {stderr}"
    );

    let (code, _, stderr) = check("[listeners.http\naddress = 1\n");
    assert_eq!(code, 1);
    assert!(
        stderr.contains("invalid TOML") && stderr.contains("at line 1"),
        "{stderr}"
    );

    let (code, _, stderr) = check("[listeners.http]\naddress = \"127.0.0.1:1\"\n[routes.r]\npool = \"p\"\n[pools.p]\nbackends = [{ address = \"no-such-host.invalid:80\" }]\n");
    assert_eq!(code, 1);
    assert!(
        stderr.contains("pools.p.backends[0].address: cannot resolve \"no-such-host.invalid\""),
        "{stderr}"
    );
}

/// One bad key or value is reported on its own: the rest of its section is still checked
/// (the pool's backends), nothing is invented because of it (no "no listeners" for a listener
/// with a misspelt key, no "unknown pool" for a pool with errors), and misspellings come with
/// the likely intended key or value.
#[test]
fn one_mistake_neither_hides_nor_invents_others() {
    let (code, stdout, stderr, path) = check_file(
        r#"[listeners.web]
address = "127.0.0.1:8080"
protcol = "http"

[routes.api]
hosts = ["api.example.test"]
pool = "api"

[pools.api]
balance = "round-robin"
health_check = { interval = "-1s" }
backends = [{ address = "127.0.0.1" }, { address = "127.0.0.1:9001", wieght = 2 }]
"#,
    );
    assert_eq!(code, 1, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.is_empty());
    assert_eq!(
        stderr,
        format!(
            r#"{path}: 5 problems:
  - listeners.web.protcol: unknown key `protcol` (expected one of `address`, `protocol`, `certificates`, `unknown_sni`, `alpn`, `h2c`, `redirect_https`, `https_port`, `hsts`, `proxy_protocol`, `trusted_proxies`, `tls_profile`, `client_auth`, `client_ca`, `client_crl`, `client_cert_headers`); did you mean `protocol`? at line 3
  - pools.api.balance: unknown balance "round-robin" (expected "round_robin", "active_passive", "least_connections", "random_two_choices" or "hash"); did you mean "round_robin"? at line 10
  - pools.api.health_check.interval: invalid duration "-1s" (expected a number and a unit: ms, s, m, h or d, e.g. "250ms" or "5s") at line 11
  - pools.api.backends[0].address: "127.0.0.1" needs a port (host:port or IP:port) at line 12
  - pools.api.backends[1].wieght: unknown key `wieght` (expected one of `address`, `weight`, `backup`, `drain`, `max_connections`, `max_queue`, `queue_timeout`); did you mean `weight`? at line 12
"#
        )
    );
}

#[test]
fn version_is_printed() {
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("gatehouse {}", env!("CARGO_PKG_VERSION"))
    );
}
