"""Benchmark: one notice to N confirmed subscribers through a local SMTP server.

(a) the floor: a bare smtplib loop over one connection sending each subscriber a small
    two-part mail built with EmailMessage — no database, no templates, no tokens;
(b) the project: `enqueue_for_update` (one INSERT … SELECT) and then `deliver_due` (claims,
    renders both parts in the subscriber's language, signs the links, sends, marks each row).

Both send to the same aiosmtpd server in this process, which only counts (and checks that
no recipient got the notice twice). The runs are interleaved — floor, SQLite, PostgreSQL,
floor, … for `--rounds` rounds — so that the load of a shared machine falls on all alike;
the result is the median of each, the range of runs, and the ratio of the medians.

    .venv/bin/python bench/notify.py [--subscribers N] [--databases sqlite,postgresql] [--rounds R]
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import platform
import smtplib
import socket
import statistics
import tempfile
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, insert, text
from sqlalchemy.orm import Session

from monitor.db import make_engine
from monitor.migrate import upgrade
from monitor.models import Notice, NoticeComponent, NoticeSource, NoticeUpdate, Subscriber
from monitor.notify.outbox import deliver_due, enqueue_for_update
from monitor.settings import from_mapping

PG_ADMIN_URL = os.environ.get("MONITOR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


class Counter:
    def __init__(self) -> None:
        self.count = 0
        self.recipients: collections.Counter[str] = collections.Counter()

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        self.count += 1
        self.recipients.update(envelope.rcpt_tos)  # type: ignore[attr-defined]
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def floor(port: int, n: int) -> float:
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for i in range(n):
            msg = EmailMessage()
            msg["Subject"] = "[Driftsforstyrrelse] Forsinkelser på Serviceplatformen – Undersøges"
            msg["From"] = "driftstatus@infrastrukturmonitor.invalid"
            msg["To"] = f"leder{i}@kommune{i % 98}.dk"
            msg.set_content("Vi undersøger forsinkede svar.")
            msg.add_alternative("<p>Vi undersøger forsinkede svar.</p>", subtype="html")
            smtp.send_message(msg)
    return time.perf_counter() - start


def project(url: str, tmp: Path, port: int, n: int) -> tuple[float, float, int]:
    settings = from_mapping({"database": {"url": url},
                             "mail": {"backend": "smtp", "smtp_host": "127.0.0.1", "smtp_port": port}},
                            str(tmp), environ={"MONITOR_SECRET_KEY": "bench"})
    engine = make_engine(url)
    upgrade(engine, settings)
    now = dt.datetime.now(dt.UTC)
    with Session(engine) as session, session.begin():
        session.execute(insert(Subscriber), [
            {"channel": "email", "address": f"leder{i}@kommune{i % 98}.dk", "language": "da" if i % 5 else "en",
             "all_components": True, "confirmed_at": now, "token_version": 0, "created_at": now}
            for i in range(n)])
        source = NoticeSource(name="bench", url="file:///x", kind="feed")
        session.add(source)
        session.flush()
        notice = Notice(source_id=source.id, upstream_id="1", kind="incident", status="investigating",
                        title="Forsinkelser på Serviceplatformen", started_at=now, updated_at=now)
        notice.components = [NoticeComponent(component_slug="serviceplatformen")]
        session.add(notice)
        session.flush()
        update = NoticeUpdate(notice_id=notice.id, status="investigating", at=now,
                              body_html="<p>Vi undersøger forsinkede svar.</p>")
        session.add(update)
        session.flush()
        start = time.perf_counter()
        queued = enqueue_for_update(session, update)
        enqueue_seconds = time.perf_counter() - start
    start = time.perf_counter()
    report = deliver_due(engine, settings)
    deliver_seconds = time.perf_counter() - start
    engine.dispose()
    assert queued == n and report.sent == n, (queued, report.summary())
    return enqueue_seconds, deliver_seconds, report.sent


def run_project(db: str, port: int, n: int) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        if db == "sqlite":
            return project(f"sqlite:///{Path(tmp) / 'bench.db'}", Path(tmp), port, n)
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        name = f"bench_notify_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = admin.url.set(database=name).render_as_string(hide_password=False)
            return project(url, Path(tmp), port, n)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    counter = Counter()
    port = free_port()
    controller = Controller(counter, hostname="127.0.0.1", port=port)
    controller.start()
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}, "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    databases = args.databases.split(",")
    times: dict[str, list[float]] = {"floor": [], **{db: [] for db in databases}}
    try:
        for round_ in range(1, args.rounds + 1):
            times["floor"].append(floor(port, args.subscribers))
            print(f"round {round_}: floor {times['floor'][-1]:.1f} s", flush=True)
            for db in databases:
                counter.recipients.clear()
                enq, dlv, sent = run_project(db, port, args.subscribers)
                doubled = sum(1 for n in counter.recipients.values() if n > 1)
                assert doubled == 0 and len(counter.recipients) == args.subscribers, (doubled, len(counter.recipients))
                times[db].append(dlv)
                print(f"round {round_}: {db} enqueue {enq:.2f} s, deliver_due {dlv:.1f} s for {sent} mails, "
                      f"0 duplicates", flush=True)
    finally:
        controller.stop()
    base = statistics.median(times["floor"])
    print(f"\n{args.subscribers} mails, median of {args.rounds} interleaved rounds (range):")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:<11} {median:7.1f} s  ({min(values):.1f}–{max(values):.1f} s)  ratio to floor {median / base:.2f}x")


if __name__ == "__main__":
    main()
