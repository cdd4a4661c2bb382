"""Benchmark: one notice to N confirmed subscribers through a local SMTP server.

(a) the floor: bare smtplib sending the very bytes the project sends, over as many SMTP
    connections as the project opens, with the same envelopes and the same mails on each
    connection: no database, no templates, no tokens, nothing built. The bytes are captured
    from one untimed run of the project before the rounds (the server keeps every message,
    and which connection brought it);
(b) the project: `enqueue_for_update` (one INSERT … SELECT) and then `deliver_due` (claims,
    renders both parts in the subscriber's language, signs the links, sends, marks each row).

Both send to the same aiosmtpd server, in a process of its own (as a mail server is: in this
process it would compete for the GIL with the sender, and inflate every wait), which counts the connections and the
mails (and checks that no recipient got the notice twice, and that each timed run of the
project sent as many bytes over as many connections as the floor). The runs are interleaved —
floor, SQLite, PostgreSQL, floor, … for `--rounds` rounds — so that the load of a shared
machine falls on all alike; the result is the median of each, the range of runs, and the
ratio of the medians.

    .venv/bin/python bench/notify.py [--subscribers N] [--databases sqlite,postgresql] [--rounds R]
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import multiprocessing
import os
import platform
import smtplib
import socket
import statistics
import tempfile
import time
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NamedTuple

from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, insert, text
from sqlalchemy.orm import Session

from monitor.db import make_engine
from monitor.migrate import upgrade
from monitor.models import Notice, NoticeComponent, NoticeSource, NoticeUpdate, Subscriber
from monitor.notify.outbox import deliver_due, enqueue_for_update
from monitor.settings import from_mapping

PG_ADMIN_URL = os.environ.get("MONITOR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


Mail = tuple[int, str, list[str], bytes]  # (connection, envelope sender, recipients, message bytes)


class Counter:
    """The SMTP server's handler: counts connections (one EHLO each), mails, bytes and recipients."""

    def __init__(self) -> None:
        self.reset()
        self.keep = False  # whether to keep every message (the capture run)

    def reset(self) -> None:
        self.connections = 0
        self.count = 0
        self.bytes = 0
        self.recipients: collections.Counter[str] = collections.Counter()
        self.kept: list[Mail] = []

    async def handle_EHLO(self, server: object, session: object, envelope: object, hostname: str,  # noqa: N802
                          responses: list[str]) -> list[str]:
        self.connections += 1
        session.host_name = hostname  # type: ignore[attr-defined]  # what aiosmtpd does without a hook
        session.bench_connection = self.connections  # type: ignore[attr-defined]
        return responses

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        self.count += 1
        content: bytes = envelope.original_content  # type: ignore[attr-defined]
        self.bytes += len(content)
        self.recipients.update(envelope.rcpt_tos)  # type: ignore[attr-defined]
        if self.keep:
            self.kept.append((session.bench_connection, envelope.mail_from,  # type: ignore[attr-defined]
                              list(envelope.rcpt_tos), content))  # type: ignore[attr-defined]
        return "250 OK"


def serve(pipe: Connection, port: int) -> None:
    """The SMTP server's process: aiosmtpd with a `Counter`, answering the parent's questions on `pipe`."""
    counter = Counter()
    controller = Controller(counter, hostname="127.0.0.1", port=port)
    controller.start()
    pipe.send("ready")
    try:
        while True:
            command = pipe.recv()
            if command == "stop":
                break
            if command in ("reset", "keep"):
                counter.reset()
                counter.keep = command == "keep"
                pipe.send(None)
            elif command == "stats":
                doubled = sum(1 for n in counter.recipients.values() if n > 1)
                pipe.send(Stats(counter.connections, counter.count, counter.bytes, len(counter.recipients), doubled))
            elif command == "kept":
                pipe.send(counter.kept)
    finally:
        controller.stop()


class Stats(NamedTuple):
    connections: int
    mails: int
    bytes: int
    recipients: int
    doubled: int


class Server:
    """The SMTP server in a process of its own (as a real one is: it does not share this one's GIL)."""

    def __init__(self, port: int) -> None:
        self.pipe, child = multiprocessing.Pipe()
        self.process = multiprocessing.get_context("spawn").Process(target=serve, args=(child, port), daemon=True)
        self.process.start()
        assert self.pipe.recv() == "ready"

    def ask(self, command: str) -> Any:
        self.pipe.send(command)
        return self.pipe.recv()

    def stop(self) -> None:
        self.pipe.send("stop")
        self.process.join(timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def by_connection(mails: list[Mail]) -> list[list[tuple[str, list[str], bytes]]]:
    """The captured mails grouped as the project sent them: one list per connection, in order."""
    groups: dict[int, list[tuple[str, list[str], bytes]]] = {}
    for connection, sender, recipients, content in mails:
        groups.setdefault(connection, []).append((sender, recipients, content))
    return [groups[c] for c in sorted(groups)]


def floor(port: int, connections: list[list[tuple[str, list[str], bytes]]]) -> float:
    """Send the captured bytes with bare smtplib, one connection per group (EHLO, the mails, QUIT)."""
    start = time.perf_counter()
    for mails in connections:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.ehlo()
            for sender, recipients, content in mails:
                smtp.sendmail(sender, recipients, content)
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
    port = free_port()
    server = Server(port)
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}, "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    databases = args.databases.split(",")
    times: dict[str, list[float]] = {"floor": [], **{db: [] for db in databases}}
    try:
        # The capture: one untimed run of the project, every message kept with its connection.
        server.ask("keep")
        run_project(databases[0], port, args.subscribers)
        connections = by_connection(server.ask("kept"))
        shape = server.ask("stats")
        print(f"captured from {databases[0]}: {shape.mails} mails, {shape.bytes:,} bytes over {shape.connections} "
              "connections", flush=True)
        for round_ in range(1, args.rounds + 1):
            server.ask("reset")
            times["floor"].append(floor(port, connections))
            assert server.ask("stats")[:3] == shape[:3], (server.ask("stats"), shape)
            print(f"round {round_}: floor {times['floor'][-1]:.1f} s", flush=True)
            for db in databases:
                server.ask("reset")
                enq, dlv, sent = run_project(db, port, args.subscribers)
                got = server.ask("stats")
                assert got.doubled == 0 and got.recipients == args.subscribers, got
                # The same number of mails over the same number of connections; the bytes differ only
                # where each run's tokens, boundaries and Message-IDs differ in length (a few per mail).
                assert got[:2] == shape[:2], (got, shape)
                times[db].append(dlv)
                print(f"round {round_}: {db} enqueue {enq:.2f} s, deliver_due {dlv:.1f} s for {sent} mails, "
                      f"{got.bytes:,} bytes over {got.connections} connections, 0 duplicates", flush=True)
    finally:
        server.stop()
    base = statistics.median(times["floor"])
    print(f"\n{args.subscribers} mails, {shape.bytes:,} bytes over {shape.connections} connections, "
          f"median of {args.rounds} interleaved rounds (range):")
    for name, values in times.items():
        median = statistics.median(values)
        each = " · ".join(f"{v / f:.2f}" for v, f in zip(values, times["floor"], strict=True))
        print(f"  {name:<11} {median:7.1f} s  ({min(values):.1f}–{max(values):.1f} s)  ratio to floor "
              f"{median / base:.2f}x  (each round {each})")

if __name__ == "__main__":
    main()
