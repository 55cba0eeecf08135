//! `gatehouse rollout` with real processes: the gatehouse binary, sample-app processes, and a
//! deploy script that replaces a backend's process with a new version on the same port.

use crate::support::child::ChildProxy;
use crate::support::load::{assert_no_failures, Load};
use crate::support::{eventually, free_port, Client, WAIT};
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

/// Replaces the sample-app on `$GATEHOUSE_ROLLOUT_BACKEND`'s port with one named
/// `<version>-<port>` (`version` file), answering 500 to every 10th request if a `bad-<port>`
/// file exists. Started processes are recorded in `app-<port>.pid`.
const DEPLOY: &str = r#"#!/bin/sh
set -e
addr="$GATEHOUSE_ROLLOUT_BACKEND"
port="${addr##*:}"
dir="$(dirname "$0")"
pidfile="$dir/app-$port.pid"
if [ -f "$pidfile" ]; then
  pid="$(cat "$pidfile")"
  kill "$pid" 2>/dev/null || true
  # Gone, or a zombie nobody reaps: either way its socket is closed.
  n=0
  while [ -e "/proc/$pid/stat" ] && [ "$(cut -d' ' -f3 "/proc/$pid/stat")" != Z ] && [ $n -lt 200 ]; do
    sleep 0.02; n=$((n+1))
  done
fi
extra=""
if [ -f "$dir/bad-$port" ]; then extra="--error-every 10"; fi
version="$(cat "$dir/version")"
"$SAMPLE_APP" --listen "$addr" --name "$version-$port" $extra >>"$dir/app-$port.log" 2>&1 &
echo $! > "$pidfile"
echo "deployed $version on $addr"
"#;

/// A pool of sample-app processes managed through the deploy script; killed on drop.
struct Fleet {
    dir: PathBuf,
    ports: Vec<u16>,
}

impl Fleet {
    fn deploy_path(&self) -> PathBuf {
        self.dir.join("deploy.sh")
    }

    fn addr(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.ports[i])
    }

    fn set_version(&self, v: &str) {
        std::fs::write(self.dir.join("version"), v).unwrap();
    }

    fn mark_bad(&self, i: usize) {
        std::fs::write(self.dir.join(format!("bad-{}", self.ports[i])), "").unwrap();
    }

    /// Runs the deploy script for backend `i` (as the rollout would).
    fn deploy(&self, i: usize) {
        let out = std::process::Command::new("sh")
            .arg(self.deploy_path())
            .env("GATEHOUSE_ROLLOUT_BACKEND", self.addr(i))
            .env("SAMPLE_APP", env!("CARGO_BIN_EXE_sample-app"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for p in &self.ports {
            if let Ok(pid) = std::fs::read_to_string(self.dir.join(format!("app-{p}.pid"))) {
                if let Ok(pid) = pid.trim().parse::<i32>() {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
    }
}

/// `n` backends at version v1 and a gatehouse process in front of them (checks every 100 ms,
/// rise 2, fall 1).
async fn setup(n: usize) -> (ChildProxy, Fleet) {
    let mut ports: Vec<u16> = Vec::new();
    while ports.len() < n {
        let p = free_port();
        if !ports.contains(&p) {
            ports.push(p);
        }
    }
    let backends = ports
        .iter()
        .map(|p| format!("{{ address = \"127.0.0.1:{p}\" }}"))
        .collect::<Vec<_>>()
        .join(", ");
    let template = format!(
        r#"
[server]
threads = 2
# Not 0s: the upgrade test's predecessor must outlive its answer to `POST /upgrade`.
grace_period = "5s"
[admin]
address = "{{admin}}"
token_file = "admin.token"
[listeners.http]
address = "{{http}}"
[routes.default]
pool = "web"
[pools.web]
max_retries = 2
health_check = {{ type = "http", path = "/healthz", interval = "100ms", timeout = "500ms", rise = 2, fall = 1 }}
backends = [{backends}]
"#
    );
    let proxy = ChildProxy::start(&template).await;
    let fleet = Fleet {
        dir: proxy.dir.path().to_path_buf(),
        ports,
    };
    std::fs::write(fleet.deploy_path(), DEPLOY).unwrap();
    fleet.set_version("v1");
    for i in 0..n {
        fleet.deploy(i);
    }
    let client = Client::new();
    eventually("every v1 backend serves through gatehouse", WAIT, || {
        let client = client.clone();
        let proxy_http = proxy.http;
        async move {
            let mut seen = std::collections::HashSet::new();
            for _ in 0..(4 * n) {
                if let Ok(r) = client.try_get(proxy_http, "site.test", "/").await {
                    if r.status == 200 {
                        seen.insert(r.backend());
                    }
                }
            }
            (seen.len() == n).then_some(())
        }
    })
    .await;
    (proxy, fleet)
}

async fn rollout(proxy: &ChildProxy, fleet: &Fleet, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.arg("rollout")
        .args(args)
        .arg("--exec")
        .arg(format!("sh {}", fleet.deploy_path().display()))
        .args(["-c"])
        .arg(&proxy.config_path)
        .env("SAMPLE_APP", env!("CARGO_BIN_EXE_sample-app"));
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn backend_admin(proxy: &ChildProxy, address: &str) -> String {
    let status = proxy.status().await.unwrap();
    status["pools"][0]["backends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["address"] == address)
        .map(|b| b["admin"].as_str().unwrap_or_default().to_string())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_under_steady_load_fails_no_request() {
    let (proxy, fleet) = setup(2).await;
    let load = Load::start(proxy.http, "site.test", "/", 4, None);
    fleet.set_version("v2");
    let target = fleet.addr(0);
    let out = rollout(
        &proxy,
        &fleet,
        &["web", &target, "--verify", "1500ms", "--min-requests", "10"],
    )
    .await;
    // Keep the load on a moment with v2 serving.
    let client = Client::new();
    let v2 = format!("v2-{}", fleet.ports[0]);
    eventually("v2 answers", WAIT, || async {
        (client.get(proxy.http, "site.test", "/").await.backend() == v2).then_some(())
    })
    .await;
    let samples = load.finish().await;
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}\n{}", proxy.log_text());
    for step in [
        "draining",
        "in-flight requests 0",
        "deployed v2",
        "waiting for 2 passing check(s)",
        "re-enabled (weight ramps",
        "verified:",
        "rollout of pool web succeeded",
    ] {
        assert!(log.contains(step), "no {step:?} in:\n{log}");
    }
    assert!(samples.len() > 50, "too little load: {}", samples.len());
    assert_no_failures(&samples, "requests during the rollout");
    let status = proxy.status().await.unwrap();
    let r = &status["rollouts"][0];
    assert_eq!(r["pool"], "web");
    assert_eq!(r["state"], "succeeded", "{r}");
    assert_eq!(r["backends"][0]["phase"], "done", "{r}");
    assert_eq!(backend_admin(&proxy, &target).await, "none");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_version_is_drained_again_within_the_verify_window() {
    let (proxy, fleet) = setup(2).await;
    let load = Load::start(proxy.http, "site.test", "/", 4, None);
    fleet.set_version("v2");
    fleet.mark_bad(0);
    let target = fleet.addr(0);
    // The bound is the verify window itself: both scale, or a slow machine's bound would outgrow
    // the window and pass a rollout that waited it out.
    let window = crate::support::patient(Duration::from_secs(20));
    let verify = format!("{}s", window.as_secs());
    let started = std::time::Instant::now();
    let out = rollout(
        &proxy,
        &fleet,
        &["web", &target, "--verify", &verify, "--min-requests", "20"],
    )
    .await;
    let took = started.elapsed();
    let _ = load.finish().await;
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("error ratio too high"), "{log}");
    assert!(log.contains("drained again"), "{log}");
    assert!(
        took < window,
        "failed only after the whole window: {took:?}\n{log}"
    );
    assert_eq!(backend_admin(&proxy, &target).await, "drain");
    let status = proxy.status().await.unwrap();
    assert_eq!(status["rollouts"][0]["state"], "failed");
    assert!(status["rollouts"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("error ratio"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_stops_at_the_first_bad_backend() {
    let (proxy, fleet) = setup(3).await;
    let load = Load::start(proxy.http, "site.test", "/", 4, None);
    fleet.set_version("v2");
    fleet.mark_bad(1);
    let out = rollout(
        &proxy,
        &fleet,
        &[
            "web",
            "--all",
            "--verify",
            "1500ms",
            "--min-requests",
            "15",
            "--max-unavailable",
            "1",
        ],
    )
    .await;
    let _ = load.finish().await;
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains(&format!("not rolled: {}", fleet.addr(2))),
        "{log}"
    );
    let status = proxy.status().await.unwrap();
    let r = &status["rollouts"][0];
    assert_eq!(r["state"], "failed", "{r}");
    assert_eq!(r["unavailable_peak"], 1, "{r}");
    assert_eq!(r["backends"].as_array().unwrap().len(), 2, "{r}");
    assert_eq!(backend_admin(&proxy, &fleet.addr(0)).await, "none");
    assert_eq!(backend_admin(&proxy, &fleet.addr(1)).await, "drain");
    assert_eq!(backend_admin(&proxy, &fleet.addr(2)).await, "none");
    // The third backend still runs v1.
    let v1 = format!("v1-{}", fleet.ports[2]);
    let client = Client::new();
    eventually("the untouched backend still serves v1", WAIT, || async {
        (client.get(proxy.http, "site.test", "/").await.backend() == v1).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_rollout_per_pool_and_an_upgrade_interrupts_it_keeping_the_drain() {
    let (mut proxy, fleet) = setup(2).await;
    fleet.set_version("v2");
    // A deploy step that waits until the test lets it go.
    let gate = fleet.dir.join("go");
    let slow = fleet.dir.join("slow.sh");
    std::fs::write(
        &slow,
        format!(
            "n=0; while [ ! -f {} ] && [ $n -lt 1500 ]; do sleep 0.02; n=$((n+1)); done\nsh {}\n",
            gate.display(),
            fleet.deploy_path().display()
        ),
    )
    .unwrap();
    let target = fleet.addr(0);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.args(["rollout", "web", &target, "--exec"])
        .arg(format!("sh {}", slow.display()))
        .args(["--verify", "1s", "-c"])
        .arg(&proxy.config_path)
        .env("SAMPLE_APP", env!("CARGO_BIN_EXE_sample-app"));
    let first = tokio::task::spawn_blocking(move || cmd.output().unwrap());
    eventually("the rollout is deploying", WAIT, || async {
        let s = proxy.status().await?;
        (s["rollouts"][0]["backends"][0]["phase"] == "deploying").then_some(())
    })
    .await;
    // A second rollout of the same pool is refused.
    let second = rollout(&proxy, &fleet, &["web", &fleet.addr(1)]).await;
    assert_eq!(second.status.code(), Some(1), "{}", text(&second));
    assert!(
        text(&second).contains("already running"),
        "{}",
        text(&second)
    );
    // Upgrade mid-rollout: the drain and the record go over.
    proxy.upgrade().await;
    std::fs::write(&gate, "").unwrap();
    let out = first.await.unwrap();
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("interrupted"), "{log}");
    let status = proxy.status().await.unwrap();
    assert_eq!(status["rollouts"][0]["state"], "interrupted", "{status}");
    assert_eq!(backend_admin(&proxy, &target).await, "drain");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_never_has_more_than_max_unavailable_out() {
    let (proxy, fleet) = setup(4).await;
    let load = Load::start(proxy.http, "site.test", "/", 4, None);
    fleet.set_version("v2");
    let out = rollout(
        &proxy,
        &fleet,
        &[
            "web",
            "--all",
            "--verify",
            "1s",
            "--min-requests",
            "5",
            "--max-unavailable",
            "2",
        ],
    )
    .await;
    let samples = load.finish().await;
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert_no_failures(&samples, "requests during the rollout of the whole pool");
    let status = proxy.status().await.unwrap();
    let r = &status["rollouts"][0];
    assert_eq!(r["state"], "succeeded", "{r}");
    assert_eq!(r["backends"].as_array().unwrap().len(), 4, "{r}");
    let peak = r["unavailable_peak"].as_u64().unwrap();
    assert!((1..=2).contains(&peak), "{r}");
    let client = Client::new();
    for i in 0..4 {
        let v2 = format!("v2-{}", fleet.ports[i]);
        eventually(&format!("{v2} serves"), WAIT, || async {
            let mut seen = false;
            for _ in 0..8 {
                seen |= client.get(proxy.http, "site.test", "/").await.backend() == v2;
            }
            seen.then_some(())
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_whose_driver_died_does_not_block_the_pool() {
    let (proxy, fleet) = setup(2).await;
    fleet.set_version("v2");
    let slow = fleet.dir.join("forever.sh");
    // Outlives its killed driver: bounded, and told to stop when the test is done.
    let stop = fleet.dir.join("stop");
    std::fs::write(
        &slow,
        format!(
            "n=0; while [ ! -f {} ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done\n",
            stop.display()
        ),
    )
    .unwrap();
    let mut driver = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["rollout", "web", &fleet.addr(0), "--exec"])
        .arg(format!("sh {}", slow.display()))
        .arg("-c")
        .arg(&proxy.config_path)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    eventually("the first rollout is deploying", WAIT, || async {
        let s = proxy.status().await?;
        (s["rollouts"][0]["backends"][0]["phase"] == "deploying").then_some(())
    })
    .await;
    driver.kill().unwrap();
    driver.wait().unwrap();
    let out = rollout(
        &proxy,
        &fleet,
        &[
            "web",
            &fleet.addr(1),
            "--verify",
            "500ms",
            "--min-requests",
            "1",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::fs::write(&stop, "").unwrap();
    // The abandoned backend stays drained until someone looks at it.
    assert_eq!(backend_admin(&proxy, &fleet.addr(0)).await, "drain");
}
