//! Which request header values the reload preview keeps: those the serving config's routes
//! match on, computed once per snapshot, so that a request with no such route pays nothing and
//! one with them copies a few bytes. Values that may carry secrets are never kept, whatever
//! the routes say ([`SECRET`]). A leaf the runtime (which holds the set per snapshot) and the
//! sample ring build on; what the preview says about names it did not sample is in
//! [`super::headers`].

use crate::config::model::Route;
/// Header names whose values are never sampled: they carry credentials and sessions.
pub const SECRET: [&str; 4] = [
    "authorization",
    "cookie",
    "proxy-authorization",
    "set-cookie",
];

/// Names sampled at most (a config that routes on more has the rest reported as unsampled).
pub const NAMES_MAX: usize = 16;

/// Whether `name` (lowercase) is never sampled.
pub fn is_secret(name: &str) -> bool {
    SECRET.contains(&name)
}

/// The header names a snapshot's routes match on, minus the secret ones: what the engines
/// sample for the preview while that snapshot serves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SampledHeaders {
    names: Box<[Box<str>]>,
}

impl SampledHeaders {
    /// The set for `routes` (sorted, without duplicates, at most [`NAMES_MAX`]).
    pub fn of<R: std::borrow::Borrow<Route>>(routes: &[R]) -> Self {
        Self::from_names(
            routes
                .iter()
                .map(|r| std::borrow::Borrow::<Route>::borrow(r))
                .flat_map(|r| r.extras.conditions.headers.iter())
                .map(|h| h.name.as_str()),
        )
    }

    /// The set of these names, lowercased, secret ones left out.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut names: Vec<Box<str>> = names
            .into_iter()
            .map(str::to_ascii_lowercase)
            .filter(|n| !is_secret(n))
            .map(Box::from)
            .collect();
        names.sort();
        names.dedup();
        names.truncate(NAMES_MAX);
        SampledHeaders {
            names: names.into_boxed_slice(),
        }
    }

    /// The names, lowercase.
    pub fn names(&self) -> &[Box<str>] {
        &self.names
    }
}
