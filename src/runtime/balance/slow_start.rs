//! Slow start (HAProxy's `slowstart`): a backend that (re)joins the serving set — health back
//! up, drain or ejection over, added by a reload — takes a weight that grows from a tenth of
//! its own to all of it over the pool's `slow_start` window, in ten steps. The pool's schedule
//! is recomputed at each step, so round robin, least connections, the two choices (through
//! the weighted cycle and the weights they compare) and hashing all see the ramp; for `hash`,
//! the Maglev table is rebuilt with the ramped weight, so keys move to the backend gradually.

use parking_lot::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Steps of the ramp: weights are counted in tenths while any backend ramps.
pub const STEPS: u32 = 10;

/// Whether a backend is serving and since when; kept in its shared state, so that it outlives
/// reloads (a backend is not "new" because its pool was rebuilt).
#[derive(Debug, Default)]
pub struct Ramp(Mutex<RampState>);

#[derive(Debug, Default, Clone, Copy)]
enum RampState {
    /// Never seen by a schedule.
    #[default]
    Unseen,
    /// Present when the process started: serving at full weight, no ramp.
    Established,
    /// Serving since then.
    Serving(Instant),
    /// Not serving.
    Out,
}

impl Ramp {
    /// Marks a backend of the first config of the process: it does not ramp at start-up (all
    /// would ramp together, which changes nothing but the schedule's size).
    pub fn establish(&self) {
        let mut state = self.0.lock();
        if matches!(*state, RampState::Unseen) {
            *state = RampState::Established;
        }
    }

    /// Records whether the backend serves now; returns since when it has been serving, `None`
    /// when it is not serving or was there from the start.
    pub fn note(&self, serving: bool, now: Instant) -> Option<Instant> {
        let mut state = self.0.lock();
        *state = match (serving, *state) {
            (false, _) => RampState::Out,
            (true, RampState::Unseen | RampState::Out) => RampState::Serving(now),
            (true, kept) => kept,
        };
        match *state {
            RampState::Serving(since) => Some(since),
            _ => None,
        }
    }
}

/// A weight ramped in tenths: `weight × STEPS` once the window is over, else the step reached
/// (at least one tenth), and when the next step is due.
pub fn ramped(
    weight: u32,
    since: Instant,
    window: Duration,
    now: Instant,
) -> (u32, Option<Instant>) {
    let full = weight.max(1).saturating_mul(STEPS);
    let elapsed = now.saturating_duration_since(since);
    if window.is_zero() || elapsed >= window {
        return (full, None);
    }
    let step_len = window / STEPS;
    let step = (elapsed.as_nanos() / step_len.as_nanos().max(1)) as u32 + 1; // 1..=STEPS
    let next = since + step_len * step;
    let w = (u64::from(weight.max(1)) * u64::from(step.min(STEPS))).max(1);
    (u32::try_from(w).unwrap_or(u32::MAX), Some(next))
}

/// The weights of the serving members under slow start: unchanged (and `None`) when no member
/// ramps, else every weight in tenths and the time of the next step.
pub fn weights(
    window: Option<Duration>,
    weights: &[u32],
    since: &[Option<Instant>],
    now: Instant,
) -> (Vec<u32>, Option<Instant>) {
    let Some(window) = window else {
        return (weights.to_vec(), None);
    };
    let ramping = since
        .iter()
        .any(|s| s.is_some_and(|s| now.saturating_duration_since(s) < window));
    if !ramping {
        return (weights.to_vec(), None);
    }
    let mut next: Option<Instant> = None;
    let scaled = weights
        .iter()
        .zip(since)
        .map(|(&w, s)| {
            let (w, due) = match s {
                Some(s) => ramped(w, *s, window, now),
                None => (w.max(1).saturating_mul(STEPS), None),
            };
            if let Some(d) = due {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
            w
        })
        .collect();
    (scaled, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_weight_grows_monotonically_to_full_over_the_window() {
        let since = Instant::now();
        let window = Duration::from_secs(10);
        let mut last = 0;
        for t in 0..=12 {
            let now = since + Duration::from_secs(t);
            let (w, next) = ramped(3, since, window, now);
            assert!(w >= last, "{t}s: {w} < {last}");
            assert!(w >= 3, "at least a tenth");
            assert_eq!(next.is_none(), t >= 10, "{t}s");
            last = w;
        }
        assert_eq!(last, 30);
    }

    #[tokio::test(start_paused = true)]
    async fn only_a_ramping_member_scales_the_weights() {
        let now = Instant::now();
        let window = Some(Duration::from_secs(10));
        let old = now - Duration::from_secs(60);
        assert_eq!(
            weights(window, &[1, 2], &[Some(old), Some(old)], now).0,
            vec![1, 2]
        );
        assert_eq!(
            weights(None, &[1, 2], &[Some(now), None], now).0,
            vec![1, 2]
        );
        let (w, next) = weights(window, &[1, 1], &[Some(old), Some(now)], now);
        assert_eq!(w, vec![10, 1]);
        assert_eq!(next, Some(now + Duration::from_secs(1)));
        let ramp = Ramp::default();
        assert_eq!(ramp.note(true, now), Some(now));
        assert_eq!(
            ramp.note(true, now + Duration::from_secs(10)),
            Some(now),
            "kept while serving"
        );
        assert_eq!(ramp.note(false, now), None);
    }
}
