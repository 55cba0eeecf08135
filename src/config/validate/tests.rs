//! Secure defaults: what a file that says nothing about them gets.

use super::*;
use crate::config::resolve::StaticResolver;

const MINIMAL: &str = r#"
[listeners.http]
address = "127.0.0.1:8080"
[routes.default]
pool = "web"
[pools.web]
backends = [{ address = "127.0.0.1:9001" }]
"#;

fn run(text: &str) -> Result<Validated, ConfigError> {
    let resolver = StaticResolver::default();
    let ctx = Context {
        resolver: &resolver,
        now: SystemTime::now(),
        in_service: None,
    };
    validate(Path::new("/nonexistent/gatehouse.toml"), text, &ctx)
}

#[test]
fn unconfigured_admin_listens_on_loopback_and_no_banner_is_sent() {
    let v = run(MINIMAL).unwrap();
    let admin = v.config.admin.address.unwrap();
    assert!(admin.ip().is_loopback(), "{admin}");
    assert!(!v.config.server.server_header);
    assert!(v.config.server.user.is_none());
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
}

#[test]
fn an_exposed_admin_listener_without_a_token_is_flagged() {
    let v = run(&format!("[admin]\naddress = \"0.0.0.0:9901\"\n{MINIMAL}")).unwrap();
    let w: Vec<String> = v.warnings.iter().map(ToString::to_string).collect();
    assert!(
        w.iter().any(|w| w.starts_with("admin.address: ")
            && w.contains("no token_file")
            && w.ends_with("at line 2")),
        "{w:?}"
    );
}

#[test]
fn a_user_or_group_that_does_not_exist_is_an_error() {
    let err = run(&format!(
        "[server]\nuser = \"no-such-user-gh\"\ngroup = \"no-such-group-gh\"\n{MINIMAL}"
    ))
    .unwrap_err();
    assert_eq!(
        err.issues(),
        [
            "server.user: no such user \"no-such-user-gh\" on this machine at line 2",
            "server.group: no such group \"no-such-group-gh\" on this machine at line 3",
        ]
    );
    assert!(run(&format!("[server]\nuser = \"root\"\n{MINIMAL}")).is_ok());
}
