//! The manual cannot drift from the code: `README.md` and the book in `docs/` are checked
//! against the sources of truth.
//!
//! - `keys`: the configuration reference (`docs/configuration.md`) documents every key of the
//!   JSON Schema `gatehouse schema` prints (`conf/gatehouse.schema.json`, itself kept equal to
//!   the config types by `schema::`), and nothing else, each with its hot/cold column.
//! - `metrics`: `docs/observability.md` has a row for every metric name in
//!   `src/metrics/names.rs`, and every `gatehouse_*` name anywhere in the docs exists.
//! - `snippets`: every TOML block in the docs passes `gatehouse check` (the real binary).
//! - `links`: every relative link points at a file that exists, and at a heading that exists.
//!
//! Conventions a writer needs (each enforced here):
//!
//! - Reference tables sit under a heading naming their section, `## [pools.NAME]` or
//!   `### [[pools.NAME.backends]]`; their header is `| key | type | default | reload | meaning |`;
//!   the first cell holds one or more keys in backticks, relative to that section
//!   (`timeouts.read`); the reload cell is `hot` or `cold`.
//! - A fenced block ```` ```toml ```` is a complete config; ```` ```toml fragment ```` is checked
//!   merged into a small base config (one listener, route and pool of its own); ```` ```toml
//!   invalid ```` must be refused by `check`, and when the next block is a `text` block starting
//!   with `$ gatehouse check -c gatehouse.toml`, the rest of that block must be exactly what
//!   `check` prints. Files a snippet names (`*.crt`, `*.pem`, `*.key`, `token_file`) are
//!   generated.

mod keys;
mod links;
mod markdown;
mod metrics;
mod snippets;
