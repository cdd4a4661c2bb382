"""Rate limits for the subscription forms (Flask-Limiter).

Per client (remote address) at `[web] rate_limit`, and per email address at
`ADDRESS_LIMIT`, so that nobody can use the form to flood one mailbox from many clients.
The counts live where `[web] ratelimit_storage` (or $MONITOR_RATELIMIT_STORAGE) says:
``memory://`` keeps them per process (the embedded default, one process), and
``redis://127.0.0.1:6379/0`` shares them between every gunicorn worker and every machine.
While a shared storage is unreachable each process counts in memory on its own rather than
failing the request. Behind a reverse proxy, wrap the app in `ProxyFix` so that the
client's address is the remote address.
"""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from ..notify.subscriptions import AddressError, normalise_email
from ..settings import Settings

ADDRESS_LIMIT = "5 per hour"

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


def init_app(app: Flask, settings: Settings) -> None:
    """Attach the limiter to `app` with `[web] rate_limit`, counting in `[web] ratelimit_storage`.

    In memory (the default) the counts start empty with each process.
    """
    storage_uri = settings.web.ratelimit_storage
    app.config["MONITOR_RATE_LIMIT"] = settings.web.rate_limit
    app.config.setdefault("RATELIMIT_STORAGE_URI", storage_uri)
    if not storage_uri.startswith("memory://"):
        app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    limiter.init_app(app)
