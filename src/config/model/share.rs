//! Where a loaded config's long-lived parts live in memory.
//!
//! Validation allocates routes and pools in between the load's scratch (the parsed TOML, the
//! raw sections, spans): when the scratch is freed, the allocator's pages each keep a few
//! long-lived blocks and cannot be returned, and a reload that replaced every route by an
//! equal copy did that again each time: resident memory crept up reload after reload (10,000
//! routes: +13 MiB over 50 reloads). So, once the scratch is gone: a route a reload left
//! unchanged takes the previous allocation (the copy is freed), and the rest — new or changed
//! routes, the pools' settings — is copied afresh, packed into pages of its own.

use super::{Config, Route};
use std::collections::HashMap;
use std::sync::Arc;

impl Config {
    /// Call once validation's scratch is freed (see the module doc). Returns how many routes
    /// were shared with `previous`.
    pub fn settle(&mut self, previous: Option<&Config>) -> usize {
        let shared = previous.map_or(0, |p| self.share_unchanged_routes(p));
        for route in &mut self.routes {
            if Arc::strong_count(route) == 1 {
                *route = Arc::new(Route::clone(route));
            }
        }
        self.pools = self.pools.clone();
        shared
    }

    /// Replaces each route equal to the previous config's route of the same name (same pool
    /// name too) by that route's allocation. Returns how many were shared.
    fn share_unchanged_routes(&mut self, previous: &Config) -> usize {
        let old: HashMap<&str, &Arc<Route>> = previous
            .routes
            .iter()
            .map(|r| (r.name.as_str(), r))
            .collect();
        let mut shared = 0;
        for route in &mut self.routes {
            let Some(&old) = old.get(route.name.as_str()) else {
                continue;
            };
            let same_pool = previous.pools.get(old.pool).map(|p| &p.name)
                == self.pools.get(route.pool).map(|p| &p.name);
            if same_pool && **old == **route {
                *route = Arc::clone(old);
                shared += 1;
            }
        }
        shared
    }
}

#[cfg(test)]
mod tests {
    use crate::config::validate::validate_text;

    const BASE: &str = "[listeners.http]\naddress = \"127.0.0.1:8080\"\n[pools.p]\nbackends = [{ address = \"127.0.0.1:9001\" }]\n[pools.q]\nbackends = [{ address = \"127.0.0.1:9002\" }]\n";

    fn config(routes: &str) -> super::Config {
        validate_text(&format!("{BASE}{routes}"))
            .map(|v| v.config)
            .unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn equal_routes_share_the_old_allocation_and_changed_ones_do_not() {
        let old = config(
            "[routes.a]\npool = \"p\"\nhosts = [\"a.test\"]\n[routes.b]\npool = \"p\"\nhosts = [\"b.test\"]\n[routes.c]\npool = \"p\"\nhosts = [\"c.test\"]\n",
        );
        let mut new = config(
            "[routes.a]\npool = \"p\"\nhosts = [\"a.test\"]\n[routes.b]\npool = \"q\"\nhosts = [\"b.test\"]\n[routes.c]\npool = \"p\"\nhosts = [\"c.test\"]\nmax_body_size = 1\n[routes.d]\npool = \"p\"\n",
        );
        assert_eq!(new.settle(Some(&old)), 1);
        assert!(std::sync::Arc::ptr_eq(&new.routes[0], &old.routes[0]));
        assert_eq!(new.pools[new.routes[1].pool].name, "q", "b moved pool");
        assert!(!std::sync::Arc::ptr_eq(&new.routes[1], &old.routes[1]));
        assert_eq!(new.routes[2].extras.max_body_size, Some(1));
        assert_eq!(&*new.routes[3].name, "d");
    }
}
