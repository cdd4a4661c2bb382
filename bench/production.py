"""Production rehearsal on 127.0.0.1: PostgreSQL, gunicorn workers, schedulers, load and faults.

Not part of the test suite: it needs both cores and it restarts the local PostgreSQL.

    .venv/bin/python bench/production.py load    [--workers 4] [--connections 100] [--duration 60]
    .venv/bin/python bench/production.py faults  [--workers 4]

`load`: the full demo in a PostgreSQL database of its own, gunicorn with --workers, then wrk
with --connections for --duration seconds on the overview, a municipality page, the ratings
API and /metrics (one mixed run, requests taken in turn), then each alone. Reports requests/s,
median and p99 latency and errors; the goal is 0 errors.

`faults`: under a steady load of 20 connections, (1) kill -9 one gunicorn worker mid-run,
(2) restart PostgreSQL mid-run (pg_ctlcluster), (3) start two schedulers together and kill
the active one. Reports what the clients saw and whether service came back.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, machine  # noqa: E402
from web import to_ms  # noqa: E402  (the wrk latency parser of bench/web.py)

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG = "postgresql://postgres@127.0.0.1:5432"
DB = "monitor_production_bench"
MIX_LUA = """
paths = {"/", "/kommune/101", "/api/v1/ratings", "/metrics"}
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1])
end
"""


def sh(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=True, text=True, capture_output=True, **kw)  # type: ignore[call-overload]


def setup(work: Path) -> dict[str, str]:
    """A PostgreSQL database with the full demo, rated; returns the environment to use it."""
    sh("psql", f"{PG}/postgres", "-qc", f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    sh("psql", f"{PG}/postgres", "-qc", f"CREATE DATABASE {DB}")
    config = work / "config.toml"
    config.write_text(f'[database]\nurl = "{PG}/{DB}"\n[demo]\nenabled = false\nfeed_path = "{work}/feed.rss"\n'
                      f'[collectors.calls]\ninbox = "{work}/inbox"\n[mail]\noutbox_dir = "{work}/outbox"\n'
                      f'[[notices.sources]]\nname = "Demo"\nurl = "{work}/feed.rss"\nkind = "feed"\n'
                      f'[scheduler]\nheartbeat_seconds = 1.0\nstale_after_seconds = 5.0\n')
    env = {**os.environ, "MONITOR_CONFIG": str(config), "MONITOR_SECRET_KEY": "bench"}
    env.pop("MONITOR_DATABASE_URL", None)
    t = time.perf_counter()
    for cmd in (["demo", "--size", "full", "--seed", "1"], ["rate"], ["collect", "notices"]):
        sh(str(BIN / "monitor"), *cmd, env=env, cwd=work)
    print(f"full demo on PostgreSQL loaded and rated in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    return env


def start_gunicorn(env: dict[str, str], work: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    genv = {**env, "MONITOR_BIND": f"127.0.0.1:{port}", "MONITOR_WORKERS": str(workers),
            "PROMETHEUS_MULTIPROC_DIR": str(work / "prometheus")}
    with (work / "gunicorn.log").open("ab") as log:
        proc = subprocess.Popen([str(BIN / "gunicorn"), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
                                 "monitor:create_app()"], env=genv, cwd=work, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(base + "/readyz", timeout=2)
            break
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    for path in ("/", "/kommune/101", "/api/v1/ratings", "/metrics"):  # warm every worker's caches a little
        for _ in range(workers * 2):
            urllib.request.urlopen(base + path, timeout=60).read()
    return proc, base


def wrk_run(url: str, seconds: int, connections: int, script: str | None = None) -> dict[str, float]:
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if script:
        args += ["-s", script]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    latency = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)\s*$", out, re.M))
    if "99" not in latency:
        raise RuntimeError(f"wrk printed no latency distribution:\n{out}")
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"requests": total, "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
            "median": to_ms(latency["50"]), "p99": to_ms(latency["99"]),
            "non2xx": int(bad.group(1)) if bad else 0, "socket_errors": sum(map(int, sock.groups())) if sock else 0}


def load(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-prod-"))
    env = setup(work)
    proc, base = start_gunicorn(env, work, args.workers)
    script = work / "mix.lua"
    script.write_text(MIX_LUA)
    try:
        rows = [("mix: /, /kommune/101, /api/v1/ratings, /metrics", wrk_run(base + "/", args.duration,
                                                                              args.connections, str(script)))]
        for path in ("/", "/kommune/101", "/api/v1/ratings", "/metrics"):
            rows.append((path, wrk_run(base + path, max(10, args.duration // 4), args.connections)))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    print(f"\nMachine: {machine()}. gunicorn {args.workers} workers × 4 threads, PostgreSQL, full demo; "
          f"wrk -t2 -c{args.connections}.\n")
    print("| target | requests | req/s | median ms | p99 ms | non-2xx | socket errors (timeout after 10 s) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in rows:
        print(f"| {name} | {r['requests']:.0f} | {r['rps']:.0f} | {r['median']:.1f} | {r['p99']:.1f} | "
              f"{r['non2xx']:.0f} | {r['socket_errors']:.0f} |")


def background_load(url: str, seconds: int, out: dict[str, dict[str, float]], key: str) -> threading.Thread:
    t = threading.Thread(target=lambda: out.__setitem__(key, wrk_run(url, seconds, 20)))
    t.start()
    return t


def workers_of(master: int) -> list[int]:
    return [int(p) for p in sh("pgrep", "-P", str(master)).stdout.split()]


def faults(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    env = setup(work)
    proc, base = start_gunicorn(env, work, args.workers)
    results: dict[str, dict[str, float]] = {}
    lines = []
    try:
        # 1. kill -9 of a worker mid-run
        t = background_load(base + "/api/v1/ratings", 20, results, "kill")
        time.sleep(8)
        victim = workers_of(proc.pid)[0]
        os.kill(victim, signal.SIGKILL)
        t.join()
        after = [urllib.request.urlopen(base + "/api/v1/ratings", timeout=30).status for _ in range(40)]
        r = results["kill"]
        lines.append(f"| kill -9 of one of {args.workers} workers mid-run | {r['requests']:.0f} | "
                     f"{r['non2xx'] + r['socket_errors']:.0f} | {after.count(200)}/40 OK; "
                     f"{len(workers_of(proc.pid))} workers again |")
        # 2. PostgreSQL restart mid-run
        cluster = sorted(os.listdir("/etc/postgresql"))[0]
        t = background_load(base + "/api/v1/components", 30, results, "pg")
        time.sleep(8)
        sh("pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "restart")
        t.join()
        after = []
        for _ in range(40):
            try:
                after.append(urllib.request.urlopen(base + "/api/v1/components", timeout=30).status)
            except urllib.error.HTTPError as e:
                after.append(e.code)
        r = results["pg"]
        lines.append(f"| PostgreSQL restarted mid-run | {r['requests']:.0f} | {r['non2xx'] + r['socket_errors']:.0f} "
                     f"(503 while it was down) | {after.count(200)}/40 OK right after |")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    # 3. two schedulers started together; kill the active one
    logs = [work / "sched-a.log", work / "sched-b.log"]
    procs = []
    for log in logs:
        with log.open("wb") as out:
            procs.append(subprocess.Popen([str(BIN / "monitor"), "scheduler"], env=env, cwd=work, stdout=out,
                                          stderr=subprocess.STDOUT))
    try:
        time.sleep(10)
        active = [i for i, log in enumerate(logs) if "scheduler running" in log.read_text()]
        start = time.monotonic()
        procs[active[0]].kill()
        other = 1 - active[0]
        while "scheduler running" not in logs[other].read_text() and time.monotonic() - start < 60:
            time.sleep(0.1)
        took = time.monotonic() - start
        lines.append(f"| two schedulers started together, active one killed | – | – | {len(active)} ran jobs; "
                     f"the other took over after {took:.1f} s |")
    finally:
        for p in procs:
            p.kill()
            p.wait()
    print(f"\nMachine: {machine()}. gunicorn {args.workers} workers, PostgreSQL, full demo, wrk -c20.\n")
    print("| fault | requests during | errors seen by clients | after |")
    print("|---|---:|---:|---|")
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    lp = sub.add_parser("load")
    lp.add_argument("--workers", type=int, default=4)
    lp.add_argument("--connections", type=int, default=100)
    lp.add_argument("--duration", type=int, default=60)
    fp = sub.add_parser("faults")
    fp.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()
    (load if args.what == "load" else faults)(args)


if __name__ == "__main__":
    main()
