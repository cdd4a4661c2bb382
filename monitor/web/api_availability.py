"""GET /api/v1/components/SLUG/availability: a component's daily availability figures."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from .. import availability as av
from .auth import now as clock_now
from .pages.cache import cache
from .pages.documents import versions
from .state import db_session, state

bp = Blueprint("api_availability", __name__, url_prefix="/api/v1")
DEFAULT_DAYS = 90


@bp.get("/components/<slug>/availability")
def component_availability(slug: str) -> ResponseReturnValue:
    """The last ``?days=N`` (1–366, default 90) Copenhagen days of one component, and its 30 and 90 days."""
    raw = request.args.get("days", str(DEFAULT_DAYS))
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 3 and 1 <= int(raw) <= av.MAX_DAYS):
        return jsonify(error=f"days: expected a whole number from 1 to {av.MAX_DAYS}, got {raw[:20]!r}"), 400
    days = int(raw)
    settings = state().settings
    if slug not in settings.component_slugs():
        return jsonify(error=f"component: unknown component {slug[:60]!r}"), 404
    session = db_session()
    now = clock_now()
    key = ("availability-api", slug, days, versions(session, now)["notices"], now.replace(second=0, microsecond=0))
    return jsonify(cache().get_or_compute(key, lambda: av.component_document(session, settings, slug, now, days)))
