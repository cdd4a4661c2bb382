"""Infrastrukturmonitor: ratings, operational notices and cut-over health for FKI.

`create_app()` is the WSGI application factory (gunicorn: ``monitor:create_app()``). It
builds the app and starts no thread: the scheduler is started by `monitor serve` or
`monitor scheduler`, never here. Importing this package loads nothing else: the web app
(and Flask) is imported when `create_app` is called, so the domain modules stay free of it.
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
        settings = settings_module.load()
    app = Flask(__name__, template_folder=templates_folder())
    init_app(app, settings)
    return app


__all__ = ["create_app", "__version__"]
