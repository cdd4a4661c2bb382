"""Helpers for the subscription, outbox, mail and feed tests: a real SMTP server, notices, subscribers."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from sqlalchemy.orm import Session

from monitor.models import Notice, NoticeComponent, NoticeSource, NoticeUpdate, Subscriber, Subscription


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """What the in-process SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.raw: list[bytes] = []  # exactly as received after DATA
        self.options: list[list[str]] = []  # MAIL FROM parameters, e.g. SMTPUTF8
        self.refuse: set[str] = set()  # recipients answered with 550

    async def handle_RCPT(self, server: object, session: object, envelope: object, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)  # type: ignore[attr-defined]
        return "250 OK"

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        self.recipients.append(list(envelope.rcpt_tos))  # type: ignore[attr-defined]
        raw = envelope.original_content  # type: ignore[attr-defined]
        self.raw.append(raw)
        self.options.append(list(envelope.mail_options))  # type: ignore[attr-defined]
        self.messages.append(email.message_from_bytes(raw, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m, r in zip(self.messages, self.recipients, strict=True) if address in r]


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1 that can be stopped and started again on the same port."""

    def __init__(self, smtputf8: bool = False) -> None:
        self.port = free_port()
        self.inbox = Inbox()
        self.smtputf8 = smtputf8
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port,
                                     enable_SMTPUTF8=self.smtputf8)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@contextmanager
def running_smtp(smtputf8: bool = False) -> Iterator[SmtpServer]:
    """An SMTP server for one test (stopped at the end even when the test stopped it already)."""
    server = SmtpServer(smtputf8)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def smtp_section(server: SmtpServer) -> dict:
    return {"backend": "smtp", "smtp_host": "127.0.0.1", "smtp_port": server.port}


class WebhookReceiver:
    """A local HTTP endpoint that records JSON posts and answers with the next queued status."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.bodies.append(body)
                receiver.headers.append(dict(self.headers.items()))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook/secret"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def add_notice(session: Session, *, components: tuple[str, ...] = ("serviceplatformen",),
               title: str = "Forsinkelser på Serviceplatformen", kind: str = "incident",
               status: str = "investigating", body: str = "<p>Vi undersøger forsinkede svar.</p>",
               at: dt.datetime | None = None, upstream_id: str = "inc-1", backfilled: bool = False) -> NoticeUpdate:
    """A notice with one update, flushed (ids set), not committed."""
    at = at or dt.datetime(2020, 11, 28, 9, 0, tzinfo=dt.UTC)
    source = session.query(NoticeSource).filter_by(name="test").one_or_none()
    if source is None:
        source = NoticeSource(name="test", url="file:///status.rss", kind="feed")
        session.add(source)
        session.flush()
    notice = Notice(source_id=source.id, upstream_id=upstream_id, kind=kind, title=title, status=status,
                    url=f"https://status.example/incidents/{upstream_id}", started_at=at, updated_at=at,
                    backfilled=backfilled)
    notice.components = [NoticeComponent(component_slug=s) for s in components]
    session.add(notice)
    session.flush()
    update = NoticeUpdate(notice_id=notice.id, status=status, at=at, body_html=body, backfilled=backfilled)
    session.add(update)
    session.flush()
    return update


def add_update(session: Session, update: NoticeUpdate, status: str, minutes: int,
               body: str = "<p>Løst.</p>") -> NoticeUpdate:
    """A later update of the same notice."""
    new = NoticeUpdate(notice_id=update.notice_id, status=status, at=update.at + dt.timedelta(minutes=minutes),
                       body_html=body)
    session.add(new)
    session.flush()
    return new


def add_subscriber(session: Session, address: str, components: tuple[str, ...] = (), *, language: str = "da",
                   channel: str = "email", confirmed: bool = True, unsubscribed: bool = False) -> Subscriber:
    """A subscriber as if confirmed through the pages (components empty: all)."""
    now = dt.datetime(2020, 11, 1, tzinfo=dt.UTC)
    sub = Subscriber(channel=channel, address=address, language=language, all_components=not components,
                     confirmed_at=now if confirmed else None, unsubscribed_at=now if unsubscribed else None,
                     token_version=0, created_at=now)
    sub.subscriptions = [Subscription(component_slug=s) for s in components]
    session.add(sub)
    session.flush()
    return sub


def parts(msg: EmailMessage) -> tuple[str, str]:
    """The plain-text and HTML bodies."""
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def link(msg: EmailMessage, kind: str) -> str:
    """The path of the first link of `kind` (confirm | manage | u) in the plain-text part."""
    text, _ = parts(msg)
    found = re.search(rf"https?://[^\s/]+(/{kind}/[A-Za-z0-9_.\-]+)", text)
    assert found, f"no /{kind}/ link in:\n{text}"
    return found.group(1)


def eml_files(folder: Path) -> list[EmailMessage]:
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for p in sorted(folder.glob("*.eml"))]
