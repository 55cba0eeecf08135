//! Counters of one family for one owner (a pool, a route, a listener), one per value of a
//! label whose values are `&'static str` from the code (reasons, error kinds, statuses). Each is
//! resolved on the first event with its value and found again by a scan of a short list under
//! a read lock: an event costs no allocation and no registry lookup, and a value never seen
//! exports no series.

use metrics::Counter;
use parking_lot::RwLock;

/// Counters by one `&'static str` label value.
#[derive(Debug, Default)]
pub(crate) struct ByValue {
    resolved: RwLock<Vec<(&'static str, Counter)>>,
}

impl ByValue {
    /// Adds `by` to the counter for `value`, resolving it with `make` the first time.
    pub(crate) fn increment(&self, value: &'static str, by: u64, make: impl FnOnce() -> Counter) {
        if let Some((_, c)) = self.resolved.read().iter().find(|(v, _)| *v == value) {
            c.increment(by);
            return;
        }
        let mut resolved = self.resolved.write();
        // Another thread may have resolved it between the two locks.
        if let Some((_, c)) = resolved.iter().find(|(v, _)| *v == value) {
            c.increment(by);
            return;
        }
        let counter = make();
        counter.increment(by);
        resolved.push((value, counter));
    }
}
