//! gatehouse integration tests: one test binary; each test starts the real proxy and real
//! sample apps on ephemeral loopback ports and waits on events or bounded polls.

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
