//! Maglev consistent hashing (Eisenbud et al., NSDI 2016), weighted as Envoy does it.
//!
//! Each backend walks its own permutation of the table's slots (offset and skip derived from
//! its stable identity) and claims the first free one on its turn; turns go round the backends
//! until the table is full. A key is hashed to a slot, and the slot names the backend: one
//! lookup, O(1) whatever the number of backends. Because a backend's permutation does not
//! depend on the others, adding or removing one of N backends moves close to 1/N of the slots
//! (and so of the keys). Weights: a backend takes a turn only while its slot count is below its
//! share (`round × weight / max weight`), so slots are split in proportion to weights.
//!
//! The table size is a prime at least 100 × the backends (the paper's bound for < 1 %
//! imbalance), 65,537 at the least: built once per change of the serving set, never per request.

use super::hash::{fmix64, hash_bytes};

/// Table sizes (primes); the first one at least 100 × the members is used.
const SIZES: [u32; 6] = [65_537, 131_071, 262_139, 524_287, 1_048_573, 2_097_143];

/// The slot owners of a Maglev table: entries are positions in the member list it was built
/// from.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Table {
    slots: Vec<u32>,
}

impl Table {
    /// Builds the table for members named by `ids` (stable identities) with `weights`
    /// (same length; zero weights are treated as one).
    pub fn build(ids: &[u64], weights: &[u32]) -> Table {
        let n = ids.len();
        if n == 0 {
            return Table::default();
        }
        let size = SIZES
            .iter()
            .copied()
            .find(|&s| s as usize >= n * 100)
            .unwrap_or(SIZES[SIZES.len() - 1]);
        let m = u64::from(size);
        let max_weight = weights.iter().copied().max().unwrap_or(1).max(1);
        // (offset, skip, next index into its permutation, slots taken)
        let mut walkers: Vec<(u64, u64, u64, u64)> = ids
            .iter()
            .map(|&id| {
                let offset = fmix64(id ^ 0x6d61_676c_6576_3031) % m;
                let skip = fmix64(id ^ 0x736b_6970_736b_6970) % (m - 1) + 1;
                (offset, skip, 0, 0)
            })
            .collect();
        const FREE: u32 = u32::MAX;
        let mut slots = vec![FREE; size as usize];
        let mut filled = 0u64;
        let mut round = 0u64;
        while filled < m {
            round += 1;
            for (i, w) in walkers.iter_mut().enumerate() {
                if filled >= m {
                    break;
                }
                let weight = u64::from(weights.get(i).copied().unwrap_or(1).max(1));
                // Takes a turn only while under its share: taken < round × weight / max.
                if w.3 * u64::from(max_weight) >= round * weight {
                    continue;
                }
                loop {
                    let slot = ((w.0 + w.2 * w.1) % m) as usize;
                    w.2 += 1;
                    if slots[slot] == FREE {
                        slots[slot] = i as u32;
                        w.3 += 1;
                        filled += 1;
                        break;
                    }
                }
            }
        }
        Table { slots }
    }

    /// Number of slots (0 for an empty table).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the table has no slot.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The slot a key hash falls in.
    pub fn slot(&self, key: u64) -> usize {
        if self.slots.is_empty() {
            return 0;
        }
        (key % self.slots.len() as u64) as usize
    }

    /// The member owning slot `slot` (wrapping around), `None` for an empty table.
    pub fn owner(&self, slot: usize) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        self.slots.get(slot % self.slots.len()).copied()
    }
}

/// The stable identity of a backend for hashing: its pool and configured address, so that it
/// does not depend on its position in the file or on the other backends.
pub fn member_id(pool: &str, address: &std::net::SocketAddr) -> u64 {
    let mut h = super::hash::KeyHasher::default();
    h.write(pool.as_bytes());
    h.write(b"\0");
    h.write(address.to_string().as_bytes());
    h.finish() ^ hash_bytes(b"maglev")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u64) -> Vec<u64> {
        (0..n)
            .map(|i| hash_bytes(format!("10.0.0.{i}:80").as_bytes()))
            .collect()
    }

    fn owners(t: &Table, ids: &[u64], keys: u64) -> Vec<u64> {
        (0..keys)
            .map(|k| ids[t.owner(t.slot(hash_bytes(&k.to_le_bytes()))).unwrap() as usize])
            .collect()
    }

    #[test]
    fn slots_are_shared_by_weight() {
        let t = Table::build(&ids(3), &[1, 1, 2]);
        let count = |i: u32| (0..t.len()).filter(|&s| t.owner(s) == Some(i)).count() as f64;
        let total = t.len() as f64;
        assert!((count(0) / total - 0.25).abs() < 0.01);
        assert!((count(1) / total - 0.25).abs() < 0.01);
        assert!((count(2) / total - 0.5).abs() < 0.01);
    }

    #[test]
    fn adding_a_fifth_backend_moves_about_a_fifth_of_keys_to_it() {
        let four = ids(4);
        let five = ids(5);
        let before = owners(&Table::build(&four, &[1; 4]), &four, 10_000);
        let after = owners(&Table::build(&five, &[1; 5]), &five, 10_000);
        let moved: Vec<usize> = (0..before.len())
            .filter(|&k| before[k] != after[k])
            .collect();
        let share = moved.len() as f64 / 10_000.0;
        assert!((0.15..=0.25).contains(&share), "moved {share}");
        let to_new = moved.iter().filter(|&&k| after[k] == five[4]).count() as f64;
        assert!(
            to_new / moved.len() as f64 >= 0.95,
            "{to_new} of {}",
            moved.len()
        );
    }

    #[test]
    fn removing_one_of_ten_moves_only_its_keys_mostly() {
        let ten = ids(10);
        let nine: Vec<u64> = ten[..9].to_vec();
        let before = owners(&Table::build(&ten, &[1; 10]), &ten, 10_000);
        let after = owners(&Table::build(&nine, &[1; 9]), &nine, 10_000);
        let moved = (0..10_000).filter(|&k| before[k] != after[k]).count() as f64;
        assert!(moved / 10_000.0 < 0.13, "moved {moved}");
    }

    #[test]
    fn empty_table_has_no_owner() {
        let t = Table::build(&[], &[]);
        assert!(t.is_empty());
        assert_eq!(t.owner(t.slot(42)), None);
    }
}
