//! The gauges written when `/metrics` is scraped, from state the runtime already keeps,
//! instead of being held as series in the recorder: per backend `gatehouse_backend_state`,
//! `gatehouse_backend_up` and `gatehouse_backend_requests_in_flight`, per pool
//! `gatehouse_pool_serving_tier`.
//!
//! Why: a recorder series is a key with owned label strings, a map slot and an atomic, ~320
//! bytes each; three per backend and five per pool were most of what a backend cost once its
//! state was compact (and the series of a backend or pool that left the config stayed
//! forever). Read at scrape time, they cost nothing between scrapes, always show the state in
//! force, and show only what the served config has.

use super::names::{self, label};
use metrics_exporter_prometheus::formatting::{
    sanitize_label_value, write_help_line, write_type_line,
};
use std::fmt::Write as _;

/// All combined states, in the order of the bits of [`BackendGauges::states_seen`].
pub const STATES: [&str; 7] = [
    "up",
    "down",
    "unknown",
    "ejected",
    "draining",
    "disabled",
    "recovering",
];

/// `seen` with the bit of `state` set (a state outside [`STATES`] sets none).
pub fn seen_with(seen: u8, state: &str) -> u8 {
    STATES
        .iter()
        .position(|s| *s == state)
        .map_or(seen, |i| seen | (1u8 << i))
}

/// One backend as a scrape finds it.
#[derive(Debug, Clone, Copy)]
pub struct BackendGauges<'a> {
    /// Pool name.
    pub pool: &'a str,
    /// `IP:port`.
    pub backend: &'a str,
    /// Its combined state now (one of [`STATES`]).
    pub state: &'static str,
    /// The states it has been in (a bit per [`STATES`] entry): each gets a series, 1 for the
    /// current one and 0 for the others, so a steady backend has one series, not seven.
    pub states_seen: u8,
    /// Requests in flight to it.
    pub in_flight: u32,
}

/// Appends the three families to `out`; `each` calls its argument once per backend, in the
/// same order every time (it is called once per family: a family's lines must be together).
/// Nothing is written without backends.
pub fn render(out: &mut String, each: impl Fn(&mut dyn FnMut(&BackendGauges<'_>))) {
    let mut any = false;
    each(&mut |_| any = true);
    if !any {
        return;
    }
    family(out, names::BACKEND_STATE, STATE_HELP);
    each(&mut |b| {
        for (i, state) in STATES.iter().enumerate() {
            let current = *state == b.state;
            if current || b.states_seen & (1u8 << i) != 0 {
                line(
                    out,
                    names::BACKEND_STATE,
                    b,
                    Some(state),
                    u32::from(current),
                );
            }
        }
    });
    out.push('\n');
    family(out, names::BACKEND_UP, UP_HELP);
    each(&mut |b| line(out, names::BACKEND_UP, b, None, u32::from(b.state == "up")));
    out.push('\n');
    family(out, names::BACKEND_REQUESTS_IN_FLIGHT, IN_FLIGHT_HELP);
    each(&mut |b| line(out, names::BACKEND_REQUESTS_IN_FLIGHT, b, None, b.in_flight));
    out.push('\n');
}

/// Appends `gatehouse_pool_serving_tier` (one-hot over [`names::TIERS`]) to `out`; `each`
/// calls its argument with each pool's name and serving tier. Nothing is written without pools.
pub fn render_tiers(out: &mut String, each: impl Fn(&mut dyn FnMut(&str, &str))) {
    let mut any = false;
    each(&mut |_, _| any = true);
    if !any {
        return;
    }
    family(out, names::POOL_SERVING_TIER, TIER_HELP);
    each(&mut |pool, serving| {
        for tier in names::TIERS {
            let _ = writeln!(
                out,
                "{}{{{}=\"{}\",{}=\"{tier}\"}} {}",
                names::POOL_SERVING_TIER,
                label::POOL,
                sanitize_label_value(pool),
                label::TIER,
                u32::from(tier == serving)
            );
        }
    });
    out.push('\n');
}

/// `# HELP` and `# TYPE` of a gauge family, as the exporter writes its own.
fn family(out: &mut String, name: &str, help: &str) {
    write_help_line(out, name, None, None, help);
    write_type_line(out, name, None, None, "gauge");
}

fn line(out: &mut String, name: &str, b: &BackendGauges<'_>, state: Option<&str>, value: u32) {
    let _ = write!(
        out,
        "{name}{{{}=\"{}\",{}=\"{}\"",
        label::POOL,
        sanitize_label_value(b.pool),
        label::BACKEND,
        sanitize_label_value(b.backend)
    );
    if let Some(state) = state {
        let _ = write!(out, ",{}=\"{state}\"", label::STATE);
    }
    let _ = writeln!(out, "}} {value}");
}

/// `gatehouse_backend_state`'s description.
pub(super) const STATE_HELP: &str = "1 for the backend's current state.";
/// `gatehouse_backend_up`'s description.
pub(super) const UP_HELP: &str =
    "1 if the backend can be sent new requests now (state up), else 0.";
/// `gatehouse_pool_serving_tier`'s description.
pub(super) const TIER_HELP: &str = "1 for the tier currently serving a pool.";
/// `gatehouse_backend_requests_in_flight`'s description.
pub(super) const IN_FLIGHT_HELP: &str = "Requests in flight to the backend (sampled when scraped).";

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<BackendGauges<'static>> {
        vec![
            BackendGauges {
                pool: "web",
                backend: "127.0.0.1:9001",
                state: "up",
                states_seen: seen_with(0, "up"),
                in_flight: 3,
            },
            BackendGauges {
                pool: "web",
                backend: "127.0.0.1:9002",
                state: "down",
                states_seen: seen_with(seen_with(0, "unknown"), "down"),
                in_flight: 0,
            },
        ]
    }

    #[test]
    fn each_family_is_written_once_with_its_lines_together() {
        let rows = rows();
        let mut out = String::new();
        render(&mut out, |f| rows.iter().for_each(&mut *f));
        let expected = "\
# HELP gatehouse_backend_state 1 for the backend's current state.
# TYPE gatehouse_backend_state gauge
gatehouse_backend_state{pool=\"web\",backend=\"127.0.0.1:9001\",state=\"up\"} 1
gatehouse_backend_state{pool=\"web\",backend=\"127.0.0.1:9002\",state=\"down\"} 1
gatehouse_backend_state{pool=\"web\",backend=\"127.0.0.1:9002\",state=\"unknown\"} 0

# HELP gatehouse_backend_up 1 if the backend can be sent new requests now (state up), else 0.
# TYPE gatehouse_backend_up gauge
gatehouse_backend_up{pool=\"web\",backend=\"127.0.0.1:9001\"} 1
gatehouse_backend_up{pool=\"web\",backend=\"127.0.0.1:9002\"} 0

# HELP gatehouse_backend_requests_in_flight Requests in flight to the backend (sampled when scraped).
# TYPE gatehouse_backend_requests_in_flight gauge
gatehouse_backend_requests_in_flight{pool=\"web\",backend=\"127.0.0.1:9001\"} 3
gatehouse_backend_requests_in_flight{pool=\"web\",backend=\"127.0.0.1:9002\"} 0

";
        assert_eq!(out, expected);
    }

    #[test]
    fn nothing_without_backends_and_label_values_are_escaped() {
        let mut out = String::new();
        render(&mut out, |_| {});
        assert_eq!(out, "");
        let odd = BackendGauges {
            pool: "a\"b\\c",
            ..rows()[0]
        };
        render(&mut out, |f| f(&odd));
        assert!(out.contains(r#"pool="a\"b\\c""#), "{out}");
    }

    #[test]
    fn a_pool_tier_is_one_hot_over_every_tier() {
        let mut out = String::new();
        render_tiers(&mut out, |f| f("web", "backup"));
        let expected = "\
# HELP gatehouse_pool_serving_tier 1 for the tier currently serving a pool.
# TYPE gatehouse_pool_serving_tier gauge
gatehouse_pool_serving_tier{pool=\"web\",tier=\"primary\"} 0
gatehouse_pool_serving_tier{pool=\"web\",tier=\"backup\"} 1
gatehouse_pool_serving_tier{pool=\"web\",tier=\"unknown\"} 0
gatehouse_pool_serving_tier{pool=\"web\",tier=\"fail_open\"} 0
gatehouse_pool_serving_tier{pool=\"web\",tier=\"none\"} 0

";
        assert_eq!(out, expected);
    }
}
