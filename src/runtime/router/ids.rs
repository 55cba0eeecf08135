//! The routes one host-and-path key leads to, in precedence order, without a heap allocation
//! for the usual single route: a large edge has one such list per host name, and a `Vec`
//! of one id was 24 bytes inline plus an allocation each.

use super::RouteId;

/// One or more route ids.
#[derive(Debug, Clone)]
pub(super) enum Ids {
    One(RouteId),
    Many(Box<[RouteId]>),
}

impl Ids {
    pub(super) fn as_slice(&self) -> &[RouteId] {
        match self {
            Ids::One(id) => std::slice::from_ref(id),
            Ids::Many(ids) => ids,
        }
    }

    pub(super) fn as_mut_slice(&mut self) -> &mut [RouteId] {
        match self {
            Ids::One(id) => std::slice::from_mut(id),
            Ids::Many(ids) => ids,
        }
    }

    /// Appends at build time (a reallocation per push is fine there: lists are short).
    pub(super) fn push(&mut self, id: RouteId) {
        let mut all = self.as_slice().to_vec();
        all.push(id);
        *self = Ids::Many(all.into_boxed_slice());
    }
}

/// Appends `id` to the list under `key`, creating it.
pub(super) fn push_into<K: std::hash::Hash + Eq>(
    map: &mut std::collections::HashMap<K, Ids>,
    key: K,
    id: RouteId,
) {
    match map.entry(key) {
        std::collections::hash_map::Entry::Occupied(mut e) => e.get_mut().push(id),
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(Ids::One(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_id_is_inline_and_the_list_is_two_words() {
        assert_eq!(std::mem::size_of::<Ids>(), 16);
        let mut ids = Ids::One(7);
        assert_eq!(ids.as_slice(), &[7]);
        ids.push(3);
        ids.push(5);
        assert_eq!(ids.as_slice(), &[7, 3, 5]);
        ids.as_mut_slice().sort_unstable();
        assert_eq!(ids.as_slice(), &[3, 5, 7]);
    }
}
