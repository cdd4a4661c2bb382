"""Infrastrukturmonitor: ratings, operational notices and cut-over health for FKI.

`create_app()` is the WSGI application factory (gunicorn: ``monitor:create_app()``). It
builds the app and starts no thread: the scheduler is started by `monitor serve` or
`monitor scheduler`, never here. Importing this package loads nothing else: the web app
(and Flask) is imported when `create_app` is called, so the domain modules stay free of it.

Called without settings (gunicorn's ``monitor:create_app()``) it reads config.toml and the
environment and settles the secret key before it returns: without $MONITOR_SECRET_KEY it
reads the key kept in the database, and when that cannot be had it raises
`monitor.signing.MissingSecretKey` (one line saying so) rather than serve pages that cannot
sign. Called with settings (tests, `monitor serve` which settles the key itself) it does no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .version import __version__

if TYPE_CHECKING:
    from flask import Flask

    from .settings import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask application from `settings` (default: config.toml and the environment)."""
    from flask import Flask

    from . import settings as settings_module
    from .resources import templates_folder
    from .web.app import init_app

    if settings is None:
        from .db import engine_for, session_factory
        from .signing import settled

        settings = settings_module.load()
        if not settings.secret_key:
            engine = engine_for(settings)
            try:
                settings = settled(settings, session_factory(engine))
            finally:
                engine.dispose()
    app = Flask(__name__, template_folder=templates_folder())
    init_app(app, settings)
    return app


__all__ = ["create_app", "__version__"]
