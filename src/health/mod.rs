//! Backend state that must outlive a config reload: health (active rise/fall), passive
//! ejection, admin overrides, in-flight counts and connection limits.
//!
//! The [`Registry`] owns one [`BackendState`] per backend identity ([`BackendKey`]: pool name +
//! resolved address). Snapshots hold `Arc`s into it, so a reload that keeps a backend keeps its
//! state, and a backend dropped from the config keeps its record for a while so a quick re-add
//! does not reset it. Every change that can alter which backends are eligible bumps the
//! registry's epoch, which is how pools know to recompute their schedules without being told.

//!
//! Files, lowest first: `key` (identity, transition record) and `status` (the state's parts and
//! views) import nothing of this module; `backend` (the state machine) and `passive` (its
//! passive-ejection half) use those; `registry` owns the states. Imports point down that list
//! only. A backend's gauges are not series in the recorder: they are written from its state
//! when `/metrics` is scraped ([`crate::metrics::scraped`]).

mod backend;
mod key;
mod limiter;
mod passive;
mod registry;
mod status;

pub use backend::{BackendState, InflightGuard as InflightGuardHandle, TunnelGuard};
pub use key::{BackendKey, Transition};
pub use limiter::{Limiter, Permit, QueueFull};
pub use registry::{Registry, RETENTION};
pub use status::{AdminOverride, Availability, CheckRecord, Status, StatusView, UnavailableReason};
