//! Verified rollouts (`gatehouse rollout`): drain a backend, run the deploy command, wait for
//! its checks, re-enable it and watch its error ratio, draining it again if it misbehaves.
//!
//! The command runs on the node, in the CLI process ([`driver`]): the admin API offers no way
//! to run commands. The serving process only keeps the record of each pool's rollout
//! ([`Rollouts`]) — who runs it, which backend is at which step, the outcome — so that only
//! one rollout runs per pool, `/status` shows progress, and an upgrade during a rollout leaves
//! a trace: the backend's drain is handed over with the other admin overrides, and the record
//! is handed over as `interrupted` (the driver, seeing it, stops and says so).

pub mod driver;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

/// Env var: the rollout records handed to an upgrade successor.
pub const HANDOVER_ENV: &str = "GATEHOUSE_ROLLOUT_STATE";
/// Progress lines kept per rollout.
const LOG_LINES: usize = 50;

/// Where a rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// A driver is working on it.
    Running,
    /// Every backend was verified.
    Succeeded,
    /// A backend failed (it was drained again).
    Failed,
    /// The process was upgraded while it ran: the drains were handed over, the driver stops.
    Interrupted,
}

/// One backend's step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackendStep {
    /// `IP:port`.
    pub address: String,
    /// `draining`, `deploying`, `checking`, `verifying`, `done` or `failed`.
    pub phase: String,
    /// When the phase began (seconds since the epoch).
    pub since_unix: f64,
}

impl BackendStep {
    /// Out of service for this rollout (drained by it and not yet re-enabled).
    fn unavailable(&self) -> bool {
        matches!(
            self.phase.as_str(),
            "draining" | "deploying" | "checking" | "failed"
        )
    }
}

/// A pool's rollout, as `/status` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rollout {
    /// Pool.
    pub pool: String,
    /// The driver (`pid@host` and a nonce), so that only it advances the rollout.
    pub owner: String,
    /// The driver's process id (it runs on this node): a rollout whose driver is gone does
    /// not block the pool.
    #[serde(default)]
    pub owner_pid: Option<u32>,
    /// Where it stands.
    pub state: State,
    /// Started (seconds since the epoch).
    pub started_unix: f64,
    /// Last change.
    pub updated_unix: f64,
    /// Backends touched so far, in the order they were started.
    pub backends: Vec<BackendStep>,
    /// Most backends out of service at once.
    pub unavailable_peak: usize,
    /// Why it failed or was interrupted.
    pub reason: Option<String>,
    /// The driver's progress lines, newest last.
    pub log: Vec<String>,
}

/// Why a rollout call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RolloutError {
    /// Another rollout runs in the pool.
    #[error("a rollout of pool {pool} is already running (owner {owner})")]
    Busy {
        /// Pool.
        pool: String,
        /// Its driver.
        owner: String,
    },
    /// No running rollout of this pool by this owner (ended, interrupted or never begun).
    #[error("no running rollout of pool {pool} by {owner}: {why}")]
    NotRunning {
        /// Pool.
        pool: String,
        /// Caller.
        owner: String,
        /// What there is instead.
        why: String,
    },
}

/// Every pool's last rollout. Lives in [`crate::runtime::SharedState`], outside snapshots.
#[derive(Debug, Default)]
pub struct Rollouts {
    pools: Mutex<BTreeMap<String, Rollout>>,
}

/// Whether a process with this id runs on this node.
fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Rollouts {
    /// Starts `owner`'s rollout of `pool` (`pid`: the driver's process on this node).
    ///
    /// # Errors
    /// [`RolloutError::Busy`] while another one runs there with its driver alive.
    pub fn begin(&self, pool: &str, owner: &str, pid: Option<u32>) -> Result<(), RolloutError> {
        let mut pools = self.pools.lock();
        if let Some(r) = pools.get_mut(pool).filter(|r| r.state == State::Running) {
            match r.owner_pid.filter(|p| !process_exists(*p)) {
                Some(gone) => {
                    tracing::warn!(%pool, owner = %r.owner, "rollout driver (pid {gone}) is gone; its rollout is marked failed");
                    r.state = State::Failed;
                    r.reason = Some(format!("its driver (pid {gone}) exited without finishing; backends it drained stay drained"));
                    r.updated_unix = now();
                }
                None => {
                    return Err(RolloutError::Busy {
                        pool: pool.into(),
                        owner: r.owner.clone(),
                    })
                }
            }
        }
        let at = now();
        pools.insert(
            pool.to_string(),
            Rollout {
                pool: pool.into(),
                owner: owner.into(),
                owner_pid: pid,
                state: State::Running,
                started_unix: at,
                updated_unix: at,
                backends: Vec::new(),
                unavailable_peak: 0,
                reason: None,
                log: Vec::new(),
            },
        );
        Ok(())
    }

    fn running<'a>(
        pools: &'a mut BTreeMap<String, Rollout>,
        pool: &str,
        owner: &str,
    ) -> Result<&'a mut Rollout, RolloutError> {
        let not_running = |why: String| RolloutError::NotRunning {
            pool: pool.into(),
            owner: owner.into(),
            why,
        };
        match pools.get_mut(pool) {
            None => Err(not_running("none was begun".into())),
            Some(r) if r.owner != owner => Err(not_running(format!("owned by {}", r.owner))),
            Some(r) if r.state != State::Running => Err(not_running(format!(
                "it is {}{}",
                serde_json::to_value(r.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                r.reason
                    .as_deref()
                    .map(|w| format!(" ({w})"))
                    .unwrap_or_default()
            ))),
            Some(r) => Ok(r),
        }
    }

    /// Records that `backend` entered `phase`, with a progress line.
    ///
    /// # Errors
    /// [`RolloutError::NotRunning`] unless `owner` runs `pool`'s rollout.
    pub fn step(
        &self,
        pool: &str,
        owner: &str,
        backend: &str,
        phase: &str,
        message: &str,
    ) -> Result<(), RolloutError> {
        let mut pools = self.pools.lock();
        let r = Self::running(&mut pools, pool, owner)?;
        let at = now();
        match r.backends.iter_mut().find(|b| b.address == backend) {
            Some(b) => {
                b.phase = phase.into();
                b.since_unix = at;
            }
            None => r.backends.push(BackendStep {
                address: backend.into(),
                phase: phase.into(),
                since_unix: at,
            }),
        }
        let out = r.backends.iter().filter(|b| b.unavailable()).count();
        r.unavailable_peak = r.unavailable_peak.max(out);
        r.updated_unix = at;
        if !message.is_empty() {
            r.log.push(format!("{backend}: {message}"));
            let excess = r.log.len().saturating_sub(LOG_LINES);
            r.log.drain(..excess);
        }
        Ok(())
    }

    /// Ends `owner`'s rollout of `pool`.
    ///
    /// # Errors
    /// [`RolloutError::NotRunning`] unless `owner` runs it.
    pub fn end(
        &self,
        pool: &str,
        owner: &str,
        ok: bool,
        reason: Option<String>,
    ) -> Result<(), RolloutError> {
        let mut pools = self.pools.lock();
        let r = Self::running(&mut pools, pool, owner)?;
        r.state = if ok { State::Succeeded } else { State::Failed };
        r.reason = reason;
        r.updated_unix = now();
        Ok(())
    }

    /// Every pool's last rollout, by pool name.
    pub fn list(&self) -> Vec<Rollout> {
        self.pools.lock().values().cloned().collect()
    }

    /// Writes the records for an upgrade successor.
    ///
    /// # Errors
    /// The write failed.
    pub fn write_handover(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(&self.list())?)?;
        std::fs::rename(&tmp, path)
    }

    /// In a successor: takes the predecessor's records over (then deletes the file); those
    /// still running become `interrupted`.
    pub fn restore_handover(&self) {
        let Some(path) = std::env::var_os(HANDOVER_ENV) else {
            return;
        };
        let Ok(bytes) = std::fs::read(&path) else {
            return;
        };
        let _ = std::fs::remove_file(&path);
        let Ok(list) = serde_json::from_slice::<Vec<Rollout>>(&bytes) else {
            tracing::warn!("unreadable rollout hand-over file; rollout records start empty");
            return;
        };
        let mut pools = self.pools.lock();
        for mut r in list {
            if r.state == State::Running {
                tracing::warn!(pool = %r.pool, owner = %r.owner, "rollout interrupted by an upgrade; its drained backends stay drained");
                r.state = State::Interrupted;
                r.reason = Some("gatehouse was upgraded or restarted during the rollout; drained backends stay drained until enabled".into());
                r.updated_unix = now();
            }
            pools.insert(r.pool.clone(), r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rollout_per_pool_and_only_its_owner_advances_it() {
        let r = Rollouts::default();
        r.begin("web", "a", Some(std::process::id())).unwrap();
        assert!(matches!(
            r.begin("web", "b", None),
            Err(RolloutError::Busy { .. })
        ));
        r.begin("api", "b", None).unwrap();
        assert!(r.step("web", "b", "x", "draining", "").is_err());
        r.step("web", "a", "10.0.0.1:80", "draining", "drain")
            .unwrap();
        r.step("web", "a", "10.0.0.2:80", "draining", "drain")
            .unwrap();
        r.step("web", "a", "10.0.0.1:80", "done", "ok").unwrap();
        r.end("web", "a", true, None).unwrap();
        assert!(r.step("web", "a", "x", "draining", "").is_err());
        let web = r.list().into_iter().find(|p| p.pool == "web").unwrap();
        assert_eq!(web.unavailable_peak, 2);
        assert_eq!(web.state, State::Succeeded);
        assert_eq!(web.log.len(), 3);
        r.begin("web", "c", None).unwrap();
    }

    #[test]
    fn a_rollout_whose_driver_is_gone_does_not_block_the_pool() {
        let r = Rollouts::default();
        // Above the kernel's pid limit: no such process.
        r.begin("web", "a", Some(u32::MAX - 1)).unwrap();
        r.begin("web", "b", None).unwrap();
        let web = r.list().into_iter().next().unwrap();
        assert_eq!((web.owner.as_str(), web.state), ("b", State::Running));
    }
}
