"""What the benchmarks share: a demo database in a folder, `monitor serve` on a free port, the machine."""

from __future__ import annotations

import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MONITOR = [sys.executable, "-m", "monitor"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_env(work: Path, size: str = "full") -> dict[str, str]:
    """The environment of a demo database in `work`: loaded, rated and polled unless it is there."""
    config = work / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{work}/monitor.db"\n[demo]\nfeed_path = "{work}/feed.rss"\n'
                      f'[collectors.calls]\ninbox = "{work}/inbox"\n[mail]\noutbox_dir = "{work}/outbox"\n'
                      f'[[notices.sources]]\nname = "Demo"\nurl = "{work}/feed.rss"\nkind = "feed"\n')
    env = {**os.environ, "MONITOR_CONFIG": str(config), "MONITOR_SECRET_KEY": "bench"}
    env.pop("MONITOR_DATABASE_URL", None)
    if not (work / "monitor.db").exists():
        t = time.perf_counter()
        subprocess.run([*MONITOR, "demo", "--size", size, "--seed", "1"], env=env, check=True, cwd=ROOT)
        subprocess.run([*MONITOR, "rate"], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        subprocess.run([*MONITOR, "collect", "notices"], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        print(f"demo ({size}) loaded, rated and polled in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    return env


@contextmanager
def serving(env: dict[str, str]) -> Iterator[str]:
    """`monitor serve --no-scheduler` on a free port; yields its base URL once it answers."""
    port = free_port()
    server = subprocess.Popen([*MONITOR, "serve", "--port", str(port), "--no-scheduler"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def machine() -> str:
    """Cores, CPU model, Python and the load average, for the tables in docs/performance.md."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores ({cpu}), CPython {platform.python_version()}, load average {load}"


def ratios(values: list[float], floors: list[float]) -> str:
    """Each run's value over the floor of the same round, as "1.10 · 0.95 · 1.32"."""
    return " · ".join(f"{v / f:.2f}" for v, f in zip(values, floors, strict=True))


def median_ratio(values: list[float], floors: list[float]) -> float:
    """The median of the rounds' ratios (each round's value over its own floor)."""
    return statistics.median(v / f for v, f in zip(values, floors, strict=True))
