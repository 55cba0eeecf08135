//! Reload and upgrade, one topic per file.
//!
//! - [`under_load`]: many reloads, and a refused one, under load: no failed request, no mixed
//!   snapshot.
//! - [`in_flight`]: in-flight, draining and long-lived requests across reloads.
//! - [`health_state`]: health of unchanged backends kept across a reload.
//! - [`triggers`]: what starts a reload (file watch: editor saves, unrelated writes, ConfigMap
//!   swaps; SIGHUP; `gatehouse reload`) and what does not.
//! - [`upgrade`]: zero-downtime binary upgrades, a failed one, the pid file.
//! - [`cold_changes`]: changes that need a restart stay reported until the file matches what runs.

mod cold_changes;
mod health_state;
mod in_flight;
mod triggers;
mod under_load;
mod upgrade;

/// A pool's `backends = [...]` entries for these addresses.
fn backend_list(addrs: &[&str]) -> String {
    addrs
        .iter()
        .map(|a| format!("{{ address = \"{a}\" }}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Pool blue = `backend`, routed; pool green = a refusing port, unused; the route sets an
/// `x-tag` response header to `tag`, so each generation is recognisable in responses.
fn tagged(backend: &str, unused: &crate::support::RefusingPort, tag: &str) -> String {
    two_pools(
        "blue",
        &[backend],
        &[&unused.addr.to_string()],
        &format!("response_headers = {{ set = {{ \"x-tag\" = \"{tag}\" }} }}"),
    )
}

fn two_pools(route_pool: &str, a: &[&str], b: &[&str], extra: &str) -> String {
    format!(
        r#"
[server]
threads = 2
grace_period = "0s"
[reload]
debounce = "10ms"
[admin]
address = "{{admin}}"
[listeners.http]
address = "{{http}}"
[routes.site]
pool = "{route_pool}"
{extra}
[pools.blue]
backends = [{}]
[pools.green]
backends = [{}]
"#,
        backend_list(a),
        backend_list(b)
    )
}

fn child_config(backend: &str, tag: &str) -> String {
    format!(
        r#"
[server]
threads = 1
grace_period = "5s"
[reload]
watch = false
[admin]
address = "{{admin}}"
token_file = "admin.token"
[listeners.http]
address = "{{http}}"
[routes.site]
pool = "p"
response_headers = {{ set = {{ "x-tag" = "{tag}" }} }}
[pools.p]
health_check = {{ type = "http", path = "/healthz", interval = "100ms" }}
backends = [{{ address = "{backend}" }}]
"#
    )
}
