//! Backend state that must outlive a config reload: health (active rise/fall), passive
//! ejection, admin overrides, in-flight counts and connection limits.
//!
//! The [`Registry`] owns one [`BackendState`] per backend identity ([`BackendKey`]: pool name +
//! resolved address). Snapshots hold `Arc`s into it, so a reload that keeps a backend keeps its
//! state, and a backend dropped from the config keeps its record for a while so a quick re-add
//! does not reset it. Every change that can alter which backends are eligible bumps the
//! registry's epoch, which is how pools know to recompute their schedules without being told.

mod backend;
mod limiter;
mod registry;

pub use backend::{
    AdminOverride, Availability, BackendState, CheckRecord, InflightGuard as InflightGuardHandle,
    Status, StatusView, TunnelGuard, UnavailableReason,
};
pub use limiter::{Limiter, Permit, QueueFull};
pub use registry::{BackendKey, Registry, Transition, RETENTION};
