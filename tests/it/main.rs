//! gatehouse integration tests: one test binary; each test starts the real proxy and real
//! sample apps on ephemeral loopback ports and waits on events or bounded polls.
//!
//! # Layout: one file per concern
//!
//! A test's path names its concern (`cargo test --test it hardening::slow_clients`). A topic
//! with several concerns is a directory: `topic.rs` holds what its files share (config
//! builders, small helpers) and lists them; each file under `topic/` holds one concern.
//!
//! - [`hardening`]: [`malformed`](hardening::malformed) requests and smuggling,
//!   misbehaving [`backends`](hardening::backends), [`slow_clients`](hardening::slow_clients)
//!   (slowloris, slow bodies, idle keep-alive), connection caps and rate
//!   [`limits`](hardening::limits), allow/deny [`access`](hardening::access),
//!   [`proxy_protocol`](hardening::proxy_protocol), [`tls_resumption`](hardening::tls_resumption),
//!   root [`privileges`](hardening::privileges), [`http2_floods`](hardening::http2_floods).
//! - [`reload`]: reloads [`under_load`](reload::under_load), requests
//!   [`in_flight`](reload::in_flight) across them, [`health_state`](reload::health_state) kept,
//!   reload [`triggers`](reload::triggers), binary [`upgrade`](reload::upgrade)s,
//!   [`cold_changes`](reload::cold_changes).
//! - [`tls`]: [`versions_and_sni`](tls::versions_and_sni), [`http2`](tls::http2) over ALPN and
//!   h2c, redirects and [`hsts`](tls::hsts), certificate [`rotation`](tls::rotation), TLS to the
//!   [`backend`](tls::backend).
//! - [`health`]: [`active_checks`](health::active_checks), [`failover`](health::failover) and
//!   `fail_open`, [`passive`](health::passive) ejection, [`admin`](health::admin) status and
//!   overrides, [`max_connections`](health::max_connections) and the queue.
//! - [`observability`]: [`metrics`](observability::metrics), health and
//!   [`failover`](observability::failover) series, the [`access_log`](observability::access_log),
//!   the shipped [`dashboards`](observability::dashboards), diagnostic
//!   [`logging`](observability::logging).
//! - [`routing`]: [`matching`](routing::matching), forwarding [`headers`](routing::headers),
//!   [`rewrites`](routing::rewrites) and redirects, per-route [`overrides`](routing::overrides).
//! - [`ops`]: systemd notification and units, the install script, the Debian package, a
//!   keepalived pair.
//! - One file each: [`acme`], [`balancing`], [`cli`], [`completions`], [`config_examples`],
//!   [`differential`] (golden bytes), [`errors`], [`grpc`], [`hashing`], [`http1`], [`http2`],
//!   [`memory`], [`mtls`], [`ocsp`], [`preview`], [`rollout`], [`sample_app`], [`scale`],
//!   [`schema`], [`sticky`], [`streaming`], [`websocket_h2`].
//! - [`h2spec`]: h2spec's 147 conformance cases (HTTP/2, HPACK), ported: one file per section
//!   group, its verifiers and raw-frame connection beside them.
//! - [`h2_frames_fuzz`]: seeded random HTTP/2 frame sequences against a real gatehouse: no
//!   panic, no hung connection, no leaked stream (issue #15).
//! - [`support`]: the harness (proxy, child process, backends, clients, raw sockets, patience).
//! - [`patience`]: the check that every bound below goes through the patience factor.
//!
//! # Patience: every bound scales
//!
//! `GATEHOUSE_TEST_PATIENCE` (a number, default 1; [`support::patience`]) multiplies how long a
//! test is willing to wait, so a slow or loaded machine passes with `GATEHOUSE_TEST_PATIENCE=3`
//! instead of failing on timing, while a fast one runs exactly as long as before. The rule:
//!
//! - The harness's waits scale by themselves: [`support::eventually`], [`support::bounded`],
//!   [`support::WAIT`] through them, `raw::send`, `h2raw::read_frame`, the clients, proxy and
//!   child start-up.
//! - Anything a test bounds itself goes through [`support::patient`]: a `timeout(..)` limit, a
//!   deadline (`Instant::now() + ..`, a `select!` arm that panics after a `sleep`), the upper
//!   bound of a wall-clock assertion (`elapsed() < patient(3 * SECOND)`), an admin call's
//!   timeout, and a bound on a duration the proxy reports (`duration_ms`).
//! - Not scaled: lower bounds ("not before 900 ms"), pacing sleeps, and durations written into
//!   a config (a `header_timeout` of 1 s stays 1 s). When a bound *is* a configured window (the
//!   rollout's `--verify`), the window scales with it, or the bound would outgrow it.
//!
//! [`patience`] fails on a new unscaled `timeout(..)`, deadline, upper bound or admin-call
//! timeout, with its file and line. A bound on a plain number is beyond it: write those
//! through `patient(..)` too.

// Test code: a panic with a message is the right way to fail.
#![allow(unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

mod support;

mod acme;
mod balancing;
mod cli;
mod completions;
mod config_examples;
mod differential;
mod docs;
mod errors;
mod grpc;
mod h2_frames_fuzz;
mod h2spec;
mod hardening;
mod hashing;
mod health;
mod health_probe_tls;
mod http1;
mod http2;
mod layering;
mod least_connections;
mod memory;
mod mtls;
mod observability;
mod ocsp;
mod ops;
mod patience;
mod preview;
mod reload;
mod rollout;
mod routing;
mod sample_app;
mod scale;
mod schema;
mod sticky;
mod streaming;
mod tls;
mod websocket_h2;
