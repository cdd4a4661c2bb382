"""The web blueprints: pages, the JSON API, subscriptions, feeds, health and metrics."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    """Register every blueprint on `app`."""
    from . import (
        api,
        api_alerts,
        api_availability,
        api_cutover,
        api_imports,
        api_notices,
        api_ratings,
        auth,
        feeds,
        health,
        mailbox,
        method_input,
        operator,
        pages,
        requestlog,
        scrape,
        subscribe,
    )

    for module in (requestlog, health, scrape, api, api_ratings, api_notices, api_availability, api_cutover, api_alerts,
                   api_imports, feeds, pages, subscribe, method_input, mailbox, auth, operator):
        app.register_blueprint(module.bp)
