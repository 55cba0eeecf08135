//! The `gatehouse rollout` driver: runs on the node, talks to the admin API, runs the deploy
//! command itself. Blocking (threads, not tasks): it is a CLI.

use crate::ctl::{call, AdminEndpoint};
use serde_json::Value;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What `gatehouse rollout` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Pool.
    pub pool: String,
    /// Backends, in order (one, or the whole pool for `--all`).
    pub backends: Vec<String>,
    /// The deploy command (`sh -c`), with `GATEHOUSE_ROLLOUT_POOL` and
    /// `GATEHOUSE_ROLLOUT_BACKEND` set.
    pub exec: String,
    /// Longest wait for in-flight requests to finish.
    pub drain_timeout: Duration,
    /// Longest wait for `rise` passing checks after the command.
    pub check_timeout: Duration,
    /// How long the re-enabled backend is watched.
    pub verify: Duration,
    /// Error ratio above which (and above twice the others') the backend fails.
    pub max_error_ratio: f64,
    /// Requests needed before the ratio is judged.
    pub min_requests: u64,
    /// Backends out of service at once (`--all`).
    pub max_unavailable: usize,
    /// Poll interval.
    pub poll: Duration,
}

/// Why a rollout failed (printed; the exit code is non-zero).
#[derive(Debug, thiserror::Error)]
pub enum RolloutFailed {
    /// The admin API refused or could not be reached.
    #[error("{0}")]
    Admin(String),
    /// A backend failed a step; it was drained again.
    #[error("{backend}: {reason}")]
    Backend {
        /// Which.
        backend: String,
        /// Why.
        reason: String,
    },
}

struct Ctx<'a> {
    endpoint: &'a AdminEndpoint,
    opts: &'a Options,
    owner: String,
    print: &'a (dyn Fn(&str) + Sync),
}

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~:".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Ctx<'_> {
    fn post(&self, path: &str) -> Result<Value, RolloutFailed> {
        let (status, body) = call(self.endpoint, "POST", path, Duration::from_secs(10))
            .map_err(|e| RolloutFailed::Admin(e.to_string()))?;
        let doc: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        if status != 200 {
            return Err(RolloutFailed::Admin(format!(
                "admin API answered {status} to {}: {}",
                path.split('?').next().unwrap_or(path),
                doc["error"].as_str().unwrap_or(body.trim())
            )));
        }
        Ok(doc)
    }

    fn stats(&self, backend: &str) -> Result<Value, RolloutFailed> {
        let path = format!("/rollouts/{}/{}", self.opts.pool, backend);
        let (status, body) = call(self.endpoint, "GET", &path, Duration::from_secs(10))
            .map_err(|e| RolloutFailed::Admin(e.to_string()))?;
        let doc: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        if status != 200 {
            return Err(RolloutFailed::Admin(format!(
                "admin API answered {status} to {path}: {}",
                doc["error"].as_str().unwrap_or(body.trim())
            )));
        }
        Ok(doc)
    }

    /// Records the phase (and prints the line); fails when the rollout is no longer ours
    /// (interrupted by an upgrade).
    fn step(&self, backend: &str, phase: &str, message: &str) -> Result<(), RolloutFailed> {
        (self.print)(&format!("{backend}: {message}"));
        self.post(&format!(
            "/rollouts/{}/step?owner={}&backend={}&phase={phase}&message={}",
            self.opts.pool,
            enc(&self.owner),
            enc(backend),
            enc(message)
        ))
        .map(|_| ())
    }

    fn admin(&self, backend: &str, action: &str) -> Result<(), RolloutFailed> {
        self.post(&format!("/backends/{}/{backend}/{action}", self.opts.pool))
            .map(|_| ())
    }
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// Runs the rollout; progress goes to `print`.
///
/// # Errors
/// The first failure (the failing backend is drained again).
pub fn run(
    endpoint: &AdminEndpoint,
    opts: &Options,
    print: &(dyn Fn(&str) + Sync),
) -> Result<(), RolloutFailed> {
    let owner = format!(
        "gatehouse-rollout pid {} at {:.3}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    );
    let ctx = Ctx {
        endpoint,
        opts,
        owner,
        print,
    };
    ctx.post(&format!(
        "/rollouts/{}/begin?owner={}&pid={}",
        opts.pool,
        enc(&ctx.owner),
        std::process::id()
    ))?;
    print(&format!(
        "rollout of pool {}: {} backend(s), at most {} out at once",
        opts.pool,
        opts.backends.len(),
        opts.max_unavailable.max(1)
    ));
    let queue = Mutex::new(opts.backends.clone());
    let stop = AtomicBool::new(false);
    let first_failure: Mutex<Option<RolloutFailed>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..opts.max_unavailable.max(1) {
            scope.spawn(|| loop {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let next = {
                    let mut q = queue.lock().unwrap_or_else(|p| p.into_inner());
                    if q.is_empty() {
                        return;
                    }
                    q.remove(0)
                };
                if let Err(e) = roll_one(&ctx, &next) {
                    stop.store(true, Ordering::SeqCst);
                    let mut slot = first_failure.lock().unwrap_or_else(|p| p.into_inner());
                    if slot.is_none() {
                        *slot = Some(e);
                    }
                    return;
                }
            });
        }
    });
    let failure = first_failure
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    let skipped = queue.into_inner().unwrap_or_else(|p| p.into_inner());
    let (ok, reason) = match &failure {
        None => (true, None),
        Some(e) => (false, Some(e.to_string())),
    };
    let ended = ctx.post(&format!(
        "/rollouts/{}/end?owner={}&result={}&reason={}",
        opts.pool,
        enc(&ctx.owner),
        if ok { "ok" } else { "failed" },
        enc(reason.as_deref().unwrap_or(""))
    ));
    if !skipped.is_empty() {
        print(&format!(
            "stopped at the first failure; not rolled: {}",
            skipped.join(", ")
        ));
    }
    match failure {
        Some(e) => Err(e),
        None => ended.map(|_| ()),
    }
}

/// One backend: drain, wait, deploy, checks, enable, verify. On a failure after the deploy
/// step the backend is drained again.
fn roll_one(ctx: &Ctx<'_>, backend: &str) -> Result<(), RolloutFailed> {
    let opts = ctx.opts;
    let fail = |reason: String| RolloutFailed::Backend {
        backend: backend.into(),
        reason,
    };
    ctx.step(backend, "draining", "draining")?;
    ctx.admin(backend, "drain")?;
    let started = Instant::now();
    let stats = loop {
        let s = ctx.stats(backend)?;
        let inflight = u(&s["backend"]["inflight"]);
        if inflight == 0 {
            break s;
        }
        if started.elapsed() >= opts.drain_timeout {
            ctx.step(
                backend,
                "draining",
                &format!(
                    "drain timeout ({:?}): {inflight} request(s) still in flight; deploying anyway",
                    opts.drain_timeout
                ),
            )?;
            break s;
        }
        std::thread::park_timeout(opts.poll);
    };
    let tunnels = u(&stats["backend"]["tunnels"]);
    ctx.step(
        backend,
        "deploying",
        &format!(
            "in-flight requests 0 after {:.1} s ({tunnels} tunnel(s) open, not waited for); running the deploy command",
            started.elapsed().as_secs_f64()
        ),
    )?;
    let status = Command::new("sh")
        .arg("-c")
        .arg(&opts.exec)
        .env("GATEHOUSE_ROLLOUT_POOL", &opts.pool)
        .env("GATEHOUSE_ROLLOUT_BACKEND", backend)
        .status();
    let failed = |ctx: &Ctx<'_>, reason: String| -> RolloutFailed {
        let _ = ctx.admin(backend, "drain");
        let _ = ctx.step(
            backend,
            "failed",
            &format!("FAILED: {reason}; drained again"),
        );
        fail(reason)
    };
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => {
            return Err(failed(
                ctx,
                format!("the deploy command exited with {s}; the backend stays drained"),
            ))
        }
        Err(e) => {
            return Err(failed(
                ctx,
                format!("cannot run the deploy command: {e}; the backend stays drained"),
            ))
        }
    }
    let s = ctx.stats(backend)?;
    let passed_before = u(&s["backend"]["checks_passed"]);
    match s["rise"].as_u64() {
        None => ctx.step(
            backend,
            "checking",
            "deploy command done; the pool has no active checks, not waiting for any",
        )?,
        Some(rise) => {
            ctx.step(
                backend,
                "checking",
                &format!("deploy command done; waiting for {rise} passing check(s)"),
            )?;
            let started = Instant::now();
            loop {
                let s = ctx.stats(backend)?;
                let b = &s["backend"];
                let since = u(&b["checks_passed"]).saturating_sub(passed_before);
                if since >= rise && u(&b["consecutive_passes"]) >= rise && b["check_status"] == "up"
                {
                    break;
                }
                if started.elapsed() >= opts.check_timeout {
                    return Err(failed(
                        ctx,
                        format!(
                            "no {rise} consecutive passing checks within {:?} (last: {})",
                            opts.check_timeout, b["last_check"]["detail"]
                        ),
                    ));
                }
                std::thread::park_timeout(opts.poll);
            }
        }
    }
    ctx.admin(backend, "enable")?;
    let base = ctx.stats(backend)?;
    ctx.step(
        backend,
        "verifying",
        &format!(
            "checks pass; re-enabled (weight ramps over the pool's slow_start, if set); verifying for {:?}",
            opts.verify
        ),
    )?;
    let started = Instant::now();
    loop {
        let s = ctx.stats(backend)?;
        let (attempts, faults) = (
            u(&s["backend"]["attempts"]).saturating_sub(u(&base["backend"]["attempts"])),
            u(&s["backend"]["faults"]).saturating_sub(u(&base["backend"]["faults"])),
        );
        let (o_attempts, o_faults) = (
            u(&s["others"]["attempts"]).saturating_sub(u(&base["others"]["attempts"])),
            u(&s["others"]["faults"]).saturating_sub(u(&base["others"]["faults"])),
        );
        let ratio = faults as f64 / attempts.max(1) as f64;
        let others = o_faults as f64 / o_attempts.max(1) as f64;
        let figures = format!(
            "{faults} of {attempts} requests failed ({:.1} %; the pool's other backends {:.1} %)",
            ratio * 100.0,
            others * 100.0
        );
        if s["backend"]["check_status"] == "down" {
            return Err(failed(
                ctx,
                format!("it failed its active checks again during verification; {figures}"),
            ));
        }
        if attempts >= opts.min_requests && ratio > opts.max_error_ratio && ratio > 2.0 * others {
            return Err(failed(
                ctx,
                format!(
                    "error ratio too high: {figures}, above {:.1} % and twice the others'",
                    opts.max_error_ratio * 100.0
                ),
            ));
        }
        if started.elapsed() >= opts.verify {
            let note = if attempts < opts.min_requests {
                format!(
                    " (fewer than {} requests: the ratio was not judged)",
                    opts.min_requests
                )
            } else {
                String::new()
            };
            ctx.step(backend, "done", &format!("verified: {figures}{note}"))?;
            return Ok(());
        }
        std::thread::park_timeout(opts.poll);
    }
}

/// The backends of `pool` in configured order, from `/status`.
///
/// # Errors
/// The admin API failed or has no such pool.
pub fn pool_backends(endpoint: &AdminEndpoint, pool: &str) -> Result<Vec<String>, RolloutFailed> {
    let (status, body) = call(endpoint, "GET", "/status", Duration::from_secs(10))
        .map_err(|e| RolloutFailed::Admin(e.to_string()))?;
    let doc: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if status != 200 {
        return Err(RolloutFailed::Admin(format!(
            "admin API answered {status} to /status"
        )));
    }
    doc["pools"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == pool)
        .map(|p| {
            p["backends"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|b| b["address"].as_str().map(str::to_string))
                .collect()
        })
        .ok_or_else(|| RolloutFailed::Admin(format!("no pool {pool:?} in the running config")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_query_values() {
        assert_eq!(super::enc("a b/c%"), "a%20b%2Fc%25");
        assert_eq!(super::enc("127.0.0.1:80"), "127.0.0.1:80");
    }
}
