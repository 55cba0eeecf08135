//! Pure balancing decisions: which tier serves, and in which order its backends take turns.
//!
//! A pool's eligible members change only when health changes, so the order is computed once
//! per change and then served with one atomic increment per request (O(1) in the number of
//! backends). Round robin uses an earliest-deadline order (backend *i*'s *k*-th turn is due at
//! (2k+1)/(2·wᵢ)), which over any cycle gives each backend exactly its weight's share and
//! interleaves them smoothly: weights 5,1,1 give `A A B A C A A`, never five A's in a row.

use crate::health::{Availability, UnavailableReason};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Which part of the pool is serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Healthy primaries.
    Primary,
    /// Every primary is down: healthy backups.
    Backup,
    /// Nothing healthy; backends never checked yet are all that is left.
    Unknown,
    /// Nothing eligible, and the pool is configured to try everything anyway.
    FailOpen,
    /// Nothing to serve with (503).
    None,
}

impl Tier {
    /// Label for metrics and `/status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Primary => "primary",
            Tier::Backup => "backup",
            Tier::Unknown => "unknown",
            Tier::FailOpen => "fail_open",
            Tier::None => "none",
        }
    }
}

/// What the schedule needs to know about one backend.
#[derive(Debug, Clone, Copy)]
pub struct Member {
    /// Availability now.
    pub availability: Availability,
    /// Configured as a backup.
    pub backup: bool,
    /// Round-robin weight.
    pub weight: u32,
    /// Draining in the config (`drain = true`).
    pub config_drain: bool,
}

impl Member {
    fn healthy(&self) -> bool {
        !self.config_drain && self.availability == Availability::Healthy
    }

    fn unknown(&self) -> bool {
        !self.config_drain && self.availability == Availability::Unknown
    }

    /// Fail-open still respects explicit operator intent (drain, disable).
    fn fail_open_candidate(&self) -> bool {
        !self.config_drain
            && !matches!(
                self.availability,
                Availability::Unavailable(
                    UnavailableReason::Draining | UnavailableReason::Disabled
                )
            )
    }
}

/// The serving tier and its members (indices into the pool's backends), in configured order,
/// primaries before backups.
pub fn serving_tier(members: &[Member], fail_open: bool) -> (Tier, Vec<u32>) {
    let pick = |f: &dyn Fn(&Member) -> bool| -> Vec<u32> {
        members
            .iter()
            .enumerate()
            .filter(|(_, m)| f(m))
            .map(|(i, _)| i as u32)
            .collect()
    };
    let primaries = pick(&|m| !m.backup && m.healthy());
    if !primaries.is_empty() {
        return (Tier::Primary, primaries);
    }
    let backups = pick(&|m| m.backup && m.healthy());
    if !backups.is_empty() {
        return (Tier::Backup, backups);
    }
    let mut unknown = pick(&|m| !m.backup && m.unknown());
    if unknown.is_empty() {
        unknown = pick(&|m| m.backup && m.unknown());
    }
    if !unknown.is_empty() {
        return (Tier::Unknown, unknown);
    }
    if fail_open {
        let mut all = pick(&|m| !m.backup && m.fail_open_candidate());
        all.extend(pick(&|m| m.backup && m.fail_open_candidate()));
        if !all.is_empty() {
            return (Tier::FailOpen, all);
        }
    }
    (Tier::None, Vec::new())
}

#[derive(PartialEq, Eq)]
struct Turn {
    // deadline = num / den, compared exactly with cross-multiplication
    num: u64,
    den: u64,
    pos: usize,
}

impl Ord for Turn {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: invert so the earliest deadline (then lowest position) pops.
        (other.num * self.den)
            .cmp(&(self.num * other.den))
            .then_with(|| other.pos.cmp(&self.pos))
    }
}

impl PartialOrd for Turn {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Smooth weighted order over `members` (each with its weight): one full cycle, where each
/// member appears exactly `weight / gcd` times.
pub fn weighted_cycle(members: &[u32], weights: &[u32]) -> Vec<u32> {
    let g = weights.iter().copied().fold(0, gcd).max(1);
    let scaled: Vec<u64> = weights.iter().map(|w| u64::from((*w).max(1) / g)).collect();
    let total: u64 = scaled.iter().sum();
    let mut heap: BinaryHeap<Turn> = scaled
        .iter()
        .enumerate()
        .map(|(pos, &w)| Turn {
            num: 1,
            den: 2 * w,
            pos,
        })
        .collect();
    let mut order = Vec::with_capacity(total as usize);
    let mut taken = vec![0u64; members.len()];
    while (order.len() as u64) < total {
        let Some(turn) = heap.pop() else { break };
        order.push(members[turn.pos]);
        taken[turn.pos] += 1;
        if taken[turn.pos] < scaled[turn.pos] {
            heap.push(Turn {
                num: 2 * taken[turn.pos] + 1,
                den: 2 * scaled[turn.pos],
                pos: turn.pos,
            });
        }
    }
    order
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(backup: bool, a: Availability) -> Member {
        Member {
            availability: a,
            backup,
            weight: 1,
            config_drain: false,
        }
    }
    const UP: Availability = Availability::Healthy;
    const DOWN: Availability = Availability::Unavailable(UnavailableReason::Down);
    const UNK: Availability = Availability::Unknown;

    #[test]
    fn smooth_and_exact() {
        let order = weighted_cycle(&[0, 1, 2], &[5, 1, 1]);
        assert_eq!(order.len(), 7);
        assert_eq!(order.iter().filter(|&&x| x == 0).count(), 5);
        let longest_run = order
            .chunk_by(|a, b| a == b)
            .map(<[u32]>::len)
            .max()
            .unwrap();
        assert!(longest_run <= 3, "no burst of one backend: {order:?}");
    }

    #[test]
    fn shares_are_within_one_at_every_prefix() {
        let weights = [3u32, 2, 1, 7];
        let order = weighted_cycle(&[0, 1, 2, 3], &weights);
        let total: u32 = weights.iter().sum();
        assert_eq!(order.len(), total as usize);
        for n in 1..=order.len() {
            for (i, w) in weights.iter().enumerate() {
                let got = order[..n].iter().filter(|&&x| x == i as u32).count() as f64;
                let ideal = n as f64 * f64::from(*w) / f64::from(total);
                assert!(
                    (got - ideal).abs() <= 1.0,
                    "prefix {n} backend {i}: {got} vs {ideal}"
                );
            }
        }
    }

    #[test]
    fn gcd_shortens_the_cycle() {
        assert_eq!(weighted_cycle(&[7, 9], &[10, 20]).len(), 3);
        assert_eq!(weighted_cycle(&[7, 9], &[1, 1]), vec![7, 9]);
    }

    #[test]
    fn tiers() {
        assert_eq!(
            serving_tier(&[m(false, UP), m(true, UP)], false),
            (Tier::Primary, vec![0])
        );
        assert_eq!(
            serving_tier(&[m(false, DOWN), m(true, UP), m(true, UP)], false),
            (Tier::Backup, vec![1, 2])
        );
        assert_eq!(
            serving_tier(&[m(false, UNK), m(true, DOWN)], false),
            (Tier::Unknown, vec![0])
        );
        assert_eq!(
            serving_tier(&[m(false, UNK), m(false, UP)], false),
            (Tier::Primary, vec![1])
        );
        assert_eq!(
            serving_tier(&[m(false, DOWN), m(true, DOWN)], false),
            (Tier::None, vec![])
        );
        assert_eq!(
            serving_tier(&[m(false, DOWN), m(true, DOWN)], true),
            (Tier::FailOpen, vec![0, 1])
        );
        let disabled = Availability::Unavailable(UnavailableReason::Disabled);
        assert_eq!(
            serving_tier(&[m(false, disabled), m(true, DOWN)], true),
            (Tier::FailOpen, vec![1])
        );
    }
}
