"""The web blueprints: pages, the JSON API, subscriptions, health and metrics."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    """Register every blueprint on `app`."""
    from . import api, health, pages, subscribe

    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(subscribe.bp)
