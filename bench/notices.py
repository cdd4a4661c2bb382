"""Benchmark: one poll of a 50-item Statuspage-shaped RSS feed through the notice collector.

The feed is generated from the shape of a real Statuspage history feed
(tests/fixtures/statuspage-parse-history.rss): one item per incident or maintenance, its
timeline as `<p><small>time</small><br><strong>Status</strong> - text</p>` paragraphs,
newest first, and an "… affected: A, B." line. Every poll goes through the real collector
(`poll_sources`: run record, source row, conditional GET, `parse_feed`, `store_notices`)
over an httpx transport that serves the bytes from memory, so no network is measured.

- floor: `feedparser.parse` of the same bytes alone;
- unchanged, not modified: a re-poll answered 304 (the cheap path);
- unchanged, read again: a re-poll answered 200 with the same bytes (the server ignores
  `If-None-Match`), so the whole document is parsed and compared and nothing is written;
- changed: one new update in one item, each poll one more.

The parse alone (`parse_feed`: feedparser plus the timelines, no database) is shown beside
them so the database's share can be read off. Medians of `--repeat` polls each.

    .venv/bin/python bench/notices.py [--items 50] [--repeat 30] [--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.utils
import html
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path

import feedparser
import httpx
from sqlalchemy import create_engine, func, select, text

from monitor.collectors.notices.feedparse import parse_feed
from monitor.collectors.notices.poll import SourceSpec
from monitor.db import make_engine, session_factory
from monitor.migrate import upgrade
from monitor.models import NoticeUpdate
from monitor.notify.collect import poll_sources
from monitor.settings import from_mapping

PG_ADMIN_URL = os.environ.get("MONITOR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
FEED_URL = "https://status.example.dk/history.rss"
COPENHAGEN = dt.timezone(dt.timedelta(hours=1), "CET")
COMPONENTS = ["Serviceplatformen", "Beskedfordeler", "Fælleskommunal Adgangsstyring for brugere",
              "Organisation", "Klassifikation", "Sags- og Dokumentindeks", "Ydelsesindeks"]
INCIDENT = [("Løst", "Fejlen er rettet, og svartiderne er normale igen."),
            ("Overvåger", "En rettelse er sat i drift; vi følger svartiderne."),
            ("Identificeret", "Årsagen er fundet i en af platformens load balancere."),
            ("Undersøger", "Vi undersøger forsinkede svar på kald til {c}.")]
MAINTENANCE = [("Completed", "The scheduled maintenance has been completed."),
               ("In progress", "Scheduled maintenance is currently in progress."),
               ("Scheduled", "{c} will be unavailable while the servers are patched.")]


def _paragraph(at: dt.datetime, word: str, body: str) -> str:
    return (f"<p><small>{at.strftime('%b %d, %H:%M')} CET</small><br>"
            f"<strong>{word}</strong> - {html.escape(body)}</p>")


def make_feed(items: int, extra_updates: int = 0, start: dt.datetime | None = None) -> bytes:
    """A Statuspage history feed of `items` items; the newest gains `extra_updates` "Opdatering"s."""
    start = start or dt.datetime(2020, 11, 26, 12, 0, tzinfo=COPENHAGEN)
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
             'xmlns:dc="http://purl.org/dc/elements/1.1/">\n  <channel>\n'
             "    <title>Driftstatus - Incident History</title>\n"
             "    <link>https://status.example.dk</link>\n"
             "    <description>Driftstatus - Incident History</description>\n"
             f"    <pubDate>{email.utils.format_datetime(start)}</pubDate>\n"]
    for i in range(items):
        component = COMPONENTS[i % len(COMPONENTS)]
        maintenance = i % 5 == 4
        # Most incidents are resolved, with two to four updates; the newest is still open.
        steps = MAINTENANCE if maintenance else [INCIDENT[0], *INCIDENT[1 + i % 3:]] if i else INCIDENT[3:]
        first = start - dt.timedelta(days=2 * i, hours=3)
        paragraphs = []
        newest = first + dt.timedelta(minutes=20 * (len(steps) - 1))
        if i == 0:
            # The newest incident is still open: the "changed" polls add to its timeline.
            for k in range(extra_updates, 0, -1):
                paragraphs.append(_paragraph(first + dt.timedelta(minutes=5 * k), "Opdatering",
                                             f"Statusopdatering nummer {k}: vi arbejder fortsat på sagen."))
            newest = first + dt.timedelta(minutes=5 * extra_updates)
        for n, (word, body) in enumerate(steps):
            at = first + dt.timedelta(minutes=20 * (len(steps) - 1 - n))
            paragraphs.append(_paragraph(at, word, body.format(c=component)))
        lead = "This scheduled maintenance affected" if maintenance else "Denne hændelse berørte"
        paragraphs.append(f"<p><strong>{lead}: {component}.</strong></p>")
        title = (f"Planlagt vedligeholdelse af {component}" if maintenance
                 else f"Forsinkede svar fra {component}")
        link = f"https://status.example.dk/incidents/{i:04d}bench{i * 7919 % 10007:05d}"
        parts.append(f"    <item>\n      <title>{html.escape(title)}</title>\n"
                     f"      <description>\n{html.escape(''.join(paragraphs))}      </description>\n"
                     f"      <pubDate>{email.utils.format_datetime(newest)}</pubDate>\n"
                     f"      <link>{link}</link>\n      <guid>{link}</guid>\n    </item>\n")
    parts.append("  </channel>\n</rss>\n")
    return "".join(parts).encode()


class Upstream:
    """The status page in memory: the current bytes, an ETag, 304 unless told to ignore it."""

    def __init__(self, content: bytes) -> None:
        self.content = content
        self.honour_validators = True

    def handler(self, request: httpx.Request) -> httpx.Response:
        etag = f'"{hash(self.content) & 0xFFFFFFFF:x}"'
        if self.honour_validators and request.headers.get("If-None-Match") == etag:
            return httpx.Response(304, headers={"ETag": etag})
        return httpx.Response(200, content=self.content, headers={"ETag": etag,
                                                                   "Content-Type": "application/rss+xml"})


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    """The seconds each of `repeat` calls of `fn` took."""
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def run_database(url: str, tmp: Path, items: int, repeat: int,
                 beside: dict[str, Callable[[bytes], object]]) -> dict[str, list[float]]:
    """Every collector case on one database; the times of each poll in seconds.

    Each poll is preceded by one run of each of `beside` (the floor and the parse alone, on
    the bytes of that poll), timed under the same load; their times are returned too.
    """
    settings = from_mapping({"database": {"url": url}}, str(tmp), environ={"MONITOR_SECRET_KEY": "bench"})
    engine = make_engine(url)
    upgrade(engine, settings)
    spec = SourceSpec("Driftstatus", FEED_URL, "feed")
    upstream = Upstream(make_feed(items))
    client = httpx.Client(transport=httpx.MockTransport(upstream.handler))
    expected: list[str] = []

    times: dict[str, list[float]] = {name: [] for name in beside}

    def poll() -> None:
        for name, fn in beside.items():
            times[name] += timed(partial(fn, upstream.content), 1)
        t = time.perf_counter()
        [outcome] = poll_sources(engine, settings, [spec], client=client)
        poll_times.append(time.perf_counter() - t)
        assert outcome.ok and outcome.summary.startswith(expected[0]), (outcome.lines(), expected[0])

    poll_times: list[float] = []

    def case(name: str, summary: str, polls: int, before: Callable[[int], None] = lambda k: None) -> None:
        expected[:] = [summary]
        poll_times.clear()
        for k in range(1, polls + 1):
            before(k)
            poll()
        times[name] = list(poll_times)

    def change(k: int) -> None:
        upstream.content = make_feed(items, extra_updates=k)

    try:
        case("backfill", f"{items} new notice(s)", 1)
        case("not_modified", "not modified", repeat)
        upstream.honour_validators = False
        case("unchanged", "0 new notice(s), 0 new update(s), 0 edited", repeat)
        case("changed", "0 new notice(s), 1 new update(s), 0 edited", repeat, change)
        with session_factory(engine)() as session:
            stored = session.scalar(select(func.count()).select_from(NoticeUpdate))
        print(f"  {url.split(':')[0]}: {stored} updates stored after {repeat} changed polls", file=sys.stderr)
    finally:
        client.close()
        engine.dispose()
    return times


def on_postgresql(fn: Callable[[str], dict[str, list[float]]]) -> dict[str, list[float]]:
    """`fn` run on a PostgreSQL database of its own, created and dropped here."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"bench_notices_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        return fn(admin.url.set(database=name).render_as_string(hide_password=False))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"nproc {nproc}, {model}; CPython {platform.python_version()}, feedparser {feedparser.__version__}; "
            f"load average {load}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--databases", default="sqlite,postgresql")
    args = ap.parse_args()
    content = make_feed(args.items)
    now = dt.datetime.now(dt.UTC)
    parsed = parse_feed(content, now)
    assert parsed.clean and len(parsed.notices) == args.items, parsed.problems
    updates = sum(len(n.updates) for n in parsed.notices)
    print(f"feed: {args.items} items, {updates} updates, {len(content):,} bytes", file=sys.stderr)
    beside: dict[str, Callable[[bytes], object]] = {"floor": feedparser.parse,
                                                     "parse_only": lambda b: parse_feed(b, now)}
    results: dict[str, dict[str, list[float]]] = {}
    for db in args.databases.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            if db == "sqlite":
                results[db] = run_database(f"sqlite:///{Path(tmp) / 'bench.db'}", Path(tmp), args.items, args.repeat,
                                           beside)
            elif db == "postgresql":
                results[db] = on_postgresql(lambda url: run_database(url, Path(tmp), args.items, args.repeat,
                                                                     beside))
            else:
                sys.exit(f"unknown database {db!r}: sqlite or postgresql")
    print(f"\nCommand: .venv/bin/python bench/notices.py --items {args.items} --repeat {args.repeat} "
          f"--databases {args.databases}")
    print(f"Machine: {machine()}\n")
    print(f"Feed: {args.items} items, {updates} updates, {len(content) / 1024:.0f} kB. "
          f"Medians of {args.repeat} polls (the backfill: one poll); before every poll the floor and "
          "the parse alone ran once on the same bytes, and their medians over all polls are shown.\n")
    floor = statistics.median(t for times in results.values() for t in times["floor"])
    parse_only = statistics.median(t for times in results.values() for t in times["parse_only"])
    print("| case | database | median ms | × floor |")
    print("|---|---|---:|---:|")
    print(f"| floor: `feedparser.parse` of the bytes | – | {floor * 1000:.1f} | 1.00 |")
    print(f"| `parse_feed` alone (feedparser + timelines, no database) | – | {parse_only * 1000:.1f} | "
          f"{parse_only / floor:.2f} |")
    labels = [("backfill", f"first poll: backfill, {args.items} notices stored"),
              ("not_modified", "unchanged, answered 304 (not modified)"),
              ("unchanged", "unchanged, read again: full parse + compare"),
              ("changed", "changed: one new update in one item")]
    for key, label in labels:
        for db, times in results.items():
            median = statistics.median(times[key])
            print(f"| {label} | {db} | {median * 1000:.1f} | {median / floor:.2f} |")


if __name__ == "__main__":
    main()
