"""Wiring of the Flask app: database, sessions, i18n, CSRF, security headers and blueprints."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from flask import Flask, Request, Response, current_app, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_babel import Babel
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

from ..db import engine_for, session_factory
from ..settings import Settings
from ..signing import secret_key
from . import limits
from .health import unavailable
from .state import LANGUAGES, MonitorState, csrf

log = logging.getLogger(__name__)
babel = Babel()
# What answers without a secret key: the probes, the metrics and the static files.
KEYLESS_ENDPOINTS = ("health.", "metrics.", "static")


class KeyLoadingSessionInterface(SecureCookieSessionInterface):
    """Flask's cookie sessions, reading the secret key from the database before the first session.

    Flask opens the session before any `before_request` hook runs, so the key must be in place
    here. Without a database yet the key stays unset: /healthz still answers, and pages that
    need the database answer 503.
    """

    def __init__(self, load_key: Callable[[], str]) -> None:
        self.load_key = load_key

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key is None:
            with contextlib.suppress(SQLAlchemyError):
                app.secret_key = self.load_key()
        return super().open_session(app, request)


def refuse_without_key() -> Response | None:
    """503 instead of a bare 500 while there is no key to sign with (the database holding it is away)."""
    if current_app.secret_key is not None or (request.endpoint or "").startswith(KEYLESS_ENDPOINTS):
        return None
    log.warning("no secret key: MONITOR_SECRET_KEY is unset and the database holding the key is unreachable")
    return unavailable()


def select_locale() -> str:
    """Danish first; English when chosen by ?lang= or the lang cookie."""
    lang = request.args.get("lang") or request.cookies.get("lang")
    return lang if lang in LANGUAGES else "da"


def init_app(app: Flask, settings: Settings) -> None:
    """Attach settings, database and subsystems to `app` and register the blueprints."""
    engine = engine_for(settings)
    sessions = session_factory(engine)
    app.extensions["monitor"] = MonitorState(settings, engine, sessions)
    app.config.update(
        JSON_AS_ASCII=False,
        BABEL_DEFAULT_LOCALE="da",
        BABEL_DEFAULT_TIMEZONE="Europe/Copenhagen",
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # No I/O here: without $MONITOR_SECRET_KEY the key kept in the database is read when the
    # first request opens its session, so that every process signs with the same key.
    app.secret_key = settings.secret_key or None
    app.session_interface = KeyLoadingSessionInterface(lambda: secret_key(settings, sessions))
    app.before_request(refuse_without_key)  # first: before CSRF and the limits look at anything
    if settings.web.trusted_proxies:
        # The client's address, scheme and host as the trusted proxies saw them; never otherwise.
        hops = settings.web.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    babel.init_app(app, locale_selector=select_locale)
    csrf.init_app(app)
    limits.init_app(app, settings)

    from . import auth, guard, register_blueprints

    register_blueprints(app)
    # The request's session closes in guard's hooks, before the answer leaves (503 if it fails).
    guard.init_app(app)
    auth.init_app(app)
