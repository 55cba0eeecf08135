//! A redundant pair: two gatehouse nodes behind one virtual IP that keepalived moves, run with
//! the shipped `conf/keepalived/node{1,2}.conf` (only the example addresses and the check's user
//! substituted). The topology is built on this machine from network namespaces the test creates
//! and deletes; nothing touches the host's own interfaces, addresses or routes:
//!
//! ```text
//!   ns br:  bridge br0 ── v-n1, v-n2, v-be, v-cl (veth peers of each namespace's eth0)
//!   ns n1:  10.77.0.11  gatehouse 0.0.0.0:8080 (admin 127.0.0.1:9901) + keepalived
//!   ns n2:  10.77.0.12  the same
//!   ns be:  10.77.0.20  sample-app :9001 and :9002 (the backends of both nodes)
//!   ns cl:  10.77.0.100 the client (curl)            virtual IP: 10.77.0.10
//! ```
//!
//! The active node's gatehouse is SIGKILLed; the standby must hold the virtual IP and serve
//! within a few seconds. The killed node then comes back as the standby without taking the
//! address back (nopreempt), and a planned switchover (stop keepalived on the node holding the
//! address, as the guide says) moves it back within 3 s. Both times are printed.

use super::netns::{in_ns, ip, sweep_leftovers, Netns, CMD_LIMIT};
use super::vipclient::{poll, request, until_served_by};
use super::{have, is_root, repo, require, run, skipped, text};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

pub(super) const SUBNET: &str = "10.77.0.";
pub(super) const VIP: &str = "10.77.0.10";
pub(super) const NODES: [(&str, &str); 2] = [("n1", "10.77.0.11"), ("n2", "10.77.0.12")];
pub(super) const BACKEND: &str = "10.77.0.20";
pub(super) const CLIENT: &str = "10.77.0.100";

/// Which node namespaces hold the virtual IP.
pub(super) async fn vip_holders(nodes: &[String]) -> Vec<String> {
    let mut holders = Vec::new();
    for ns in nodes {
        let out = run(
            "ip",
            &["-n", ns, "-4", "-o", "addr", "show", "dev", "eth0"],
            CMD_LIMIT,
        )
        .await;
        if String::from_utf8_lossy(&out.stdout).contains(&format!("inet {VIP}/")) {
            holders.push(ns.clone());
        }
    }
    holders
}

pub(super) fn spawn_logged(mut cmd: Command, log: &Path) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"))
}

/// The shipped keepalived config for a node, with the example network replaced by the test's
/// and the check run as `nobody` (the shipped `keepalived_script` user does not exist here).
pub(super) fn keepalived_config(node: usize) -> String {
    let shipped =
        std::fs::read_to_string(repo().join(format!("conf/keepalived/node{node}.conf"))).unwrap();
    assert!(
        shipped.contains("192.0.2.10/24 dev eth0"),
        "example layout changed"
    );
    shipped
        .replace("192.0.2.", SUBNET)
        .replace("script_user keepalived_script", "script_user nobody")
}

fn node_config(node: &str) -> String {
    format!(
        r#"
[server]
threads = 1
grace_period = "1s"
shutdown_timeout = "1s"
[admin]
address = "127.0.0.1:9901"
[reload]
watch = false
[listeners.http]
address = "0.0.0.0:8080"
[routes.default]
pool = "app"
[routes.default.response_headers]
set = {{ "X-Gatehouse-Node" = "{node}" }}
[pools.app]
timeouts = {{ connect = "500ms" }}
backends = [{{ address = "{BACKEND}:9001" }}, {{ address = "{BACKEND}:9002" }}]
"#
    )
}

pub(super) fn logs(dir: &Path) -> String {
    let mut out = String::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    for f in files {
        if matches!(f.extension().and_then(|e| e.to_str()), Some("log" | "err")) {
            let body = std::fs::read_to_string(&f).unwrap_or_default();
            let tail: Vec<&str> = body.lines().rev().take(40).collect();
            out.push_str(&format!("--- {} (last lines)\n", f.display()));
            for l in tail.into_iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    out
}

/// Starts gatehouse for node `name` in namespace `ns`.
fn spawn_gatehouse(ns: &str, name: &str, dir: &Path) -> Child {
    let conf = dir.join(format!("gatehouse-{name}.toml"));
    std::fs::write(&conf, node_config(name)).unwrap();
    let mut c = in_ns(ns, env!("CARGO_BIN_EXE_gatehouse"));
    c.arg("run")
        .arg("-c")
        .arg(&conf)
        .env_remove("RUNTIME_DIRECTORY");
    // Appends: a restarted node keeps its earlier log for the diagnostics.
    let log = dir.join(format!("gatehouse-{name}.log"));
    let open = |p: &Path| {
        std::fs::File::options()
            .create(true)
            .append(true)
            .open(p)
            .unwrap()
    };
    c.stdin(Stdio::null())
        .stdout(open(&log))
        .stderr(open(&log.with_extension("err")))
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn gatehouse for {name}: {e}"))
}

/// Occurrences of `needle` in a keepalived's console output.
pub(super) fn log_count(dir: &Path, node: usize, needle: &str) -> usize {
    ["log", "err"]
        .iter()
        .map(|ext| {
            std::fs::read_to_string(dir.join(format!("keepalived-n{node}.{ext}")))
                .unwrap_or_default()
                .matches(needle)
                .count()
        })
        .sum()
}

/// The test network: namespaces for the two nodes, the backends and the client on one
/// bridge (deleted with every process in them when this drops).
pub(super) struct Topology {
    _netns: Netns,
    pub nodes: Vec<String>,
    pub backend: String,
    pub client: String,
}

/// Builds the [`Topology`]; `None` (after reporting the skip) where namespaces cannot be made.
pub(super) async fn topology() -> Option<Topology> {
    sweep_leftovers().await;
    let mut netns = Netns::new();
    let bridge = match netns.add("br").await {
        Ok(n) => n,
        Err(e) => {
            skipped(&format!("cannot create network namespaces here: {e}"));
            return None;
        }
    };
    // The wire: one bridge in its own namespace, one veth pair per host namespace, created
    // directly inside the namespaces (never in the host's).
    ip(&["-n", &bridge, "link", "add", "br0", "type", "bridge"]).await;
    ip(&["-n", &bridge, "link", "set", "br0", "up"]).await;
    let mut hosts = Vec::new();
    for (role, addr) in [NODES[0], NODES[1], ("be", BACKEND), ("cl", CLIENT)] {
        let ns = netns.add(role).await.unwrap();
        let port = format!("v-{role}");
        ip(&[
            "link", "add", "eth0", "netns", &ns, "type", "veth", "peer", "name", &port, "netns",
            &bridge,
        ])
        .await;
        ip(&["-n", &bridge, "link", "set", &port, "master", "br0", "up"]).await;
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "eth0",
        ])
        .await;
        ip(&["-n", &ns, "link", "set", "eth0", "up"]).await;
        hosts.push(ns);
    }
    Some(Topology {
        _netns: netns,
        nodes: hosts[..2].to_vec(),
        backend: hosts[2].clone(),
        client: hosts[3].clone(),
    })
}

#[tokio::test]
async fn shipped_keepalived_configs_pass_keepalived_config_test() {
    require!(
        have("keepalived"),
        "keepalived not found (Debian package keepalived)"
    );
    let dir = tempfile::tempdir().unwrap();
    for node in [1, 2] {
        let path = dir.path().join(format!("node{node}.conf"));
        std::fs::write(&path, keepalived_config(node)).unwrap();
        let out = run(
            "keepalived",
            &["--config-test", "-f", path.to_str().unwrap()],
            CMD_LIMIT,
        )
        .await;
        // keepalived 2.2.7 ends a successful --config-test by SIGTERMing itself; problems are
        // reported as lines on stderr and a non-zero exit code.
        use std::os::unix::process::ExitStatusExt;
        let ok = out.status.success() || out.status.signal() == Some(15);
        assert!(
            ok && text(&out).trim().is_empty(),
            "node{node}.conf: {:?}\n{}",
            out.status,
            text(&out)
        );
    }
}

#[tokio::test]
async fn standby_takes_the_virtual_ip_when_the_active_gatehouse_dies() {
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
    let (node_ns, backend_ns, client_ns) = (
        topo.nodes.clone(),
        topo.backend.clone(),
        topo.client.clone(),
    );
    let dir = tempfile::tempdir().unwrap();
    let diag = || logs(dir.path());

    // Backends, then a gatehouse per node (each proven up on its own admin listener).
    let mut children = Vec::new();
    for port in ["9001", "9002"] {
        let mut c = in_ns(&backend_ns, env!("CARGO_BIN_EXE_sample-app"));
        c.args([
            "--listen",
            &format!("{BACKEND}:{port}"),
            "--name",
            &format!("app-{port}"),
        ]);
        children.push(spawn_logged(c, &dir.path().join(format!("app-{port}.log"))));
        let url = format!("http://{BACKEND}:{port}/healthz");
        poll(
            &format!("backend {port}"),
            Duration::from_secs(10),
            &diag,
            || async { request(&client_ns, &url).await.filter(|(s, _)| *s == 200) },
        )
        .await;
    }
    let mut gatehouses = Vec::new();
    for (i, ns) in node_ns.iter().enumerate() {
        let name = NODES[i].0;
        gatehouses.push(spawn_gatehouse(ns, name, dir.path()));
        let url = format!("http://{}:8080/", NODES[i].1);
        poll(
            &format!("gatehouse on {name}"),
            Duration::from_secs(15),
            &diag,
            || async { request(&client_ns, &url).await.filter(|(s, _)| *s == 200) },
        )
        .await;
    }

    // keepalived on each node, in the foreground, VRRP only, its files in the temp dir.
    let mut keepaliveds = Vec::new();
    for (i, ns) in node_ns.iter().enumerate() {
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

    // One node wins the election and serves on the virtual IP.
    let vip_url = format!("http://{VIP}:8080/");
    let started = Instant::now();
    let active = poll(
        "a node serving on the virtual IP",
        Duration::from_secs(20),
        &diag,
        || async {
            let holders = vip_holders(&node_ns).await;
            if holders.len() != 1 {
                return None;
            }
            let (status, node) = request(&client_ns, &vip_url).await?;
            (status == 200 && holders[0].ends_with(&node)).then_some(node)
        },
    )
    .await;
    eprintln!("{active} holds {VIP} after {:?}", started.elapsed());
    for _ in 0..5 {
        assert_eq!(
            request(&client_ns, &vip_url).await,
            Some((200, active.clone()))
        );
    }
    let (active_idx, standby_idx) = if active == NODES[0].0 { (0, 1) } else { (1, 0) };
    let standby = NODES[standby_idx].0;

    // SIGKILL the active node's gatehouse: no draining, no 503 — only the health check
    // failing tells keepalived.
    gatehouses[active_idx].start_kill().unwrap();
    let failover = until_served_by(
        &client_ns,
        &vip_url,
        standby,
        Instant::now(),
        Duration::from_secs(15),
        &diag,
    )
    .await;
    eprintln!(
        "failover: {standby} served on {VIP} {:?} after the SIGKILL of {active}'s gatehouse \
         ({} failed requests; last failure → first success {:?})",
        failover.took, failover.failures, failover.last_failure,
    );
    assert!(
        failover.took < crate::support::patient(Duration::from_secs(10)),
        "failover took {:?}",
        failover.took
    );
    assert_eq!(
        vip_holders(&node_ns).await,
        [node_ns[standby_idx].clone()],
        "{VIP} must have moved to {standby} only"
    );
    for _ in 0..5 {
        assert_eq!(
            request(&client_ns, &vip_url).await,
            Some((200, standby.to_string()))
        );
    }

    // The old active comes back as the standby; with nopreempt the address stays put.
    let backup_entries = log_count(dir.path(), active_idx + 1, "Entering BACKUP STATE");
    gatehouses[active_idx] = spawn_gatehouse(&node_ns[active_idx], &active, dir.path());
    poll(
        &format!("{active}'s keepalived back in BACKUP state"),
        Duration::from_secs(15),
        &diag,
        || async {
            (log_count(dir.path(), active_idx + 1, "Entering BACKUP STATE") > backup_entries)
                .then_some(())
        },
    )
    .await;
    assert_eq!(
        vip_holders(&node_ns).await,
        [node_ns[standby_idx].clone()],
        "nopreempt: {VIP} stays on {standby} when {active} recovers"
    );
    assert_eq!(
        request(&client_ns, &vip_url).await,
        Some((200, standby.to_string()))
    );

    // Planned switchover, as docs/operations.md says: stop keepalived on the node holding
    // the address first (it hands the address over at once), then gatehouse there.
    let pid = keepaliveds[standby_idx].id().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let planned = until_served_by(
        &client_ns,
        &vip_url,
        &active,
        Instant::now(),
        Duration::from_secs(10),
        &diag,
    )
    .await;
    eprintln!(
        "planned switchover: {active} served on {VIP} {:?} after keepalived on {standby} was \
         stopped ({} failed requests)",
        planned.took, planned.failures,
    );
    assert!(
        planned.took < crate::support::patient(Duration::from_secs(3)),
        "switchover took {:?}",
        planned.took
    );
    assert_eq!(vip_holders(&node_ns).await, [node_ns[active_idx].clone()]);
}
