"""Rate limits for the subscription forms (Flask-Limiter).

Per client (remote address) at `[web] rate_limit`, and per email address at
`ADDRESS_LIMIT`, so that nobody can use the form to flood one mailbox from many clients.
Counts are kept in memory, per process: with several gunicorn workers set
`RATELIMIT_STORAGE_URI` (e.g. ``redis://…`` or ``memcached://…``) in the app config so that
the workers share them. Behind a reverse proxy, wrap the app in `ProxyFix` so that the
client's address is the remote address.
"""

from __future__ import annotations

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from ..notify.subscriptions import AddressError, normalise_email

ADDRESS_LIMIT = "5 per hour"

limiter = Limiter(get_remote_address, headers_enabled=True)


def client_limit() -> str:
    """`[web] rate_limit` of the running app."""
    from ..app import state

    return state().settings.web.rate_limit


def address_key() -> str:
    """The normalised address of the submitted form (the raw text when it does not validate)."""
    text = request.form.get("email", "")
    try:
        return "address:" + normalise_email(text)
    except AddressError:
        return "address:" + text.strip().lower()[:254]


def init_app(app: Flask) -> None:
    """Attach the limiter to `app` (its counts start empty)."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    limiter.init_app(app)
