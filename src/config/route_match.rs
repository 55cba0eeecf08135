//! Validated route-matching rules beyond host and path prefix: an exact or regex path, and
//! conditions on the method, headers, query parameters and client address.

use crate::net::cidr::Cidr;
use http::{HeaderName, Method};

/// A compiled regex, compared by its source (so configs compare on reload).
#[derive(Debug, Clone)]
pub struct Pattern(pub regex::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// A route's upstream timeouts, each overriding the pool's when set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RouteTimeouts {
    /// Each read from the backend (including the response head).
    pub read: Option<std::time::Duration>,
    /// Each write to the backend.
    pub write: Option<std::time::Duration>,
    /// The whole response.
    pub response: Option<std::time::Duration>,
}

/// `respond`: a fixed answer instead of forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedResponse {
    /// Status code.
    pub status: u16,
    /// Body.
    pub body: String,
    /// `Content-Type`.
    pub content_type: String,
}

/// `redirect`: an answer pointing elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectRule {
    /// Status code (301, 302, 303, 307, 308).
    pub status: u16,
    /// Target template (`path_regex` captures: `$1`, `${name}`).
    pub to: String,
    /// Append the request's query.
    pub keep_query: bool,
}

/// What a route does besides choosing a pool: answer locally, or rewrite what is forwarded.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Actions {
    /// Fixed response.
    pub respond: Option<FixedResponse>,
    /// Redirect.
    pub redirect: Option<RedirectRule>,
    /// Backend path template (`path_regex` captures).
    pub path_rewrite: Option<String>,
}

impl Actions {
    /// Forward as is (what a route without any action reads).
    pub const NONE: Actions = Actions {
        respond: None,
        redirect: None,
        path_rewrite: None,
    };
}

impl RouteTimeouts {
    /// The pool's timeouts apply.
    pub const NONE: RouteTimeouts = RouteTimeouts {
        read: None,
        write: None,
        response: None,
    };
}

/// How a route matches the path.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum PathMatch {
    /// `path_prefix` (segment boundaries), the default.
    #[default]
    Prefix,
    /// `path_exact`: this path only.
    Exact(String),
    /// `path_regex`: the normalised path matches (anchor it with `^…$` for a whole match).
    Regex(Pattern),
}

/// How a header or parameter value must look.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueMatch {
    /// Present, any value.
    Present,
    /// Exactly this value.
    Exact(String),
    /// A value the regex matches.
    Regex(Pattern),
}

/// A condition on a request header (any of its values may satisfy it).
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderCondition {
    /// Field name.
    pub name: HeaderName,
    /// What its value must be.
    pub value: ValueMatch,
}

/// A condition on a query parameter, compared as sent (not percent-decoded).
#[derive(Debug, Clone, PartialEq)]
pub struct QueryCondition {
    /// Parameter name.
    pub name: String,
    /// Exact value (`None`: present, any value).
    pub value: Option<String>,
}

/// Everything a request must satisfy besides host and path; all must hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Conditions {
    /// One of these methods (empty: any).
    pub methods: Vec<Method>,
    /// Every header condition.
    pub headers: Vec<HeaderCondition>,
    /// Every query condition.
    pub query: Vec<QueryCondition>,
    /// The client address is in one of these blocks (empty: any).
    pub clients: Vec<Cidr>,
}

impl Conditions {
    /// No condition (what a route without any reads).
    pub const NONE: Conditions = Conditions {
        methods: Vec::new(),
        headers: Vec::new(),
        query: Vec::new(),
        clients: Vec::new(),
    };

    /// No condition at all.
    pub fn is_empty(&self) -> bool {
        self.methods.is_empty()
            && self.headers.is_empty()
            && self.query.is_empty()
            && self.clients.is_empty()
    }
}

/// The path rule and conditions of a route, as written (for `/status`).
pub fn describe(prefix: &str, path: &PathMatch, c: &Conditions) -> String {
    let mut parts = vec![match path {
        PathMatch::Prefix => format!("path_prefix {prefix:?}"),
        PathMatch::Exact(p) => format!("path_exact {p:?}"),
        PathMatch::Regex(p) => format!("path_regex {:?}", p.0.as_str()),
    }];
    if !c.methods.is_empty() {
        let m: Vec<&str> = c.methods.iter().map(Method::as_str).collect();
        parts.push(format!("methods {}", m.join(",")));
    }
    for h in &c.headers {
        parts.push(match &h.value {
            ValueMatch::Present => format!("header {}", h.name),
            ValueMatch::Exact(v) => format!("header {}={v:?}", h.name),
            ValueMatch::Regex(p) => format!("header {}~{:?}", h.name, p.0.as_str()),
        });
    }
    for q in &c.query {
        parts.push(match &q.value {
            None => format!("query {}", q.name),
            Some(v) => format!("query {}={v:?}", q.name),
        });
    }
    if !c.clients.is_empty() {
        let blocks: Vec<String> = c.clients.iter().map(ToString::to_string).collect();
        parts.push(format!("client {}", blocks.join(",")));
    }
    parts.join("; ")
}
