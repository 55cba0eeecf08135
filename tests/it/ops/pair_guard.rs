//! The pair guard, in the same network-namespace pair as `ops::pair` with the shipped
//! keepalived configs: both nodes name each other in `[pair]` (admin listeners on 0.0.0.0, the
//! virtual IP as `floating_address`). Editing the standby's config makes its
//! `/healthz?role=standby` 503 and `gatehouse_pair_in_sync` 0 on both within the poll interval
//! (keepalived puts the standby in FAULT); matching configs bring both back; and with the peer
//! dead, the standby — still out of sync — stays eligible and takes the address.

use super::netns::in_ns;
use super::pair::{
    keepalived_config, log_count, logs, spawn_logged, topology, vip_holders, BACKEND, NODES, VIP,
};
use super::vipclient::{poll, request};
use super::{have, is_root, require, run_with};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::process::Child;

const INTERVAL_MS: u64 = 500;

fn config(peer: &str, edited: bool) -> String {
    let extra = if edited {
        "[routes.default.response_headers]\nset = { \"X-Edited\" = \"yes\" }\n"
    } else {
        ""
    };
    format!(
        r#"
[server]
threads = 1
grace_period = "1s"
shutdown_timeout = "1s"
[admin]
address = "0.0.0.0:9901"
[pair]
peer = "{peer}:9901"
floating_address = "{VIP}"
interval = "{INTERVAL_MS}ms"
[reload]
watch = false
[listeners.http]
address = "0.0.0.0:8080"
[routes.default]
pool = "app"
{extra}
[pools.app]
timeouts = {{ connect = "500ms" }}
backends = [{{ address = "{BACKEND}:9001" }}, {{ address = "{BACKEND}:9002" }}]
"#
    )
}

fn conf_path(dir: &Path, i: usize) -> std::path::PathBuf {
    dir.join(format!("gatehouse-{}.toml", NODES[i].0))
}

fn spawn_gatehouse(ns: &str, i: usize, dir: &Path) -> Child {
    let conf = conf_path(dir, i);
    std::fs::write(&conf, config(NODES[1 - i].1, false)).unwrap();
    let mut c = in_ns(ns, env!("CARGO_BIN_EXE_gatehouse"));
    c.arg("run")
        .arg("-c")
        .arg(&conf)
        .env_remove("RUNTIME_DIRECTORY");
    spawn_logged(c, &dir.join(format!("gatehouse-{}.log", NODES[i].0)))
}

/// `(status, body)` of a GET from the client namespace.
async fn get(client_ns: &str, url: &str) -> Option<(u16, String)> {
    let out = run_with(
        in_ns(client_ns, "curl").args(["-s", "-m", "2", "-w", "\n%{http_code}", url]),
        super::netns::CMD_LIMIT,
    )
    .await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n')?;
    Some((code.trim().parse().ok()?, body.to_string()))
}

/// `/healthz?role=standby` status and `gatehouse_pair_in_sync` of node `i`.
async fn guard(client_ns: &str, i: usize) -> (Option<u16>, Option<String>) {
    let admin = format!("http://{}:9901", NODES[i].1);
    let health = get(client_ns, &format!("{admin}/healthz?role=standby"))
        .await
        .map(|(s, _)| s);
    let in_sync = get(client_ns, &format!("{admin}/metrics"))
        .await
        .and_then(|(_, m)| {
            m.lines()
                .find_map(|l| l.strip_prefix("gatehouse_pair_in_sync "))
                .map(str::to_string)
        });
    (health, in_sync)
}

fn hup(child: &Child) {
    let pid = child.id().unwrap();
    kill(Pid::from_raw(i32::try_from(pid).unwrap()), Signal::SIGHUP).unwrap();
}

#[tokio::test]
async fn the_pair_guard_keeps_the_address_off_a_node_with_another_config() {
    require!(is_root(), "needs root to create network namespaces");
    for tool in ["ip", "keepalived", "curl"] {
        require!(
            have(tool),
            "{tool} not found (Debian packages iproute2, keepalived, curl)"
        );
    }
    let Some(topo) = topology().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let diag = || logs(dir.path());
    let mut children = Vec::new();
    for port in ["9001", "9002"] {
        let mut c = in_ns(&topo.backend, env!("CARGO_BIN_EXE_sample-app"));
        c.args([
            "--listen",
            &format!("{BACKEND}:{port}"),
            "--name",
            &format!("app-{port}"),
        ]);
        children.push(spawn_logged(c, &dir.path().join(format!("app-{port}.log"))));
    }
    let mut gatehouses = Vec::new();
    for (i, ns) in topo.nodes.iter().enumerate() {
        gatehouses.push(spawn_gatehouse(ns, i, dir.path()));
        let url = format!("http://{}:8080/", NODES[i].1);
        poll(
            &format!("gatehouse on {}", NODES[i].0),
            Duration::from_secs(15),
            &diag,
            || async { request(&topo.client, &url).await.filter(|(s, _)| *s == 200) },
        )
        .await;
    }
    // Same config on both (per-node settings aside): in sync, both eligible.
    for (i, (name, _)) in NODES.iter().enumerate() {
        poll(
            &format!("{name} in sync"),
            Duration::from_secs(10),
            &diag,
            || async {
                (guard(&topo.client, i).await == (Some(200), Some("1".into()))).then_some(())
            },
        )
        .await;
    }
    let mut keepaliveds = Vec::new();
    for (i, ns) in topo.nodes.iter().enumerate() {
        let n = i + 1;
        let conf = dir.path().join(format!("keepalived-n{n}.conf"));
        std::fs::write(&conf, keepalived_config(n)).unwrap();
        let file = |suffix: &str| dir.path().join(format!("keepalived-n{n}{suffix}"));
        let mut c = in_ns(ns, "keepalived");
        c.args([
            "--dont-fork",
            "--log-console",
            "--log-detail",
            "--vrrp",
            "-f",
        ])
        .arg(&conf)
        .arg("-p")
        .arg(file(".pid"))
        .arg("-r")
        .arg(file("-vrrp.pid"))
        .arg("-c")
        .arg(file("-checkers.pid"));
        keepaliveds.push(spawn_logged(c, &file(".log")));
    }
    let vip_url = format!("http://{VIP}:8080/");
    let holder = poll(
        "one node holding the virtual IP and serving",
        Duration::from_secs(20),
        &diag,
        || async {
            let holders = vip_holders(&topo.nodes).await;
            if holders.len() != 1 {
                return None;
            }
            let (status, _) = request(&topo.client, &vip_url).await?;
            (status == 200).then(|| holders[0].clone())
        },
    )
    .await;
    let active = topo.nodes.iter().position(|n| *n == holder).unwrap();
    let standby = 1 - active;
    let fault_entries = log_count(dir.path(), standby + 1, "Entering FAULT STATE");

    // Edit the standby's config: within the poll interval it is ineligible, both out of sync.
    std::fs::write(
        conf_path(dir.path(), standby),
        config(NODES[active].1, true),
    )
    .unwrap();
    let edited = Instant::now();
    hup(&gatehouses[standby]);
    poll(
        "the standby refusing the standby role and both out of sync",
        Duration::from_secs(5),
        &diag,
        || async {
            let s = guard(&topo.client, standby).await;
            let a = guard(&topo.client, active).await;
            (s == (Some(503), Some("0".into())) && a == (Some(200), Some("0".into()))).then_some(())
        },
    )
    .await;
    let took = edited.elapsed();
    eprintln!("out of sync detected on both {took:?} after the standby's reload");
    assert!(
        took < crate::support::patient(Duration::from_millis(2 * INTERVAL_MS + 1500)),
        "took {took:?} (interval {INTERVAL_MS} ms)"
    );
    let (_, why) = get(
        &topo.client,
        &format!("http://{}:9901/healthz?role=standby", NODES[standby].1),
    )
    .await
    .unwrap();
    assert!(why.contains("different config"), "{why}");
    let status = get(
        &topo.client,
        &format!("http://{}:9901/status", NODES[standby].1),
    )
    .await
    .unwrap()
    .1;
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["pair"]["in_sync"], false, "{status}");
    assert_eq!(status["pair"]["holds_floating_address"], false, "{status}");
    assert!(
        status["pair"]["differences"][0]
            .as_str()
            .unwrap()
            .starts_with("config: digest"),
        "{status}"
    );
    poll(
        "keepalived on the standby in FAULT",
        Duration::from_secs(10),
        &diag,
        || async {
            (log_count(dir.path(), standby + 1, "Entering FAULT STATE") > fault_entries)
                .then_some(())
        },
    )
    .await;
    assert_eq!(
        vip_holders(&topo.nodes).await,
        std::slice::from_ref(&holder)
    );

    // Matching configs again: both in sync and eligible.
    std::fs::write(
        conf_path(dir.path(), standby),
        config(NODES[active].1, false),
    )
    .unwrap();
    hup(&gatehouses[standby]);
    poll(
        "both in sync again",
        Duration::from_secs(5),
        &diag,
        || async {
            let s = guard(&topo.client, standby).await;
            let a = guard(&topo.client, active).await;
            (s == (Some(200), Some("1".into())) && a == (Some(200), Some("1".into()))).then_some(())
        },
    )
    .await;

    // Out of sync again, then the active node dies: an unreachable peer never makes the
    // standby ineligible, so it takes the address.
    std::fs::write(
        conf_path(dir.path(), standby),
        config(NODES[active].1, true),
    )
    .unwrap();
    hup(&gatehouses[standby]);
    poll(
        "the standby ineligible again",
        Duration::from_secs(5),
        &diag,
        || async { (guard(&topo.client, standby).await.0 == Some(503)).then_some(()) },
    )
    .await;
    gatehouses[active].start_kill().unwrap();
    let died = Instant::now();
    poll(
        "the standby holding the virtual IP and serving",
        Duration::from_secs(20),
        &diag,
        || async {
            let holders = vip_holders(&topo.nodes).await;
            let (status, _) = request(&topo.client, &vip_url).await?;
            (holders == [topo.nodes[standby].clone()] && status == 200).then_some(())
        },
    )
    .await;
    eprintln!(
        "failover to the out-of-sync standby with its peer dead: {:?}",
        died.elapsed()
    );
    assert_eq!(guard(&topo.client, standby).await.0, Some(200));
    drop(keepaliveds);
    drop(children);
}
