//! Balancing algorithms as pure functions over a pool's serving members, their weights and
//! their in-flight counts; the pool ([`super::pool`]) caches the member lists per health change
//! and calls these per request.
//!
//! | algorithm | per pick |
//! |---|---|
//! | `round_robin`, `active_passive` | O(1): one atomic increment on a precomputed cycle |
//! | `random_two_choices` | O(1): two draws, two loads compared |
//! | `hash` | O(1): one Maglev table lookup (bounded load: a few more while the owner is full) |
//! | `least_connections` | O(log n): a tournament tree over the members' loads ([`least_conn`]), repositioned as requests start and end |

pub mod hash;
pub mod key;
pub mod least_conn;
pub mod maglev;
pub mod slow_start;
pub mod sticky;

/// What a request brings to the choice of its backend, computed once before its attempts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Affinity {
    /// The hash of its balancing key (`hash` pools).
    pub key: Option<u64>,
    /// The backend its valid sticky cookie names (pools with `sticky`).
    pub sticky: Option<u32>,
}

/// Whether member `a` (load, weight) is less loaded than member `b`: fewer in-flight requests
/// per unit of weight, counting the request being placed (so that idle members compare by
/// weight, as HAProxy's `leastconn` does). Cross-multiplied, no division.
fn lighter(a: (u64, u64), b: (u64, u64)) -> bool {
    (a.0 + 1) * b.1 < (b.0 + 1) * a.1
}

/// Least connections: the member with the fewest in-flight requests per unit of weight; among
/// equals, the first at or after `turn` (so ties go round robin). A scan, O(n): pools pick with
/// [`least_conn::Index`], which must agree with this definition (its tests compare the two).
pub fn least_loaded(
    members: &[u32],
    weights: &[u32],
    turn: usize,
    load: impl Fn(u32) -> u64,
) -> Option<u32> {
    let n = members.len();
    if n == 0 {
        return None;
    }
    let start = turn % n;
    let mut best = (members[start], load(members[start]), weight(weights, start));
    for k in 1..n {
        let pos = (start + k) % n;
        let candidate = (members[pos], load(members[pos]), weight(weights, pos));
        if lighter((candidate.1, candidate.2), (best.1, best.2)) {
            best = candidate;
        }
    }
    Some(best.0)
}

/// Power of two choices: two draws from the weighted cycle `order` (so by weight), the less
/// loaded of the two; the first drawn on a tie.
pub fn two_choices(
    order: &[u32],
    weights: impl Fn(u32) -> u32,
    load: impl Fn(u32) -> u64,
) -> Option<u32> {
    let n = order.len();
    if n == 0 {
        return None;
    }
    let a = order[fastrand::usize(..n)];
    let mut b = order[fastrand::usize(..n)];
    if b == a && n > 1 {
        // One more draw: with few members, two equal draws are common and no choice at all.
        b = order[fastrand::usize(..n)];
    }
    let (la, lb) = (load(a), load(b));
    let (wa, wb) = (u64::from(weights(a).max(1)), u64::from(weights(b).max(1)));
    Some(if lighter((lb, wb), (la, wa)) { b } else { a })
}

/// Bounded-load capacity of a member (Mirrokni, Thorup and Zadimoghaddam, "Consistent Hashing
/// with Bounded Loads"): `ceil(bound × (in_flight + 1) × weight / total_weight)`, the request
/// being placed counted. A member may take the request while its load is below it.
pub fn capacity(bound: f64, in_flight: u64, weight: u32, total_weight: u64) -> u64 {
    if total_weight == 0 {
        return u64::MAX;
    }
    let share = (in_flight + 1) as f64 * f64::from(weight.max(1)) / total_weight as f64;
    (bound * share).ceil() as u64
}

fn weight(weights: &[u32], pos: usize) -> u64 {
    u64::from(weights.get(pos).copied().unwrap_or(1).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn least_loaded_takes_the_idle_one_and_rotates_ties() {
        let loads = [3u64, 0, 2];
        assert_eq!(
            least_loaded(&[0, 1, 2], &[1, 1, 1], 0, |i| loads[i as usize]),
            Some(1)
        );
        let idle = |_| 0;
        let picks: Vec<u32> = (0..3)
            .map(|t| least_loaded(&[0, 1, 2], &[1, 1, 1], t, idle).unwrap())
            .collect();
        assert_eq!(picks, vec![0, 1, 2]);
        // Weighted: 2 in flight on weight 2 is lighter than 2 on weight 1.
        let loads = [2u64, 2];
        assert_eq!(
            least_loaded(&[0, 1], &[1, 2], 0, |i| loads[i as usize]),
            Some(1)
        );
        assert_eq!(least_loaded(&[], &[], 0, idle), None);
    }

    #[test]
    fn two_choices_avoid_the_busy_one_and_spread_when_idle() {
        let loads = [100u64, 0];
        for _ in 0..50 {
            // Whenever both are drawn, the idle one wins; it is drawn in 3 of 4 draw pairs.
            let p = two_choices(&[0, 1], |_| 1, |i| loads[i as usize]).unwrap();
            if p == 0 {
                continue;
            }
            assert_eq!(p, 1);
        }
        let mut counts: HashMap<u32, u32> = HashMap::new();
        for _ in 0..3000 {
            *counts
                .entry(two_choices(&[0, 1, 2], |_| 1, |_| 0).unwrap())
                .or_default() += 1;
        }
        for c in counts.values() {
            assert!((800..1200).contains(c), "{counts:?}");
        }
    }

    #[test]
    fn capacity_follows_weight_and_bound() {
        assert_eq!(capacity(1.25, 11, 1, 3), 5);
        assert_eq!(capacity(1.0, 0, 1, 3), 1);
        assert_eq!(capacity(2.0, 9, 2, 4), 10);
    }
}
