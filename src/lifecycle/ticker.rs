//! The control plane's 5-second ticker: metrics upkeep, and an hourly look at the served
//! certificates' expiry dates.

use crate::runtime::SharedState;
use std::sync::Arc;
use std::time::Duration;

/// Certificates are re-checked for expiry hourly (5 s ticks), so one that runs out while in
/// service is reported even when no reload happens.
const CERT_CHECK_EVERY_TICKS: u64 = 720;

/// Logs a loud warning for every served certificate that has expired or expires within 14 days.
/// Never an error: an expiring certificate must not take the node down.
fn warn_expiring_certificates(state: &SharedState) {
    let snapshot = state.load();
    let now = std::time::SystemTime::now();
    for l in &snapshot.config.listeners {
        for c in &l.certificates {
            let days = c.remaining(now).as_secs() / 86_400;
            if c.not_after <= now {
                tracing::error!(listener = %l.name, certificate = %c.cert_path.display(), "certificate EXPIRED and still being served: replace it now");
            } else if c.remaining(now) < crate::config::validate::EXPIRY_WARNING {
                tracing::warn!(listener = %l.name, certificate = %c.cert_path.display(), days_left = days, "certificate expires soon: renew it");
            }
        }
    }
}

/// Ticks every 5 seconds until the control plane stops it (it never returns on its own).
pub(super) async fn run(state: Arc<SharedState>) {
    let mut ticks: u64 = 0;
    loop {
        if ticks.is_multiple_of(CERT_CHECK_EVERY_TICKS) {
            warn_expiring_certificates(&state);
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
        ticks += 1;
        // Never installs the recorder: with metrics disabled there is none.
        if let Some(h) = crate::metrics::handle() {
            h.run_upkeep();
        }
    }
}
