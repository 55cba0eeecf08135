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
//!
//! ## Layers
//!
//! Every import points down this table: a module uses modules on lower rows, never higher ones;
//! modules on one row may use each other only without forming a cycle. `tests/it/layering.rs`
//! parses this table and fails on any `crate::`/`super::` path that breaks it, so the order here
//! is the order of the code. A submodule placed on its own row (e.g. `listener::head`) sits
//! apart from its parent: a lower one is a leaf the parent's peers also need, a higher one a
//! task that drives the state the rest of its module describes.
//!
//! | layer | modules | what they are |
//! |---|---|---|
//! | 1 | `memory`, `net`, `privileges`, `pid_file`, `sample`, `runtime::balance::slow_start` | leaves: returning freed memory, CIDRs, the privilege gate, the sample app, the slow-start ramp |
//! | 2 | `metrics` | metric names and the recorder |
//! | 3 | `access_log`, `tls` | the access-log writer; certificates, profiles, OCSP and ACME material |
//! | 4 | `config` | file → validated, typed `Config` |
//! | 5 | `ctl`, `health`, `listener::head`, `listener::stash`, `listener::chunked`, `listener::deadline`, `listener::gated`, `runtime::balance::hash`, `runtime::balance::key`, `preview::sampled` | admin client; backend health; HTTP/1 on the wire; balancing keys read from any engine's fields; the header names the preview samples |
//! | 6 | `rollout`, `pair::status`, `listener::h1`, `preview::ring` | rollout state; the pair guard's result; the HTTP/1 gate; the preview's sample ring |
//! | 7 | `runtime` | snapshots, pools, routers, `SharedState` |
//! | 8 | `proxy`, `pair`, `reload`, `checks`, `preview` | request decisions; the pair guard; reloads; active checks; previews |
//! | 9 | `forward` | the HTTP/1 and HTTP/2 engines |
//! | 10 | `listener`, `admin`, `tls::acme::manager`, `tls::ocsp::fetch` | accepting connections; the admin API; certificate tasks |
//! | 11 | `notify`, `upgrade` | systemd notifications; zero-downtime upgrades |
//! | 12 | `lifecycle`, `commands` | the process from start to exit; the other subcommands |

pub mod access_log;
pub mod admin;
pub mod checks;
pub mod commands;
pub mod config;
pub mod ctl;
pub mod forward;
pub mod health;
pub mod lifecycle;
pub mod listener;
pub mod memory;
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
pub mod tls;
pub mod upgrade;
