"""Infrastrukturmonitor: ratings, operational notices and cut-over health for FKI.

`create_app()` is the WSGI application factory (gunicorn: ``monitor:create_app()``). It
builds the app and starts no thread: the scheduler is started by `monitor serve` or
`monitor scheduler`, never here.
"""

from __future__ import annotations

from flask import Flask

from . import settings as settings_module
from .app import MonitorState, init_app
from .resources import templates_folder

__version__ = "0.1.0"


def create_app(settings: settings_module.Settings | None = None) -> Flask:
    """Build the Flask application from `settings` (default: config.toml and the environment)."""
    if settings is None:
        settings = settings_module.load()
    app = Flask(__name__, template_folder=templates_folder())
    init_app(app, settings)
    return app


__all__ = ["MonitorState", "create_app", "__version__"]
