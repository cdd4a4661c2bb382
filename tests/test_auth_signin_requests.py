"""Sign-in that nobody can block or probe: no 429 per address, one mail per window, the queue."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import random
import re
import statistics
import time
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from monitor import create_app
from monitor.models import CounterValue, Mail
from monitor.web.limits import limiter
from tests.auth_helpers import add_operator, csrf, deliver_mails, mailed_link
from tests.conftest import make_settings
from tests.notify_helpers import SmtpServer, smtp_section

OPERATOR = "drift@example.dk"


def post_login(client, address: str, token: str | None = None, **headers: str):  # type: ignore[no-untyped-def]
    response = client.post("/login", data={"email": address, "csrf_token": token or csrf(client)}, headers=headers)
    response.close()
    return response


def login_mails(app: Flask) -> int:
    with app.extensions["monitor"].sessions() as session:
        return session.scalar(select(func.count()).select_from(Mail).where(Mail.kind == "login")) or 0


def follow(client, path: str) -> int:  # type: ignore[no-untyped-def]
    return client.post(path, data={"csrf_token": csrf(client, path)}).status_code


def test_asking_for_an_operators_link_from_many_clients_never_answers_429_and_mails_once(
        app: Flask, settings) -> None:
    with app.app_context():
        limiter.reset()
    add_operator(app, OPERATOR)
    answers = set()
    for i in range(20):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"192.0.2.{i + 1}"
        response = post_login(client, OPERATOR)
        assert response.status_code == 200, i
        answers.add(re.sub(r'name="csrf_token" value="[^"]+"', "", response.get_data(as_text=True)))
    assert len(answers) == 1, "the same page every time"
    assert login_mails(app) == 1, "at most one mail per address per login_mail_seconds"
    deliver_mails(app)
    outbox = settings.path(settings.mail.outbox_dir)
    assert len(list(outbox.glob("*.eml"))) == 1
    # The real operator signs in with the link that a stranger's request sent them.
    assert follow(app.test_client(), mailed_link(outbox, OPERATOR)) == 303


def test_a_new_mail_goes_out_once_the_window_is_over_and_the_earlier_link_still_works(
        app: Flask, client, settings, now: dt.datetime) -> None:
    app.config["MONITOR_CLOCK"] = lambda: now
    add_operator(app, OPERATOR)
    outbox = settings.path(settings.mail.outbox_dir)
    post_login(client, OPERATOR)
    deliver_mails(app, now)
    first = mailed_link(outbox, OPERATOR)
    later = now + dt.timedelta(seconds=settings.web.login_mail_seconds + 1)
    app.config["MONITOR_CLOCK"] = lambda: later
    post_login(client, OPERATOR)
    assert login_mails(app) == 2
    deliver_mails(app, later)
    assert len(list(outbox.glob("*.eml"))) == 2
    assert follow(app.test_client(), first) == 303
    assert follow(app.test_client(), mailed_link(outbox, OPERATOR)) == 303


@pytest.mark.parametrize(("hops", "ok", "limited"), [(1, 30, 0), (0, 10, 20)])
def test_forwarded_client_addresses_count_only_behind_a_trusted_proxy(
        tmp_path: Path, sqlite_url: str, hops: int, ok: int, limited: int) -> None:
    app = create_app(make_settings(tmp_path, sqlite_url, web={"trusted_proxies": hops, "rate_limit": "10 per minute"}))
    with app.app_context():
        limiter.reset()
    statuses = []
    for i in range(30):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = "10.0.0.1"  # the proxy
        statuses.append(post_login(client, f"person{i}@example.dk", **{"X-Forwarded-For": f"198.51.100.{i + 1}"})
                        .status_code)
    assert (statuses.count(200), statuses.count(429)) == (ok, limited)
    app.extensions["monitor"].engine.dispose()


class SlowInbox:
    """An SMTP handler that takes a second per message."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        await asyncio.sleep(1)
        self.count += 1
        return "250 OK"


def test_known_and_unknown_addresses_take_the_same_time_with_a_mail_server_that_takes_a_second(
        tmp_path: Path, sqlite_url: str) -> None:
    slow = SmtpServer()
    slow.inbox = SlowInbox()  # type: ignore[assignment]
    slow.start()
    try:
        app = create_app(make_settings(tmp_path, sqlite_url, mail=smtp_section(slow),
                                       web={"rate_limit": "1000 per minute"}))
        operators = [f"operator{i}@example.dk" for i in range(180)]  # fresh addresses for each run:
        for address in operators:                                      # one mail per address and window
            add_operator(app, address)
        client = app.test_client()
        token = csrf(client)
        post_login(client, "warm-up@example.dk", token)
        differences = []
        # A relative comparison within one run, as issue 22 asks; never a limit on the time itself.
        # A leak would make every run differ by the mail server's second; on a shared, loaded
        # machine one run of 120 requests can be off by a few ms from noise alone, so up to three
        # runs are measured and the best must hold, while every run must stay far from a second.
        for attempt in range(3):
            known = operators[60 * attempt:60 * (attempt + 1)]
            requests = [(True, a) for a in known] + [(False, f"stranger{60 * attempt + i}@example.dk") for i in range(60)]
            random.Random(22 + attempt).shuffle(requests)
            took: dict[bool, list[float]] = {True: [], False: []}
            gc.collect()
            gc.disable()  # a collection landing in one request is noise, not what is measured
            try:
                for is_known, address in requests:
                    started = time.perf_counter()
                    response = post_login(client, address, token)
                    took[is_known].append(time.perf_counter() - started)
                    assert response.status_code == 200
            finally:
                gc.enable()
            differences.append(abs(statistics.median(took[True]) - statistics.median(took[False])))
            assert differences[-1] < 0.1, f"medians differ by {differences[-1] * 1000:.1f} ms: a request waited"
            if differences[-1] < 0.002:
                break
        assert min(differences) < 0.002, f"medians differ by {[round(d * 1000, 1) for d in differences]} ms"
        assert slow.inbox.count == 0, "no request waited for the mail server"  # type: ignore[attr-defined]
        assert login_mails(app) == 1 + 120 * len(differences), "every address took the same path into the queue"
        app.extensions["monitor"].engine.dispose()
    finally:
        slow.stop()


def test_a_sign_in_mail_waits_out_a_mail_server_outage_and_is_delivered_when_it_is_back(
        tmp_path: Path, db_url: str, now: dt.datetime) -> None:
    server = SmtpServer()
    app = create_app(make_settings(tmp_path, db_url, mail=smtp_section(server)))
    app.config["MONITOR_CLOCK"] = lambda: now
    add_operator(app, OPERATOR)
    client = app.test_client()
    assert post_login(client, OPERATOR).status_code == 200

    down = deliver_mails(app, now)  # nothing listens on the port yet
    assert (down.sent, down.retry) == (0, 1)

    server.start()
    try:
        back = deliver_mails(app, now + dt.timedelta(minutes=10))
        assert (back.sent, back.failed) == (1, 0)
        [message] = server.inbox.to(OPERATOR)
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        path = re.search(r"https?://[^/\s]+(/login/\S+)", text).group(1)  # type: ignore[union-attr]
        assert follow(client, path) == 303
        assert client.get("/drift").status_code == 200
        with app.extensions["monitor"].sessions() as session:  # counted once, as every mail of the outbox
            assert session.scalar(select(CounterValue.value).where(
                CounterValue.metric == "mail_sent_total", CounterValue.labels == "kind=login")) == 1
    finally:
        server.stop()
        app.extensions["monitor"].engine.dispose()


def test_an_unknown_address_gets_no_mail_and_its_queued_row_holds_no_address(app: Flask, client, settings) -> None:
    post_login(client, "stranger@example.dk")
    report = deliver_mails(app)
    assert (report.sent, report.cancelled) == (0, 1)
    assert not list(settings.path(settings.mail.outbox_dir).glob("*.eml"))
    with app.extensions["monitor"].sessions() as session:
        [row] = session.scalars(select(Mail).where(Mail.kind == "login")).all()
    assert row.address is None and row.status == "cancelled"
