//! Round robin's phase across a change of schedule.
//!
//! A pool serves a precomputed smooth cycle with one atomic increment per request, and
//! rebuilds the cycle when its members or weights change — at every step of a slow-start ramp.
//! Starting the new cycle at an arbitrary position loses the old one's phase: a backend that
//! was just behind its share can be put behind again, so over a few dozen requests its share
//! dips while its weight grows (two requests in twenty were seen). nginx and HAProxy keep that
//! phase by carrying each server's running credit into the new weights; here the new cycle is
//! entered at the position where the backends that matter keep the lead or lag they had, which
//! is the same continuity without a lock per pick.

/// At most this many members are matched (the cost of a rebuild is O(cycle × tracked)); a ramp
/// concerns the few backends that came back, so more is never needed in practice.
const MAX_TRACKED: usize = 16;

/// Where round robin enters the new cycle `new` when it replaces `old` (reached `old_pos`) at
/// request `turn`: an unchanged cycle goes on where it was; a ramp keeps the ramping members'
/// lead or lag ([`continuing_offset`]); any other change enters at the request counter's
/// position, as a cycle indexed by the counter alone would.
pub fn entry_offset(
    old: &[u32],
    old_pos: usize,
    new: &[u32],
    tracked: &[u32],
    turn: usize,
) -> usize {
    if new.is_empty() {
        0
    } else if old == new {
        old_pos % new.len()
    } else if !old.is_empty() && !tracked.is_empty() {
        continuing_offset(old, old_pos, new, tracked)
    } else {
        turn % new.len()
    }
}

/// How many turns `member` is ahead of (positive) or behind (negative) its exact share of
/// `order` after the first `pos` turns of it.
fn lead(order: &[u32], pos: usize, member: u32) -> f64 {
    if order.is_empty() {
        return 0.0;
    }
    let pos = pos % order.len();
    let in_cycle = order.iter().filter(|&&m| m == member).count();
    let taken = order[..pos].iter().filter(|&&m| m == member).count();
    taken as f64 - pos as f64 * in_cycle as f64 / order.len() as f64
}

/// The position of `new` to continue from when the old cycle `old` had reached `old_pos`, so
/// that each of `tracked` (backend indices) keeps as nearly as possible the lead or lag it had.
/// A member new to the cycle starts at its exact share. 0 when there is nothing to match.
pub fn continuing_offset(old: &[u32], old_pos: usize, new: &[u32], tracked: &[u32]) -> usize {
    if old.is_empty() || new.is_empty() || tracked.is_empty() {
        return 0;
    }
    let tracked = &tracked[..tracked.len().min(MAX_TRACKED)];
    let wanted: Vec<f64> = tracked.iter().map(|&m| lead(old, old_pos, m)).collect();
    let share: Vec<f64> = tracked
        .iter()
        .map(|&m| new.iter().filter(|&&x| x == m).count() as f64 / new.len() as f64)
        .collect();
    let mut taken = vec![0usize; tracked.len()];
    let mut best = (f64::INFINITY, 0);
    for (offset, member) in new.iter().enumerate() {
        let miss: f64 = (0..tracked.len())
            .map(|i| (taken[i] as f64 - offset as f64 * share[i] - wanted[i]).abs())
            .sum();
        if miss < best.0 - 1e-9 {
            best = (miss, offset);
        }
        if let Some(i) = tracked.iter().position(|m| m == member) {
            taken[i] += 1;
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::schedule::weighted_cycle;

    /// A slow-start ramp of backend 1 beside backend 0 (weights 10 : k for k = 1..10, as the
    /// ramp's tenths give), each step lasting an awkward number of requests: in every window of
    /// 20 consecutive requests, backend 1's count never falls by more than one from the
    /// window before, wherever the windows start. Without the phase carried it falls by two.
    fn worst_fall(carry_phase: bool) -> usize {
        let mut worst = 0;
        for (first, step_len) in [(0usize, 23usize), (5, 37), (11, 61), (3, 97), (17, 131)] {
            let mut seq = Vec::new();
            let mut counter = first;
            let (mut old, mut start, mut offset): (Vec<u32>, usize, usize) = (Vec::new(), 0, 0);
            for k in 1..=10u32 {
                let new = weighted_cycle(&[0, 1], &[10, k]);
                let now = counter;
                offset = if carry_phase && !old.is_empty() {
                    continuing_offset(&old, offset + now - start, &new, &[1])
                } else {
                    now % new.len()
                };
                start = now;
                old = new;
                for _ in 0..step_len + k as usize * 7 {
                    seq.push(old[(offset + counter - start) % old.len()]);
                    counter += 1;
                }
            }
            for shift in 0..20 {
                let counts: Vec<usize> = seq[shift..]
                    .chunks_exact(20)
                    .map(|w| w.iter().filter(|&&m| m == 1).count())
                    .collect();
                for pair in counts.windows(2) {
                    worst = worst.max(pair[0].saturating_sub(pair[1]));
                }
            }
        }
        worst
    }

    #[test]
    fn a_ramping_backend_keeps_its_phase_across_steps() {
        assert_eq!(worst_fall(true), 1);
        assert!(worst_fall(false) >= 2, "the case this guards against");
    }

    #[test]
    fn an_unchanged_cycle_goes_on_where_it_was() {
        let order = weighted_cycle(&[0, 1], &[1, 1]);
        // One turn taken, then rebuilt identical (an ejection ended elsewhere, a health epoch):
        // the next turn is backend 1's, not 0's again.
        assert_eq!(entry_offset(&order, 1, &order, &[], 7), 1);
        assert_eq!(entry_offset(&order, 1, &[], &[], 7), 0);
        let other = weighted_cycle(&[0, 1, 2], &[1, 1, 1]);
        assert_eq!(entry_offset(&order, 1, &other, &[], 7), 7 % 3);
    }

    #[test]
    fn a_member_keeps_its_lead() {
        let old = weighted_cycle(&[0, 1], &[1, 1]);
        let new = weighted_cycle(&[0, 1], &[2, 1]);
        // After one turn of [0, 1], 0 is half a turn ahead: enter [0, 0, 1] where it is too.
        let offset = continuing_offset(&old, 1, &new, &[0]);
        assert!((lead(&new, offset, 0) - lead(&old, 1, 0)).abs() <= 1.0 / 3.0 + 1e-9);
        assert_eq!(continuing_offset(&old, 1, &new, &[]), 0);
        assert_eq!(continuing_offset(&[], 1, &new, &[0]), 0);
    }
}
