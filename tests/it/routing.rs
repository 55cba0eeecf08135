//! Routing, one topic per file.
//!
//! - [`matching`]: host, path prefix, method, header, query, exact, regex and client matches.
//! - [`headers`]: forwarding headers, request ids, header rules, prefix stripping.
//! - [`rewrites`]: rewrites, redirects and fixed responses.
//! - [`overrides`]: per-route timeouts and retries over the pool's.

mod headers;
mod matching;
mod overrides;
mod rewrites;

fn base(extra: &str) -> String {
    format!(
        r#"
[server]
threads = 1
grace_period = "0s"
[admin]
address = "{{admin}}"
[listeners.http]
address = "{{http}}"
{extra}
"#
    )
}
