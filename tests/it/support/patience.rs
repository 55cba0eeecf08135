//! One patience factor for every deadline in the tests: `GATEHOUSE_TEST_PATIENCE` (a number,
//! default 1) multiplies every bounded wait and poll (through [`patient`], which the harness's
//! helpers apply) and every upper bound of a wall-clock assertion, so that a slow or loaded
//! machine (a debug build under a sanitizer, two cores shared by several builds) can pass the
//! suite with `GATEHOUSE_TEST_PATIENCE=3` instead of failing on timing.
//!
//! What is not scaled: durations a test *configures* (a `header_timeout` of 1 s stays 1 s) and
//! lower bounds ("answered no sooner than 900 ms"); only how long a test is willing to wait for
//! something, or how slow it lets an operation be, grows.

use std::sync::OnceLock;
use std::time::Duration;

/// The environment variable.
pub const VAR: &str = "GATEHOUSE_TEST_PATIENCE";

/// The factor: `GATEHOUSE_TEST_PATIENCE`, 1 when unset. A value that is not a number of at
/// least 1 fails the test that asks, with a message, rather than being silently ignored.
pub fn factor() -> f64 {
    static FACTOR: OnceLock<Result<f64, String>> = OnceLock::new();
    let parsed = FACTOR.get_or_init(|| match std::env::var(VAR) {
        Err(_) => Ok(1.0),
        Ok(text) => match text.trim().parse::<f64>() {
            Ok(f) if f.is_finite() && f >= 1.0 => Ok(f),
            _ => Err(format!(
                "{VAR}={text:?}: expected a number of at least 1 (e.g. 3)"
            )),
        },
    });
    match parsed {
        Ok(f) => *f,
        Err(message) => panic!("{message}"),
    }
}

/// `limit`, scaled by the patience factor: for deadlines, poll limits and the upper bounds of
/// timing assertions.
pub fn patient(limit: Duration) -> Duration {
    limit.mul_f64(factor())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_leaves_durations_alone_and_scaling_is_proportional() {
        if std::env::var_os(VAR).is_none() {
            assert_eq!(
                patient(Duration::from_millis(700)),
                Duration::from_millis(700)
            );
        }
        let f = factor();
        assert!(f >= 1.0);
        assert_eq!(
            patient(Duration::from_secs(2)),
            Duration::from_secs(2).mul_f64(f)
        );
    }
}
