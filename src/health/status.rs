//! What a backend's state is made of and how it is shown: active-check status, admin override,
//! availability, and the read-only views for `/status`.

use serde::{Deserialize, Serialize};

/// Result of active checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not checked yet.
    Unknown,
    /// Passing checks (or no active checks configured).
    Up,
    /// Failing checks.
    Down,
}

/// Operator override set through the admin API; survives reloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminOverride {
    /// No override.
    None,
    /// No new requests; in-flight ones finish.
    Drain,
    /// Out of rotation (maintenance).
    Disable,
}

/// Why a backend cannot take a request now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnavailableReason {
    /// Active checks failing.
    Down,
    /// Passive ejection in force.
    Ejected,
    /// Admin drain.
    Draining,
    /// Admin disable.
    Disabled,
    /// Recovered, but waiting out the pool's failback delay.
    Recovering,
}

/// Whether a backend can take a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// Yes.
    Healthy,
    /// Only if nothing healthy is left (never checked yet).
    Unknown,
    /// No.
    Unavailable(UnavailableReason),
}

/// Last active check result, for `/status`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRecord {
    /// Passed.
    pub ok: bool,
    /// How long it took.
    pub latency_ms: f64,
    /// Status code, error text, …
    pub detail: String,
    /// Wall-clock time of the check (seconds since the epoch).
    pub at_unix: f64,
}

/// Read-only view for `/status` and the upgrade hand-over.
#[derive(Debug, Clone, Serialize)]
pub struct StatusView {
    /// Combined state: `up`, `down`, `unknown`, `ejected`, `draining`, `disabled`, `recovering`.
    pub state: &'static str,
    /// Active-check status.
    pub check_status: Status,
    /// Since when (seconds since the epoch) the combined state holds.
    pub since_unix: f64,
    /// Last active check.
    pub last_check: Option<CheckRecord>,
    /// Seconds left in the current ejection.
    pub ejected_for_secs: Option<f64>,
    /// Times ejected (drives the growing cool-down).
    pub ejections: u32,
    /// Admin override.
    pub admin: AdminOverride,
    /// Requests in flight.
    pub inflight: u32,
    /// Requests waiting for a connection slot.
    pub queued: u32,
}

/// The combined-state label of an active-check status.
pub(super) fn label_of(status: Status) -> &'static str {
    match status {
        Status::Unknown => "unknown",
        Status::Up => "up",
        Status::Down => "down",
    }
}
