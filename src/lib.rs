//! gatehouse: a layer-7 load balancer and TLS terminator built on Pingora.
//!
//! Data flows one way:
//!
//! ```text
//! TOML file ─▶ config (serde, validate: every issue with key + line) ─▶ runtime::Snapshot
//!   (routes, pools, certificates; immutable) ─▶ ArcSwap<Snapshot> ─▶ request path
//!                                                   ▲
//!              reload (file watch, SIGHUP, admin) ──┘  builds a new snapshot and swaps it
//! ```
//!
//! State that must outlive a reload — backend health, ejections, admin overrides, in-flight
//! counts — lives in [`health::Registry`], keyed by backend identity, not in the snapshot.

pub mod access_log;
pub mod admin;
pub mod checks;
pub mod config;
pub mod ctl;
pub mod forward;
pub mod health;
pub mod listener;
pub mod metrics;
pub mod net;
pub mod notify;
pub mod pair;
pub mod pid_file;
pub mod preview;
pub mod privileges;
pub mod proxy;
pub mod reload;
pub mod rollout;
pub mod runtime;
pub mod sample;
pub mod server;
pub mod tls;
pub mod upgrade;
