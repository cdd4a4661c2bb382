"""Benchmark: one notice to N confirmed subscribers through a local SMTP server.

(a) the floor: a bare smtplib loop over one connection sending each subscriber a small
    two-part mail built with EmailMessage — no database, no templates, no tokens;
(b) the project: `enqueue_for_update` (one INSERT … SELECT) and then `deliver_due` (claims,
    renders both parts in the subscriber's language, signs the links, sends, marks each row).

Both send to the same aiosmtpd server in this process, which only counts. Result: the time
of each and the ratio (b)/(a), on SQLite and PostgreSQL.

    .venv/bin/python bench/notify.py [--subscribers N] [--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import smtplib
import socket
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

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        self.count += 1
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    counter = Counter()
    port = free_port()
    controller = Controller(counter, hostname="127.0.0.1", port=port)
    controller.start()
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}")
    try:
        base = floor(port, args.subscribers)
        print(f"floor (bare smtplib loop): {args.subscribers} mails in {base:.2f} s")
        for db in args.databases.split(","):
            with tempfile.TemporaryDirectory() as tmp:
                if db == "sqlite":
                    url = f"sqlite:///{Path(tmp) / 'bench.db'}"
                    enq, dlv, sent = project(url, Path(tmp), port, args.subscribers)
                else:
                    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
                    name = f"bench_notify_{uuid.uuid4().hex[:8]}"
                    with admin.connect() as conn:
                        conn.execute(text(f'CREATE DATABASE "{name}"'))
                    try:
                        url = admin.url.set(database=name).render_as_string(hide_password=False)
                        enq, dlv, sent = project(url, Path(tmp), port, args.subscribers)
                    finally:
                        with admin.connect() as conn:
                            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                        admin.dispose()
            print(f"{db}: enqueue {enq:.2f} s, deliver_due {dlv:.2f} s for {sent} mails; "
                  f"ratio to floor {dlv / base:.1f}x")
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
