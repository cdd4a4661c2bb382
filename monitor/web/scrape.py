"""GET /metrics (Prometheus text format) and the timing of every request; the metrics live in monitor/metrics.py."""

from __future__ import annotations

import time
from typing import cast

from flask import Blueprint, Flask, Response, current_app, g, request
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from .. import metrics
from .pages.cache import cache_of
from .state import state

bp = Blueprint("metrics", __name__)  # endpoints keep the name: metrics.scrape


@bp.record_once
def _register(setup: BlueprintSetupState) -> None:
    # Built once per app; nothing is read from the database until the first scrape. The
    # cut-over document is kept in the pages' cache, under the key the pages and the API use.
    app = cast(Flask, setup.app)
    s = state(app)
    app.extensions["monitor_metrics"] = metrics.registry_for(s.sessions, s.settings, cache=cache_of(app))


@bp.before_app_request
def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


@bp.after_app_request
def _observe(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is not None:
        # The route pattern, not the path: labels stay bounded whatever the URL.
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        metrics.observe_request(request.method, endpoint, response.status_code, time.perf_counter() - started)
    return response


@bp.get("/metrics")
def scrape() -> ResponseReturnValue:
    """Every fki_ metric, read from the database now."""
    body = metrics.exposition(current_app.extensions["monitor_metrics"])
    # The classic text format that generate_latest writes and every Prometheus reads.
    return Response(body, content_type=CONTENT_TYPE_PLAIN_0_0_4)
