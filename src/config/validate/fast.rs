//! The fast way from text to the parsed sections, for a file that parses with nothing to refuse
//! (every valid file, and most invalid ones: their problems are in values, found later).
//!
//! The lenient parser ([`super::lenient`]) goes text → `toml::Table` → one serde pass per
//! section and per named entry, over a clone of that entry (kept in case a key must be taken
//! out and the entry parsed again). At 100,000 routes the table, its clones and their drops
//! were half of `gatehouse check` and of every reload. Here the document is deserialized in
//! one pass straight into the raw types, with the same `deny_unknown_fields` rules. Whenever
//! that pass fails, or a name would be refused, [`sections`] returns `None` and the caller
//! parses leniently as before, so every message and line stays exactly what it was.

use super::lenient::{valid_name, Named};
use super::Sections;
use crate::config::raw;
use indexmap::IndexMap;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::marker::PhantomData;

/// The whole file, as the lenient parser would read it when it refuses nothing.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    server: Option<raw::Server>,
    admin: Option<raw::Admin>,
    reload: Option<raw::Reload>,
    pair: Option<raw::Pair>,
    logging: Option<raw::Logging>,
    access_log: Option<raw::AccessLog>,
    metrics: Option<raw::Metrics>,
    limits: Option<raw::Limits>,
    listeners: Option<Entries<raw::Listener>>,
    routes: Option<Entries<raw::Route>>,
    pools: Option<Entries<raw::Pool>>,
    acme: Option<raw::Acme>,
    ocsp: Option<raw::Ocsp>,
}

/// A table of named entries, allocated once at its final size: serde's maps cap what they
/// reserve up front (a hint is not trusted), so 100,000 routes grew by doubling, moving every
/// entry about seventeen times. The hint here counts the entries of a table already parsed.
struct Entries<T>(IndexMap<String, T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Entries<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for EntriesVisitor<T> {
            type Value = Entries<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of named entries")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = IndexMap::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((name, entry)) = map.next_entry::<String, T>()? {
                    out.insert(name, entry);
                }
                Ok(Entries(out))
            }
        }

        deserializer.deserialize_map(EntriesVisitor(PhantomData))
    }
}

/// The parsed sections, or `None` when the lenient parser must run (it then reports what is
/// wrong, exactly as it always has).
pub(super) fn sections(text: &str) -> Option<Sections> {
    let doc: Document = toml::from_str(text).ok()?;
    let listeners = named(doc.listeners)?;
    let routes = named(doc.routes)?;
    let pools = named(doc.pools)?;
    Some(Sections {
        server: doc.server,
        admin: doc.admin,
        reload: doc.reload,
        pair: doc.pair,
        logging: doc.logging,
        access_log: doc.access_log,
        metrics: doc.metrics,
        limits: doc.limits,
        listeners,
        routes,
        pools,
        acme_present: doc.acme.is_some(),
        acme: doc.acme,
        ocsp: doc.ocsp,
    })
}

/// The entries, unless a name is one the lenient parser refuses.
fn named<T>(entries: Option<Entries<T>>) -> Option<Named<T>> {
    let entries = entries.map(|e| e.0).unwrap_or_default();
    if !entries.keys().all(|name| valid_name(name)) {
        return None;
    }
    Some(Named {
        entries,
        unreadable: Vec::new(),
    })
}
