"""Benchmark: GET /metrics on the full demo against a static registry holding the same series.

The demo (`monitor demo --size full --seed 1`, rated, its feed polled) goes into a SQLite
database in a temporary folder (or `--keep DIR`). Then:

- the project: `GET /metrics` through the Flask test client in this process (the app of
  `monitor serve`; `--http` adds the same over HTTP against `monitor serve --no-scheduler`).
  The first scrape of a fresh app is reported on its own as the cold one (it computes the
  cut-over document and the rating series); then `--scrapes` more, median and p95, taken in
  turns with the floor's (floor, in process, over HTTP, floor, …);
- the floor: prometheus-client's `generate_latest` of a `CollectorRegistry` whose custom
  collector yields the same series as static `GaugeMetricFamily` / `CounterMetricFamily` /
  `HistogramMetricFamily`, re-created from the project's real output parsed with
  `prometheus_client.parser`. No database, no Flask.

Goal: a scrape under 50 ms median and within 3× of the floor, in process and over HTTP.

    .venv/bin/python bench/metrics.py [--scrapes 50] [--http] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import demo_env, serving  # noqa: E402


class StaticCollector(Collector):
    """The families of a parsed exposition, re-created as plain static metric families."""

    def __init__(self, exposition: str) -> None:
        self.families: list[Metric] = [_static(f) for f in text_string_to_metric_families(exposition)]

    def collect(self) -> Iterator[Metric]:
        """The same families on every scrape."""
        return iter(self.families)


def _static(parsed: Metric) -> Metric:
    labels = sorted({k for s in parsed.samples for k in s.labels if k != "le"})
    if parsed.type == "gauge":
        family: Metric = GaugeMetricFamily(parsed.name, parsed.documentation, labels=labels)
        for s in parsed.samples:
            family.add_metric([s.labels[k] for k in labels], s.value)  # type: ignore[attr-defined]
        return family
    if parsed.type == "counter":
        family = CounterMetricFamily(parsed.name, parsed.documentation, labels=labels)
        for s in parsed.samples:
            if s.name.endswith("_total"):
                family.add_metric([s.labels[k] for k in labels], s.value)  # type: ignore[attr-defined]
        return family
    if parsed.type == "histogram":
        family = HistogramMetricFamily(parsed.name, parsed.documentation, labels=labels)
        series: dict[tuple[str, ...], dict[str, object]] = {}
        for s in parsed.samples:
            key = tuple(s.labels[k] for k in labels)
            entry = series.setdefault(key, {"buckets": []})
            if s.name.endswith("_bucket"):
                entry["buckets"].append((s.labels["le"], s.value))  # type: ignore[attr-defined]
            elif s.name.endswith("_sum"):
                entry["sum"] = s.value
        for key, entry in series.items():
            family.add_metric(list(key), entry["buckets"], entry["sum"])  # type: ignore[arg-type]
        return family
    raise ValueError(f"{parsed.name}: type {parsed.type} not expected in /metrics")


def series_of(exposition: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """Every series (sample name and labels) of an exposition, for comparing two of them."""
    return {(s.name, tuple(sorted(s.labels.items())))
            for f in text_string_to_metric_families(exposition) for s in f.samples}


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def in_process(config: Path) -> Callable[[], bytes]:
    """A scrape of a fresh app through the Flask test client; returns the body."""
    os.environ["MONITOR_SECRET_KEY"] = "bench"
    from monitor import create_app
    from monitor.settings import load

    client = create_app(load(config)).test_client()

    def scrape() -> bytes:
        response = client.get("/metrics")
        assert response.status_code == 200, response.status_code
        return response.data

    return scrape


def fetch(base: str) -> Callable[[], bytes]:
    """A scrape of `monitor serve` at `base` over HTTP; returns the body."""
    return lambda: urllib.request.urlopen(base + "/metrics", timeout=60).read()


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"nproc {nproc}, {model}; CPython {platform.python_version()}, "
            f"prometheus-client {metadata.version('prometheus-client')}; load average {load}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scrapes", type=int, default=50)
    ap.add_argument("--http", action="store_true", help="also scrape monitor serve --no-scheduler over HTTP")
    ap.add_argument("--keep", help="use (and keep) this folder for the demo database")
    args = ap.parse_args()
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
        return measure(Path(args.keep), args.scrapes, args.http, kept=True)
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as tmp:
        return measure(Path(tmp), args.scrapes, args.http)


def measure(work: Path, scrapes: int, http: bool, kept: bool = False) -> int:
    """Load the demo into `work` unless it is there, scrape, print the table; 0 when the goal is met."""
    env = demo_env(work)
    scrape = in_process(Path(env["MONITOR_CONFIG"]))
    [cold] = timed(scrape, 1)
    body = scrape().decode()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StaticCollector(body))
    floor_body = generate_latest(registry).decode()
    # The floor must hold what the project serves, series for series (request counts aside,
    # which grow with every scrape).
    ours = {s for s in series_of(body) if not s[0].startswith("fki_http_")}
    theirs = {s for s in series_of(floor_body) if not s[0].startswith("fki_http_")}
    assert ours == theirs, (len(ours), len(theirs), sorted(ours ^ theirs)[:5])
    # Interleaved (floor, in process, over HTTP, floor, …), so that the load of a shared
    # machine falls on all alike.
    floor: list[float] = []
    warm: list[float] = []
    remote: list[float] = []
    with serving(env) if http else contextlib.nullcontext(None) as base:
        remote_cold = timed(fetch(base), 1)[0] if base else None
        for _ in range(scrapes):
            floor += timed(lambda: generate_latest(registry), 1)
            warm += timed(scrape, 1)
            if base:
                remote += timed(fetch(base), 1)
    rows = [("floor: `generate_latest` of a static registry", None, floor),
            ("GET /metrics, Flask test client (in process)", cold, warm)]
    if base:
        rows.append(("GET /metrics over HTTP (`monitor serve --no-scheduler`)", remote_cold, remote))
    n_series = len(series_of(body))
    print(f"\nCommand: .venv/bin/python bench/metrics.py --scrapes {scrapes}{' --http' if http else ''}"
          f"{' --keep DIR' if kept else ''}")
    print(f"Machine: {machine()}\n")
    print(f"Exposition: {n_series} series, {len(body) / 1024:.0f} kB; {scrapes} scrapes after the first.\n")
    print("| scrape | first (cold) | median | p95 | median ÷ floor |")
    print("|---|---:|---:|---:|---:|")
    for label, first, times in rows:
        first_text = "–" if first is None else f"{first:.0f} ms"
        print(f"| {label} | {first_text} | {statistics.median(times):.1f} ms | {p95(times):.1f} ms | "
              f"{statistics.median(times) / statistics.median(floor):.1f}× |")
    floor_ms = statistics.median(floor)
    goal = all(statistics.median(times) < 50 and statistics.median(times) / floor_ms <= 3 for _, _, times in rows[1:])
    print(f"\ngoal (median < 50 ms and within 3× of the floor): {'met' if goal else 'NOT met'}")
    return 0 if goal else 1


if __name__ == "__main__":
    sys.exit(main())
