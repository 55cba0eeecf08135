//! Configuration: TOML file → serde mirror ([`raw`]) → validation (every issue with key path and
//! line) → typed [`model::Config`].
//!
//! ```text
//! gatehouse.toml ──read──▶ text ──toml/serde──▶ raw::* ──validate──▶ model::Config ──▶ runtime::Snapshot
//!                                   (deny_unknown_fields)   (all issues at once,
//!                                                             certs loaded, names resolved)
//! ```
//! Nothing downstream of this module parses strings again.

pub mod duration;
pub mod error;
pub mod limits;
pub mod model;
pub mod raw;
pub mod resolve;
pub mod route_match;
pub mod schema;
pub mod shared_digest;
pub mod spans;
pub mod validate;

pub use error::{ConfigError, Issue};
pub use model::Config;
pub use validate::{Context, Validated};

use std::path::Path;

/// Reads and validates a config file.
///
/// # Errors
/// [`ConfigError::Read`] when the file cannot be read, [`ConfigError::Invalid`] with every
/// problem found otherwise.
pub fn load(path: &Path, ctx: &Context<'_>) -> Result<Validated, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    validate::validate(path, &text, ctx)
}

/// Loads with the system resolver, at startup or in `gatehouse check` (expiry is a warning).
///
/// # Errors
/// See [`load`].
pub fn load_initial(path: &Path) -> Result<Validated, ConfigError> {
    let ctx = Context {
        resolver: &resolve::SystemResolver,
        now: std::time::SystemTime::now(),
        in_service: None,
    };
    load(path, &ctx)
}
