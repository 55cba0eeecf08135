#!/usr/bin/env python3
"""Footprint of large configs: what a route and a backend cost, and how reloads, start-up,
`gatehouse check`, `/metrics` and `/status` behave with many of them. HAProxy's memory for the
same number of `use_backend` rules and servers is measured beside it when HAProxy is installed.

    benches/load/footprint.py --bin target/release/gatehouse [--sizes 1000,10000,100000]
                              [--reloads 5] [--churn 50] [--churn-size 10000] [--out report.md]

For each size N (routes) the backends are N/10, in pools of 10 (route i uses pool i mod pools):

- per route:   (RSS with N routes over one 2-backend pool - RSS with 10 routes) / (N - 10)
- per backend: (RSS with 10 routes over N/10 backends - RSS with 2 backends) / (N/10 - 2)
- with both:   start-up (spawn to the admin listener answering with generation 1),
               `gatehouse check` wall time, reload time (the process's own `duration_ms`: file
               read to the new snapshot serving; median over --reloads, each changing one
               route), `/metrics` size and render time (median of 5 scrapes, no traffic),
               `/status` size.
- churn:       RSS after the first reload and after --churn reloads at --churn-size routes
               (old snapshots and their pools must be freed).

Loopback only; nothing listens on the backends' ports (no health checks, no traffic). Every
process started is stopped by PID.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROUTE_KINDS = 3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    """User + system CPU seconds of a process: wall times on a shared machine are noisy."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def route_line(i, pool):
    kind = i % ROUTE_KINDS
    if kind == 0:
        match = f'hosts = ["h{i}.scale.test"]'
    elif kind == 1:
        match = f'hosts = ["*.w{i}.scale.test"]'
    else:
        match = f'hosts = ["paths.scale.test"]\npath_prefix = "/p{i}"'
    extra = 'response_headers = { set = { "x-reload" = "0" } }\n' if i == 0 else ""
    return f'[routes.r{i}]\n{match}\npool = "p{pool}"\n{extra}'


def layout(backends):
    """Pools of 10 backends (one pool of 2 for the smallest config)."""
    if backends <= 10:
        return [list(range(backends))]
    return [list(range(p * 10, min(p * 10 + 10, backends))) for p in range((backends + 9) // 10)]


def backend_addr(k):
    return f"127.0.0.{1 + k // 30000}:{30000 + k % 30000}"


def gatehouse_config(routes, backends, http, admin):
    pools = layout(backends)
    out = [
        "[server]\nthreads = 1\ngrace_period = \"0s\"\n[reload]\nwatch = false\n",
        f'[admin]\naddress = "127.0.0.1:{admin}"\n',
        f'[listeners.http]\naddress = "127.0.0.1:{http}"\n',
    ]
    out.extend(route_line(i, i % len(pools)) for i in range(routes))
    for p, members in enumerate(pools):
        addrs = ", ".join(f'{{ address = "{backend_addr(k)}" }}' for k in members)
        out.append(f'[pools.p{p}]\nbackends = [{addrs}]\n')
    return "\n".join(out)


def haproxy_config(routes, backends, http):
    pools = layout(backends)
    out = [
        "global\n    nbthread 1\n    maxconn 1000\n",
        "defaults\n    mode http\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n",
        f"frontend fe\n    bind 127.0.0.1:{http}\n",
    ]
    for i in range(routes):
        p = i % len(pools)
        kind = i % ROUTE_KINDS
        if kind == 0:
            out.append(f"    use_backend p{p} if {{ hdr(host) -i h{i}.scale.test }}\n")
        elif kind == 1:
            out.append(f"    use_backend p{p} if {{ hdr_end(host) -i .w{i}.scale.test }}\n")
        else:
            out.append(f"    use_backend p{p} if {{ hdr(host) -i paths.scale.test }} {{ path_beg /p{i} }}\n")
    for p, members in enumerate(pools):
        out.append(f"backend p{p}\n    balance roundrobin\n")
        out.extend(f"    server s{k} {backend_addr(k)}\n" for k in members)
    return "".join(out)


def get(url, timeout=60):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def wait_for(pred, what, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            v = pred()
            if v is not None:
                return v
        except OSError:
            pass
        time.sleep(0.01)
    raise SystemExit(f"timed out waiting for {what}")


class Run:
    """One gatehouse process on a generated config."""

    def __init__(self, binary, work, routes, backends, tag):
        self.http, self.admin = free_port(), free_port()
        self.path = os.path.join(work, f"{tag}.toml")
        with open(self.path, "w") as f:
            f.write(gatehouse_config(routes, backends, self.http, self.admin))
        self.log = open(os.path.join(work, f"{tag}.log"), "w")
        started = time.monotonic()
        self.proc = subprocess.Popen([binary, "run", "-c", self.path], stdout=self.log, stderr=self.log)
        wait_for(lambda: self.status().get("generation") == 1 or None, f"{tag} to start")
        self.startup_s = time.monotonic() - started
        self.startup_cpu_s = cpu_s(self.proc.pid)
        time.sleep(0.5)  # let the allocator and the runtime settle

    def status(self, query=""):
        return json.loads(get(f"http://127.0.0.1:{self.admin}/status{query}"))

    def rss(self):
        return rss_kib(self.proc.pid)

    def reload(self, n):
        """Changes route r0's response header, SIGHUPs, returns the reload's duration_ms and
        the CPU milliseconds the process spent meanwhile."""
        before = self.status()["generation"]
        cpu_before = cpu_s(self.proc.pid)
        with open(self.path) as f:
            text = f.read()
        text = text.replace(
            text[text.index('"x-reload" = "'):text.index('"', text.index('"x-reload" = "') + 14) + 1],
            f'"x-reload" = "{n}"',
        )
        with open(self.path, "w") as f:
            f.write(text)
        self.proc.send_signal(signal.SIGHUP)
        # The new generation serves a moment before the reload's report is written.
        def reported(s):
            r = s.get("last_reload")
            done = s["generation"] != before and r and r["generation"] == s["generation"]
            return s if done else None
        s = wait_for(lambda: reported(self.status()), "a reload")
        r = s["last_reload"]
        assert r["result"] == "ok", r
        return r["duration_ms"], (cpu_s(self.proc.pid) - cpu_before) * 1000

    def scrape(self):
        times, size = [], 0
        for _ in range(5):
            t = time.monotonic()
            body = get(f"http://127.0.0.1:{self.admin}/metrics")
            times.append((time.monotonic() - t) * 1000)
            size = len(body)
        return size, statistics.median(times)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def haproxy_rss(work, routes, backends, tag):
    haproxy = shutil.which("haproxy")
    if not haproxy:
        return None
    http = free_port()
    path = os.path.join(work, f"{tag}.cfg")
    with open(path, "w") as f:
        f.write(haproxy_config(routes, backends, http))
    log = open(os.path.join(work, f"{tag}.log"), "w")
    proc = subprocess.Popen([haproxy, "-db", "-f", path], stdout=log, stderr=log)
    try:
        def listening():
            socket.create_connection(("127.0.0.1", http), timeout=1).close()
            return True
        wait_for(listening, f"haproxy {tag}")
        time.sleep(0.5)
        return rss_kib(proc.pid)
    finally:
        proc.terminate()
        proc.wait()
        log.close()


def timed_check(binary, path):
    """Wall and CPU seconds of `gatehouse check`."""
    import resource
    t = time.monotonic()
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run([binary, "check", "-c", path], capture_output=True)
    elapsed = time.monotonic() - t
    c2 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (c2.ru_utime - c.ru_utime) + (c2.ru_stime - c.ru_stime)
    if r.returncode != 0:
        raise SystemExit(f"gatehouse check failed: {r.stderr.decode()[-2000:]}")
    return elapsed, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--reloads", type=int, default=5)
    ap.add_argument("--churn", type=int, default=50)
    ap.add_argument("--churn-size", type=int, default=10000)
    ap.add_argument("--out")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    work = tempfile.mkdtemp(prefix="gatehouse-footprint-")
    lines = []

    def emit(s=""):
        print(s, flush=True)
        lines.append(s)

    base = Run(args.bin, work, 10, 2, "base")
    base_rss = base.rss()
    base.stop()
    ha_base = haproxy_rss(work, 10, 2, "haproxy-base")
    emit(f"baseline: gatehouse {base_rss} KiB" + (f", HAProxy {ha_base} KiB" if ha_base else "") + " (10 routes, 2 backends)")
    emit()
    emit("Times are wall (CPU): this machine is shared, so the CPU time is the steadier figure.")
    emit()
    emit("| routes / backends | KiB per route | KiB per backend | HAProxy KiB per rule / server | RSS both | HAProxy RSS both | start-up | check | reload (median) | /metrics | /metrics render | /status |")
    emit("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in sizes:
        b = max(n // 10, 2)
        r = Run(args.bin, work, n, 2, f"routes-{n}")
        per_route = (r.rss() - base_rss) / (n - 10)
        r.stop()
        r = Run(args.bin, work, 10, b, f"backends-{b}")
        per_backend = (r.rss() - base_rss) / (b - 2)
        r.stop()
        ha = "n/a"
        ha_both = None
        if ha_base:
            hr = haproxy_rss(work, n, 2, f"haproxy-routes-{n}")
            hb = haproxy_rss(work, 10, b, f"haproxy-backends-{b}")
            ha_both = haproxy_rss(work, n, b, f"haproxy-both-{n}")
            ha = f"{(hr - ha_base) / (n - 10):.2f} / {(hb - ha_base) / (b - 2):.2f}"
        r = Run(args.bin, work, n, b, f"both-{n}")
        both_rss = r.rss()
        check_s, check_cpu = timed_check(args.bin, r.path)
        reloads = [r.reload(i + 1) for i in range(args.reloads)]
        reload_ms = statistics.median(d for d, _ in reloads)
        reload_cpu = statistics.median(c for _, c in reloads)
        size, render_ms = r.scrape()
        status_size = len(get(f"http://127.0.0.1:{r.admin}/status"))
        startup = r.startup_s
        r.stop()
        emit(
            f"| {n:,} / {b:,} | {per_route:.2f} | {per_backend:.2f} | {ha} | {both_rss / 1024:.1f} MiB | "
            + (f"{ha_both / 1024:.1f} MiB" if ha_both else "n/a")
            + f" | {startup:.2f} s ({r.startup_cpu_s:.2f}) | {check_s:.2f} s ({check_cpu:.2f}) | {reload_ms:.0f} ms ({reload_cpu:.0f}) | "
            f"{size / 1e6:.2f} MB | {render_ms:.1f} ms | {status_size / 1e3:.1f} kB |"
        )
    if args.churn:
        n = args.churn_size
        r = Run(args.bin, work, n, max(n // 10, 2), f"churn-{n}")
        r.reload(1)
        first = r.rss()
        for i in range(args.churn - 1):
            r.reload(i + 2)
        last = r.rss()
        r.stop()
        emit()
        emit(
            f"{args.churn} reloads at {n:,} routes / {n // 10:,} backends: RSS after the first "
            f"{first / 1024:.1f} MiB, after the last {last / 1024:.1f} MiB ({(last / first - 1) * 100:+.1f} %)"
        )
    emit()
    emit(f"Machine: {os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d')}; work dir {work}")
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
