use super::*;
use crate::config::model::{CheckKind, HealthCheckSettings, PassiveSettings, StartState};
use crate::health::{BackendKey, Registry};

fn check_settings(rise: u32, fall: u32) -> HealthCheckSettings {
    HealthCheckSettings {
        kind: CheckKind::Tcp,
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(50),
        rise,
        fall,
        jitter: 0.0,
        start: StartState::Unknown,
    }
}

fn passive(cooldown_ms: u64, max_ms: u64) -> PassiveSettings {
    PassiveSettings {
        connect_failures: 3,
        http_5xx: 0,
        timeouts: 0,
        cooldown: Duration::from_millis(cooldown_ms),
        max_cooldown: Duration::from_millis(max_ms),
        max_ejection_percent: 100,
    }
}

fn state(start: Status) -> Arc<BackendState> {
    let r = Registry::new();
    r.get_or_create(BackendKey::new("p", "127.0.0.1:9".parse().unwrap()), start)
}

fn avail(s: &BackendState) -> Availability {
    s.availability(Instant::now()).0
}

#[test]
fn unknown_goes_up_on_first_success_and_down_after_fall_failures() {
    let s = state(Status::Unknown);
    let cfg = check_settings(2, 3);
    assert_eq!(avail(&s), Availability::Unknown);
    s.record_check(true, Duration::from_millis(1), "200".into(), &cfg);
    assert_eq!(avail(&s), Availability::Healthy);
    s.record_check(false, Duration::from_millis(1), "503".into(), &cfg);
    s.record_check(false, Duration::from_millis(1), "503".into(), &cfg);
    assert_eq!(avail(&s), Availability::Healthy, "two failures < fall=3");
    s.record_check(false, Duration::from_millis(1), "503".into(), &cfg);
    assert_eq!(
        avail(&s),
        Availability::Unavailable(UnavailableReason::Down)
    );
    s.record_check(true, Duration::from_millis(1), "200".into(), &cfg);
    assert_eq!(
        avail(&s),
        Availability::Unavailable(UnavailableReason::Down),
        "one success < rise=2"
    );
    s.record_check(false, Duration::from_millis(1), "503".into(), &cfg);
    s.record_check(true, Duration::from_millis(1), "200".into(), &cfg);
    assert_eq!(
        avail(&s),
        Availability::Unavailable(UnavailableReason::Down),
        "rise counts consecutive successes"
    );
    s.record_check(true, Duration::from_millis(1), "200".into(), &cfg);
    assert_eq!(avail(&s), Availability::Healthy);
}

#[tokio::test(start_paused = true)]
async fn ejection_cooldown_doubles_and_is_capped() {
    let s = state(Status::Up);
    let p = passive(100, 350);
    assert!(!s.record_connect_failure(&p));
    assert!(!s.record_connect_failure(&p));
    assert!(
        s.record_connect_failure(&p),
        "third consecutive failure reaches the threshold"
    );
    let lengths: Vec<Duration> = (0..4)
        .map(|_| {
            let len = s.eject(Instant::now(), &p, "test");
            assert_eq!(
                avail(&s),
                Availability::Unavailable(UnavailableReason::Ejected)
            );
            len
        })
        .collect();
    assert_eq!(
        lengths,
        [100, 200, 350, 350].map(Duration::from_millis).to_vec(),
        "cool-down doubles on repeated ejection, capped at max_cooldown"
    );
    tokio::time::advance(Duration::from_millis(349)).await;
    assert!(s.is_ejected(Instant::now()));
    tokio::time::advance(Duration::from_millis(2)).await;
    assert_eq!(avail(&s), Availability::Healthy, "ejection ends by itself");
    // A quiet max_cooldown after the last ejection ended resets the growth.
    tokio::time::advance(Duration::from_millis(400)).await;
    assert_eq!(
        s.eject(Instant::now(), &p, "test"),
        Duration::from_millis(100)
    );
}

#[tokio::test(start_paused = true)]
async fn a_success_resets_the_consecutive_count() {
    let s = state(Status::Up);
    let p = passive(100, 1000);
    s.record_connect_failure(&p);
    s.record_connect_failure(&p);
    s.record_success();
    assert!(!s.record_connect_failure(&p));
    assert!(!s.record_connect_failure(&p));
    assert!(s.record_connect_failure(&p));
}

#[tokio::test(start_paused = true)]
async fn a_passing_active_check_ends_an_ejection() {
    let s = state(Status::Up);
    let cfg = check_settings(2, 3);
    s.eject(Instant::now(), &passive(10_000, 60_000), "test");
    assert!(s.is_ejected(Instant::now()));
    s.record_check(true, Duration::from_millis(1), "200".into(), &cfg);
    assert_eq!(avail(&s), Availability::Healthy);
}

#[tokio::test(start_paused = true)]
async fn failback_delay_holds_a_recovered_backend_back() {
    let r = Registry::new();
    let mut events = r.subscribe();
    let s = r.get_or_create(
        BackendKey::new("p", "127.0.0.1:9".parse().unwrap()),
        Status::Down,
    );
    let delay = Duration::from_millis(500);
    s.configure(delay, false);
    let cfg = check_settings(1, 1);
    s.record_check(true, Duration::from_millis(1), "200".into(), &cfg);
    let (a, until) = s.availability(Instant::now());
    assert_eq!(a, Availability::Unavailable(UnavailableReason::Recovering));
    assert_eq!(s.view().state, "recovering", "shown as it is: no traffic");
    assert_eq!(until, s.next_change());
    tokio::time::advance(Duration::from_millis(501)).await;
    s.refresh();
    assert_eq!(s.view().state, "up");
    assert_eq!(s.availability(Instant::now()).0, Availability::Healthy);
    let seen: Vec<(&str, &str, String)> = std::iter::from_fn(|| events.try_recv().ok())
        .map(|t| (t.from, t.to, t.reason))
        .collect();
    assert_eq!(
        seen,
        vec![
            (
                "down",
                "recovering",
                "1 consecutive successful checks (200)".to_string()
            ),
            ("recovering", "up", "failback delay over".to_string()),
        ]
    );
    assert_eq!(s.next_change(), None);
}

#[test]
fn a_backend_drained_in_the_config_is_shown_draining() {
    let s = state(Status::Up);
    assert_eq!(s.view().state, "up");
    s.configure(Duration::ZERO, true);
    assert_eq!(s.view().state, "draining");
    s.configure(Duration::ZERO, false);
    assert_eq!(s.view().state, "up");
}

#[test]
fn admin_overrides_win_and_transitions_are_broadcast() {
    let r = Registry::new();
    let mut events = r.subscribe();
    let s = r.get_or_create(
        BackendKey::new("p", "127.0.0.1:9".parse().unwrap()),
        Status::Up,
    );
    let epoch = r.epoch();
    s.set_admin(AdminOverride::Drain);
    assert_eq!(
        avail(&s),
        Availability::Unavailable(UnavailableReason::Draining)
    );
    assert!(r.epoch() > epoch);
    s.set_admin(AdminOverride::Disable);
    assert_eq!(
        avail(&s),
        Availability::Unavailable(UnavailableReason::Disabled)
    );
    s.set_admin(AdminOverride::None);
    assert_eq!(avail(&s), Availability::Healthy);
    let seen: Vec<(&str, &str)> = std::iter::from_fn(|| events.try_recv().ok())
        .map(|t| (t.from, t.to))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("up", "draining"),
            ("draining", "disabled"),
            ("disabled", "up")
        ]
    );
}

#[test]
fn state_survives_retirement_for_a_while_but_overrides_do_not() {
    let r = Registry::new();
    let key = BackendKey::new("p", "127.0.0.1:9".parse().unwrap());
    let s = r.get_or_create(key.clone(), Status::Unknown);
    s.record_check(
        false,
        Duration::from_millis(1),
        "refused".into(),
        &check_settings(2, 1),
    );
    s.set_admin(AdminOverride::Drain);
    r.retain_live(&[]);
    assert!(r.get(&key).is_none());
    let again = r.get_or_create(key, Status::Unknown);
    assert!(
        Arc::ptr_eq(&s, &again),
        "re-added within the retention window: same state"
    );
    assert_eq!(again.status(), Status::Down);
    assert_eq!(again.admin(), AdminOverride::None);
}
