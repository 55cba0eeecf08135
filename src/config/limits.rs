//! Request-head size limits: a plain value the config fills from `[limits]` and the HTTP/1
//! gate (`listener::head`) enforces. Defined here, below both, so the config does not reach up
//! into the listener for its own type.

/// Size limits (HAProxy/nginx-like defaults come from the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line (414 beyond).
    pub max_request_line: usize,
    /// Largest header section, request line excluded (431 beyond).
    pub max_header_bytes: usize,
    /// Most header fields (431 beyond).
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: 8 * 1024,
            max_header_bytes: 32 * 1024,
            max_headers: 100,
        }
    }
}
