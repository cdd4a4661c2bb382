"""Pages under load: wrk at 10 connections against `monitor serve` on the full demo.

Measures the overview, a municipality page and GET /api/v1/ratings, with /healthz (a trivial
route on the same server) beside them as the floor. The routes run in turns, --repeat rounds
(default 3), so the load of a shared machine falls on all alike; the table gives each route's
median over the rounds and the ratio to the floor in each round. Prints the Markdown for
docs/performance.md. Not part of the test suite.

    .venv/bin/python bench/web.py [--size full] [--duration 20] [--connections 10] [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import demo_env, machine, median_ratio, ratios, serving  # noqa: E402

TARGETS = [("trivial route /healthz", "/healthz"), ("overview /", "/"), ("municipality /kommune/751", "/kommune/751"),
           ("API /api/v1/ratings", "/api/v1/ratings")]


def to_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(url: str, seconds: int, connections: int) -> dict[str, float]:
    """Run wrk --latency against url; median, p99, requests/s and non-2xx count."""
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    latency = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)\s*$", out, re.M))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"median": to_ms(latency["50"]), "p99": to_ms(latency["99"]), "rps": rps,
            "non2xx": float(bad.group(1)) if bad else 0.0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="full", choices=["small", "full"])
    ap.add_argument("--duration", type=int, default=20)
    ap.add_argument("--connections", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", help="use (and keep) this folder for the database instead of a temporary one")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-web-"))
    work.mkdir(parents=True, exist_ok=True)
    env = demo_env(work, args.size)
    with serving(env) as base:
        first = {}
        for _, path in TARGETS:  # the first request fills the cache: report it, then measure steady state
            t = time.perf_counter()
            urllib.request.urlopen(base + path, timeout=300).read()
            first[path] = (time.perf_counter() - t) * 1000
        runs: dict[str, list[dict[str, float]]] = {path: [] for _, path in TARGETS}
        for round_ in range(args.repeat):
            for label, path in TARGETS:
                runs[path].append(wrk(base + path, args.duration, args.connections))
                print(f"round {round_ + 1}: {label} median {runs[path][-1]['median']:.2f} ms", file=sys.stderr)
    floors = [r["median"] for r in runs["/healthz"]]
    print(f"\nmachine: {machine()}; demo {args.size}; wrk -t2 -c{args.connections} -d{args.duration}s --latency; "
          f"monitor serve (waitress, 8 threads), SQLite; {args.repeat} rounds in turns\n")
    print("| route | first request (cache cold) | median | p99 | requests/s | median ÷ trivial route, median | each round | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|---|---:|")
    summary = {}
    for label, path in TARGETS:
        medians = [r["median"] for r in runs[path]]
        summary[path] = {"median": statistics.median(medians), "p99": statistics.median(r["p99"] for r in runs[path])}
        print(f"| {label} | {first[path]:.0f} ms | {summary[path]['median']:.2f} ms | {summary[path]['p99']:.2f} ms | "
              f"{statistics.median(r['rps'] for r in runs[path]):.0f} | {median_ratio(medians, floors):.2f}× | "
              f"{ratios(medians, floors)} | {sum(r['non2xx'] for r in runs[path]):.0f} |")
    goal = all(r["median"] < 25 and r["p99"] < 100 for p, r in summary.items() if p != "/healthz")
    print(f"\ngoal (each page median < 25 ms and p99 < 100 ms): {'met' if goal else 'NOT met'}")
    return 0 if goal else 1


if __name__ == "__main__":
    sys.exit(main())
