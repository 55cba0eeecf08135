//! Dropping root: when started as root with `server.user` set, gatehouse switches to that user
//! (and group) once its sockets are bound, so a compromise of the request path does not run as
//! root. Under systemd the unit's `User=` does this before start; this is for other setups.
//!
//! The sockets are bound by Pingora as the server starts, and the switch can only follow; in
//! between, the [`GATE`] holds every accepted connection back (the kernel still completes the
//! TCP handshakes, so a readiness probe that connects succeeds), so no request is ever read,
//! let alone answered, as root.

mod gate;

pub use gate::{Gate, GatedApp, GATE};

use nix::unistd::{Group, Uid, User};

/// Why privileges could not be dropped (the process then refuses to keep running as root).
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    /// The named user or group does not exist.
    #[error("server.{what}: no such {what} {name:?}")]
    Unknown {
        /// `user` or `group`.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// A system call failed.
    #[error("cannot switch to user {user:?}: {source}")]
    Switch {
        /// The user.
        user: String,
        /// Cause.
        #[source]
        source: nix::Error,
    },
}

/// Whether this process runs as root (effective uid 0): without `server.user` it stays root,
/// which start-up warns about.
pub fn running_as_root() -> bool {
    Uid::effective().is_root()
}

/// Whether [`drop_to`] will switch users: `server.user` is set and the process runs as root.
pub fn drop_pending(user: Option<&str>) -> bool {
    user.is_some() && running_as_root()
}

/// Switches to `user` (and `group`, else the user's primary group) if running as root.
/// Returns whether it switched.
///
/// # Errors
/// [`PrivilegeError`] when the names are unknown or the switch fails.
pub fn drop_to(user: Option<&str>, group: Option<&str>) -> Result<bool, PrivilegeError> {
    let Some(user) = user else { return Ok(false) };
    if !Uid::effective().is_root() {
        return Ok(false);
    }
    let unknown = |what, name: &str| PrivilegeError::Unknown {
        what,
        name: name.to_string(),
    };
    let u = User::from_name(user)
        .ok()
        .flatten()
        .ok_or_else(|| unknown("user", user))?;
    let gid = match group {
        Some(g) => {
            Group::from_name(g)
                .ok()
                .flatten()
                .ok_or_else(|| unknown("group", g))?
                .gid
        }
        None => u.gid,
    };
    let switch = |source| PrivilegeError::Switch {
        user: user.to_string(),
        source,
    };
    nix::unistd::setgroups(&[gid]).map_err(switch)?;
    nix::unistd::setgid(gid).map_err(switch)?;
    nix::unistd::setuid(u.uid).map_err(switch)?;
    Ok(true)
}
