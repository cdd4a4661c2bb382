"""Where links point: the one place that answers "what is this service's public root?".

In order: `[web] base_url` when it is set; else the origin `monitor serve` listens on
(`--host`, `--port`), which the serving process knows (`serving`) and records in the database
(`record_served`), so that `monitor notify` and `monitor scheduler` on the same database link
to it too (`with_recorded`); else `http://127.0.0.1:8000`, where `monitor serve` listens by
default. `settings.web.base_url` is always what the file says; the origin served travels in
`settings.served_url`, and only `root` combines them.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
from urllib.parse import urlsplit

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from .db import session_factory
from .models import Meta
from .settings import Settings

log = logging.getLogger(__name__)

DEFAULT_ROOT = "http://127.0.0.1:8000"  # where `monitor serve` listens without --host and --port
SERVED_KEY = "serve_base_url"  # meta key: the origin `monitor serve` last listened on


def root(settings: Settings) -> str:
    """The public root of every link in mails, feeds and messages, without a trailing slash."""
    return (settings.web.base_url or settings.served_url or DEFAULT_ROOT).rstrip("/")


def served_origin(host: str, port: int) -> str:
    """The origin of `monitor serve --host H --port P` (a wildcard host becomes the machine's name)."""
    shown = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def serving(settings: Settings, host: str, port: int) -> tuple[Settings, str | None]:
    """Settings of a process serving on `host`:`port`, and a one-line warning when `[web] base_url`
    is set to another origin than the one served (right behind a proxy, a mistake otherwise)."""
    served = served_origin(host, port)
    settings = dataclasses.replace(settings, served_url=served)
    if not settings.web.base_url:
        return settings, None
    configured = urlsplit(settings.web.base_url)
    default_port = {"http": 80, "https": 443}.get(configured.scheme)
    if (configured.scheme, configured.hostname, configured.port or default_port) == ("http", host, port):
        return settings, None
    return settings, (f"warning: links in mails and feeds point at [web] base_url {settings.web.base_url}, "
                      f"not at {served} where this serves (right behind a proxy; otherwise unset base_url)")


def record_served(engine: Engine, settings: Settings) -> None:
    """Record the origin served, for the other processes on this database (never raises)."""
    try:
        with session_factory(engine)() as session, session.begin():
            row = session.get(Meta, SERVED_KEY)
            if row is None:
                session.add(Meta(key=SERVED_KEY, value=settings.served_url))
            else:
                row.value = settings.served_url
    except Exception:
        log.exception("could not record the served address")


def with_recorded(settings: Settings, sessions: sessionmaker[Session]) -> Settings:
    """Settings whose links follow `monitor serve` from another process: the origin it recorded,
    when neither `[web] base_url` nor an origin of this process's own decides already."""
    if settings.web.base_url or settings.served_url:
        return settings
    with sessions() as session:
        row = session.get(Meta, SERVED_KEY)
    if row is None or not isinstance(row.value, str) or not row.value:
        return settings
    return dataclasses.replace(settings, served_url=row.value)
