"""Rate limits of the forms (Flask-Limiter).

Per client at `[web] rate_limit`; the subscription form also per email address at
`ADDRESS_LIMIT`, so that nobody can use it to flood one mailbox from many clients (the sign-in
form has no per-address limit: it sends at most one mail per address per `[web]
login_mail_seconds` instead, and answers every address alike). The client is the remote
address, or, behind `[web] trusted_proxies` proxies, the address they forwarded (ProxyFix in
`web/app.py`).

The counts live where `[web] ratelimit_storage` (or $MONITOR_RATELIMIT_STORAGE) says:
``memory://`` keeps them per process (the embedded default, one process), and
``redis://127.0.0.1:6379/0`` shares them between every gunicorn worker and every machine.
A Redis call waits at most `REDIS_TIMEOUT_SECONDS` to connect and to read. While a shared
storage is unreachable each process counts in memory on its own rather than failing the
request; it logs a warning when it falls back and when the storage is back, and
`fki_ratelimit_storage_up` says which it is doing.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from .. import metrics
from ..notify.subscriptions import AddressError, normalise_email
from ..settings import Settings

log = logging.getLogger(__name__)

ADDRESS_LIMIT = "5 per hour"
REDIS_TIMEOUT_SECONDS = 0.2

limiter = Limiter(get_remote_address, headers_enabled=True)


def client_limit() -> str:
    """`[web] rate_limit` of the running app (kept by `init_app`)."""
    return str(current_app.config["MONITOR_RATE_LIMIT"])


def address_key() -> str:
    """The normalised address of the submitted form (the raw text when it does not validate)."""
    text = request.form.get("email", "")
    try:
        return "address:" + normalise_email(text)
    except AddressError:
        return "address:" + text.strip().lower()[:254]


def storage_options(storage_uri: str) -> dict[str, float]:
    """Options for the storage: timeouts on every Redis call, so a frozen Redis costs at most that."""
    if storage_uri.startswith(("redis://", "rediss://", "redis+unix://")):
        return {"socket_connect_timeout": REDIS_TIMEOUT_SECONDS, "socket_timeout": REDIS_TIMEOUT_SECONDS}
    return {}


def counting_in_storage() -> bool:
    """Whether this process counts in the configured storage (False: it fell back to its memory)."""
    # Flask-Limiter keeps the fallback in a private flag; read it defensively.
    return not getattr(limiter, "_storage_dead", False)


class _StorageWatch:
    """Logs and publishes each change between the shared storage and the per-process fallback."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.up = True

    def after_request(self, response: Response) -> Response:
        up = counting_in_storage()
        if up != self.up:
            with self.lock:
                if up != self.up:
                    self.up = up
                    metrics.set_ratelimit_storage_up(up)
                    if up:
                        log.warning("rate-limit storage is back: counting in it again")
                    else:
                        log.warning("rate-limit storage unreachable: this process counts in its own memory "
                                    "until it is back")
        return response


def init_app(app: Flask, settings: Settings) -> None:
    """Attach the limiter to `app` with `[web] rate_limit`, counting in `[web] ratelimit_storage`.

    In memory (the default) the counts start empty with each process.
    """
    storage_uri = settings.web.ratelimit_storage
    app.config["MONITOR_RATE_LIMIT"] = settings.web.rate_limit
    app.config.setdefault("RATELIMIT_STORAGE_URI", storage_uri)
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", storage_options(storage_uri))
    if not storage_uri.startswith("memory://"):
        app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    limiter.init_app(app)
    # The limiter is one object per process; a new app (tests build many) starts on its own storage.
    limiter._storage_dead = False
    metrics.set_ratelimit_storage_up(counting_in_storage())
    app.after_request(_StorageWatch().after_request)
